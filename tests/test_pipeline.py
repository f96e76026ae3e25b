"""Specifications of the notebook pipeline: the contract every chapter notebook keeps, what
``run_notebook`` does to a notebook, and how the ``cellnb`` command reads its arguments."""
from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from cellnb.book import cli
from cellnb.book.extension import colab_url, github_repository
from cellnb.book.pipeline import (
    REQUIRED_PARAMETERS,
    BookBuildError,
    NotebookExecutionError,
    build_book,
    notebooks_in_toc,
    run_notebook,
    select_notebooks,
    stage_book,
    toc_pages,
)

REPO = Path(__file__).resolve().parents[1]
TOC = REPO / "_toc.yml"
CONFIG = yaml.safe_load((REPO / "_config.yml").read_text())
NOTEBOOKS = notebooks_in_toc(TOC)
by_name = pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])


# ----------------------------------------------------------------- the book's contract

def test_the_toc_lists_chapter_notebooks_and_every_page_exists():
    assert NOTEBOOKS, "_toc.yml lists no notebook from notebooks/"
    for page in toc_pages(TOC):
        assert (REPO / f"{page}.md").exists() or (REPO / f"{page}.ipynb").exists(), page


def test_every_notebook_in_the_notebooks_folder_is_a_chapter():
    """A notebook left out of _toc.yml would be neither tested nor published."""
    on_disk = sorted((REPO / "notebooks").glob("*.ipynb"))
    assert on_disk == sorted(NOTEBOOKS)


def test_the_book_builds_from_executed_copies_with_local_plotly_and_colab_links():
    assert CONFIG["execute"]["execute_notebooks"] == "off"
    assert CONFIG["only_build_toc_files"] is True
    assert "cellnb.book.extension" in CONFIG["sphinx"]["extra_extensions"]
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    github_repository(CONFIG["repository"]["url"])  # raises unless a GitHub repository


