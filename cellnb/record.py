"""Recording the numbers a chapter cites, once, for both the prose and the tests.

``record(name, value)`` glues the value with myst-nb (so the text can cite ``{glue:text}`name```)
and writes it to a ``metrics.json`` file beside the executed notebook, which the tests read with
:func:`read_metrics`. The file's location comes from ``$CELLNB_METRICS_FILE``, set by
``cellnb run``; run by hand, it is ``metrics.json`` in the working directory.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .jsonable import from_plain, to_plain

METRICS_ENV = "CELLNB_METRICS_FILE"


def metrics_path() -> Path:
    return Path(os.environ.get(METRICS_ENV) or "metrics.json")


def _glue(name: str, value, display: bool) -> None:
    try:
        from IPython import get_ipython
        if get_ipython() is None:
            return
        from myst_nb import glue
    except ImportError:
        return
    glue(name, value, display=display)


def record(name: str, value, *, display: bool = False, path: str | os.PathLike | None = None):
    """Record ``value`` under ``name`` for the text (glue) and the tests (metrics file).

    The file is rewritten through a temporary file and a rename, so a reader never sees half a
    file. Returns ``value`` so a cell can record and show in one line.
    """
    if not name.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise ValueError(f"metric names use letters, digits, '_', '-' and '.', got {name!r}")
    path = Path(path) if path is not None else metrics_path()
    metrics = json.loads(path.read_text()) if path.exists() else {}
    if isinstance(value, np.generic):
        value = value.item()   # the text shows 0.546, not np.float64(0.546)
    metrics[name] = to_plain(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(metrics, indent=1, sort_keys=True))
    os.replace(tmp, path)
    _glue(name, value, display)
    return value


def read_metrics(path: str | os.PathLike) -> dict:
    """Read a metrics file written by :func:`record`; tables come back as DataFrames."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no metrics file at {path}; was the notebook executed with "
                                "`cellnb run`?")
    return from_plain(json.loads(path.read_text()))
