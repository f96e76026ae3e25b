"""Run a chapter's code cells in one plain Python process, where Jupyter is not installed.

    python scripts/run_chapter_plain.py notebooks/paired_inpainting.ipynb --profile gpu \
        [-p NAME=VALUE ...] [--metrics FILE]

For a machine that has the scientific stack but no Jupyter kernel, papermill or nbformat (a lent
GPU machine, a batch node): the notebook's code cells run in order in one namespace, as papermill
would run them, with the ``-p`` values (and ``profile``) assigned right after the parameters
cell. IPython's line magics (``%pip``) are skipped and ``display`` prints; figures are closed
after each cell; the metrics ``cellnb.record`` writes go to ``--metrics``. Each cell's time is
printed, and the first failing cell stops the run with its traceback. ``cellnb run`` (papermill)
remains the way to execute a chapter; this is its stand-in where that cannot run.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
import traceback
from pathlib import Path


def code_cells(notebook: Path) -> list[dict]:
    cells = json.loads(notebook.read_text())["cells"]
    return [cell for cell in cells if cell["cell_type"] == "code"]


def parse_parameter(text: str) -> tuple[str, object]:
    name, _, value = text.partition("=")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value            # a bare word is a string


def show(*objects) -> None:
    """IPython's ``display`` in plain text."""
    for item in objects:
        print(item.to_string() if hasattr(item, "to_string") else repr(item))


def stand_in_ipython() -> None:
    """Where IPython is missing, the few names of it a chapter reaches (``display``, ``HTML``,
    ``get_ipython``), so that rich output is printed in short instead of failing."""
    try:
        import IPython.display  # noqa: F401
        return
    except ImportError:
        pass
    import types

    package = types.ModuleType("IPython")
    package.get_ipython = lambda: None
    package.version_info = (8, 0, 0, "")     # matplotlib reads it when IPython is imported
    package.__path__ = []
    display = types.ModuleType("IPython.display")
    display.display = show
    display.HTML = lambda html="", *args, **kwargs: f"<HTML output, {len(str(html))} characters>"
    package.display = display
    sys.modules.update({"IPython": package, "IPython.display": display})


def run(notebook: Path, parameters: dict, metrics: Path) -> int:
    os.environ.update(CELLNB_HEADLESS="1", CELLNB_METRICS_FILE=str(metrics),
                      MPLBACKEND="Agg")
    stand_in_ipython()
    import matplotlib.pyplot as plt

    namespace = {"display": show, "__name__": "__main__"}
    os.chdir(notebook.parent)
    total = time.perf_counter()
    for cell in code_cells(notebook):
        source = "".join(cell["source"])
        lines = [line[:len(line) - len(line.lstrip())] + "pass"
                 if line.lstrip().startswith(("%", "!")) else line
                 for line in source.splitlines()]
        tags = cell.get("metadata", {}).get("tags", [])
        start = time.perf_counter()
        try:
            exec(compile("\n".join(lines), f"<cell {cell.get('id')}>", "exec"), namespace)
            if "parameters" in tags:
                namespace.update(parameters)
        except Exception:
            traceback.print_exc()
            print(f"FAILED in cell {cell.get('id')}", flush=True)
            return 1
        finally:
            plt.close("all")
        print(f"[cell {cell.get('id')}: {time.perf_counter() - start:.1f} s]", flush=True)
    print(f"ran {notebook.name} in {time.perf_counter() - total:.0f} s", flush=True)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--profile", default="auto")
    parser.add_argument("-p", "--parameter", dest="parameters", action="append", default=[],
                        type=parse_parameter, metavar="NAME=VALUE")
    parser.add_argument("--metrics", type=Path, default=Path("metrics.json"))
    args = parser.parse_args(argv)
    parameters = dict(args.parameters) | {"profile": args.profile}
    return run(args.notebook.resolve(), parameters, args.metrics.resolve())


if __name__ == "__main__":
    sys.exit(main())
