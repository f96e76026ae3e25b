"""Exercises are written once, with their solutions, in the chapter notebook; the student version
is generated from it (``cellnb students``). Specifications: the student version has no solution,
keeps everything else, and still runs; the book shows the solutions folded. A tiny throw-away
notebook specifies the mechanism; the chapters of the book are then held to it."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from cellnb.book import cli
from cellnb.book.pipeline import build_book, notebooks_in_toc, run_notebook
from cellnb.book.students import (
    ExerciseError,
    exercise_problems,
    has_exercises,
    is_solution,
    student_version,
    write_student_versions,
)

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = notebooks_in_toc(REPO / "_toc.yml")
WITH_EXERCISES = [path for path in NOTEBOOKS if has_exercises(nbformat.read(path, as_version=4))]


def _cell(kind, source, *tags):
    make = new_code_cell if kind == "code" else new_markdown_cell
    return make(source, metadata={"tags": list(tags)} if tags else {})


def _tiny_chapter(*extra_cells):
    """A chapter with two exercises: complete a function (starter + code solution) and
    interpret a result (markdown solution, plus a code solution)."""
    cells = [
        _cell("markdown", "# A tiny chapter\n\n## Exercises"),
        _cell("code", 'profile = "auto"\nn = 4', "parameters"),
        _cell("code", "values = list(range(n))"),
        _cell("markdown", "### Exercise 1: complete `total`", "exercise"),
        _cell("code", 'def total(values):\n    """The sum of `values`."""\n'
                      "    return None  # your code here", "starter"),
        _cell("code", "def total(values):\n    return sum(values)", "solution", "hide-cell"),
        _cell("code", 'print("total:", total(values))'),
        _cell("markdown", "### Exercise 2: how does the total grow with `n`?", "exercise"),
        _cell("markdown", ":::{dropdown} Solution\nAs n squared over two.\n:::", "solution"),
        _cell("code", "squares = [v * v for v in values]\nprint(sum(squares))",
              "solution", "hide-cell"),
        _cell("code", "done = True"),
        *extra_cells,
    ]
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    return notebook


def solution_lines(notebook) -> set[str]:
    """The lines only solutions contain (a line also in a kept cell, like `)`, is no secret)."""
    kept = {line.strip() for cell in notebook.cells if not is_solution(cell)
            for line in cell.source.splitlines()}
    return {line.strip() for cell in notebook.cells if is_solution(cell)
            for line in cell.source.splitlines() if line.strip() and line.strip() not in kept}


def assert_no_solution(students, source):
    assert not [cell for cell in students.cells if is_solution(cell)]
    text = "\n".join(cell.source for cell in students.cells)
    leaked = [line for line in solution_lines(source) if line in text]
    assert not leaked, f"solution lines in the student version: {leaked}"


# ---------------------------------------------------------------------- the mechanism

def test_the_student_version_drops_the_solutions_and_keeps_the_rest():
    source = _tiny_chapter()
    students = student_version(source, source="notebooks/tiny.ipynb")

    assert_no_solution(students, source)
    kept = [cell for cell in source.cells if not is_solution(cell)]
    assert [c.id for c in students.cells] == [c.id for c in kept], "cells dropped or reordered"
    assert [c.source for c in students.cells] == [c.source for c in kept]
    assert students.metadata["cellnb"]["student_version_of"] == "notebooks/tiny.ipynb"
    assert len(source.cells) == 11, "the source notebook was modified"


@pytest.mark.timeout(120)
def test_students_are_written_for_chapters_with_exercises_and_run_to_the_end(tmp_path,
                                                                             monkeypatch):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n"
                                       "  - file: notebooks/tiny\n  - file: notebooks/plain\n")
    nbformat.write(_tiny_chapter(), tmp_path / "notebooks" / "tiny.ipynb")
    plain = _tiny_chapter()
    plain.cells = [cell for cell in plain.cells if not tags_of(cell) & {"exercise", "solution"}]
    nbformat.write(plain, tmp_path / "notebooks" / "plain.ipynb")

    monkeypatch.chdir(tmp_path)
    assert cli.main(["students"]) == 0
    assert sorted(p.name for p in (tmp_path / "_build" / "students").iterdir()) == ["tiny.ipynb"]

    student = tmp_path / "_build" / "students" / "tiny.ipynb"
    executed = run_notebook(student, profile="smoke", build_dir=tmp_path / "executed")
    outputs = "".join(out.get("text", "") for cell in nbformat.read(executed, 4).cells
                      if cell.cell_type == "code" for out in cell.outputs)
    assert "total: None" in outputs, "the starter's placeholder runs, and so does what follows"


def tags_of(cell) -> set[str]:
    return set(cell.metadata.get("tags", []))


def test_a_cell_that_needs_a_solution_is_refused_naming_it():
    notebook = _tiny_chapter(_cell("code", "print(len(squares))"))
    with pytest.raises(ExerciseError, match=r"cell 11 .* uses `squares`, which only the "
                                            r"solution in cell 9 defines"):
        student_version(notebook)


def test_a_solution_may_complete_what_its_starter_defined():
    """`total` is defined by the starter and redefined by the solution: later cells may use it."""
    assert exercise_problems(_tiny_chapter()) == []


def test_solutions_must_be_folded_in_the_book():
    notebook = _tiny_chapter()
    notebook.cells[5].metadata["tags"] = ["solution"]
    notebook.cells[8].source = "As n squared over two."
    problems = exercise_problems(notebook)
    assert len(problems) == 2
    assert "cell 5" in problems[0] and "'hide-cell'" in problems[0]
    assert "cell 8" in problems[1] and ":::{dropdown}" in problems[1]


@pytest.mark.book
@pytest.mark.timeout(240)
def test_the_book_shows_solutions_folded(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "_config.yml").write_text((REPO / "_config.yml").read_text())
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n"
                                       "chapters:\n  - file: notebooks/tiny\n")
    (tmp_path / "notebooks").mkdir()
    nbformat.write(_tiny_chapter(), tmp_path / "notebooks" / "tiny.ipynb")

    index = build_book(root=tmp_path, profile="smoke", package_hash="test")
    page = (index.parent / "notebooks" / "tiny.html").read_text()
    # a code solution: its cell opens with myst-nb's collapsed <details> (the hide-cell tag)
    cells = page.split('<div class="cell tag_solution tag_hide-cell docutils container">')[1:]
    assert len(cells) == 2
    assert all(cell.lstrip().startswith('<details class="admonition hide') for cell in cells)
    # a markdown solution: a closed sphinx-design dropdown
    answer = page.index("As n squared over two.")
    dropdown = page[page.rfind("<details", 0, answer):answer]
    assert "sd-dropdown" in dropdown and " open" not in dropdown.split(">")[0]


# ------------------------------------------------------------------------ the chapters

@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_a_chapter_keeps_the_exercise_conventions(notebook):
    problems = exercise_problems(nbformat.read(notebook, as_version=4))
    assert not problems, f"{notebook.name}:\n" + "\n".join(problems)


def test_the_chapters_have_exercises():
    assert [p.stem for p in WITH_EXERCISES][:1] == ["data"]


@pytest.mark.parametrize("notebook", WITH_EXERCISES, ids=[p.stem for p in WITH_EXERCISES])
def test_a_chapter_has_two_to_four_exercises_each_with_a_solution(notebook):
    cells = nbformat.read(notebook, as_version=4).cells
    starts = [i for i, cell in enumerate(cells) if "exercise" in tags_of(cell)]
    assert 2 <= len(starts) <= 4, f"{notebook.name} has {len(starts)} exercises"
    for start, end in zip(starts, starts[1:] + [len(cells)]):
        assert any(is_solution(cell) for cell in cells[start:end]), \
            f"{notebook.name}: the exercise in cell {start} has no solution"


@pytest.mark.notebook
@pytest.mark.timeout(240)
@pytest.mark.parametrize("notebook", WITH_EXERCISES, ids=[p.stem for p in WITH_EXERCISES])
def test_the_student_version_of_a_chapter_has_no_solution_and_runs(notebook, tmp_path):
    (student,) = write_student_versions(REPO, tmp_path / "students", only=[notebook.stem])
    source = nbformat.read(notebook, as_version=4)
    assert_no_solution(nbformat.read(student, as_version=4), source)
    run_notebook(student, profile="smoke", build_dir=tmp_path / "executed")
