"""HDF5 storage of an :class:`ImageSet`, and a torch dataset that reads it lazily.

Generated and downloaded data sets are written once and read many times, often by several
DataLoader workers at once, so the file layout is chosen for that:

* images and masks are chunked one image per chunk, so reading sample ``i`` decompresses exactly
  one chunk, and random access stays cheap however large the file;
* every table (``metadata`` and each extra table) is a group with one dataset per column, so
  dtypes come back exactly (ints, floats with NaN, bools, strings, categoricals, nullable types)
  instead of going through a lossy text or pickle format;
* a write goes to a temporary file next to the target and is moved into place with
  ``os.replace`` only after a completion marker has been written, so an interrupted write can never
  leave a file at ``path`` that later reads as valid.

Layout (``FORMAT_VERSION`` 1)::

    /images                  (N, C, *spatial), one chunk per image
    /masks                   (N, M, *spatial), one chunk per image (only if the set has masks)
    /tables/metadata/c0000   one dataset per column, in column order
    /tables/<name>/...       extra tables, same layout
    root attributes          format, format_version, cellnb_version, channels, mask_names,
                             attrs (JSON), complete (written last)
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from cellnb.data.imageset import ImageSet
from cellnb.data.validation import DataFormatError, open_hdf5
from cellnb.jsonable import json_default

FORMAT_NAME = "cellnb.imageset"
FORMAT_VERSION = 1
COMPLETE_ATTR = "complete"
METADATA_TABLE = "metadata"

# LZF ships inside h5py itself (no plugin to install anywhere h5py runs) and is the fastest
# filter h5py offers. Measured on 2000 noisy 3x64x64 float32 images plus int32 masks (131 MB raw,
# shared 2-core machine): lzf writes in ~4 s and reads in ~0.7 s to 100 MB; gzip (level 4) takes
# ~11 s and ~1.4 s for 91 MB; no compression 0.6 s and 0.2 s for 131 MB. Noisy float images
# hardly compress (gzip saves 9%, lzf nothing), but masks, mostly zeros, shrink 40x with lzf: that
# is the saving worth having, and lzf buys it at the smallest cost in speed.
# Pass compression="gzip" when the file must be read by tools outside h5py (MATLAB, Fiji).
DEFAULT_COMPRESSION = "lzf"

_STRING_DTYPE = h5py.string_dtype(encoding="utf-8")
_REGENERATE_HINT = "delete it and regenerate it (e.g. with `cellnb sim ...`)"


class CorruptImageSetError(DataFormatError):
    """The file at a path exists but is not a complete, readable cellnb ImageSet."""


# ------------------------------------------------------------------------------------- writing


def write_imageset(imageset: ImageSet, path, *, compression: str | None = DEFAULT_COMPRESSION,
                   compression_opts=None) -> Path:
    """Write ``imageset`` to the HDF5 file ``path`` atomically and return the path.

    ``compression`` is an h5py filter name (``"lzf"``, ``"gzip"``) or ``None``;
    ``compression_opts`` is passed through (e.g. the gzip level). ``imageset.attrs`` is stored as
    JSON, so it must hold JSON-able values (numpy scalars and arrays are converted; tuples come
    back as lists). A file already at ``path`` is replaced only once the new one is completely
    written; if anything fails before that, the old file is untouched and the temporary file is
    removed.
    """
    if not isinstance(imageset, ImageSet):
        raise TypeError(f"write_imageset needs an ImageSet, got {type(imageset).__name__}")
    imageset.validate()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same directory as the target, so os.replace is a rename within one file system; the dot
    # prefix and .tmp suffix make a leftover from a killed process easy to recognise. Not
    # tempfile.mkstemp: its 0600 mode would make a shared cache unreadable to other users.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with h5py.File(tmp, "x") as f:  # "x": fail rather than clobber a name that exists
            _write_contents(f, imageset, compression, compression_opts)
            # Written last: a file without it was interrupted, whatever else it contains.
            f.attrs[COMPLETE_ATTR] = True
        with open(tmp, "rb+") as handle:  # the data must be on disk before the rename is
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _write_contents(f: h5py.File, imageset: ImageSet, compression, compression_opts) -> None:
    from cellnb import __version__

    f.attrs["format"] = FORMAT_NAME
    f.attrs["format_version"] = FORMAT_VERSION
    f.attrs["cellnb_version"] = __version__
    f.attrs["channels"] = json.dumps(list(imageset.channels))
    f.attrs["mask_names"] = json.dumps(list(imageset.mask_names))
    f.attrs["attrs"] = _attrs_to_json(imageset.attrs)
    _write_array(f, "images", imageset.images, compression, compression_opts)
    if imageset.masks is not None:
        _write_array(f, "masks", imageset.masks, compression, compression_opts)
    tables = f.create_group("tables")
    _write_table(tables, METADATA_TABLE, imageset.metadata)
    for name, table in imageset.tables.items():
        if not isinstance(name, str) or not name or "/" in name or name == METADATA_TABLE:
            raise ValueError(f"table name {name!r} cannot be stored: use a non-empty string "
                             f"without '/' other than {METADATA_TABLE!r}")
        _write_table(tables, name, table)


def _write_array(f: h5py.File, name: str, array: np.ndarray, compression, compression_opts):
    array = np.asarray(array)
    if array.shape[0] == 0:  # HDF5 cannot chunk an empty axis
        f.create_dataset(name, data=array)
        return
    f.create_dataset(name, data=array, chunks=(1, *array.shape[1:]),
                     compression=compression, compression_opts=compression_opts)


def _attrs_to_json(attrs: dict) -> str:
    try:
        return json.dumps(attrs, default=json_default)
    except TypeError as error:
        raise TypeError(f"ImageSet.attrs cannot be stored as JSON: {error}") from None


def _write_table(parent: h5py.Group, name: str, table: pd.DataFrame) -> None:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table {name!r} must be a pandas DataFrame, got {type(table).__name__}")
    index_columns: list = []
    index_names: list = []
    if not _is_default_index(table.index):
        # A meaningful index (e.g. cell ids) is stored as ordinary columns and restored on read.
        index_names = list(table.index.names)
        before = set(table.columns)
        table = table.reset_index()
        index_columns = [c for c in table.columns if c not in before]
    columns = list(table.columns)
    if len(set(columns)) != len(columns):
        raise ValueError(f"table {name!r} has duplicate column names {columns}; rename them "
                         "before writing")
    for column in columns:
        if not isinstance(column, (str, int)) or isinstance(column, bool):
            raise TypeError(f"table {name!r} has a column named {column!r} "
                            f"({type(column).__name__}); only str or int column names can be "
                            "stored, rename it")
    group = parent.create_group(name)
    group.attrs["columns"] = json.dumps(columns)
    group.attrs["index_columns"] = json.dumps(index_columns)
    group.attrs["index_names"] = json.dumps(index_names)
    group.attrs["n_rows"] = len(table)
    for position, column in enumerate(columns):
        _write_column(group, f"c{position:04d}", table[column], f"{name}.{column}")


def _is_default_index(index: pd.Index) -> bool:
    return (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
            and index.name is None)


def _write_column(group: h5py.Group, key: str, series: pd.Series, where: str) -> None:
    """One column as one dataset; ``encoding`` and ``pandas_dtype`` attributes say how to read it.

    Missing values of strings and pandas' nullable types go into a companion ``<key>_missing``
    boolean dataset, because HDF5 has no missing-value marker outside floats.
    """
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        dataset = group.create_dataset(key, data=codes)
        dataset.attrs["encoding"] = "categorical"
        dataset.attrs["ordered"] = bool(dtype.ordered)
        _write_column(group, f"{key}_categories", pd.Series(dtype.categories), where)
        return
    if isinstance(dtype, np.dtype) and dtype.kind in "biufc":
        dataset = group.create_dataset(key, data=series.to_numpy())
        dataset.attrs["encoding"] = "numeric"
    elif isinstance(dtype, np.dtype) and dtype.kind in "mM":
        dataset = group.create_dataset(key, data=series.to_numpy().view(np.int64))
        dataset.attrs["encoding"] = "datetime"
    elif _is_string_column(series):
        missing = series.isna().to_numpy()
        values = series.to_numpy(dtype=object, na_value="")
        dataset = group.create_dataset(key, data=values.astype(object), dtype=_STRING_DTYPE)
        dataset.attrs["encoding"] = "string"
        if missing.any():
            group.create_dataset(f"{key}_missing", data=missing)
    elif isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "biuf":
        # Nullable Int64, Float64, boolean: values with a fill, plus the missing mask.
        missing = series.isna().to_numpy()
        numpy_dtype = np.dtype(dtype.numpy_dtype)
        values = series.to_numpy(dtype=numpy_dtype, na_value=numpy_dtype.type(0))
        dataset = group.create_dataset(key, data=values)
        dataset.attrs["encoding"] = "nullable"
        if missing.any():
            group.create_dataset(f"{key}_missing", data=missing)
    else:
        kinds = sorted({type(v).__name__ for v in series.dropna()})
        raise TypeError(f"column {where!r} has dtype {dtype} holding {kinds}, which cannot be "
                        "stored faithfully; convert it to numbers, bools or strings first "
                        "(e.g. .astype(str))")
    dataset.attrs["pandas_dtype"] = str(dtype)


def _is_string_column(series: pd.Series) -> bool:
    if isinstance(series.dtype, pd.StringDtype):
        return True
    if series.dtype != object:
        return False
    # An all-missing object column counts as strings: there is nothing else it could hold.
    return all(isinstance(value, str) for value in series.dropna())


# ------------------------------------------------------------------------------------- reading


def read_imageset(path, *, lazy: bool = False) -> ImageSet:
    """Read the ImageSet stored at ``path``.

    With ``lazy=True`` the tables are read but ``images`` and ``masks`` are :class:`LazyArray`
    views that read from the file only what is indexed, one chunk per image; they can be pickled
    to DataLoader workers, each of which opens the file itself.
    """
    path = Path(path)
    with _open_checked(path) as f:
        try:
            channels = tuple(json.loads(f.attrs["channels"]))
            mask_names = tuple(json.loads(f.attrs["mask_names"]))
            attrs = json.loads(f.attrs["attrs"])
            tables = {name: _read_table(f["tables"][name]) for name in f["tables"]}
            if lazy:
                images = LazyArray(path, "images")
                masks = LazyArray(path, "masks") if "masks" in f else None
            else:
                images = f["images"][()]
                masks = f["masks"][()] if "masks" in f else None
        except (OSError, KeyError) as error:
            raise CorruptImageSetError(f"{path} could not be read ({error}); the file is damaged: "
                                       f"{_REGENERATE_HINT}") from error
    metadata = tables.pop(METADATA_TABLE)
    return ImageSet(images=images, channels=channels, metadata=metadata, masks=masks,
                    mask_names=mask_names, tables=tables, attrs=attrs)


def check_imageset(path) -> None:
    """Raise (FileNotFoundError or CorruptImageSetError) unless ``path`` holds a complete set.

    Cheap: it checks the format, the completion marker and the required datasets without
    reading the data, so a cache can validate a file on every use.
    """
    with _open_checked(Path(path)):
        pass


def _open_checked(path: Path) -> h5py.File:
    if not path.exists():
        raise FileNotFoundError(
            f"no dataset at {path}; generate it with `cellnb sim ...` or check data_dir "
            f"(CELLNB_DATA={os.environ.get('CELLNB_DATA', '<unset>')})")
    try:
        f = open_hdf5(path)   # the shared checks: a directory, not HDF5, truncated
    except DataFormatError as error:
        raise CorruptImageSetError(f"{path} is not a readable HDF5 file ({error}); "
                                   f"{_REGENERATE_HINT}") from error
    try:
        _check_structure(f, path)
    except BaseException:
        f.close()
        raise
    return f


def _check_structure(f: h5py.File, path: Path) -> None:
    if f.attrs.get("format") != FORMAT_NAME:
        raise CorruptImageSetError(f"{path} is an HDF5 file but not a cellnb ImageSet (no "
                                   f"format={FORMAT_NAME!r} attribute); check the path")
    version = int(f.attrs.get("format_version", -1))
    if version > FORMAT_VERSION:
        raise CorruptImageSetError(
            f"{path} uses ImageSet format {version} but this cellnb ("
            f"{_cellnb_version()}) reads up to {FORMAT_VERSION}; upgrade cellnb or regenerate it")
    if not f.attrs.get(COMPLETE_ATTR, False):
        raise CorruptImageSetError(f"{path} has no completion marker: its write was interrupted; "
                                   f"{_REGENERATE_HINT}")
    required = ["images", f"tables/{METADATA_TABLE}"]
    if json.loads(f.attrs.get("mask_names", "[]")):
        required.append("masks")
    missing = [name for name in required if name not in f]
    missing += [f"attribute {name!r}" for name in ("channels", "mask_names", "attrs")
                if name not in f.attrs]
    if missing:
        raise CorruptImageSetError(f"{path} lacks {', '.join(missing)}; {_REGENERATE_HINT}")


def _cellnb_version() -> str:
    from cellnb import __version__

    return __version__


def _read_table(group: h5py.Group) -> pd.DataFrame:
    columns = json.loads(group.attrs["columns"])
    data = {column: _read_column(group, f"c{position:04d}")
            for position, column in enumerate(columns)}
    index = pd.RangeIndex(int(group.attrs["n_rows"]))
    if not columns:  # pandas gives a frame without columns a RangeIndex of columns: match it
        table = pd.DataFrame(index=index)
    else:
        table = pd.DataFrame(data, columns=columns, index=index)
    index_columns = json.loads(group.attrs["index_columns"])
    if index_columns:
        table = table.set_index(index_columns)
        table.index.names = json.loads(group.attrs["index_names"])
    return table


def _read_column(group: h5py.Group, key: str) -> pd.Series:
    dataset = group[key]
    encoding = dataset.attrs["encoding"]
    pandas_dtype = dataset.attrs.get("pandas_dtype")
    missing = group[f"{key}_missing"][()] if f"{key}_missing" in group else None
    if encoding == "numeric":
        return pd.Series(dataset[()])
    if encoding == "datetime":
        return pd.Series(dataset[()].view(np.dtype(pandas_dtype)))
    if encoding == "categorical":
        categories = pd.Index(_read_column(group, f"{key}_categories"))
        values = pd.Categorical.from_codes(dataset[()], categories=categories,
                                           ordered=bool(dataset.attrs["ordered"]))
        return pd.Series(values)
    if encoding == "string":
        values = dataset.asstr()[()].astype(object)
        if missing is not None:
            values[missing] = None
        return pd.Series(values, dtype=pandas_dtype)
    if encoding == "nullable":
        values = dataset[()].astype(object)
        if missing is not None:
            values[missing] = None
        return pd.Series(pd.array(values, dtype=pandas_dtype))
    raise CorruptImageSetError(f"column {dataset.name} has unknown encoding {encoding!r}; it was "
                               "written by another cellnb version: upgrade cellnb or regenerate")


# -------------------------------------------------------------------------------- lazy access


class LazyArray:
    """Read-only array-like view of one HDF5 dataset that opens the file on first access.

    It stores only the path and dataset name when pickled, and reopens the file in any process
    it lands in (an h5py handle must never cross a fork or a pickle). Indexing the first axis with
    an int, a slice or integer/boolean positions in any order reads only those images.
    """

    def __init__(self, path, name: str):
        self.path = Path(path)
        self.name = name
        with h5py.File(self.path, "r") as f:
            dataset = f[name]
            self.shape = tuple(dataset.shape)
            self.dtype = dataset.dtype
        self._file = None
        self._pid = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def _dataset(self) -> h5py.Dataset:
        if self._file is None or self._pid != os.getpid():
            # A handle inherited through fork belongs to the parent; drop it, open our own.
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file[self.name]

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        first, rest = (key[0] if key else slice(None)), key[1:]
        dataset = self._dataset()
        if isinstance(first, (int, np.integer)):
            if not -len(self) <= first < len(self):
                raise IndexError(f"index {first} is out of range for {len(self)} images")
            block = dataset[int(first) % len(self)]
            return block[rest] if rest else block
        if isinstance(first, slice) and first.step in (None, 1):
            return dataset[first][(slice(None), *rest)] if rest else dataset[first]
        positions = (np.arange(len(self))[first] if isinstance(first, slice)
                     else np.asarray(first))
        if positions.dtype == bool:
            positions = np.flatnonzero(positions)
        positions = np.where(positions < 0, positions + len(self), positions)
        # h5py wants increasing, unique positions: read those once, then restore the order.
        unique, inverse = np.unique(positions, return_inverse=True)
        block = dataset[unique] if len(unique) else np.empty((0, *self.shape[1:]), self.dtype)
        block = block[inverse.reshape(positions.shape)]
        return block[(slice(None), *rest)] if rest else block

    def __array__(self, dtype=None, copy=None):
        array = self._dataset()[()]
        return array if dtype is None else array.astype(dtype, copy=False)

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_file"] = None
        state["_pid"] = None
        return state

    def __repr__(self) -> str:
        return (f"LazyArray({str(self.path)!r}, {self.name!r}, shape={self.shape}, "
                f"dtype={self.dtype})")


# ------------------------------------------------------------------------------- torch dataset


class ImageSetDataset:
    """A map-style torch dataset over an ImageSet in memory or an HDF5 file on disk.

    ``dataset[i]`` is a float32 tensor of shape (C, *spatial) (``channels`` picks and orders the
    channels), or ``(image, target)`` when ``target`` names a metadata column (a single value) or
    a list of columns (a dict name -> value). ``transform`` is applied to the image tensor;
    ``indices`` restricts the dataset to those rows (e.g. one split).

    Given a path, only the small tables are read up front; images are read one chunk per item by
    a file handle each worker process opens for itself on its first item, so the dataset works
    with ``DataLoader(num_workers=...)``. It follows torch's map-style protocol (``__len__`` and
    ``__getitem__``) without subclassing ``torch.utils.data.Dataset``, so that importing the
    storage code does not import torch.
    """

    def __init__(self, path_or_imageset, *, channels=None, target=None, transform=None,
                 indices=None):
        if isinstance(path_or_imageset, ImageSet):
            imageset = path_or_imageset
        else:
            imageset = read_imageset(path_or_imageset, lazy=True)
        self.images = imageset.images
        self.all_channels = imageset.channels
        self.channels = tuple(imageset.channels if channels is None else
                              ([channels] if isinstance(channels, str) else channels))
        unknown = [name for name in self.channels if name not in self.all_channels]
        if unknown:
            raise KeyError(f"unknown channel(s) {unknown}; available: {list(self.all_channels)}")
        self._channel_index = [self.all_channels.index(name) for name in self.channels]
        self.metadata = imageset.metadata
        self.target = target
        self._targets = self._target_arrays(imageset.metadata, target)
        self.transform = transform
        n = len(imageset)
        self.indices = np.arange(n) if indices is None else np.asarray(indices)
        if self.indices.dtype == bool:
            if len(self.indices) != n:
                raise ValueError(f"boolean indices have length {len(self.indices)} for {n} "
                                 "images; pass one flag per image or integer positions")
            self.indices = np.flatnonzero(self.indices)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= n):
            raise IndexError(f"indices must lie in [0, {n}), got values from "
                             f"{self.indices.min()} to {self.indices.max()}")

    @staticmethod
    def _target_arrays(metadata: pd.DataFrame, target) -> dict | None:
        if target is None:
            return None
        names = [target] if isinstance(target, str) else list(target)
        unknown = [name for name in names if name not in metadata.columns]
        if unknown:
            raise KeyError(f"unknown target column(s) {unknown}; metadata has "
                           f"{list(metadata.columns)}")
        # Plain numpy arrays: cheap to pickle to workers and to index per item.
        return {name: metadata[name].to_numpy() for name in names}

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item):
        import torch

        row = int(self.indices[item])
        image = np.asarray(self.images[row])[self._channel_index]
        image = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
        if self.transform is not None:
            image = self.transform(image)
        if self._targets is None:
            return image
        values = {name: _plain(column[row]) for name, column in self._targets.items()}
        return image, (values[self.target] if isinstance(self.target, str) else values)


def _plain(value):
    """A numpy scalar as the Python value DataLoader's collate understands (str stays str)."""
    return value.item() if isinstance(value, np.generic) and value.dtype.kind in "OSU" else value
