"""The published OpenCell crops of cytoself, read lazily from the files the authors released.

Kobayashi et al., *Self-supervised deep learning encodes high-resolution features of protein
subcellular localization*, Nature Methods (2022), trained cytoself on 1,100,253 crops of
100x100 px from OpenCell (HEK293T, 1311 endogenously tagged proteins). The authors distribute
them in two layouts (the cytoself repository's README); :class:`OpenCellCrops` reads either one:

``"shards"`` - the full data
    ``Image_data00.npy`` ... ``Image_data09.npy``, each an array ``[n, 100, 100, 4]`` with the
    channels last (target protein, nucleus, nuclear distance, nuclear segmentation), and
    ``Label_data00.csv`` ... ``Label_data09.csv``, one row per crop with the 7 columns ``ensg,
    name, loc_grade1, loc_grade2, loc_grade3, protein_id, FOV_id``. The shards "are intended to
    be concatenated", in order. Each is about 13 GB, and the official PyTorch loader holds
    everything in memory (issue #23), so here they are memory-mapped and only the crops asked for
    are read. Any subset of the shards works; they are concatenated in shard order.

``"per_protein"`` - the sample data of the PyTorch branch
    Per protein ``<name>_pro.npy``, ``<name>_nuc.npy``, ``<name>_nucdist.npy`` (``[n, H, W]`` or
    ``[n, H, W, 1]``) and ``<name>_label.npy``, an ``[n, 3]`` array of Ensembl id, protein name
    and localisation. It has no field-of-view column.

Crops come out channel-first as float32 ``(C, H, W)``, the channels picked by name: ``protein``,
``nucleus``, ``nuclear_distance`` and (shards only) ``nuclear_segmentation``. The default is
``("protein", "nuclear_distance")``, the pair cytoself's main model is trained on. Images go
through :meth:`OpenCellCrops.images` (a batch), :meth:`~OpenCellCrops.dataset` (a torch dataset
for a DataLoader) or :meth:`~OpenCellCrops.to_imageset` (a subset held in memory as the book's
:class:`~cellnb.data.imageset.ImageSet`). :func:`find_opencell` finds the files where
:mod:`cellnb.data.registry` says they belong. Nothing here downloads anything: the files are on
Google Drive and must be fetched by hand.

What is known of the files comes from the README and third-party code, not from a
specification; the checks below therefore fail early with messages that say what was expected.
"""
from __future__ import annotations

import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cellnb.data.imageset import ImageSet
from cellnb.data.registry import ManualDownloadRequired, candidate_dirs, get_dataset
from cellnb.data.transforms import minmax_normalize
from cellnb.data.validation import DataFormatError, check_array

OPENCELL = "opencell_cytoself"          # the dataset's name in cellnb.data.registry
LAYOUTS = ("shards", "per_protein")

# The shards' channel axis, in order (the cytoself repository's README).
SHARD_CHANNELS = ("protein", "nucleus", "nuclear_distance", "nuclear_segmentation")
# The per-protein files' suffixes: <name>_<suffix>.npy.
PER_PROTEIN_SUFFIXES = {"protein": "pro", "nucleus": "nuc", "nuclear_distance": "nucdist"}
CHANNEL_NAMES = SHARD_CHANNELS
DEFAULT_CHANNELS = ("protein", "nuclear_distance")
LABEL_COLUMNS = ("ensg", "name", "loc_grade1", "loc_grade2", "loc_grade3", "protein_id", "FOV_id")
PER_PROTEIN_LABEL_COLUMNS = ("ensg", "name", "localization")

# cytoself multiplies the nuclear-distance channel by 0.01 ("intensity_adjustment"), meaning to
# bring it to about [-1, 1] (the cytoself repository's issue #7).
DISTANCE_SCALE = 0.01
DEFAULT_MAX_BYTES = 2 * 2**30           # to_imageset refuses subsets larger than this (2 GiB)

