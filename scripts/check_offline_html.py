#!/usr/bin/env python3
"""Check in a real browser, with the network blocked, that the built book draws its plotly figures.

``cellnb.display.show_plotly`` writes figures as HTML that calls a global ``Plotly`` object, and
``cellnb.book.extension`` ships ``plotly.min.js`` in the book's ``_static``. Whether that adds up
to a figure is only visible in a browser: this script opens every page of the built book that
holds a plotly figure in headless Chromium (all traffic sent to a dead proxy, so nothing can come
from a CDN) and fails on any figure a reader would see blank. A figure counts as drawn when

* its div has a size and holds a ``.main-svg`` layer with a size,
* every visible trace drew marks: an SVG trace group (``g.trace``, ``g.hm`` for heatmaps, ...)
  with a path or image of non-zero size. WebGL traces (``scattergl``, which ``px.scatter`` picks
  above 1000 points) draw into a canvas whose pixels cannot be read back, so for them a canvas
  with a size is the evidence; so do 3D scenes (``isosurface``, ``mesh3d``, ``scatter3d``...),
  whose evidence is a canvas with a size in the scene's ``.gl-container``,
* every slider of ``layout.sliders`` drew its rail (``.slider-container`` holding a
  ``.slider-rail-rect`` of non-zero width and a grip).

The page is measured by a small script added to a temporary copy of it (a ``<base>`` element
keeps its relative links pointing into the book); the script writes what it measured into the
DOM, which Chromium prints with ``--dump-dom``. The check also fails on any ``<script src>`` that
leaves the book.

    python scripts/check_offline_html.py [_build/html] [--screenshot-dir DIR]

Needs Chromium (Debian: ``apt-get install chromium``); exits 2 if none is found.
"""
from __future__ import annotations

import argparse
import html
import json
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
                  # Virtual time: the DOM is printed once this much page time has passed, and
                  # an idle page skips ahead. Loading the page counts too: on a busy 2-core
                  # machine its load event came 8 s in, so 30 s leaves room.
                  "--virtual-time-budget=30000")
EXTERNAL_SCRIPT = re.compile(r"<script[^>]*\ssrc=\"(https?:)?//[^\"]*\"", re.IGNORECASE)
REPORT_ID = "cellnb-render-report"

# Runs 1 s (virtual) after the page's load event, once plotly.js had time to finish its promises.
RENDER_PROBE = """<script>
(function () {
  var TRACE_GROUPS = "g.trace, g.hm, g.im, g.contour";  // one SVG group per drawn trace
  var WEBGL_TRACE = /gl$|^splom$/;
  var SCENE_TRACE = /^(isosurface|volume|mesh3d|scatter3d|surface|cone|streamtube)$/;
  function all(root, selector) { return Array.prototype.slice.call(root.querySelectorAll(selector)); }
  function area(el) { var r = el.getBoundingClientRect(); return r.width * r.height > 0; }
  function extent(el) { var r = el.getBoundingClientRect(); return r.width > 0 || r.height > 0; }
  function shown(items) {
    return (items || []).filter(function (i) { return i.visible !== false && i.visible !== "legendonly"; });
  }
  function measure(div) {
    var traces = shown(div.data);
    var webgl = traces.filter(function (t) { return WEBGL_TRACE.test(t.type || ""); }).length;
    var groups = all(div, TRACE_GROUPS).filter(function (g) {  // a range slider repeats the traces
      return !g.closest(".rangeslider-container") && all(g, "path, image").some(extent);
    });
    var canvas = all(div, "canvas.gl-canvas-context").some(area);
    var scenes = traces.filter(function (t) { return SCENE_TRACE.test(t.type || ""); }).length;
    var sceneCanvas = all(div, ".gl-container canvas").some(area);
    var sliders = all(div, ".slider-container .slider-group").filter(function (s) {
      var rail = s.querySelector(".slider-rail-rect");
      return rail && rail.getBoundingClientRect().width > 0 && s.querySelector(".slider-grip-rect");
    });
    var box = div.getBoundingClientRect();
    return {id: div.id, width: Math.round(box.width), height: Math.round(box.height),
            svg_layers: all(div, ".main-svg").filter(area).length,
            traces: traces.length,
            traces_drawn: groups.length + (canvas ? webgl : 0) + (sceneCanvas ? scenes : 0),
            trace_types: traces.map(function (t) { return t.type || "scatter"; }),
            sliders: shown(div.layout && div.layout.sliders).length, sliders_drawn: sliders.length};
  }
  window.addEventListener("load", function () {
    setTimeout(function () {
      var report = document.createElement("div");
      report.id = "REPORT_ID";
      report.hidden = true;
      report.textContent = JSON.stringify({
        plotly_version: window.Plotly ? window.Plotly.version : null,
        figures: all(document, ".PLOTLY_DIV").map(measure)});
      document.body.appendChild(report);
    }, 1000);
  });
})();
</script>
""".replace("REPORT_ID", REPORT_ID).replace("PLOTLY_DIV", PLOTLY_DIV)


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


