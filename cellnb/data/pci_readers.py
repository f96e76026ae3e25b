"""Readers for the three file formats the data of paired cell inpainting come in.

Lu, Kraus, Cooper and Moses, *Learning unsupervised feature representations for single cell
microscopy images with paired cell inpainting*, PLoS Comput Biol 15(9): e1007348 (2019), train
and evaluate on three sources (Methods, "Datasets, preprocessing, and training"; registry entries
in ``data/datasets.yml``). Each reader here returns an :class:`~cellnb.data.imageset.ImageSet`,
channel-first float32, **protein channel first**:

:func:`read_chong_hdf5` - the labelled yeast evaluation set (``yeast_deeploc_chong``)
    30,889 single cells of Chong et al. (2015) in 17 classes, distributed with DeepLoc (Kraus et
    al. 2017) as ``Chong_{train,valid,test}_set.hdf5``. Keys: ``data1`` (one row per cell,
    reshaped to ``(2, 64, 64)``: GFP then RFP), ``Index1`` (one-hot labels) and
    ``Index1_columns`` (the class names). Channels ``("protein", "marker")``. Read lazily with
    h5py: only the rows asked for come off the disk.
:func:`read_yeast_tiff_pairs` - the authors' per-cell TIFFs (``pci_toy_dataset``, ``yeast/``)
    ``<PROTEIN>/<PROTEIN>_<field>_rfp_<cell>_gfp.tif`` and ``..._rfp.tif``, float32 64x64, one
    pair per cell. Channels ``("protein", "marker")``.
:func:`read_hpa_composites` - Human Protein Atlas RGB composites (``hpa_v18``)
    Blue = nucleus, red = microtubules, green = antibody (protein). Each field is segmented and
    cut into one crop per nucleus as the paper describes: Otsu threshold on the nuclear channel,
    connected components, objects under 400 px dropped, a 512x512 crop around each centre of
    mass, resized to 64x64. Channels ``("protein", "nucleus", "microtubules")``.

Every reader names the file at fault when a file is not what it should be (wrong shape, missing
key or channel, truncated or not the format at all, an empty folder) and says what to do. None
applies the per-crop [0, 1] rescaling of the paper's pre-processing: that is a transform (see
:mod:`cellnb.data.transforms`), not part of reading.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cellnb.data.imageset import ImageSet
from cellnb.data.segmentation import extract_crops, segment_nuclei
from cellnb.data.validation import DataFormatError, cell_positions, check_array, open_hdf5

YEAST_CHANNELS = ("protein", "marker")                      # GFP-tagged protein, RFP marker
HPA_CHANNELS = ("protein", "nucleus", "microtubules")
# RGB plane of each HPA channel in the composite: green = antibody, blue = DAPI, red = tubulin.
HPA_RGB_PLANE = {"protein": 1, "nucleus": 2, "microtubules": 0}

# ------------------------------------------------------------------ Chong / DeepLoc HDF5 (yeast)

CHONG_KEYS = ("data1", "Index1")
CHONG_CLASS_KEY = "Index1_columns"
CHONG_CELL_SHAPE = (2, 64, 64)      # data1 row -> (GFP, RFP) x 64 x 64
_CHONG_FIX = ("use the Chong_train_set.hdf5, Chong_valid_set.hdf5 or Chong_test_set.hdf5 from "
              "DeepLoc_full_datasets.zip (see cellnb.data.registry.describe("
              "'yeast_deeploc_chong'))")


def read_chong_hdf5(paths, *, indices=None, class_names: Sequence[str] | None = None) -> ImageSet:
    """The labelled yeast cells of Chong et al. (2015) from DeepLoc's HDF5 files.

    paths:
        One ``.hdf5`` file or several, concatenated in the order given; the paper's evaluation
        set is train + valid + test (30,889 cells).
    indices:
        Positions of the cells to read in the concatenation (ints or a boolean mask; default
        all). Only those rows are read.
    class_names:
        The names of ``Index1``'s columns, in order. Needed only when a file lacks
        ``Index1_columns``; when given it takes precedence.

    Metadata: ``label`` (class name), ``label_index`` (column of ``Index1``), ``file``, ``row``
    (row in that file) and ``position`` (in the concatenation). The files hold no protein or
    image id per cell, so there are no such columns.
    """
    paths = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    if not paths:
        raise ValueError("paths is empty; pass one or more Chong_*_set.hdf5 files")
    sizes, names = [], None
    for path in paths:
        n, file_names = _chong_header(path, class_names)
        if names is not None and list(file_names) != list(names):
            raise DataFormatError(f"{path} has classes {list(file_names)} but {paths[0]} has "
                                  f"{list(names)}; the files come from different releases. "
                                  f"{_CHONG_FIX}")
        names = file_names
        sizes.append(n)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    positions = cell_positions(indices, int(starts[-1]))

    images = np.empty((len(positions), *CHONG_CELL_SHAPE), dtype=np.float32)
    labels = np.empty(len(positions), dtype=np.int64)
    files = np.empty(len(positions), dtype=object)
    rows = positions - starts[np.searchsorted(starts, positions, side="right") - 1]
    for number, path in enumerate(paths):
        mine = np.flatnonzero((positions >= starts[number]) & (positions < starts[number + 1]))
        if len(mine) == 0:
            continue
        images[mine], labels[mine] = _chong_rows(path, rows[mine])
        files[mine] = path.name
    metadata = pd.DataFrame({
        "label": pd.Categorical.from_codes(labels, categories=list(names)),
        "label_index": labels, "file": pd.Categorical(files), "row": rows.astype(np.int64),
        "position": positions.astype(np.int64)})
    return ImageSet(images=images, channels=YEAST_CHANNELS, metadata=metadata,
                    attrs={"source": "Chong et al. 2015 labelled yeast cells (DeepLoc HDF5)",
                           "files": [str(p) for p in paths], "class_names": list(names)})


def _chong_header(path: Path, class_names) -> tuple[int, list[str]]:
    """Number of cells and class names of one file, after checking its keys and shapes."""
    with open_hdf5(path, required=CHONG_KEYS) as file:
        data, onehot = file["data1"], file["Index1"]
        n_pixels = int(np.prod(CHONG_CELL_SHAPE))
        if not (data.ndim == 2 and data.shape[1] == n_pixels
                or data.ndim == 4 and tuple(data.shape[1:]) == CHONG_CELL_SHAPE):
            raise DataFormatError(f"{path}: data1 should have shape (n, {n_pixels}), one row per "
                                  f"cell that reshapes to {CHONG_CELL_SHAPE} (GFP, RFP), got "
                                  f"{data.shape}. {_CHONG_FIX}")
        if onehot.ndim != 2 or onehot.shape[0] != data.shape[0]:
            raise DataFormatError(f"{path}: Index1 should be one-hot labels of shape "
                                  f"({data.shape[0]}, n_classes), one row per cell of data1, got "
                                  f"{onehot.shape}. {_CHONG_FIX}")
        if class_names is not None:
            names = [str(name) for name in class_names]
        elif CHONG_CLASS_KEY in file:
            names = _string_list(file[CHONG_CLASS_KEY], path)
        else:
            raise DataFormatError(
                f"{path} has no {CHONG_CLASS_KEY} (the names of Index1's {onehot.shape[1]} "
                f"columns); pass class_names=[...] with the {onehot.shape[1]} names in column "
                "order (DeepLoc's own code lists them)")
        if len(names) != onehot.shape[1]:
            raise DataFormatError(f"{path}: Index1 has {onehot.shape[1]} columns but "
                                  f"{len(names)} class names were found/given ({names}); "
                                  "pass class_names= with one name per column")
        return int(data.shape[0]), names


def _string_list(node, path: Path) -> list[str]:
    """Strings stored as a dataset, or as a deepdish list (a group of items ``i0, i1, ...``)."""
    import h5py

    if isinstance(node, h5py.Group):
        keys = sorted((key for key in node if re.fullmatch(r"i\d+", key)),
                      key=lambda key: int(key[1:]))
        values = [node[key][()] for key in keys]
    else:
        values = np.atleast_1d(node[()]).ravel().tolist()
    names = [value.decode() if isinstance(value, bytes) else str(value) for value in values]
    if not names:
        raise DataFormatError(f"{path}: {CHONG_CLASS_KEY} holds no class names; pass "
                              "class_names= with one name per column of Index1")
    return names


def _chong_rows(path: Path, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cells ``rows`` of one file as (k, 2, 64, 64) float32, and their class indices."""
    order = np.argsort(rows, kind="stable")
    unique, inverse = np.unique(rows[order], return_inverse=True)   # h5py wants increasing rows
    with open_hdf5(path, required=CHONG_KEYS) as file:
        try:
            # A contiguous run reads as one slice; h5py's point selection is slow for long lists.
            contiguous = unique[-1] - unique[0] + 1 == len(unique)
            selection = slice(int(unique[0]), int(unique[-1]) + 1) if contiguous else unique
            data = file["data1"][selection]
            onehot = file["Index1"][selection]
        except (OSError, ValueError, KeyError) as error:
            raise DataFormatError(f"{path}: reading data1/Index1 failed ({error}); the file is "
                                  "probably truncated or corrupt, e.g. by an interrupted "
                                  f"download: delete it and download it again") from error
    check_array(np.asarray(data), name=f"data1 of {path}", dtype_kind="biuf")
    onehot = np.asarray(onehot)
    not_onehot = np.flatnonzero((onehot != 0).sum(axis=1) != 1)
    if len(not_onehot):
        raise DataFormatError(f"{path}: Index1 rows {unique[not_onehot][:5].tolist()} do not "
                              "have exactly one non-zero entry; Index1 should be one-hot labels "
                              f"(one class per cell). {_CHONG_FIX}")
    images = np.empty((len(rows), *CHONG_CELL_SHAPE), dtype=np.float32)
    labels = np.empty(len(rows), dtype=np.int64)
    images[order] = data.reshape(len(unique), *CHONG_CELL_SHAPE)[inverse]
    labels[order] = np.argmax(onehot != 0, axis=1)[inverse]
    return images, labels


