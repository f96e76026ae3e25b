"""Writing configs and attributes as JSON: NumPy values and paths become the plain values they
hold, so a config built with NumPy numbers hashes and stores like the same config by hand."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def json_default(value):
    """``json.dumps``'s ``default`` hook for NumPy arrays and scalars and for paths."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{value!r} ({type(value).__name__}) cannot be written as JSON; use numbers, "
                    "strings, bools, None, lists or dicts with string keys")