_SHARD_FILE = re.compile(r"^(?P<kind>Image|Label)_data(?P<number>\d+)\.(?P<ext>npy|csv)$")
_PER_PROTEIN_FILE = re.compile(r"^(?P<name>.+)_(?P<suffix>pro|nuc|nucdist|label)\.npy$")
_NPY_MAGIC = b"\x93NUMPY"
_READ_CHUNK = 512       # crops read from a memory map at once: bounds the temporary copy
_MAX_OPEN_FILES = 64    # memory maps kept open (each holds a file descriptor)
_REDOWNLOAD = ("delete it and download it again (see cellnb.data.registry.describe("
               f"{OPENCELL!r}))")


# --------------------------------------------------------------------------- finding the files

def find_opencell(data_dir=None) -> Path:
    """The folder that holds the OpenCell crops: your own copy, or where the registry keeps it.

    The folders :func:`cellnb.data.registry.fetch` searches: with ``data_dir``,
    ``<data_dir>/opencell_cytoself/`` then ``<data_dir>/`` itself; always, last, the registry's
    cache ``<cache>/real/opencell_cytoself/`` (see :func:`cellnb.data.cache.cache_dir`). The first folder
    holding files of either layout wins. Nothing is downloaded: if no folder qualifies,
    :class:`~cellnb.data.registry.ManualDownloadRequired` says which files to get, from where,
    and where to put them.
    """
    folders = candidate_dirs(OPENCELL, data_dir)
    for folder in folders:
        if folder.is_dir() and _layouts_present(folder):
            return folder
    how = get_dataset(OPENCELL).file("Image_data00.npy").how_to_get
    places = "\n".join(f"  {folder}" for folder in folders)
    raise ManualDownloadRequired(
        "no OpenCell crops found. Expected either the full data, Image_data00.npy ... "
        "Image_data09.npy with their Label_data00.csv ... Label_data09.csv (any subset of the "
        "shards, each with its label file), or the PyTorch sample data, <protein>_pro.npy, "
        "<protein>_nuc.npy, <protein>_nucdist.npy and <protein>_label.npy for each protein. "
        f"{how}\nThen put the files, flat, in one of (first found wins):\n{places}\n"
        f"(pass data_dir=... to use your own folder; see "
        f"cellnb.data.registry.describe({OPENCELL!r}) for the layout)")


def detect_layout(directory) -> str:
    """``"shards"`` or ``"per_protein"``: which of the two published layouts ``directory`` holds."""
    directory = Path(directory)
    present = _layouts_present(directory)
    if len(present) == 1:
        return present[0]
    if not present:
        raise DataFormatError(
            f"{directory} holds no OpenCell files: expected Image_dataNN.npy + Label_dataNN.csv "
            "(full data) or <protein>_pro.npy, _nuc.npy, _nucdist.npy, _label.npy (sample data)")
    raise DataFormatError(f"{directory} holds files of both layouts (Image_dataNN.npy shards and "
                          "<protein>_*.npy files); pass layout='shards' or layout='per_protein'")


def _layouts_present(directory: Path) -> list[str]:
    names = os.listdir(directory) if directory.is_dir() else []
    present = []
    if any(_SHARD_FILE.match(name) for name in names):
        present.append("shards")
    if any(_PER_PROTEIN_FILE.match(name) for name in names):
        present.append("per_protein")
    return present


# ------------------------------------------------------------------------------ the collection

