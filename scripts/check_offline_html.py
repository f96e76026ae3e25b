#!/usr/bin/env python3
"""Check in a real browser, with the network blocked, that the built book draws its plotly figures.

``cellnb.display.show_plotly`` writes figures as HTML that calls a global ``Plotly`` object, and
``cellnb.book.extension`` ships ``plotly.min.js`` in the book's ``_static``. Whether that adds up
to a figure is only visible in a browser: this script opens every page of the built book that
holds a plotly figure in headless Chromium (all traffic sent to a dead proxy, so nothing can come
from a CDN), and checks that plotly.js built each figure (its ``plot-container`` and ``main-svg``
elements exist in the rendered DOM). It also fails on any ``<script src>`` that leaves the book.

    python scripts/check_offline_html.py [_build/html] [--screenshot-dir DIR]

Needs Chromium (Debian: ``apt-get install chromium``); exits 2 if none is found.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PLOTLY_DIV = "plotly-graph-div"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run",
                  "--proxy-server=127.0.0.1:9",  # a closed port: any network request fails
                  "--virtual-time-budget=10000")
EXTERNAL_SCRIPT = re.compile(r"<script[^>]*\ssrc=\"(https?:)?//[^\"]*\"", re.IGNORECASE)


def find_chromium() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def pages_with_plotly(html_dir: Path) -> list[Path]:
    return sorted(page for page in html_dir.rglob("*.html")
                  if PLOTLY_DIV in page.read_text(errors="replace"))


def _chromium(chromium: str, page: Path, *extra: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile_dir:
        return subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}",
                               *extra, page.resolve().as_uri()],
                              capture_output=True, text=True, timeout=120, check=False)


def render_dom(chromium: str, page: Path) -> str:
    """The DOM of ``page`` after its scripts ran, as serialised by headless Chromium."""
    result = _chromium(chromium, page, "--dump-dom")
    if result.returncode != 0:
        raise RuntimeError(f"chromium failed on {page} (exit {result.returncode}):\n"
                           f"{result.stderr[-2000:]}")
    return result.stdout


def check_page(chromium: str, page: Path) -> list[str]:
    """Problems found on ``page``; an empty list means every figure was drawn offline."""
    source = page.read_text(errors="replace")
    problems = [f"{page}: loads a script from outside the book: {match.group(0)}"
                for match in EXTERNAL_SCRIPT.finditer(source)]
    figures = len(re.findall(rf"class=\"{PLOTLY_DIV}\"", source))
    dom = render_dom(chromium, page)
    containers = len(re.findall(r"class=\"[^\"]*\bplot-container\b", dom))
    svgs = len(re.findall(r"class=\"[^\"]*\bmain-svg\b", dom))
    if containers < figures or svgs < figures:
        problems.append(f"{page}: {figures} plotly figure(s) in the HTML but plotly.js drew "
                        f"{containers} plot container(s) and {svgs} svg layer(s); is "
                        "_static/plotly.min.js missing or loaded after the figure?")
    return problems


def screenshot(chromium: str, page: Path, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    _chromium(chromium, page, "--window-size=1200,1600", f"--screenshot={out.resolve()}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html_dir", nargs="?", default="_build/html", type=Path)
    parser.add_argument("--screenshot-dir", type=Path,
                        help="also save a screenshot of each checked page here")
    args = parser.parse_args(argv)

    chromium = find_chromium()
    if chromium is None:
        print("no Chromium found (tried " + ", ".join(CHROMIUM_NAMES) + "); install it, e.g. "
              "`apt-get install chromium`", file=sys.stderr)
        return 2
    if not (args.html_dir / "index.html").exists():
        print(f"no built book at {args.html_dir}; run `make book` first", file=sys.stderr)
        return 1
    pages = pages_with_plotly(args.html_dir)
    if not pages:
        print(f"no page in {args.html_dir} holds a plotly figure; nothing to check",
              file=sys.stderr)
        return 1
    problems = []
    for page in pages:
        found = check_page(chromium, page)
        problems += found
        print(f"{'FAIL' if found else 'ok  '} {page.relative_to(args.html_dir)}")
        if args.screenshot_dir:
            screenshot(chromium, page, args.screenshot_dir / f"{page.stem}.png")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
