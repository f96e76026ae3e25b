"""Exercises are written once, in the chapter notebook with their solutions; the student version
of the notebook is generated from it, so the two can never drift apart.

Conventions (cell tags; in Jupyter: View > Cell Toolbar > Tags, or the cell's ``metadata.tags``):

``exercise``
    A markdown cell with the statement, headed ``### Exercise N: ...`` (so it shows in the page's
    contents). Kept in both versions. Kinds: complete a function, change a parameter and predict
    the effect, interpret a figure. Two to four per chapter, cheap in the smoke profile.
``starter``
    A code cell (optional) with what the student starts from: a function to complete, a value to
    change. Kept in both versions and executed in both, so it must run as it is: a function to
    complete returns a harmless placeholder (``np.full(n, np.nan)``, not ``raise``), so that the
    cells after it run too.
``solution``
    Code or markdown removed from the student version. In the book it is folded: a code solution
    also carries Jupyter Book's ``hide-cell`` tag (code and output collapsed behind "Show code
    cell content"), a markdown solution is written inside a ``:::{dropdown} Solution`` fence
    (sphinx-design, part of Jupyter Book).

One rule keeps the student version runnable up to (and past) every exercise: **no cell after a
solution uses a name that only a solution defines**. A solution may redefine what its starter
defined (same name, now complete); anything new it defines is for itself and other solutions.
:func:`exercise_problems` checks this and the tagging statically and :func:`student_version`
refuses a notebook that breaks them; the tests also execute every student version.

The tool: nbconvert's ``TagRemovePreprocessor``, the Jupyter project's own way to drop cells by
tag (with ``ClearOutputPreprocessor`` for a clean copy). nbgrader's ``### BEGIN SOLUTION``
markers were the alternative; its preprocessors need nbgrader's course layout, gradebook database
and server extensions, and a marker region inside a cell cannot be folded apart from the starter
code around it in the book. A tagged cell is one unit for all three: removal, folding and tests.
"""
from __future__ import annotations

import ast
import os
from collections.abc import Iterable
from pathlib import Path

from .pipeline import notebooks_in_toc, read_notebook, select_notebooks

EXERCISE_TAG = "exercise"
STARTER_TAG = "starter"
SOLUTION_TAG = "solution"
FOLDED_CODE_TAG = "hide-cell"       # Jupyter Book: code and output collapsed in the page
FOLDED_MARKDOWN = ":::{dropdown}"   # sphinx-design's dropdown in MyST colon-fence syntax
STUDENTS_DIR = "_build/students"


class ExerciseError(ValueError):
    """A chapter's exercises break the conventions, so its student version would not run."""


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def is_solution(cell) -> bool:
    return SOLUTION_TAG in tags(cell)


def has_exercises(notebook) -> bool:
    return any(EXERCISE_TAG in tags(cell) for cell in notebook.cells)


# ------------------------------------------------------------------------------ the checks

def _python(source: str) -> str:
    """Cell source as plain Python: IPython's own transformer turns ``%magic`` lines into calls."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def names_bound_and_used(source: str) -> tuple[set[str], set[str]]:
    """Names a code cell binds (assignments, definitions, imports) and names it reads."""
    bound, used = set(), set()
    for node in ast.walk(ast.parse(_python(source))):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return bound, used


def exercise_problems(notebook) -> list[str]:
    """What breaks the conventions above, one sentence per problem naming the cell (0-based,
    counting markdown cells); empty when the notebook is fine."""
    problems = []
    kept_names: set[str] = set()
    solution_only: dict[str, int] = {}   # name -> the solution cell that alone defines it
    seen_exercise = False
    for index, cell in enumerate(notebook.cells):
        cell_tags = tags(cell)
        where = f"cell {index} (id {cell.get('id', '?')})"
        if EXERCISE_TAG in cell_tags:
            seen_exercise = True
            if cell.cell_type != "markdown":
                problems.append(f"{where} is tagged {EXERCISE_TAG!r} but is not markdown; the "
                                "statement is a markdown cell, starter code is tagged "
                                f"{STARTER_TAG!r}")
        if SOLUTION_TAG in cell_tags and STARTER_TAG in cell_tags:
            problems.append(f"{where} is tagged both {SOLUTION_TAG!r} and {STARTER_TAG!r}")
        if is_solution(cell):
            if not seen_exercise:
                problems.append(f"{where} is a solution before any cell tagged {EXERCISE_TAG!r}")
            if cell.cell_type == "code" and FOLDED_CODE_TAG not in cell_tags:
                problems.append(f"{where} is a code solution without the {FOLDED_CODE_TAG!r} tag; "
                                "add it so that the book shows the solution folded")
            if cell.cell_type == "markdown" and not cell.source.lstrip().startswith(FOLDED_MARKDOWN):
                problems.append(f"{where} is a markdown solution not written inside a "
                                f"`{FOLDED_MARKDOWN} Solution` fence, so the book would show it "
                                "unfolded")
        if cell.cell_type != "code":
            continue
        try:
            bound, used = names_bound_and_used(cell.source)
        except SyntaxError as error:
            problems.append(f"{where} is not valid Python: {error}")
            continue
        if is_solution(cell):
            solution_only.update({name: index for name in bound - kept_names})
            continue
        for name in sorted((used - bound) & solution_only.keys()):
            problems.append(f"{where} uses `{name}`, which only the solution in cell "
                            f"{solution_only[name]} defines: the student version would fail "
                            f"here; define `{name}` in a cell tagged {STARTER_TAG!r} (with a "
                            "placeholder) or use it only in solutions")
        kept_names |= bound
        for name in bound:
            solution_only.pop(name, None)
    return problems


# ------------------------------------------------------------------------ student versions

def student_version(notebook, *, source: str | None = None):
    """The notebook without its solution cells and outputs (a new notebook; the argument is
    left as it is). ``source`` names where it came from, recorded in its metadata. Raises
    :class:`ExerciseError` if :func:`exercise_problems` finds anything."""
    import copy

    from nbconvert.preprocessors import ClearOutputPreprocessor, TagRemovePreprocessor

    problems = exercise_problems(notebook)
    if problems:
        raise ExerciseError(f"{source or 'the notebook'}: " + "\n".join(problems))
    students = copy.deepcopy(notebook)
    resources: dict = {}
    for preprocessor in (TagRemovePreprocessor(remove_cell_tags={SOLUTION_TAG}),
                         ClearOutputPreprocessor()):
        students, resources = preprocessor.preprocess(students, resources)
    students.metadata["cellnb"] = {"student_version_of": source or "",
                                   "generated_by": "cellnb students"}
    return students


def write_student_versions(root: str | os.PathLike = ".", out: str | os.PathLike = STUDENTS_DIR,
                           *, only: Iterable[str] | None = None) -> list[Path]:
    """Write ``<out>/<stem>.ipynb``, the student version of every chapter of ``_toc.yml`` (or of
    those in ``only``) that has exercises; returns the paths written. A relative ``out`` is
    taken from ``root``."""
    import nbformat

    root = Path(root).resolve()
    out = root / out
    written = []
    for path in select_notebooks(notebooks_in_toc(root / "_toc.yml"), only):
        notebook = read_notebook(path)
        if not has_exercises(notebook):
            continue
        students = student_version(notebook, source=path.relative_to(root).as_posix())
        out.mkdir(parents=True, exist_ok=True)
        target = out / path.name
        nbformat.write(students, target)
        written.append(target)
    return written