class OpenCellCrops:
    """The OpenCell crops in ``data_dir``, indexable, read lazily from memory-mapped files.

    data_dir:
        The folder with the files, or its parent holding ``opencell_cytoself/`` (default: the
        registry's cache); see :func:`find_opencell`.
    layout:
        ``"auto"`` (detect it), ``"shards"`` or ``"per_protein"`` (see the module docstring).
    channels:
        Names of the channels to read, in the order wanted: ``protein``, ``nucleus``,
        ``nuclear_distance`` and, in the shards only, ``nuclear_segmentation``.
    distance_scale:
        Factor applied to ``nuclear_distance``. The paper says the channel is "normalised between
        -1 and 1"; the official code multiplies it by 0.01 instead, which the maintainer says
        was meant to reach about [-1, 1] (the repository's issue #7). 0.01 follows the code; 1.0
        gives the values as stored.
    minmax_channels:
        Channels to min-max normalise to [0, 1] crop by crop
        (:func:`~cellnb.data.transforms.minmax_normalize`). None by default: the paper says the
        fluorescence was scaled to [0, 1] before release, without saying whether per crop or per
        field (Methods), and cytoself trains on the protein channel as stored. This reader
        does not check that range; pass ``("protein",)`` to rescale each crop on read.

    Attributes: ``metadata`` (one row per crop, see below), ``channels``, ``layout``,
    ``directory``, ``spatial_shape`` (H, W), ``files`` (the files read, in order) and
    ``has_fields`` (whether ``field`` holds real fields of view).

    ``metadata`` keeps the published columns (shards: the 7 CSV columns; per-protein:
    ``ensg``, ``name``, ``localization``, and ``label_col3``... for any further label column) and
    adds the columns the book uses:

    * ``protein`` (category): the protein (gene) name;
    * ``protein_id`` (int64): shards - the published id; per-protein - the protein's rank in
      alphabetical order of names;
    * ``protein_index`` (int64): the distinct ``protein_id`` values present numbered 0..K-1 in
      increasing order, ready as a class index (``protein_id`` has gaps when only some shards
      or proteins are on disk);
    * ``field`` (int64): one number per field of view, so that
      ``cellnb.data.splits.grouped_split(metadata["field"], strata=metadata["protein"])`` keeps
      every field in one split. Shards: the distinct (``protein_id``, ``FOV_id``) pairs in order
      of appearance (a field images one tagged cell line, and pairing keeps fields apart even if
      ``FOV_id`` were counted per protein). Per-protein: the sample data has **no field of view**,
      so every crop is its own pseudo-field and ``has_fields`` is False; a grouped split is then
      the stratified random split the official README uses for the sample (``fov_col=None``),
      and crops of one field may land in different splits;
    * ``localization`` (category): shards - ``loc_grade1``; per-protein - the 3rd label column;
    * ``file`` (category) and ``row`` (int64): where the crop is stored (the shard file, or the
      per-protein name prefix) and its row there.

    ``crops[i]`` is crop ``i`` as float32 ``(C, H, W)``. Pickling drops the open memory maps and
    every process reopens its own; :meth:`dataset` carries only the file paths and one label
    column, so it travels to DataLoader workers cheaply.
    """

    def __init__(self, data_dir=None, *, layout: str = "auto", channels=DEFAULT_CHANNELS,
                 distance_scale: float = DISTANCE_SCALE, minmax_channels=()):
        self.directory = find_opencell(data_dir)
        if layout == "auto":
            layout = detect_layout(self.directory)
        elif layout not in LAYOUTS:
            raise ValueError(f"layout must be 'auto' or one of {LAYOUTS}, got {layout!r}")
        self.layout = layout
        self.channels = _check_channels(channels, layout)
        minmax_channels = (minmax_channels,) if isinstance(minmax_channels, str) else minmax_channels
        unknown = [name for name in minmax_channels if name not in self.channels]
        if unknown:
            raise ValueError(f"minmax_channels {unknown} are not among the channels read, "
                             f"{list(self.channels)}")
        if layout == "shards":
            sources, metadata = _discover_shards(self.directory)
        else:
            sources, metadata = _discover_per_protein(self.directory, self.channels)
        self.metadata = metadata
        self.has_fields = layout == "shards"
        self.files = tuple(name for source in sources for name in
                           (path.name for path in source.paths.values()))
        self._reader = _CropReader(sources, layout, self.channels, float(distance_scale),
                                   tuple(minmax_channels))
        self.spatial_shape = self._reader.spatial_shape

    # --- reading

    def __len__(self) -> int:
        return len(self._reader)

    def __getitem__(self, item):
        """Crop ``item`` as float32 (C, H, W); anything but an integer reads a batch."""
        if isinstance(item, (int, np.integer)):
            return self.images([item])[0]
        return self.images(item)

    def images(self, indices=None) -> np.ndarray:
        """The crops at ``indices`` (int positions in any order, a boolean mask, a slice; default
        all) as float32 ``(k, C, H, W)``, read shard by shard in increasing row order."""
        return self._reader.read(_positions(indices, len(self)))

    def to_imageset(self, indices=None, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ImageSet:
        """The crops at ``indices`` (default all) in memory, as an :class:`ImageSet`.

        Refuses (MemoryError) when the images would need more than ``max_bytes``: the full data
        is about 88 GB as float32 with two channels. Take a split or a sample of the indices,
        raise ``max_bytes``, or stream with :meth:`dataset` instead.
        """
        positions = _positions(indices, len(self))
        needed = len(positions) * len(self.channels) * int(np.prod(self.spatial_shape)) * 4
        if needed > max_bytes:
            raise MemoryError(
                f"{len(positions):,} crops of {len(self.channels)}x{self.spatial_shape[0]}x"
                f"{self.spatial_shape[1]} float32 need {_size(needed)}, more than "
                f"max_bytes={max_bytes:,} ({_size(max_bytes)}). Pass fewer indices (a "
                "split, or a sample such as rng.choice(len(crops), 10_000, replace=False)), raise "
                "max_bytes if the memory is there, or stream them with crops.dataset(...)")
        return ImageSet(
            images=self.images(positions), channels=self.channels,
            metadata=self.metadata.iloc[positions].reset_index(drop=True),
            attrs={"source": "OpenCell crops of cytoself (Kobayashi et al. 2022)",
                   "layout": self.layout, "directory": str(self.directory),
                   "distance_scale": self._reader.distance_scale,
                   "minmax_channels": list(self._reader.minmax_channels)})

    def dataset(self, indices=None, *, transform=None, label_column: str | None = "protein_index"):
        """A map-style torch dataset of the crops at ``indices`` (default all): see
        :class:`OpenCellDataset`."""
        positions = _positions(indices, len(self))
        labels = None
        if label_column is not None:
            if label_column not in self.metadata.columns:
                raise KeyError(f"no metadata column {label_column!r}; metadata has "
                               f"{list(self.metadata.columns)}")
            labels = self.metadata[label_column].to_numpy()[positions]
        return OpenCellDataset(self._reader, positions, labels, transform)

    def memory_maps(self) -> dict[str, np.ndarray]:
        """File name -> the memory-mapped array (``np.memmap``) crops are read from, to inspect."""
        return {path.name: self._reader.array(number, key)
                for number, source in enumerate(self._reader.sources)
                for key, path in source.paths.items()}

    def __repr__(self) -> str:
        height, width = self.spatial_shape
        what = (f"{len(self._reader.sources)} shard(s)" if self.layout == "shards"
                else f"{len(self._reader.sources)} protein(s)")
        return (f"OpenCellCrops({len(self):,} crops of {len(self.channels)}x{height}x{width} "
                f"{self.channels} from {what} in {str(self.directory)!r})")


class OpenCellDataset:
    """Crops of :class:`OpenCellCrops` for a torch DataLoader: ``(image, label)`` per item.

    ``image`` is a float32 tensor (C, H, W) after ``transform``; ``label`` is the value of the
    chosen metadata column (a Python int, float or str), or absent (the item is the image alone)
    when ``label_column=None``. ``__getitems__`` lets a DataLoader read a batch at once, in row
    order. Pickling carries file paths, not pixels, and each worker reopens the memory maps. It
    follows torch's map-style protocol without subclassing ``torch.utils.data.Dataset``, like
    :class:`cellnb.data.store.ImageSetDataset`.
    """

    def __init__(self, reader: _CropReader, positions: np.ndarray, labels, transform=None):
        self._reader = reader
        self.positions = positions
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, item):
        return self.__getitems__([item])[0]

    def __getitems__(self, items):
        import torch

        items = np.asarray(items, dtype=np.int64)
        items = np.where(items < 0, items + len(self), items)
        if items.size and (items.min() < 0 or items.max() >= len(self)):
            raise IndexError(f"index out of range for a dataset of {len(self)} crops")
        images = self._reader.read(self.positions[items])
        samples = []
        for image, item in zip(images, items):
            tensor = torch.from_numpy(image)
            if self.transform is not None:
                tensor = self.transform(tensor)
            if self.labels is None:
                samples.append(tensor)
            else:
                label = self.labels[item]
                samples.append((tensor, label.item() if isinstance(label, np.generic) else label))
        return samples


