"""Checks every real-data loader runs on what it reads, with errors that say what to do.

Real datasets arrive as files the user downloaded by hand, from servers that change (the DeepLoc
URL broke once; Google Drive links hit quotas). A loader
that fails deep inside numpy or h5py with "index 3 is out of bounds" or "unable to open file
(file signature not found)" leaves the reader stuck. These checks fail early, name the array,
column or file at fault and suggest the fix.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

DTYPE_KIND_NAMES = {"b": "boolean", "i": "signed integer", "u": "unsigned integer",
                    "f": "floating point", "c": "complex", "O": "object", "U": "unicode string",
                    "S": "byte string"}


class DataFormatError(ValueError):
    """Data on disk or in memory is not in the layout a loader expects."""


def check_array(array, *, name: str, ndim: int | None = None,
                shape: Sequence[int | None] | None = None,
                channels: tuple[int, Sequence[str]] | None = None,
                dtype_kind: str | None = None) -> np.ndarray:
    """Check an array's layout and return it (as an ndarray) so calls can be chained.

    name:
        What the array is, for the message (``"OpenCell crops (Image_data00.npy)"``).
    ndim:
        Required number of dimensions.
    shape:
        Required shape; ``None`` entries are wildcards, e.g. ``(None, 100, 100, 4)``.
    channels:
        ``(axis, names)``: the size of ``axis`` must equal ``len(names)``; the names go into the
        message, e.g. ``(1, ("membrane", "structure", "DNA"))``.
    dtype_kind:
        Allowed numpy dtype kinds, e.g. ``"f"`` or ``"iu"`` (see ``numpy.dtype.kind``).
    """
    if not isinstance(array, np.ndarray):
        raise DataFormatError(f"{name} should be a numpy array, got {type(array).__name__}; "
                              "load it with numpy.load / tifffile.imread / h5py first")
    if ndim is not None and array.ndim != ndim:
        raise DataFormatError(f"{name} should have {ndim} dimensions, got {array.ndim} "
                              f"(shape {array.shape}); check the file is the documented one "
                              "and its axis order")
    if shape is not None:
        expected = tuple(shape)
        matches = array.ndim == len(expected) and all(
            want is None or want == have for want, have in zip(expected, array.shape))
        if not matches:
            pattern = "(" + ", ".join("*" if s is None else str(s) for s in expected) + ")"
            raise DataFormatError(f"{name} should have shape {pattern} (* = any), got "
                                  f"{array.shape}; check the file version and the axis order "
                                  "(channels first or last)")
    if channels is not None:
        axis, names = channels
        names = tuple(names)
        if not -array.ndim <= axis < array.ndim:
            raise DataFormatError(f"{name} has {array.ndim} dimensions, so it has no channel "
                                  f"axis {axis}; expected {len(names)} channels "
                                  f"({', '.join(names)})")
        if array.shape[axis] != len(names):
            raise DataFormatError(f"{name} should have {len(names)} channels "
                                  f"({', '.join(names)}) on axis {axis}, got "
                                  f"{array.shape[axis]} (shape {array.shape}); check the "
                                  "channel axis and that no channel was dropped or added")
    if dtype_kind is not None and array.dtype.kind not in dtype_kind:
        wanted = " or ".join(DTYPE_KIND_NAMES.get(kind, kind) for kind in dtype_kind)
        raise DataFormatError(f"{name} should hold {wanted} values, got dtype {array.dtype}; "
                              "convert it explicitly (e.g. array.astype(np.float32)) if the "
                              "values are right")
    return array


def check_columns(table, required: Iterable[str], *, name: str) -> None:
    """Check that a DataFrame has the ``required`` columns."""
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise DataFormatError(f"{name} is missing column(s) {missing}; it has "
                              f"{list(table.columns)}. Check that this is the documented file "
                              "(and version), or rename the columns to the expected names")


def open_hdf5(path, *, required: Iterable[str] = ()):
    """Open an HDF5 file read-only, turning h5py's low-level errors into actionable ones.

    ``required`` lists datasets or groups (paths inside the file) that must exist. Returns the
    open ``h5py.File``; use it as a context manager.
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no HDF5 file at {path}; download it (see "
                                "cellnb.data.registry.describe) or pass the right path")
    if path.is_dir():
        raise DataFormatError(f"{path} is a directory, not an HDF5 file; pass the .h5/.hdf5 "
                              "file inside it")
    if not h5py.is_hdf5(path):
        with open(path, "rb") as handle:
            start = handle.read(8)
        hint = _not_hdf5_hint(start)
        raise DataFormatError(f"{path} is not an HDF5 file (it starts with {start!r}); {hint}")
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise DataFormatError(f"{path} has an HDF5 signature but cannot be opened ({error}); it "
                              "is probably truncated or corrupt, e.g. by an interrupted "
                              "download: delete it and download it again") from error
    missing = [key for key in required if key not in file]
    if missing:
        present = sorted(file.keys())
        file.close()
        raise DataFormatError(f"{path} lacks the required entries {missing}; its top level "
                              f"holds {present}. Check that this is the documented file")
    return file


def _not_hdf5_hint(start: bytes) -> str:
    if start.startswith(b"PK"):
        return "it is a zip archive: unpack it and open the .h5/.hdf5 file inside"
    if start.lstrip().lower().startswith((b"<!doc", b"<html", b"<?xml")):
        return ("it is a web page, as a failed or quota-limited download saves: delete it "
                "and download the file again")
    if start.startswith(b"\x1f\x8b"):
        return "it is gzip-compressed: decompress it first"
    return "check that you downloaded the right file and that the download completed"


def cell_positions(indices, n: int) -> np.ndarray:
    """Integer positions into n cells from None (all), a slice, a boolean mask or integers
    (negative ones count from the end), checked: what a reader's ``indices=`` accepts."""
    if indices is None:
        return np.arange(n, dtype=np.int64)
    if isinstance(indices, slice):
        return np.arange(n, dtype=np.int64)[indices]
    indices = np.asarray(indices)
    if indices.dtype == bool:
        if indices.shape != (n,):
            raise IndexError(f"a boolean mask needs {n} entries, one per cell, got "
                             f"{indices.shape}")
        return np.flatnonzero(indices).astype(np.int64)
    positions = indices.astype(np.int64).ravel()
    positions = np.where(positions < 0, positions + n, positions)
    if len(positions) and (positions.min() < 0 or positions.max() >= n):
        raise IndexError(f"indices must lie in [-{n}, {n}) for {n} cells, got "
                         f"{indices.min()}..{indices.max()}")
    return positions