def with_probe(source: str, base_url: str) -> str:
    """``source`` with a ``<base href>`` first in its head and the render probe last in its body."""
    base = f'<base href="{html.escape(base_url)}">'
    head = re.search(r"<head\b[^>]*>", source, re.IGNORECASE)
    source = (source[:head.end()] + base + source[head.end():]) if head else base + source
    body_end = source.lower().rfind("</body>")
    return (source[:body_end] + RENDER_PROBE + source[body_end:]) if body_end >= 0 \
        else source + RENDER_PROBE


def render_report(chromium: str, page: Path) -> dict | None:
    """What the probe measured on ``page`` in headless Chromium: ``plotly_version`` (None when
    plotly.js did not load) and one entry per figure; None if the probe never reported."""
    base_url = page.resolve().parent.as_uri() + "/"
    with tempfile.TemporaryDirectory() as probe_dir:
        probe_page = Path(probe_dir) / page.name
        probe_page.write_text(with_probe(page.read_text(errors="replace"), base_url))
        result = _chromium(chromium, probe_page, "--dump-dom")
    if result.returncode != 0:
        raise RuntimeError(f"chromium failed on {page} (exit {result.returncode}):\n"
                           f"{result.stderr[-2000:]}")
    # [^>]*: the page's own scripts may add attributes (the theme gives scrollable blocks a tabindex)
    found = re.search(rf'<div id="{REPORT_ID}"[^>]*>(.*?)</div>', result.stdout, re.DOTALL)
    return json.loads(html.unescape(found.group(1))) if found else None


def figure_problems(figure: dict) -> list[str]:
    """Why one measured figure would look blank or incomplete to a reader; empty when drawn."""
    problems = []
    if figure["width"] == 0 or figure["height"] == 0:
        problems.append(f"its div is {figure['width']}x{figure['height']} px")
    if figure["svg_layers"] == 0:
        problems.append("plotly drew no .main-svg layer in it")
    if figure["traces_drawn"] < figure["traces"]:
        problems.append(f"{figure['traces_drawn']} of its {figure['traces']} trace(s) "
                        f"({', '.join(figure['trace_types'])}) drew any mark")
    if figure["sliders_drawn"] < figure["sliders"]:
        problems.append(f"{figure['sliders_drawn']} of its {figure['sliders']} slider(s) drew a "
                        "rail and grip")
    return problems


def check_page(chromium: str, page: Path) -> list[str]:
    """Problems found on ``page``; an empty list means every figure was drawn offline."""
    return page_problems(page, render_report(chromium, page))


def page_problems(page: Path, report: dict | None) -> list[str]:
    """Problems with ``page`` given what :func:`render_report` measured on it."""
    source = page.read_text(errors="replace")
    problems = [f"{page}: loads a script from outside the book: {match.group(0)}"
                for match in EXTERNAL_SCRIPT.finditer(source)]
    figures = len(re.findall(rf"class=\"{PLOTLY_DIV}\"", source))
    if report is None:
        return problems + [f"{page}: the page did not reach its load event within Chromium's "
                           "virtual-time budget, so its figures were not measured; is the "
                           "machine overloaded, or does a resource never finish loading?"]
    if report["plotly_version"] is None:
        return problems + [f"{page}: plotly.js did not load (window.Plotly is undefined), so its "
                           f"{figures} plotly figure(s) stayed blank; is _static/plotly.min.js "
                           "missing or loaded after the figure?"]
    if len(report["figures"]) < figures:
        problems.append(f"{page}: {figures} plotly figure(s) in the HTML but only "
                        f"{len(report['figures'])} in the rendered page")
    for number, figure in enumerate(report["figures"], start=1):
        problems += [f"{page}: figure {number} (#{figure['id']}) is blank or incomplete: {why}"
                     for why in figure_problems(figure)]
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
