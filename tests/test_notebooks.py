"""Every chapter of the book runs, headlessly, in the smoke profile, and the book builds from
those runs with Sphinx warnings as errors.

Each notebook executes once per session (the ``smoke_runs`` fixture keeps the results); the book
test reuses them, so ``make test`` pays for one execution per chapter and one build.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from cellnb.book.extension import colab_url
from cellnb.book.pipeline import build_book, notebooks_in_toc, toc_pages
from cellnb.book.students import is_solution

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = notebooks_in_toc(REPO / "_toc.yml")
NOTEBOOK_TIMEOUT = 240  # seconds per chapter in the smoke profile on 2 CPU cores (hard stop)
EXTERNAL_ASSET = re.compile(r'<(?:script|link)[^>]+(?:src|href)="((?:https?:)?//[^"]+\.(?:js|css)[^"]*)"')
SMOKE_BUDGET = 90       # seconds: the smoke budget on 2 CPU cores (measured 38-55 s)
SOLUTION_CELL = re.compile(r'<div class="cell [^"]*\btag_solution\b[^"]*">\s*(<details class="[^"]*)?')


@pytest.mark.notebook
@pytest.mark.timeout(NOTEBOOK_TIMEOUT)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_chapter_runs_in_the_smoke_profile(notebook, smoke_runs):
    executed = smoke_runs(notebook)
    assert executed.exists()
    seconds = smoke_runs.seconds[notebook]
    assert seconds < SMOKE_BUDGET, f"{notebook.name} took {seconds:.0f} s in the smoke profile"
    metrics = smoke_runs.metrics(notebook)
    assert "environment" in metrics, f"{notebook.name} does not call cellnb.setup()"
    assert metrics["environment"]["profile"] == "smoke"


@pytest.mark.book
@pytest.mark.timeout(NOTEBOOK_TIMEOUT * len(NOTEBOOKS) + 300)
def test_the_book_builds_from_the_smoke_runs(smoke_runs):
    for notebook in NOTEBOOKS:
        smoke_runs(notebook)
    index = build_book(root=REPO, build_dir=smoke_runs.build_dir, skip_execute=True)

    html = index.parent
    assert index.exists()
    for page in toc_pages(REPO / "_toc.yml"):
        assert (html / f"{page}.html").exists(), f"no HTML page for {page}"
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    for notebook in NOTEBOOKS:
        relative = notebook.relative_to(REPO).as_posix()
        page = (html / relative).with_suffix(".html").read_text()
        link = colab_url(config["repository"]["url"], config["repository"]["branch"], relative)
        assert f'href="{link}"' in page, f"{relative}: no Open in Colab link"
        assert "injected-parameters" in page, f"{relative}: the smoke parameters are not shown"
        code_solutions = [cell for cell in nbformat.read(notebook, as_version=4).cells
                          if is_solution(cell) and cell.cell_type == "code"]
        shown = SOLUTION_CELL.findall(page)
        assert len(shown) == len(code_solutions), f"{relative}: solution cells missing"
        assert all("hide" in details for details in shown), f"{relative}: a solution is not folded"
    # The book must work offline: no page may load a script or stylesheet from the internet.
    for page in html.rglob("*.html"):
        remote = EXTERNAL_ASSET.findall(page.read_text())
        assert not remote, f"{page.relative_to(html)} loads {remote[:3]}"