# ------------------------------------------------------------------------------------ reading

@dataclass
class _Source:
    """One stored block of crops: a shard, or one protein's files (key -> path)."""

    name: str
    paths: dict[str, Path]     # shards: {"image": ...}; per-protein: {"pro": ..., "nucdist": ...}
    n: int
    spatial_shape: tuple[int, int]


class _CropReader:
    """Reads crops by global position from the sources' memory maps; small when pickled."""

    def __init__(self, sources: list[_Source], layout: str, channels: tuple[str, ...],
                 distance_scale: float, minmax_channels: tuple[str, ...]):
        self.sources = sources
        self.layout = layout
        self.channels = channels
        self.distance_scale = distance_scale
        self.minmax_channels = minmax_channels
        self.starts = np.concatenate([[0], np.cumsum([source.n for source in sources])])
        self.spatial_shape = sources[0].spatial_shape
        self._shard_axes = [SHARD_CHANNELS.index(name) for name in channels]
        self._open: OrderedDict = OrderedDict()

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_open"] = OrderedDict()   # a memmap would pickle as its full contents
        return state

    def array(self, number: int, key: str) -> np.ndarray:
        """The memory map of file ``key`` of source ``number``, opened on first use."""
        if (number, key) in self._open:
            self._open.move_to_end((number, key))
            return self._open[(number, key)]
        array = _open_npy(self.sources[number].paths[key])
        self._open[(number, key)] = array
        if len(self._open) > _MAX_OPEN_FILES:   # per-protein data can have thousands of files
            self._open.popitem(last=False)
        return array

    def read(self, positions: np.ndarray) -> np.ndarray:
        height, width = self.spatial_shape
        out = np.empty((len(positions), len(self.channels), height, width), dtype=np.float32)
        source_of = np.searchsorted(self.starts, positions, side="right") - 1
        for number in np.unique(source_of):
            where = np.flatnonzero(source_of == number)
            rows = positions[where] - self.starts[number]
            order = np.argsort(rows, kind="stable")     # page-friendly reads, in file order
            for start in range(0, len(order), _READ_CHUNK):
                chunk = order[start:start + _READ_CHUNK]
                out[where[chunk]] = self._read_rows(int(number), rows[chunk])
        if "nuclear_distance" in self.channels and self.distance_scale != 1.0:
            out[:, self.channels.index("nuclear_distance")] *= np.float32(self.distance_scale)
        for name in self.minmax_channels:
            channel = self.channels.index(name)
            out[:, channel] = minmax_normalize(out[:, channel])
        return out

    def _read_rows(self, number: int, rows: np.ndarray) -> np.ndarray:
        """Rows (increasing) of one source as (k, C, H, W), in the stored dtype."""
        if self.layout == "shards":
            crops = self.array(number, "image")[rows]          # (k, H, W, 4), one read per crop
            return np.moveaxis(crops[..., self._shard_axes], -1, 1)
        planes = []
        for name in self.channels:
            plane = self.array(number, PER_PROTEIN_SUFFIXES[name])[rows]
            planes.append(plane[..., 0] if plane.ndim == 4 else plane)   # [n, H, W, 1] too
        return np.stack(planes, axis=1)


