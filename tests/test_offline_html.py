"""A plotly figure in the built book renders in a browser with no network.

Builds a one-chapter book with the repository's own ``_config.yml`` (so the real Sphinx extension
ships plotly.js) and opens it in headless Chromium through ``scripts/check_offline_html.py``.
Skipped where Chromium is not installed (``apt-get install chromium``).
"""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from cellnb.book.pipeline import build_book

REPO = Path(__file__).resolve().parents[1]


def _load_checker():
    spec = importlib.util.spec_from_file_location(
        "check_offline_html", REPO / "scripts" / "check_offline_html.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


checker = _load_checker()
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(checker.find_chromium() is None, reason="Chromium is not installed"),
]

FIGURE = """\
import plotly.graph_objects as go
from cellnb.display import show_plotly

show_plotly(go.Figure(go.Bar(x=["nucleus", "cytoplasm", "membrane"], y=[3, 5, 2])))
"""


def _tiny_book(root: Path) -> Path:
    shutil.copy2(REPO / "_config.yml", root / "_config.yml")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n"
                                   "chapters:\n  - file: notebooks/figure\n")
    (root / "book").mkdir()
    (root / "book" / "intro.md").write_text("# A tiny book\n\nOne chapter with one figure.\n")
    (root / "notebooks").mkdir()
    nb = new_notebook(cells=[new_markdown_cell("# A figure"),
                             new_code_cell('profile = "auto"', metadata={"tags": ["parameters"]}),
                             new_code_cell(FIGURE)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, root / "notebooks" / "figure.ipynb")
    return root


@pytest.mark.timeout(300)
def test_a_plotly_figure_renders_offline_and_not_without_the_local_plotly_js(tmp_path):
    index = build_book(root=_tiny_book(tmp_path), profile="smoke")
    chromium = checker.find_chromium()
    page = index.parent / "notebooks" / "figure.html"
    assert checker.pages_with_plotly(index.parent) == [page]

    assert checker.check_page(chromium, page) == []

    (index.parent / "_static" / "plotly.min.js").unlink()
    problems = checker.check_page(chromium, page)
    assert len(problems) == 1 and "drew 0 plot container" in problems[0]
