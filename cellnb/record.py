"""Recording the numbers a chapter cites, once, for both the prose and the tests.

``record(name, value)`` glues the value with myst-nb (so the text can cite ``{glue:text}`name```)
and writes it to a ``metrics.json`` file beside the executed notebook, which the tests read with
:func:`read_metrics`. The file's location comes from ``$CELLNB_METRICS_FILE``, set by
``cellnb run``; run by hand, it is ``metrics.json`` in the working directory.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

METRICS_ENV = "CELLNB_METRICS_FILE"
_TABLE_KEY = "__table__"


def metrics_path() -> Path:
    return Path(os.environ.get(METRICS_ENV) or "metrics.json")


def _to_json(value):
    if isinstance(value, pd.DataFrame):
        return {_TABLE_KEY: json.loads(value.to_json(orient="split"))}
    if isinstance(value, pd.Series):
        return _to_json(value.to_frame())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else str(value)
    if isinstance(value, np.ndarray):
        return [_to_json(v) for v in value.tolist()]
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    raise TypeError(f"cannot record a value of type {type(value).__name__}; "
                    "record numbers, strings, lists, dicts or pandas tables")


def _from_json(value):
    if isinstance(value, dict) and _TABLE_KEY in value:
        split = value[_TABLE_KEY]
        return pd.DataFrame(split["data"], index=split["index"], columns=split["columns"])
    if isinstance(value, dict):
        return {k: _from_json(v) for k, v in value.items()}
    return value


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
    metrics[name] = _to_json(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(metrics, indent=1, sort_keys=True))
    os.replace(tmp, path)
    _glue(name, value, display)
    return value


def verdict(holds) -> str:
    """The "reproduced?" column of a paper-vs-book table: "yes" or "no"."""
    return "yes" if bool(holds) else "no"


def read_metrics(path: str | os.PathLike) -> dict:
    """Read a metrics file written by :func:`record`; tables come back as DataFrames."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no metrics file at {path}; was the notebook executed with "
                                "`cellnb run`?")
    return {k: _from_json(v) for k, v in json.loads(path.read_text()).items()}