def _positions(indices, n: int) -> np.ndarray:
    """Integer positions in [0, n) from None, a slice, a boolean mask or integers (negative ok)."""
    if indices is None:
        return np.arange(n)
    if isinstance(indices, slice):
        return np.arange(n)[indices]
    positions = np.asarray(indices)
    if positions.dtype == bool:
        if positions.shape != (n,):
            raise IndexError(f"a boolean mask needs one flag per crop ({n}), got shape "
                             f"{positions.shape}")
        return np.flatnonzero(positions)
    if positions.size == 0:
        return np.zeros(0, dtype=np.int64)
    if positions.ndim != 1 or positions.dtype.kind not in "iu":
        raise IndexError(f"indices must be a 1-D sequence of integers or a boolean mask, got "
                         f"dtype {positions.dtype} and shape {positions.shape}")
    positions = positions.astype(np.int64)
    if positions.min() < -n or positions.max() >= n:
        raise IndexError(f"indices must lie in [-{n}, {n}) for {n} crops, got values from "
                         f"{positions.min()} to {positions.max()}")
    return np.where(positions < 0, positions + n, positions)


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.1f} MiB"


def _check_channels(channels, layout: str) -> tuple[str, ...]:
    channels = (channels,) if isinstance(channels, str) else tuple(channels)
    if not channels:
        raise ValueError(f"choose at least one channel among {list(CHANNEL_NAMES)}")
    unknown = [name for name in channels if name not in CHANNEL_NAMES]
    if unknown:
        raise ValueError(f"unknown channel(s) {unknown}; OpenCell channels are "
                         f"{list(CHANNEL_NAMES)}")
    if len(set(channels)) != len(channels):
        raise ValueError(f"channels {list(channels)} name a channel twice")
    provided = SHARD_CHANNELS if layout == "shards" else tuple(PER_PROTEIN_SUFFIXES)
    for name in channels:
        if name not in provided:
            files = ", ".join(f"<protein>_{suffix}.npy" for suffix in PER_PROTEIN_SUFFIXES.values())
            raise DataFormatError(f"channel {name!r} is not in the {layout} layout, which provides "
                                  f"{', '.join(provided)} (files {files}); choose among those, "
                                  "or use the full data (Image_dataNN.npy shards) for it")
    return channels