# ---------------------------------------------------------------- per-cell TIFF pairs (yeast)

_YEAST_TIFF = re.compile(r"^(?P<protein>.+)_(?P<field>[^_]+)_rfp_(?P<cell>[^_]+)_"
                         r"(?P<channel>gfp|rfp)\.tiff?$", re.IGNORECASE)
_YEAST_TIFF_PATTERN = "<PROTEIN>_<field>_rfp_<cell>_gfp.tif and ..._rfp.tif"
_TIFF_FIX = ("delete it and copy it again from the official repository (see "
             "cellnb.data.registry.describe('pci_toy_dataset'))")


def read_yeast_tiff_pairs(root, *, proteins: Sequence[str] | None = None,
                          image_id: str = "field", on_orphan: str = "raise") -> ImageSet:
    """The authors' per-cell yeast crops: one float32 TIFF per channel per cell.

    root:
        The ``yeast/`` folder holding one sub-folder per protein (files found at any depth).
    proteins:
        Read only these proteins (default all).
    image_id:
        What counts as one image when pairing cells: ``"field"`` (default; ``<PROTEIN>_<field>``)
        or ``"protein"``. The paper's yeast "image" is the 4 fields of one well, i.e. one
        protein of the screen (Methods: 4,069 images for 4,069 proteins), which ``"protein"``
        reproduces.
    on_orphan:
        A GFP file without its RFP file (or the reverse): ``"raise"`` (default) or ``"skip"``,
        which leaves the cell out and lists the file in ``attrs["orphans"]``.

    Metadata: ``protein``, ``field``, ``cell``, ``image_id``, ``gfp_file``, ``rfp_file``; rows
    ordered by protein, field and cell (numerically where the ids are numbers).
    """
    root = Path(root)
    if image_id not in ("field", "protein"):
        raise ValueError(f"image_id must be 'field' or 'protein', got {image_id!r}")
    if on_orphan not in ("raise", "skip"):
        raise ValueError(f"on_orphan must be 'raise' or 'skip', got {on_orphan!r}")
    if not root.is_dir():
        raise FileNotFoundError(f"no folder at {root}; pass the yeast/ folder of the toy data "
                                "(see cellnb.data.registry.describe('pci_toy_dataset'))")
    cells: dict[tuple[str, str, str], dict[str, Path]] = {}
    unmatched = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in (".tif", ".tiff") or not path.is_file():
            continue
        match = _YEAST_TIFF.match(path.name)
        if match is None:
            unmatched.append(path)
            continue
        if proteins is not None and match["protein"] not in proteins:
            continue
        key = (match["protein"], match["field"], match["cell"])
        cells.setdefault(key, {})[match["channel"].lower()] = path
    if not cells:
        found = f" ({len(unmatched)} TIFFs with other names, e.g. {unmatched[0].name})" \
            if unmatched else ""
        wanted = f" of proteins {list(proteins)}" if proteins is not None else ""
        raise DataFormatError(f"{root} holds no per-cell TIFF pairs{wanted}{found}; expected "
                              f"<PROTEIN>/{_YEAST_TIFF_PATTERN}. Copy the toy data's yeast "
                              "images there (cellnb.data.registry.describe('pci_toy_dataset'))")
    orphans = sorted(str(next(iter(files.values()))) for files in cells.values()
                     if len(files) != 2)
    if orphans and on_orphan == "raise":
        raise DataFormatError(
            f"{len(orphans)} cell(s) have only one of their two TIFFs, e.g. {orphans[:3]}: every "
            "<...>_gfp.tif needs its <...>_rfp.tif in the same folder and vice versa. Copy the "
            "missing files again, delete the orphans, or pass on_orphan='skip'")
    keys = sorted((key for key, files in cells.items() if len(files) == 2), key=_natural_key)
    images, shape = np.empty((len(keys), 2, 0, 0), dtype=np.float32), None
    for i, key in enumerate(keys):
        for c, channel in enumerate(("gfp", "rfp")):       # protein first
            plane = _read_tiff(cells[key][channel])
            if shape is None:
                shape = plane.shape
                images = np.empty((len(keys), 2, *shape), dtype=np.float32)
            elif plane.shape != shape:
                raise DataFormatError(f"{cells[key][channel]} is {plane.shape} px but the cells "
                                      f"read before are {shape}; all crops must have one size: "
                                      f"{_TIFF_FIX}")
            images[i, c] = plane
    metadata = pd.DataFrame(keys, columns=["protein", "field", "cell"])
    metadata["image_id"] = (metadata["protein"] if image_id == "protein"
                            else metadata["protein"] + "_" + metadata["field"])
    metadata["gfp_file"] = [str(cells[key]["gfp"].relative_to(root)) for key in keys]
    metadata["rfp_file"] = [str(cells[key]["rfp"].relative_to(root)) for key in keys]
    return ImageSet(images=images, channels=YEAST_CHANNELS, metadata=metadata,
                    attrs={"source": "paired cell inpainting per-cell yeast TIFFs",
                           "directory": str(root), "image_id": image_id, "orphans": orphans,
                           "unmatched": [str(p) for p in unmatched]})


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    try:
        plane = tifffile.imread(path)
    except Exception as error:  # tifffile raises ValueError, TiffFileError, struct.error, ...
        raise DataFormatError(f"{path} could not be read as a TIFF ({type(error).__name__}: "
                              f"{error}); it is probably truncated or corrupt: {_TIFF_FIX}"
                              ) from error
    plane = np.squeeze(plane)
    if plane.ndim != 2:
        raise DataFormatError(f"{path} should hold one 2-D channel (H, W), got shape "
                              f"{plane.shape}; each file holds one channel of one cell: "
                              f"{_TIFF_FIX}")
    return check_array(plane, name=str(path), dtype_kind="biuf").astype(np.float32, copy=False)


