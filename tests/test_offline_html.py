"""Plotly figures in the built book render in a browser with no network, and a blank one fails.

Builds a one-chapter book with the repository's own ``_config.yml`` (so the real Sphinx extension
ships plotly.js) and opens it in headless Chromium through ``scripts/check_offline_html.py``. The
chapter shows a bar chart and a latent traversal: a heatmap whose frames a plotly slider steps
through. Hand-written pages show that the checker reports figures a reader would see blank.
Skipped where Chromium is not installed (``apt-get install chromium``; ``.ci/run`` does that).
"""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import nbformat
import numpy as np
import plotly.graph_objects as go
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from cellnb.book.extension import PLOTLY_JS, plotly_js_path
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
    pytest.mark.skipif(checker.find_chromium() is None,
                       reason="Chromium is not installed (Debian: apt-get install chromium)"),
]

BAR_CHART = """\
import plotly.graph_objects as go
from cellnb.display import show_plotly

show_plotly(go.Figure(go.Bar(x=["nucleus", "cytoplasm", "membrane"], y=[3, 5, 2])))
"""

# The shape of a chapter's latent traversal: one frame per value of a latent coordinate, a slider
# that animates to each frame. Here the "decoded image" is a blob that moves with the coordinate.
LATENT_TRAVERSAL = """\
import numpy as np

grid = np.linspace(-1, 1, 16)
values = np.linspace(-2, 2, 5)

def decoded(z):
    return np.exp(-((grid[None, :] - z / 3) ** 2 + grid[:, None] ** 2) / 0.1)

frames = [go.Frame(name=f"{z:+.1f}", data=[go.Heatmap(z=decoded(z), showscale=False)])
          for z in values]
steps = [dict(method="animate", label=frame.name,
              args=[[frame.name], dict(mode="immediate", frame=dict(duration=0))])
         for frame in frames]
show_plotly(go.Figure(data=frames[0].data, frames=frames,
                      layout=dict(title="latent coordinate 0",
                                  sliders=[dict(active=0, steps=steps,
                                                currentvalue=dict(prefix="z0 = "))])))
"""


def _tiny_book(root: Path) -> Path:
    shutil.copy2(REPO / "_config.yml", root / "_config.yml")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n"
                                   "chapters:\n  - file: notebooks/figure\n")
    (root / "book").mkdir()
    (root / "book" / "intro.md").write_text("# A tiny book\n\nOne chapter with two figures.\n")
    (root / "notebooks").mkdir()
    nb = new_notebook(cells=[new_markdown_cell("# Figures"),
                             new_code_cell('profile = "auto"', metadata={"tags": ["parameters"]}),
                             new_code_cell(BAR_CHART), new_code_cell(LATENT_TRAVERSAL)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, root / "notebooks" / "figure.ipynb")
    return root


@pytest.mark.timeout(300)
def test_plotly_figures_and_a_slider_render_offline_and_not_without_the_local_plotly_js(tmp_path):
    index = build_book(root=_tiny_book(tmp_path), profile="smoke")
    chromium = checker.find_chromium()
    page = index.parent / "notebooks" / "figure.html"
    assert checker.pages_with_plotly(index.parent) == [page]

    report = checker.render_report(chromium, page)
    assert checker.page_problems(page, report) == []
    bars, traversal = report["figures"]
    assert (bars["trace_types"], bars["traces_drawn"]) == (["bar"], 1)
    assert (traversal["trace_types"], traversal["traces_drawn"]) == (["heatmap"], 1)
    assert traversal["sliders"] == traversal["sliders_drawn"] == 1

    (index.parent / "_static" / PLOTLY_JS).unlink()
    problems = checker.check_page(chromium, page)
    assert len(problems) == 1 and "plotly.js did not load" in problems[0]
    assert "2 plotly figure(s) stayed blank" in problems[0]


def _page(folder: Path, body: str, *, plotly_js: bool = True) -> Path:
    """A hand-written page holding ``body``, loading plotly.js from beside it if asked."""
    if plotly_js:
        shutil.copy2(plotly_js_path(), folder / PLOTLY_JS)
    script = f'<script src="{PLOTLY_JS}"></script>' if plotly_js else ""
    page = folder / "page.html"
    page.write_text(f"<!DOCTYPE html><html><head>{script}</head><body>{body}</body></html>")
    return page


def _figure_html(figure) -> str:
    return figure.to_html(include_plotlyjs=False, full_html=False)  # as show_plotly writes it


def test_a_page_whose_plotly_js_did_not_load_is_reported(tmp_path):
    page = _page(tmp_path, _figure_html(go.Figure(go.Bar(y=[3, 5, 2]))), plotly_js=False)
    problems = checker.check_page(checker.find_chromium(), page)
    assert len(problems) == 1 and "plotly.js did not load" in problems[0]


def test_each_blank_figure_is_reported_even_when_plotly_js_loaded(tmp_path):
    blank_figures = [
        '<div class="plotly-graph-div" style="height:400px"></div>',  # nothing ever drew it
        _figure_html(go.Figure(go.Scatter(x=[], y=[]))),  # axes, but no marks
        _figure_html(go.Figure(go.Scatter(y=[1, 2]), layout=dict(sliders=[{}]))),  # no steps
    ]
    problems = checker.check_page(checker.find_chromium(), _page(tmp_path, "".join(blank_figures)))
    assert len(problems) == 3, problems
    assert "figure 1" in problems[0] and "plotly drew no .main-svg layer" in problems[0]
    assert "figure 2" in problems[1] and "0 of its 1 trace(s) (scatter) drew any mark" in problems[1]
    assert "figure 3" in problems[2] and "0 of its 1 slider(s) drew a rail" in problems[2]


def test_a_3d_isosurface_counts_as_drawn_when_its_scene_canvas_has_a_size(tmp_path):
    """3D scenes draw into a WebGL canvas (headless Chromium renders it in software); before
    the checker knew them, every isosurface of the 3D chapter counted as blank."""
    z, y, x = np.mgrid[:8, :10, :12]
    blob = np.exp(-((z - 4) ** 2 + (y - 5) ** 2 + (x - 6) ** 2) / 8.0)
    figure = go.Figure(go.Isosurface(x=x.ravel(), y=y.ravel(), z=z.ravel(), value=blob.ravel(),
                                     isomin=0.5, isomax=0.5, surface_count=1))
    report = checker.render_report(checker.find_chromium(), _page(tmp_path, _figure_html(figure)))
    (drawn,) = report["figures"]
    assert (drawn["trace_types"], drawn["traces_drawn"]) == (["isosurface"], 1)
    assert checker.page_problems(tmp_path / "page.html", report) == []