# ------------------------------------------------------------------------ discovery and checks

def _discover_shards(directory: Path) -> tuple[list[_Source], pd.DataFrame]:
    images, labels = {}, {}
    for name in os.listdir(directory):
        match = _SHARD_FILE.match(name)
        if match is None:
            continue
        kind, number, ext = match["kind"], int(match["number"]), match["ext"]
        if (kind, ext) not in (("Image", "npy"), ("Label", "csv")):
            raise DataFormatError(f"{directory / name}: expected Image_dataNN.npy and "
                                  "Label_dataNN.csv, not this combination of name and extension")
        (images if kind == "Image" else labels)[number] = directory / name
    if not images and not labels:
        raise DataFormatError(f"{directory} holds no shards of the full data (Image_dataNN.npy with "
                              "Label_dataNN.csv); put them there or pass layout='auto'")
    without_images = sorted(set(labels) - set(images))
    if without_images:
        number = without_images[0]
        raise DataFormatError(f"{labels[number].name} has no image shard next to it: put "
                              f"Image_data{number:02d}.npy in {directory}, or remove the label file")
    without_labels = sorted(set(images) - set(labels))
    if without_labels:
        number = without_labels[0]
        raise DataFormatError(f"{images[number].name} has no label file next to it: put "
                              f"Label_data{number:02d}.csv in {directory} (the crops' proteins "
                              "and fields come from it)")
    sources, tables = [], []
    for number in sorted(images):
        path = images[number]
        array = check_array(_open_npy(path), name=f"OpenCell image shard {path.name}", ndim=4,
                            dtype_kind="biuf")
        check_array(array, name=f"OpenCell image shard {path.name} [n, H, W, channels]",
                    channels=(-1, SHARD_CHANNELS))
        source = _Source(path.name, {"image": path}, array.shape[0], tuple(array.shape[1:3]))
        del array  # the header is all that was needed; reading maps the file again
        tables.append(_read_label_csv(labels[number], source.n, path.name))
        sources.append(source)
    _check_same_size(sources)
    table = pd.concat(tables, ignore_index=True)
    files = np.repeat([source.name for source in sources], [source.n for source in sources])
    rows = np.concatenate([np.arange(source.n) for source in sources])
    return sources, _shard_metadata(table, files, rows)


