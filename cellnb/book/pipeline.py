"""From clean source notebooks to the executed book, the same way on every machine.

Source notebooks live in ``notebooks/`` without outputs, so they stay diffable and open cleanly on
Colab. ``run_notebook`` executes one with papermill into ``_build/notebooks/`` (headless, with its
metrics file beside it); ``build_book`` executes every notebook that ``_toc.yml`` lists, lays the
markdown pages of ``book/`` and the executed notebooks side by side in a staging folder that mirrors
the repository (so a page ``notebooks/data`` is the executed copy of ``notebooks/data.ipynb``), and
builds the HTML with Sphinx treating every warning as an error. Jupyter Book never executes
anything itself (``execute_notebooks: "off"``): what the book shows is what ``cellnb run`` ran.

Every executed copy has a fingerprint beside it (:mod:`.fingerprint`): the hashes of its source
notebook and of the ``cellnb`` package, its profile, parameters and kernel. ``build_book``
re-executes a chapter only when its fingerprint changed (or with ``force``), so rebuilding after
editing one chapter costs that chapter only.

The kernel's ZeroMQ transport is encrypted with CurveZMQ keys that the kernel manager provisions
(jupyter_client's ``transport_encryption="auto"``, for kernels whose kernelspec declares support,
as ipykernel's does): without them ipykernel warns on every run that it talks over TCP in plain
text.
"""
from __future__ import annotations

import ast
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import fingerprint as fingerprints

NOTEBOOK_FOLDER = "notebooks"
PAGES_FOLDER = "book"
PARAMETERS_TAG = "parameters"
REQUIRED_PARAMETERS = ("profile", "dataset", "data_dir", "seed", "device")


class NotebookExecutionError(RuntimeError):
    """A notebook raised while ``run_notebook`` executed it."""


class BookBuildError(RuntimeError):
    """Sphinx (through Jupyter Book) failed or warned while building the book."""


# --------------------------------------------------------------------------- source notebooks

def read_notebook(path: str | os.PathLike):
    import nbformat

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no notebook at {path}")
    return nbformat.read(path, as_version=4)


def parameters_cell(notebook) -> object:
    """The one code cell tagged ``parameters``; raises if there is none or more than one."""
    cells = [cell for cell in notebook.cells
             if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"a chapter notebook needs exactly one cell tagged {PARAMETERS_TAG!r}, "
                         f"found {len(cells)}; tag the cell of defaults in Jupyter "
                         "(View > Cell Toolbar > Tags) or in the cell's metadata")
    return cells[0]


def parameter_names(notebook) -> list[str]:
    """Names assigned in the ``parameters`` cell, in order."""
    tree = ast.parse(parameters_cell(notebook).source)
    return [target.id for node in tree.body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)]


# ------------------------------------------------------------------------------- execution

@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the kernel papermill starts, and restore them after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _describe_failure(source_notebook, error) -> str:
    """Name the failing cell by its position in the *source* notebook, with its first line."""
    failing = (error.source or "").strip()
    position = next((i for i, cell in enumerate(source_notebook.cells)
                     if cell.cell_type == "code" and cell.source.strip() == failing), None)
    where = (f"cell {position} (0-based, counting markdown cells)" if position is not None
             else f"cell {error.cell_index} of the executed notebook")
    first_line = failing.splitlines()[0] if failing else "<empty>"
    return f"{where}, execution count {error.exec_count}, starting `{first_line}`"


def kernel_manager_config():
    """Configuration of the kernel manager papermill starts: CurveZMQ transport encryption
    where pyzmq and jupyter_client support it (else None, and the kernel runs as before)."""
    import zmq
    from jupyter_client.manager import KernelManager
    from traitlets.config import Config

    if not zmq.has("curve") or "transport_encryption" not in KernelManager.class_trait_names():
        return None
    return Config({"KernelManager": {"transport_encryption": "auto"}})