@by_name
def test_a_chapter_has_one_parameters_cell_of_flat_scalar_assignments(notebook):
    nb = nbformat.read(notebook, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{notebook.name}: {len(tagged)} cells tagged 'parameters'"
    assert tagged[0].cell_type == "code"
    names = []
    for statement in ast.parse(tagged[0].source).body:
        assert isinstance(statement, ast.Assign) and len(statement.targets) == 1, \
            f"{notebook.name}: not a single assignment: {ast.unparse(statement)}"
        target, value = statement.targets[0], statement.value
        if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
            value = value.operand  # negative numbers
        assert isinstance(target, ast.Name) and isinstance(value, ast.Constant), \
            f"{notebook.name}: not a name = constant: {ast.unparse(statement)}"
        names.append(target.id)
    missing = set(REQUIRED_PARAMETERS) - set(names)
    assert not missing, f"{notebook.name} lacks parameters {sorted(missing)}"


@by_name
def test_a_source_notebook_has_no_outputs_or_execution_counts(notebook):
    nb = nbformat.read(notebook, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, \
                f"{notebook.name} cell {index} carries outputs; clear them before committing"


@by_name
def test_a_chapter_links_to_its_clean_source_notebook_on_colab(notebook):
    relative = notebook.relative_to(REPO).as_posix()
    url = colab_url(CONFIG["repository"]["url"], CONFIG["repository"]["branch"], relative)
    owner, repo = github_repository(CONFIG["repository"]["url"])
    assert url == (f"https://colab.research.google.com/github/{owner}/{repo}/blob/"
                   f"{CONFIG['repository']['branch']}/notebooks/{notebook.name}")


def test_colab_links_need_a_github_repository():
    with pytest.raises(ValueError, match="github.com/OWNER/REPO"):
        colab_url("https://gitlab.com/a/b", "main", "notebooks/x.ipynb")
    assert github_repository("https://github.com/a/b.git") == ("a", "b")


def test_chapters_can_be_selected_by_name_and_unknown_names_are_refused(tmp_path):
    notebooks = [tmp_path / "notebooks" / "data.ipynb", tmp_path / "notebooks" / "cytoself.ipynb"]
    assert select_notebooks(notebooks, ["cytoself"]) == [notebooks[1]]
    assert select_notebooks(notebooks, ["notebooks/data.ipynb"]) == [notebooks[0]]
    with pytest.raises(ValueError, match="cytoselt"):
        select_notebooks(notebooks, ["cytoselt"])


# --------------------------------------------------------------------- run_notebook

def _write_notebook(path: Path, *cells, parameters='profile = "auto"\nx = 1') -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tagged = new_code_cell(parameters, metadata={"tags": ["parameters"]})
    nb = new_notebook(cells=[new_markdown_cell("# A test notebook"), tagged,
                             *[new_code_cell(source) for source in cells]])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


REPORT = """\
import json, os
json.dump({"x": x, "profile": profile, "cwd": os.getcwd(),
           "headless": os.environ.get("CELLNB_HEADLESS"),
           "metrics": os.environ.get("CELLNB_METRICS_FILE")}, open("report.json", "w"))
"""


@pytest.mark.timeout(120)
def test_run_notebook_injects_parameters_and_sets_the_kernel_up(tmp_path):
    notebook = _write_notebook(tmp_path / "src" / "probe.ipynb", REPORT,
                               "import cellnb\ncellnb.record('fresh', 1)")
    build = tmp_path / "build"
    build.mkdir()
    stale = build / "probe.metrics.json"
    stale.write_text(json.dumps({"stale": 1}))

    output = run_notebook(notebook, profile="smoke", parameters={"x": 7}, build_dir=build)

    assert output == build / "probe.ipynb"
    report = json.loads((notebook.parent / "report.json").read_text())
    assert report == {"x": 7, "profile": "smoke", "cwd": str(notebook.parent), "headless": "1",
                      "metrics": str(stale)}
    assert json.loads(stale.read_text()) == {"fresh": 1}, "the stale metrics file survived"
    executed = nbformat.read(output, as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "x = 7" in injected[0].source
    assert 'profile = "smoke"' in injected[0].source
    assert nbformat.read(notebook, as_version=4).cells[2].outputs == [], "source was modified"


@pytest.mark.timeout(120)
def test_run_notebook_fails_loudly_naming_the_notebook_and_the_cell(tmp_path):
    notebook = _write_notebook(tmp_path / "broken.ipynb", "y = x + 1",
                               "raise RuntimeError('the simulator exploded')", "z = 3")
    with pytest.raises(NotebookExecutionError) as error:
        run_notebook(notebook, build_dir=tmp_path / "build")
    message = str(error.value)
    assert "broken.ipynb" in message and "cell 3" in message
    assert "RuntimeError: the simulator exploded" in message
    assert (tmp_path / "build" / "broken.ipynb").exists(), "the failed notebook is kept to read"


@pytest.mark.timeout(120)
def test_cellnb_run_exits_non_zero_when_the_notebook_raises(tmp_path, capsys):
    notebook = _write_notebook(tmp_path / "broken.ipynb", "1 / 0")
    status = cli.main(["run", str(notebook), "--build-dir", str(tmp_path / "build")])
    assert status == 1
    err = capsys.readouterr().err
    assert "broken.ipynb" in err and "ZeroDivisionError" in err


def test_run_notebook_refuses_a_parameter_the_notebook_does_not_define(tmp_path):
    notebook = _write_notebook(tmp_path / "nb.ipynb", "pass")
    with pytest.raises(ValueError, match="no parameter 'datset'.*profile, x"):
        run_notebook(notebook, parameters={"datset": "hpa"}, build_dir=tmp_path)
    with pytest.raises(ValueError, match="profile"):
        run_notebook(notebook, parameters={"profile": "gpu"}, build_dir=tmp_path)


def test_run_notebook_refuses_a_notebook_without_a_parameters_cell(tmp_path):
    path = tmp_path / "plain.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("pass")]), path)
    with pytest.raises(ValueError, match="exactly one cell tagged 'parameters'"):
        run_notebook(path, build_dir=tmp_path)


# ----------------------------------------------------------------------------- the CLI

@pytest.mark.parametrize("text, expected", [
    ("seed=3", ("seed", 3)),
    ("lr=1e-3", ("lr", 0.001)),
    ("fraction=0.5", ("fraction", 0.5)),
    ("augment=true", ("augment", True)),
    ("augment=False", ("augment", False)),
    ("dataset=opencell", ("dataset", "opencell")),
    ("data_dir=/data/my cells", ("data_dir", "/data/my cells")),
    ("data_dir=", ("data_dir", "")),
    ("label='7'", ("label", "7")),
    ("offset=-2", ("offset", -2)),
])
def test_parameters_are_read_as_ints_floats_bools_or_strings(text, expected):
    key, value = cli.parse_parameter(text)
    assert (key, value) == expected and type(value) is type(expected[1])


@pytest.mark.parametrize("text", ["seed", "=3", "my-seed=3"])
def test_a_malformed_parameter_is_refused(text, capsys):
    with pytest.raises(SystemExit) as error:
        cli.build_parser().parse_args(["run", "nb.ipynb", "-p", text])
    assert error.value.code == 2
    assert "name=value" in capsys.readouterr().err


def test_run_and_book_read_profile_and_repeated_parameters():
    args = cli.build_parser().parse_args(
        ["run", "notebooks/data.ipynb", "--profile", "smoke", "-p", "seed=2", "-p", "dataset=hpa"])
    assert (args.notebook, args.profile) == ("notebooks/data.ipynb", "smoke")
    assert dict(args.parameters) == {"seed": 2, "dataset": "hpa"}
    args = cli.build_parser().parse_args(["book", "--skip-execute"])
    assert (args.profile, args.skip_execute, args.only) == ("auto", True, None)
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["run", "nb.ipynb", "--profile", "fast"])


def test_version(capsys):
    from cellnb import __version__

    with pytest.raises(SystemExit) as error:
        cli.main(["--version"])
    assert error.value.code == 0
    assert capsys.readouterr().out.strip() == f"cellnb {__version__}"


@dataclasses.dataclass
class FakeAtlasConfig:
    n_proteins: int = 4
    noise: float = 0.05
    spatial: bool = True
    name: str = "atlas"
    seed: int = 0


def test_sim_options_come_from_the_config_fields():
    args = cli.build_parser(FakeAtlasConfig).parse_args(
        ["sim", "--kind", "crops", "--out", "a.h5", "--n-proteins", "9", "--noise", "0.2",
         "--spatial", "false", "--seed", "5"])
    assert (args.config_n_proteins, args.config_noise, args.config_spatial) == (9, 0.2, False)
    assert (args.config_seed, args.config_name, args.kind) == (5, None, "crops")
    with pytest.raises(SystemExit):
        cli.build_parser(FakeAtlasConfig).parse_args(
            ["sim", "--kind", "crops", "--out", "a.h5", "--n-proteins", "many"])


# --------------------------------------------------------------------------- the book

def _markdown_book(root: Path, intro: str) -> Path:
    (root / "book").mkdir(parents=True)
    (root / "_config.yml").write_text((REPO / "_config.yml").read_text())
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n")
    (root / "book" / "intro.md").write_text(intro)
    return root


def test_the_book_is_built_only_from_executed_notebooks(tmp_path):
    root = _markdown_book(tmp_path / "repo", "# Intro\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n"
                                   "chapters:\n  - file: notebooks/chapter\n")
    _write_notebook(root / "notebooks" / "chapter.ipynb", "pass")
    with pytest.raises(FileNotFoundError, match="no executed copy of notebooks/chapter.ipynb"):
        stage_book(root, tmp_path / "executed", tmp_path / "stage")


@pytest.mark.book
@pytest.mark.timeout(180)
def test_a_sphinx_warning_fails_the_book_build(tmp_path):
    root = _markdown_book(tmp_path, "# Intro\n\nSee {ref}`a-label-that-does-not-exist`.\n")
    with pytest.raises(BookBuildError, match="a-label-that-does-not-exist"):
        build_book(root=root)


@by_name
def test_a_chapter_installs_cellnb_first_where_it_is_missing(notebook):
    """Opened from its Colab link, a chapter must install the package before importing it."""
    nb = nbformat.read(notebook, as_version=4)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert 'find_spec("cellnb") is None' in first_code.source
    assert "%pip install" in first_code.source and "cellnb[book]" in first_code.source
    assert f"git+{CONFIG['repository']['url']}" in first_code.source, "install from this repository"