def _read_label_csv(path: Path, n_images: int, image_name: str) -> pd.DataFrame:
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataFormatError(f"{path.name} could not be read as CSV ({error}); it is probably "
                              f"truncated or not the published label file: {_REDOWNLOAD}") from error
    if len(table.columns) and str(table.columns[0]).startswith("Unnamed: 0"):
        table = table.iloc[:, 1:]     # a row index written by pandas' to_csv, not a column
    missing = [column for column in LABEL_COLUMNS if column not in table.columns]
    if missing:
        raise DataFormatError(f"{path.name} is missing column(s) {missing}; expected the 7 columns "
                              f"{list(LABEL_COLUMNS)}, it has {list(table.columns)}. Check that it "
                              "is the published label file, or rename its columns")
    if len(table) != n_images:
        raise DataFormatError(f"{path.name} has {len(table):,} rows but {image_name} holds "
                              f"{n_images:,} crops; they must match one to one. One of the two is "
                              f"incomplete or from another shard: {_REDOWNLOAD}")
    if table["protein_id"].dtype.kind not in "iu":
        raise DataFormatError(f"{path.name}: column protein_id should hold integers, got dtype "
                              f"{table['protein_id'].dtype}; check that it is the published file")
    return table


def _shard_metadata(table: pd.DataFrame, files: np.ndarray, rows: np.ndarray) -> pd.DataFrame:
    # Category dtype: 1.1 million rows with a few thousand distinct strings each.
    for column in ("ensg", "name", "loc_grade1", "loc_grade2", "loc_grade3"):
        table[column] = table[column].astype("category")
    table["protein_id"] = table["protein_id"].astype(np.int64)
    table["protein"] = table["name"]
    table["protein_index"] = _rank_codes(table["protein_id"])
    table["field"] = table.groupby(["protein_id", "FOV_id"], sort=False,
                                   dropna=False).ngroup().astype(np.int64)
    table["localization"] = table["loc_grade1"]
    table["file"] = pd.Categorical(files)
    table["row"] = rows.astype(np.int64)
    return table


def _discover_per_protein(directory: Path,
                          channels: tuple[str, ...]) -> tuple[list[_Source], pd.DataFrame]:
    found: dict[str, dict[str, Path]] = {}
    for name in os.listdir(directory):
        match = _PER_PROTEIN_FILE.match(name)
        if match is not None:
            found.setdefault(match["name"], {})[match["suffix"]] = directory / name
    if not found:
        raise DataFormatError(f"{directory} holds no per-protein files (<protein>_pro.npy, "
                              "_nuc.npy, _nucdist.npy, _label.npy); put them there or pass "
                              "layout='auto'")
    needed = [PER_PROTEIN_SUFFIXES[channel] for channel in channels]
    sources, tables = [], []
    for protein in sorted(found):
        files = found[protein]
        if "label" not in files:
            raise DataFormatError(f"{protein}: found {sorted(path.name for path in files.values())} "
                                  f"but no {protein}_label.npy; put it in {directory} (the crops' "
                                  "labels come from it) or remove that protein's files")
        for channel, suffix in zip(channels, needed):
            if suffix not in files:
                raise DataFormatError(f"channel {channel!r} needs {protein}_{suffix}.npy, which is "
                                      f"not in {directory}; add it or leave {channel!r} out of "
                                      "channels=")
        label = _load_labels(files["label"])
        paths, spatial = {}, None
        for suffix in needed:
            path = files[suffix]
            array = check_array(_open_npy(path), name=f"OpenCell sample file {path.name}",
                                dtype_kind="biuf")
            if not (array.ndim == 3 or (array.ndim == 4 and array.shape[-1] == 1)):
                raise DataFormatError(f"{path.name} should have shape [n, H, W] or [n, H, W, 1], "
                                      f"got {array.shape}; check that it is the published file")
            if array.shape[0] != len(label):
                raise DataFormatError(f"{path.name} holds {array.shape[0]} crops but "
                                      f"{files['label'].name} has {len(label)} labels; the files "
                                      f"of {protein} must have the same n: {_REDOWNLOAD}")
            if spatial is not None and tuple(array.shape[1:3]) != spatial:
                raise DataFormatError(f"{path.name} has crops of {array.shape[1:3]} px but the other "
                                      f"files of {protein} have {spatial}")
            spatial = tuple(array.shape[1:3])
            paths[suffix] = path
            del array
        sources.append(_Source(protein, paths, len(label), spatial))
        tables.append(label)
    _check_same_size(sources)
    table = pd.concat(tables, ignore_index=True)
    files = np.repeat([source.name for source in sources], [source.n for source in sources])
    rows = np.concatenate([np.arange(source.n) for source in sources])
    for column in table.columns:
        table[column] = table[column].astype("category")
    table["protein"] = table["name"]
    table["protein_id"] = _rank_codes(table["name"].astype(str))
    table["protein_index"] = table["protein_id"]
    table["field"] = np.arange(len(table), dtype=np.int64)   # no FOV: each crop its own field
    table["file"] = pd.Categorical(files)
    table["row"] = rows.astype(np.int64)
    return sources, table


