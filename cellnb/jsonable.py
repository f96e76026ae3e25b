"""Values as JSON: the one converter behind configs, cache keys, checkpoints and metrics files.

NumPy values, paths and pandas tables become the plain values they hold, so a config built with
NumPy numbers hashes and stores like the same config typed by hand, and a recorded table reads
back as a table.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

TABLE_KEY = "__table__"
KEY_LENGTH = 16   # hex digits of SHA-256: 64 bits, ample for the handful of configs per kind


def to_plain(value):
    """``value`` as nested dicts, lists, strings, numbers, bools and None.

    Non-finite floats become the strings ``"nan"``/``"inf"`` (JSON has no such numbers); pandas
    tables become ``{"__table__": <split orientation>}``, which :func:`from_plain` reads back.
    """
    import pandas as pd

    if isinstance(value, pd.DataFrame):
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
        return pd.DataFrame(split["data"], index=_labels(split["index"]),
                            columns=_labels(split["columns"]))
    if isinstance(value, dict):
        return {k: from_plain(v) for k, v in value.items()}
    return value


def _labels(labels: list):
    """Row or column labels of a split table; tuples (written as lists) are a MultiIndex's."""
    import pandas as pd

    if labels and all(isinstance(label, list) for label in labels):
        return pd.MultiIndex.from_tuples([tuple(label) for label in labels])
    return labels


def json_default(value):
    """``json.dumps``'s ``default`` hook for NumPy arrays and scalars and for paths."""
    if isinstance(value, (np.ndarray, np.generic, Path)):
        return to_plain(value)
    raise TypeError(f"{value!r} ({type(value).__name__}) cannot be written as JSON; use numbers, "
                    "strings, bools, None, lists or dicts with string keys")


def canonical_json(config: dict) -> str:
    """``config`` as JSON with sorted keys and no whitespace: equal configs give equal text.

    NumPy scalars and arrays are converted to the Python numbers and lists they hold, so a config
    built with numpy values hashes like the same config written by hand. Tuples become lists.
    """
    try:
        return json.dumps(config, sort_keys=True, separators=(",", ":"), default=json_default,
                          ensure_ascii=True, allow_nan=True)
    except TypeError as error:
        raise TypeError(f"config value has no canonical JSON form: {error}") from None


def config_key(config: dict) -> str:
    """A short hash that is stable across runs, machines and key orders for ``config``."""
    return hashlib.sha256(canonical_json(config).encode("ascii")).hexdigest()[:KEY_LENGTH]
