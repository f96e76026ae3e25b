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
from cellnb.book.fingerprint import fingerprint_path, package_digest, package_folders
from cellnb.book.pipeline import (
    REQUIRED_PARAMETERS,
    BookBuildError,
    NotebookExecutionError,
    build_book,
    execute_chapters,
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


# ------------------------------------------------------- re-executing only what changed

COUNT_RUNS = """\
with open(f"{name}.runs", "a") as runs:
    runs.write(f"{profile} {x}\\n")
"""


def _tiny_book(root: Path, *names: str) -> Path:
    """A throw-away book: its own _toc.yml and _config.yml, and chapters whose every execution
    appends a line to ``notebooks/<name>.runs``."""
    _markdown_book(root, "# Intro\n")
    chapters = "".join(f"  - file: notebooks/{name}\n" for name in names)
    (root / "_toc.yml").write_text(f"format: jb-book\nroot: book/intro\nchapters:\n{chapters}")
    for name in names:
        _write_notebook(root / "notebooks" / f"{name}.ipynb", COUNT_RUNS,
                        parameters=f'profile = "auto"\nx = 1\nname = "{name}"')
    return root


def _runs(root: Path, name: str) -> list[str]:
    path = root / "notebooks" / f"{name}.runs"
    return path.read_text().splitlines() if path.exists() else []


def _statuses(runs) -> dict[str, str]:
    return {run.notebook.stem: run.status for run in runs}


@pytest.mark.timeout(120)
def test_a_second_build_reuses_every_chapter_and_says_so(tmp_path):
    root = _tiny_book(tmp_path, "one", "two")
    lines = []
    first = execute_chapters(root, profile="smoke", package_hash="v1", log=lines.append)
    assert _statuses(first) == {"one": "executed", "two": "executed"}
    assert any(line.startswith("notebooks/one.ipynb: executed in ")
               and line.endswith(" s (never executed)") for line in lines), lines

    lines.clear()
    second = execute_chapters(root, profile="smoke", package_hash="v1", log=lines.append)
    assert _statuses(second) == {"one": "reused", "two": "reused"}
    assert _runs(root, "one") == _runs(root, "two") == ["smoke 1"], "a reused chapter ran again"
    assert all(": reused, up to date, executed in " in line for line in lines), lines


@pytest.mark.timeout(120)
def test_editing_one_chapter_re_executes_that_chapter_only(tmp_path):
    root = _tiny_book(tmp_path, "one", "two")
    execute_chapters(root, profile="smoke", package_hash="v1", log=print)
    notebook = nbformat.read(root / "notebooks" / "two.ipynb", as_version=4)
    notebook.cells.append(new_markdown_cell("A new paragraph."))
    nbformat.write(notebook, root / "notebooks" / "two.ipynb")

    runs = execute_chapters(root, profile="smoke", package_hash="v1", log=print)
    assert _statuses(runs) == {"one": "reused", "two": "executed"}
    assert runs[1].reasons == ["the notebook changed"]
    assert (_runs(root, "one"), _runs(root, "two")) == (["smoke 1"], ["smoke 1", "smoke 1"])


@pytest.mark.timeout(120)
def test_a_new_profile_parameter_or_package_re_executes_and_force_re_executes_all(tmp_path):
    root = _tiny_book(tmp_path, "one")
    execute_chapters(root, profile="smoke", package_hash="v1", log=print)
    changes = [
        (dict(profile="cpu", package_hash="v1"), "profile smoke -> cpu"),
        (dict(profile="cpu", parameters={"x": 2}, package_hash="v1"), "parameters {} -> {'x': 2}"),
        (dict(profile="cpu", parameters={"x": 2}, package_hash="v2"), "the cellnb package changed"),
        (dict(profile="cpu", parameters={"x": 2}, package_hash="v2", force=True), "--force"),
    ]
    for options, reason in changes:
        (run,) = execute_chapters(root, log=print, **options)
        assert (run.status, run.reasons) == ("executed", [reason])
    assert _runs(root, "one") == ["smoke 1", "cpu 1", "cpu 2", "cpu 2", "cpu 2"]
    (run,) = execute_chapters(root, profile="cpu", parameters={"x": 2}, package_hash="v2",
                              log=print)
    assert run.status == "reused"


@pytest.mark.timeout(120)
def test_the_fingerprint_lies_beside_the_executed_copy_and_a_failed_run_leaves_none(tmp_path):
    root = _tiny_book(tmp_path, "one")
    execute_chapters(root, profile="smoke", package_hash="v1", log=print)
    executed = root / "_build" / "notebooks" / "one.ipynb"
    stored = json.loads(fingerprint_path(executed).read_text())
    assert fingerprint_path(executed) == executed.with_name("one.fingerprint.json")
    assert stored["fingerprint"]["profile"] == "smoke"
    assert stored["fingerprint"]["package"] == "v1"
    assert stored["fingerprint"]["notebook"].startswith("sha256:")
    assert stored["seconds"] >= 0

    source = root / "notebooks" / "one.ipynb"
    notebook = nbformat.read(source, as_version=4)
    notebook.cells.append(new_code_cell("raise RuntimeError('broken')"))
    nbformat.write(notebook, source)
    with pytest.raises(NotebookExecutionError):
        execute_chapters(root, profile="smoke", package_hash="v1", log=print)
    assert not fingerprint_path(executed).exists(), "a failed run must never be reused"


@pytest.mark.timeout(120)
def test_only_executes_the_named_chapters_and_reports_the_others_as_stale(tmp_path):
    root = _tiny_book(tmp_path, "one", "two")
    execute_chapters(root, profile="smoke", package_hash="v1", log=print)
    runs = execute_chapters(root, profile="smoke", package_hash="v2", only=["two"], log=print)
    assert _statuses(runs) == {"one": "not selected", "two": "executed"}
    assert "out of date: the cellnb package changed" in runs[0].describe()


def test_the_package_hash_covers_code_and_package_data_but_not_byte_code_or_caches(tmp_path):
    package = tmp_path / "pkg"
    for folder in ("__pycache__", "cache"):
        (package / folder).mkdir(parents=True)
    (package / "module.py").write_text("x = 1\n")
    (package / "datasets.yml").write_text("{}")
    digest = package_digest(package)
    (package / "__pycache__" / "module.cpython-311.pyc").write_bytes(b"\0")
    (package / "cache" / "atlas.h5").write_bytes(b"\0")
    assert package_digest(package) == digest
    (package / "datasets.yml").write_text('{"a": 1}')
    assert package_digest(package) != digest
    assert package_digest().startswith("sha256:"), "the installed cellnb package"


def test_the_package_includes_sub_packages_an_editable_install_maps_elsewhere(monkeypatch,
                                                                             tmp_path):
    """pyproject's package-dir can map cellnb.datasets to data/; setuptools' editable finder
    keeps that mapping in a module-level MAPPING."""
    import sys
    import types

    finder_module = types.ModuleType("__editable___cellnb_finder")
    finder_module.MAPPING = {"cellnb": "/elsewhere/cellnb", "cellnb.datasets": str(tmp_path)}

    class Finder:
        __module__ = finder_module.__name__

    monkeypatch.setitem(sys.modules, finder_module.__name__, finder_module)
    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, Finder])
    folders = package_folders()
    assert folders[0] == (REPO / "cellnb").resolve() and folders[-1] == tmp_path.resolve()