def _load_labels(path: Path) -> pd.DataFrame:
    # An object array of strings, stored pickled: allow_pickle=True runs code from the file, so
    # open only label files from the published source.
    _check_magic(path)
    try:
        labels = np.load(path, allow_pickle=True)
    except Exception as error:  # unpickling can raise nearly anything
        raise DataFormatError(_unreadable(path, error)) from error
    check_array(labels, name=f"OpenCell sample labels {path.name} [n, (Ensembl id, protein, "
                             "localisation)]", ndim=2)
    if labels.shape[1] < 3:
        raise DataFormatError(f"{path.name} should have 3 columns (Ensembl id, protein name, "
                              f"localisation), got shape {labels.shape}")
    names = list(PER_PROTEIN_LABEL_COLUMNS) + [f"label_col{j}" for j in range(3, labels.shape[1])]
    return pd.DataFrame({name: labels[:, j].astype(str) for j, name in enumerate(names)})


def _rank_codes(values: pd.Series) -> np.ndarray:
    """0..K-1 numbering of the distinct values, in sorted order."""
    codes, _ = pd.factorize(values, sort=True)
    return codes.astype(np.int64)


def _check_same_size(sources: list[_Source]) -> None:
    first = sources[0]
    for source in sources[1:]:
        if source.spatial_shape != first.spatial_shape:
            raise DataFormatError(f"{source.name} has crops of {source.spatial_shape} px but "
                                  f"{first.name} has {first.spatial_shape}; all crops must have "
                                  "the same size: check that the files come from one release")


# ------------------------------------------------------------------------------------ .npy files

def _open_npy(path: Path) -> np.ndarray:
    """``path`` memory-mapped read-only; unreadable files raise DataFormatError naming them."""
    _check_magic(path)
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise DataFormatError(_unreadable(path, error)) from error


def _check_magic(path: Path) -> None:
    with open(path, "rb") as handle:
        start = handle.read(64)
    if start.startswith(_NPY_MAGIC):
        return
    if start.lstrip().lower().startswith((b"<!doc", b"<html", b"<?xml")):
        hint = ("it is a web page, which is what a failed or quota-limited Google Drive "
                "download saves (cytoself issue #12)")
    elif start.startswith(b"PK"):
        hint = "it is a zip archive (.npz or a zipped folder): unpack it first"
    elif not start:
        hint = "it is empty"
    else:
        hint = f"it starts with {start[:8]!r}"
    raise DataFormatError(f"{path.name} is not a NumPy .npy file: {hint}; {_REDOWNLOAD}")


def _unreadable(path: Path, error: Exception) -> str:
    return (f"{path.name} could not be read ({type(error).__name__}: {error}); it is probably "
            f"truncated or corrupt, e.g. by an interrupted download: {_REDOWNLOAD}")