def _natural_key(key: tuple[str, ...]) -> tuple:
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in key)


# ---------------------------------------------------------------- HPA RGB composites (human)

# The paper's segmentation (Methods): Otsu threshold on the nuclear channel, connected
# components, objects under 400 px dropped. No smoothing and no watershed split.
HPA_SEGMENTATION = {"sigma": 0.0, "threshold": "otsu", "local_window": None,
                    "split_touching": False, "min_area": 400}
HPA_SUFFIXES = (".jpg", ".jpeg", ".png")
_HPA_FIX = ("delete it and download it again (see cellnb.data.registry.describe('hpa_v18'))")


def read_hpa_composites(root, *, crop_size: int = 512, output_size: int | None = 64,
                        segmentation: dict | None = None) -> ImageSet:
    """Single-cell crops cut from Human Protein Atlas RGB composites (JPEG or PNG).

    root:
        A folder of ``<ENSG>/<experiment>/<field>.jpg`` (or ``<ENSG>/<field>.jpg``): the first
        folder level under ``root`` is the protein, the folder holding a file is its image (the
        paper's "image": one protein x cell line x antibody, usually 2 fields).
    crop_size:
        Side of the window cut around each nucleus' centre of mass (the paper: 512 px). Nuclei
        whose window leaves the field are skipped.
    output_size:
        Side the crops are resized to (the paper: 64); None keeps ``crop_size``.
    segmentation:
        Keyword arguments for :func:`~cellnb.data.segmentation.segment_nuclei` that override
        :data:`HPA_SEGMENTATION`, the paper's settings.

    Metadata: ``protein``, ``image_id``, ``file`` (relative to ``root``), ``nucleus`` (its label
    in the field), ``centroid_y``, ``centroid_x``, ``area`` (px, at full resolution).
    ``attrs["fields_without_cells"]`` lists the files in which no nucleus was kept.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no folder at {root}; pass the folder of HPA composites "
                                "(see cellnb.data.registry.describe('hpa_v18'))")
    files = sorted(path for path in root.rglob("*")
                   if path.suffix.lower() in HPA_SUFFIXES and path.is_file())
    if not files:
        raise DataFormatError(f"{root} holds no RGB composites (*.jpg, *.jpeg, *.png); expected "
                              "<ENSG>/<experiment>/<field>.jpg, the blue_red_green composites "
                              "(cellnb.data.registry.describe('hpa_v18'))")
    settings = {**HPA_SEGMENTATION, **(segmentation or {})}
    size = crop_size if output_size is None else output_size
    crops, tables, empty = [], [], []
    for path in files:
        field = read_hpa_rgb(path)                                       # (3, H, W) protein first
        labels = segment_nuclei(field[HPA_CHANNELS.index("nucleus")], **settings)
        cut, table = extract_crops(field, labels, size=crop_size, exclude_border=True)
        if len(table) == 0:
            empty.append(str(path.relative_to(root)))
            continue
        crops.append(_resize(cut, size))
        relative = path.relative_to(root)
        tables.append(pd.DataFrame({
            "protein": relative.parts[0] if len(relative.parts) > 1 else "",
            "image_id": str(relative.parent), "file": str(relative),
            "nucleus": table["label"].to_numpy(), "centroid_y": table["centroid_y"].to_numpy(),
            "centroid_x": table["centroid_x"].to_numpy(), "area": table["area"].to_numpy()}))
    images = (np.concatenate(crops) if crops
              else np.empty((0, len(HPA_CHANNELS), size, size), dtype=np.float32))
    metadata = (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(
        columns=["protein", "image_id", "file", "nucleus", "centroid_y", "centroid_x", "area"]))
    return ImageSet(images=images, channels=HPA_CHANNELS, metadata=metadata,
                    attrs={"source": "Human Protein Atlas RGB composites", "directory": str(root),
                           "crop_size": crop_size, "output_size": size,
                           "segmentation": settings, "fields_without_cells": empty})


def read_hpa_rgb(path) -> np.ndarray:
    """One composite as float32 ``(3, H, W)`` in [0, 1], channels ``HPA_CHANNELS``."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()                    # PIL reads lazily: truncation shows only here
            mode = image.mode
            bands = image.getbands()
            if mode not in ("RGB", "RGBA", "P"):   # P: a palette PNG, converted below
                if mode in ("L", "LA", "I", "I;16", "F", "1"):
                    raise DataFormatError(
                        f"{path} is a single-channel ({mode}) image, not an RGB composite: the "
                        "nucleus (blue), microtubule (red) and protein (green) channels are "
                        "missing. Download the blue_red_green composite, not a single-channel "
                        f"image; {_HPA_FIX}")
                raise DataFormatError(f"{path} has mode {mode} (bands {bands}); expected RGB "
                                      f"with blue = nucleus, red = microtubules, green = "
                                      f"protein: {_HPA_FIX}")
            pixels = np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise DataFormatError(f"{path} could not be read as a JPEG/PNG image "
                              f"({type(error).__name__}: {error}); it is probably truncated or "
                              f"not an image (e.g. a saved web page): {_HPA_FIX}") from error
    scale = 1.0 / np.iinfo(pixels.dtype).max
    planes = np.stack([pixels[..., HPA_RGB_PLANE[name]] for name in HPA_CHANNELS])
    for name, plane in zip(HPA_CHANNELS, planes):
        if plane.max() == plane.min():
            rgb = "RGB"[HPA_RGB_PLANE[name]]
            raise DataFormatError(f"{path}: the {name} channel ({rgb}) is blank (constant "
                                  f"{plane.max()}); the composite lacks that channel. Use the "
                                  f"blue_red_green composite: {_HPA_FIX}")
    return planes.astype(np.float32) * np.float32(scale)


def _resize(crops: np.ndarray, size: int) -> np.ndarray:
    """(n, C, S, S) -> (n, C, size, size), anti-aliased, as the paper's 512 -> 64 rescale."""
    if crops.shape[-1] == size:
        return crops.astype(np.float32, copy=False)
    from skimage.transform import resize

    out = resize(crops, (*crops.shape[:2], size, size), order=1, anti_aliasing=True,
                 preserve_range=True)
    return out.astype(np.float32)


# ------------------------------------------------------------------------------- helpers