def test_book_takes_force():
    args = cli.build_parser().parse_args(["book", "--force", "--only", "data"])
    assert (args.force, args.only) == (True, ["data"])


# --------------------------------------------------------------- the kernel's transport

TCP_WARNING = "Kernel is running over TCP without encryption"


@pytest.mark.timeout(120)
def test_cellnb_run_does_not_print_the_kernel_transport_warning(tmp_path):
    """ipykernel warns on every start unless the kernel manager provisions CurveZMQ keys."""
    import subprocess
    import sys

    notebook = _write_notebook(tmp_path / "nb.ipynb", "y = x + 1")
    result = subprocess.run([sys.executable, "-m", "cellnb.book.cli", "run", str(notebook),
                             "--build-dir", str(tmp_path / "build")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert TCP_WARNING not in result.stdout + result.stderr


# ------------------------------------------------------------- the book's column width

CODE_LINE_LIMIT = 88   # characters: a longer line scrolls sideways in the book's column


@by_name
def test_notebook_code_lines_fit_the_book_column(notebook):
    nb = nbformat.read(notebook, as_version=4)
    too_long = [f"{notebook.name} cell {index} (id {cell.get('id', '?')}) line {number}: "
                f"{len(line)} characters: {line.strip()[:60]}..."
                for index, cell in enumerate(nb.cells) if cell.cell_type == "code"
                for number, line in enumerate(cell.source.splitlines(), 1)
                if len(line) > CODE_LINE_LIMIT]
    if too_long:
        pytest.fail(f"code lines longer than {CODE_LINE_LIMIT} characters (cells 0-based, "
                    "counting markdown; lines 1-based):\n" + "\n".join(too_long), pytrace=False)