def run_notebook(notebook: str | os.PathLike, *, profile: str = "auto",
                 parameters: Mapping[str, object] | None = None,
                 build_dir: str | os.PathLike = "_build/notebooks", kernel: str = "python3",
                 timeout: float | None = None, package_hash: str | None = None) -> Path:
    """Execute ``notebook`` into ``<build_dir>/<stem>.ipynb`` and return that path.

    ``profile`` and ``parameters`` replace the defaults of the notebook's ``parameters`` cell
    (papermill adds an ``injected-parameters`` cell, so the executed notebook shows what it ran
    with). The kernel runs in the notebook's own folder with ``$CELLNB_HEADLESS=1`` and
    ``$CELLNB_METRICS_FILE=<build_dir>/<stem>.metrics.json`` (a stale file is deleted first).
    ``timeout`` is the limit in seconds for any one cell. Raises
    :class:`NotebookExecutionError` naming the notebook and the failing cell if a cell raises.

    After a complete run its fingerprint goes to ``<build_dir>/<stem>.fingerprint.json``
    (``package_hash`` replaces the hash of the installed ``cellnb`` package, for tests).
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook = Path(notebook).resolve()
    source = read_notebook(notebook)
    values = dict(parameters or {})
    if "profile" in values:
        raise ValueError("pass the profile as profile=..., not inside parameters")
    values = {"profile": profile, **values}
    known = parameter_names(source)
    unknown = [name for name in values if name not in known]
    if unknown:
        raise ValueError(f"{notebook.name} has no parameter {', '.join(map(repr, unknown))}; "
                         f"its parameters cell defines: {', '.join(known)}")

    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    output = build_dir / f"{notebook.stem}.ipynb"
    metrics = build_dir / f"{notebook.stem}.metrics.json"
    metrics.unlink(missing_ok=True)
    fingerprints.forget(output)
    fingerprint = fingerprints.Fingerprint.of(notebook, profile=profile, parameters=parameters,
                                              kernel=kernel, package=package_hash)
    env = {"CELLNB_HEADLESS": "1", "CELLNB_METRICS_FILE": str(metrics)}
    config = kernel_manager_config()
    start = time.perf_counter()
    try:
        with _environment(**env):
            papermill.execute_notebook(
                str(notebook), str(output), parameters=values, kernel_name=kernel,
                cwd=str(notebook.parent), progress_bar=False, execution_timeout=timeout,
                **({"config": config} if config is not None else {}))
    except PapermillExecutionError as error:
        raise NotebookExecutionError(
            f"{notebook} failed in {_describe_failure(source, error)}:\n"
            f"{error.ename}: {error.evalue}\n"
            f"The partly executed notebook, with the traceback, is {output}") from error
    fingerprints.write_record(output, fingerprint, time.perf_counter() - start)
    return output


# ------------------------------------------------------------------------------ the toc

def _toc_files(entry) -> Iterator[str]:
    """Every ``file:`` named anywhere in a (nested) _toc.yml structure, in reading order."""
    if isinstance(entry, Mapping):
        for key in ("root", "file"):
            if isinstance(entry.get(key), str):
                yield entry[key]
        for key in ("parts", "chapters", "sections"):
            for child in entry.get(key) or []:
                yield from _toc_files(child)
    elif isinstance(entry, list):
        for child in entry:
            yield from _toc_files(child)


def toc_pages(toc: str | os.PathLike = "_toc.yml") -> list[str]:
    """The page names of ``_toc.yml`` (paths without suffix, relative to the book root)."""
    import yaml

    toc = Path(toc)
    if not toc.exists():
        raise FileNotFoundError(f"no table of contents at {toc}; run from the repository root "
                                "(the folder with _toc.yml and _config.yml)")
    pages = [str(Path(page).with_suffix("")) if Path(page).suffix in (".md", ".ipynb")
             else page for page in _toc_files(yaml.safe_load(toc.read_text()))]
    if not pages:
        raise ValueError(f"{toc} names no pages")
    return pages


def notebooks_in_toc(toc: str | os.PathLike = "_toc.yml") -> list[Path]:
    """Source notebooks of the book, in toc order: page ``notebooks/<name>`` is
    ``notebooks/<name>.ipynb`` next to the toc. Raises if a listed notebook is missing."""
    root = Path(toc).parent
    notebooks = [root / f"{page}.ipynb" for page in toc_pages(toc)
                 if page.split("/")[0] == NOTEBOOK_FOLDER]
    missing = [str(path) for path in notebooks if not path.exists()]
    if missing:
        raise FileNotFoundError(f"_toc.yml lists notebooks that do not exist: {', '.join(missing)}")
    return notebooks


def select_notebooks(notebooks: list[Path], only: Iterable[str] | None) -> list[Path]:
    """Keep the notebooks named in ``only`` (by stem, file name or path)."""
    if only is None:
        return notebooks
    by_stem = {path.stem: path for path in notebooks}
    wanted = [Path(name).stem for name in only]
    unknown = [name for name in wanted if name not in by_stem]
    if unknown:
        raise ValueError(f"not in _toc.yml: {', '.join(unknown)}; the book's notebooks are "
                         f"{', '.join(by_stem)}")
    return [by_stem[name] for name in wanted]


# ---------------------------------------------------------------------------- the book

def stage_book(root: Path, executed_dir: Path, stage: Path) -> Path:
    """Lay out the book to build: config, toc, ``book/`` pages, executed notebooks.

    The staging folder mirrors the repository, so every page keeps its repository path (the
    launch buttons then point at the clean source notebook on GitHub).
    """
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / name, stage / name)
    for bib in root.glob("*.bib"):
        shutil.copy2(bib, stage / bib.name)
    if (root / PAGES_FOLDER).is_dir():
        shutil.copytree(root / PAGES_FOLDER, stage / PAGES_FOLDER)
    if (root / NOTEBOOK_FOLDER).is_dir():  # figures and other assets the notebooks refer to
        shutil.copytree(root / NOTEBOOK_FOLDER, stage / NOTEBOOK_FOLDER,
                        ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints",
                                                      "metrics.json"))
    for source in notebooks_in_toc(root / "_toc.yml"):
        executed = executed_dir / f"{source.stem}.ipynb"
        if not executed.exists():
            raise FileNotFoundError(
                f"no executed copy of {source.relative_to(root)} at {executed}; run "
                f"`cellnb run {source.relative_to(root)}` or build without --skip-execute")
        shutil.copy2(executed, stage / source.relative_to(root))
    missing = [page for page in toc_pages(stage / "_toc.yml")
               if not any((stage / page).with_suffix(suffix).exists()
                          for suffix in (".md", ".ipynb"))]
    if missing:
        raise FileNotFoundError(f"_toc.yml pages that are neither a notebook in "
                                f"{NOTEBOOK_FOLDER}/ nor a markdown page under {PAGES_FOLDER}/: "
                                f"{', '.join(missing)}")
    return stage


def _run_build_step(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        log = (result.stdout + result.stderr).strip()
        raise BookBuildError(f"{what} failed (exit {result.returncode}); warnings count as "
                             f"errors. Command: {' '.join(command)}\n{log[-6000:]}")


def sphinx_build(stage: Path, html_dir: Path, doctree_dir: Path) -> Path:
    """Build ``stage`` to HTML: ``jupyter-book config sphinx`` writes the Sphinx ``conf.py``,
    then ``sphinx-build -W -n --keep-going`` builds with every (nitpicky) warning an error."""
    jupyter_book = "from jupyter_book.cli.main import main; main()"
    _run_build_step([sys.executable, "-c", jupyter_book, "config", "sphinx", str(stage)],
                    "writing the Sphinx configuration")
    _run_build_step([sys.executable, "-m", "sphinx", "-b", "html", "-W", "-n", "--keep-going",
                     "-q", "-d", str(doctree_dir), str(stage), str(html_dir)], "the book build")
    return html_dir / "index.html"


@dataclass
class ChapterRun:
    """What ``execute_chapters`` did with one chapter: ``status`` is ``"executed"``,
    ``"reused"`` (its fingerprint is unchanged) or ``"not selected"`` (left out by ``only``)."""

    notebook: Path
    status: str
    seconds: float | None = None
    reasons: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.status == "executed":
            return f"executed in {self.seconds:.0f} s ({'; '.join(self.reasons)})"
        if self.status == "reused":
            took = f", executed in {self.seconds:.0f} s" if self.seconds is not None else ""
            return f"reused, up to date{took}"
        stale = f"; out of date: {'; '.join(self.reasons)}" if self.reasons else ""
        return f"not selected, its executed copy is used as it is{stale}"


def execute_chapters(root: str | os.PathLike, *, profile: str = "auto",
                     only: Iterable[str] | None = None, force: bool = False,
                     parameters: Mapping[str, object] | None = None,
                     executed_dir: str | os.PathLike = "_build/notebooks",
                     package_hash: str | None = None,
                     log: Callable[[str], None] | None = None) -> list[ChapterRun]:
    """Bring the executed copies of the toc's chapters up to date, and say what each cost.

    A chapter is executed when its executed copy's fingerprint differs from the one this run
    would have (source notebook, profile, parameters, kernel, ``cellnb`` package; see
    :mod:`.fingerprint`), or always with ``force``; otherwise its copy is reused. Chapters left
    out by ``only`` are not executed. ``package_hash`` replaces the hash of the installed
    package (computed once per call). Logs one line per chapter through ``log``.
    """
    log = log or (lambda line: print(line, flush=True))
    root = Path(root).resolve()
    executed_dir = (root / executed_dir).resolve()
    notebooks = notebooks_in_toc(root / "_toc.yml")
    selected = select_notebooks(notebooks, only)
    if package_hash is None:
        package_hash = fingerprints.package_digest()
    runs = []
    for notebook in notebooks:
        name = notebook.relative_to(root).as_posix()
        executed = executed_dir / f"{notebook.stem}.ipynb"
        wanted = fingerprints.Fingerprint.of(notebook, profile=profile, parameters=parameters,
                                             package=package_hash)
        record = fingerprints.read_record(executed)
        reasons = wanted.changes_since(record.fingerprint if record else None)
        if notebook not in selected:
            run = ChapterRun(notebook, "not selected", reasons=reasons)
        elif reasons or force:
            log(f"{name}: executing (profile {profile}; "
                f"{'; '.join(['--force'] if force and not reasons else reasons)})")
            start = time.perf_counter()
            run_notebook(notebook, profile=profile, parameters=parameters,
                         build_dir=executed_dir, package_hash=package_hash)
            run = ChapterRun(notebook, "executed", time.perf_counter() - start,
                             reasons or ["--force"])
        else:
            run = ChapterRun(notebook, "reused", record.seconds)
        log(f"{name}: {run.describe()}")
        runs.append(run)
    return runs


def build_book(*, profile: str = "auto", only: Iterable[str] | None = None,
               skip_execute: bool = False, force: bool = False,
               parameters: Mapping[str, object] | None = None,
               root: str | os.PathLike | None = None,
               build_dir: str | os.PathLike = "_build",
               package_hash: str | None = None) -> Path:
    """Execute the toc's chapters that changed (all of them with ``force``; only those in
    ``only``) and build the HTML book.

    Executed notebooks go to ``<build_dir>/notebooks`` (see :func:`execute_chapters`), the
    staging copy to ``<build_dir>/stage`` and the HTML to ``<build_dir>/html``; returns the
    HTML index. ``skip_execute`` uses the executed notebooks already there without checking them.
    """
    root = Path(root or Path.cwd()).resolve()
    for name in ("_toc.yml", "_config.yml"):
        if not (root / name).exists():
            raise FileNotFoundError(f"no {name} in {root}; run `cellnb book` from the "
                                    "repository root")
    build_dir = (root / build_dir).resolve()
    executed_dir = build_dir / "notebooks"
    if not skip_execute:
        execute_chapters(root, profile=profile, only=only, force=force, parameters=parameters,
                         executed_dir=executed_dir, package_hash=package_hash)
    stage = stage_book(root, executed_dir, build_dir / "stage")
    print(f"building the book from {stage}", flush=True)
    return sphinx_build(stage, build_dir / "html", build_dir / "doctrees")
