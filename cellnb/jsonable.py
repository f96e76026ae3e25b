"""Values as JSON: the one converter behind configs, cache keys, checkpoints and metrics files.

NumPy values, paths and pandas tables become the plain values they hold, so a config built with
NumPy numbers hashes and stores like the same config typed by hand, and a recorded table reads
back as a table.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

TABLE_KEY = "__table__"


def to_plain(value):
    """``value`` as nested dicts, lists, strings, numbers, bools and None.

    Non-finite floats become the strings ``"nan"``/``"inf"`` (JSON has no such numbers); pandas
    tables become ``{"__table__": <split orientation>}``, which :func:`from_plain` reads back.
    """
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        import json
        return {TABLE_KEY: json.loads(value.to_json(orient="split"))}
    if isinstance(value, pd.Series):
        return to_plain(value.to_frame())
    if isinstance(value, np.ndarray):
        return [to_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return to_plain(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    raise TypeError(f"{value!r} ({type(value).__name__}) cannot be written as JSON; use numbers, "
                    "strings, bools, None, lists, dicts or pandas tables")


def from_plain(value):
    """Undo :func:`to_plain` for tables (nested anywhere in dicts)."""
    if isinstance(value, dict) and TABLE_KEY in value:
        import pandas as pd

        split = value[TABLE_KEY]
        return pd.DataFrame(split["data"], index=split["index"], columns=split["columns"])
    if isinstance(value, dict):
        return {k: from_plain(v) for k, v in value.items()}
    return value


def json_default(value):
    """``json.dumps``'s ``default`` hook for NumPy arrays and scalars and for paths."""
    if isinstance(value, (np.ndarray, np.generic, Path)):
        return to_plain(value)
    raise TypeError(f"{value!r} ({type(value).__name__}) cannot be written as JSON; use numbers, "
                    "strings, bools, None, lists or dicts with string keys")
