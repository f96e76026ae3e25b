"""Readers for the real data of the Integrated Cell papers, and their salted-hash hold-out split.

Johnson, Donovan-Maiye and Maleckar train on single hiPSC cells from the Allen Institute for
Cell Science, each with a membrane dye, a DNA dye and one mEGFP-tagged structure:

* *Generative Modeling with Conditional Autoencoders: Building an Integrated Cell*
  (arXiv:1705.00092, 2017; Section 3.1): 6,077 cells of 10 structures, maximum-projected to 2D,
  padded to 256x256 px, 95 % train / 5 % test. Registry entry ``allen_integrated_cell_2d``.
* *Building a 3D Integrated Cell* (bioRxiv 238378, 2017; Section 3.1): 21,967 cells of 11
  structures, padded to 128x96x64 voxels. The text says 95 % / 5 %, but its Table S9 holds out
  2,212 cells, 10.1 %, as the official code's ``hold_out`` of 1/10 does. Registry entry
  ``allen_integrated_cell_3d``.

Every reader returns an :class:`~cellnb.data.imageset.ImageSet`, channel-first float32, with
the channels in the papers' order ``("membrane", "structure", "dna")``:

:func:`read_ic2d_pngs` - the 2D paper's data
    ``<root>/<structure>/<cell>.png``: one folder per structure, one RGB PNG per cell with
    R = membrane, G = structure, B = DNA, 8 bits, divided by 255 on load (the layout of the
    public bucket and of the official 2D loaders). :func:`list_ic2d_pngs` lists the cells
    without reading pixels, so that a split can be drawn before anything is loaded.
:func:`read_allen_single_cells` - the 3D data, or its maximum projection
    A manifest CSV with one row per cell, pointing to one multi-channel (OME-)TIFF per cell
    (the successor data's ``metadata.csv``) or one TIFF per channel (the 3D paper's
    ``data_jobs_out.csv``); see :data:`PIPELINE_COLUMNS` and :data:`PAPER_3D_COLUMNS`.
    :func:`read_allen_manifest` reads the manifest alone.
:func:`salted_hash_split` - the official code's hold-out
    Each cell goes to test when a number drawn from the SHA-512 hash of ``salt + id`` is at
    most ``hold_out``: deterministic, with no index list to store, and a cell keeps its side
    when cells are added, removed or reordered.

The papers' other pre-processing (background subtraction, alignment, centring, flipping,
rescaling to 0.317 um/px) was done upstream, before release, and is not repeated here; only
the final zero padding is offered (``pad_to``), since cells of a copy of one's own may differ
in size. Errors name the file (and manifest row) at fault and say what to do. Listing and
reading per-class PNG folders is shared with the LIN reader of biogans, in
:mod:`cellnb.data.png_folders`.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from cellnb.data.imageset import ImageSet
from cellnb.data.png_folders import (
    PngFolderLayout,
    check_memory,
    class_folder_pngs,
    class_table,
    no_class_folders_message,
    pad_centred,
    png_size,
    read_rgb_png,
    select_classes,
)
from cellnb.data.validation import DataFormatError, cell_positions, check_array

IC_CHANNELS = ("membrane", "structure", "dna")
# Every channel the Allen single-cell files carry; the models use the first three.
ALLEN_CHANNELS = (*IC_CHANNELS, "cell_seg", "nucleus_seg", "transmitted")
PNG_RGB_PLANE = {"membrane": 0, "structure": 1, "dna": 2}      # R, G, B

HOLD_OUT_2D = 0.05      # the 2D paper: 304 of 6,077 cells (Table S8)
HOLD_OUT_3D = 0.1       # the 3D paper's Table S9 (2,212 of 21,967) and the official code
# The successor code's default split seed; with ids = CellId the split is its default one.
DEFAULT_SALT = "1"
HASH_DIGITS = 5         # decimal digits of the hex digest that make the split number
DEFAULT_MAX_BYTES = 2 * 2**30   # readers refuse to build larger float32 arrays (2 GiB)

# Accepted OME channel names (lower case), a convention of this module, not of the papers:
# pass channel_names= to match the names of your files.
DEFAULT_CHANNEL_NAMES = {
    "membrane": ("membrane", "memb", "cell membrane", "cellmask"),
    "structure": ("structure", "struct", "gfp", "egfp", "megfp"),
    "dna": ("dna", "nucleus", "hoechst", "dapi"),
    "cell_seg": ("cell_seg", "seg_cell", "membrane_segmentation", "seg_membrane"),
    "nucleus_seg": ("nucleus_seg", "seg_nuc", "dna_segmentation", "seg_dna"),
    "transmitted": ("transmitted", "trans", "brightfield", "bf"),
}

_PNG_FIX = ("copy it again from s3://aics.integrated.cell.arxiv.paper.data (see "
            "cellnb.data.registry.describe('allen_integrated_cell_2d'))")
_TIFF_FIX = ("copy it again from the release (see "
             "cellnb.data.registry.describe('allen_integrated_cell_3d'))")
# The 2D data's per-structure PNG folders, as cellnb.data.png_folders' messages name them.
IC2D_LAYOUT = PngFolderLayout(
    class_word="structure", class_column="class", keyword="classes",
    dataset="allen_integrated_cell_2d", data_name="the 2D data",
    root_hint="<data_dir>/allen_integrated_cell_2d/2D",
    rgb_meaning="R = membrane, G = structure, B = DNA", fix=_PNG_FIX)


# ------------------------------------------------------------------------- salted-hash split

@dataclass(frozen=True)
class HashSplit:
    """A salted-hash split: positions into the ids, and the realised fractions.

    ``number`` holds each id's split number in [0, 1); a cell is test when ``number <=
    hold_out``, validation when ``hold_out < number <= hold_out + validate``, train otherwise.
    """
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    number: np.ndarray = field(repr=False)
    hold_out: float
    validate: float
    salt: str

    @property
    def n(self) -> int:
        return len(self.number)

    @property
    def test_fraction(self) -> float:
        """The share of ids held out, which differs from ``hold_out`` by chance."""
        return len(self.test) / self.n if self.n else float("nan")

    @property
    def val_fraction(self) -> float:
        return len(self.val) / self.n if self.n else float("nan")

    def as_dict(self) -> dict[str, np.ndarray]:
        """``{"train", "val", "test"}`` -> positions, as :mod:`cellnb.data.splits` returns."""
        return {"train": self.train, "val": self.val, "test": self.test}

    def __str__(self) -> str:
        text = (f"salted-hash split of {self.n:,} ids (salt {self.salt!r}): test "
                f"{len(self.test):,} = {100 * self.test_fraction:.2f} % "
                f"(hold_out {100 * self.hold_out:g} %)")
        if self.validate:
            text += (f", val {len(self.val):,} = {100 * self.val_fraction:.2f} % "
                     f"(validate {100 * self.validate:g} %)")
        return text + f", train {len(self.train):,}"


def hash_numbers(ids: Iterable, salt: str = DEFAULT_SALT) -> np.ndarray:
    """Each id's split number in [0, 1): a pure function of ``salt + str(id)``.

    The string is hashed with SHA-512; the first five decimal digits among the characters of
    its hexadecimal digest, read as an integer, divided by 100,000, give the number. This is
    the rule of the official code (AllenCellModeling/pytorch_integrated_cell), so the same
    ids and salt give its split. ``hashlib`` rather than Python's ``hash()``, which changes
    from one interpreter run to the next.
    """
    numbers = []
    for value in ids:
        digest = hashlib.sha512((str(salt) + str(value)).encode("utf-8")).hexdigest()
        digits = "".join(char for char in digest if char.isdigit())[:HASH_DIGITS]
        numbers.append(int(digits.ljust(HASH_DIGITS, "0")) / 10**HASH_DIGITS)
    return np.asarray(numbers, dtype=np.float64)


def salted_hash_split(ids, *, hold_out: float = HOLD_OUT_3D, validate: float = 0.0,
                      salt: str = DEFAULT_SALT) -> HashSplit:
    """Deterministic hold-out of the official Integrated Cell code: test iff hash <= hold_out.

    ids:
        One id per cell (strings or numbers; ``1`` and ``"1"`` hash alike). Use ids that do
        not change between copies of the data: the ``cell_id`` of the readers here (the
        successor data's ``CellId``), or a path relative to the data folder. Cells that share
        an id always land together, so hashing a field-of-view id gives a grouped split.
    hold_out:
        Expected test fraction: :data:`HOLD_OUT_3D` (0.1, the default: the 3D paper's real
        split and the official code) or :data:`HOLD_OUT_2D` (0.05, the 2D paper). The 2D
        paper's own code drew its test cells with a seeded Torch7 permutation instead, which
        cannot be replayed here: only its fraction is matched.
    validate:
        Expected validation fraction, taken from just above ``hold_out`` as the successor
        code does (0.1 there). The papers have no validation set: 0 by default.
    salt:
        Prefixed to every id before hashing; another salt draws another split.

    A cell's side depends only on its id and the salt, so adding, removing or reordering cells
    never moves the others; the price is that the realised fraction is only close to
    ``hold_out`` (``split.test_fraction``, shown by ``print(split)``).
    """
    if not 0.0 <= hold_out <= 1.0 or not 0.0 <= validate <= 1.0 - hold_out:
        raise ValueError(f"need 0 <= hold_out <= 1 and 0 <= validate <= 1 - hold_out, got "
                         f"hold_out={hold_out}, validate={validate}")
    ids = list(ids.tolist() if isinstance(ids, (np.ndarray, pd.Index, pd.Series)) else ids)
    missing = [i for i, value in enumerate(ids) if value is None or value != value]   # NaN
    if missing:
        raise ValueError(f"ids at positions {missing[:5]} are missing (None/NaN): every cell "
                         "needs an id to hash; fill them or drop those cells first")
    number = hash_numbers(ids, salt)
    is_test = number <= hold_out
    is_val = ~is_test & (number <= hold_out + validate)
    return HashSplit(train=np.flatnonzero(~is_test & ~is_val), val=np.flatnonzero(is_val),
                     test=np.flatnonzero(is_test), number=number, hold_out=float(hold_out),
                     validate=float(validate), salt=str(salt))


# --------------------------------------------------------------------------- 2D paper: PNGs

def list_ic2d_pngs(root, *, classes: Sequence[str] | None = None) -> pd.DataFrame:
    """The cells of the 2D layout ``<root>/<structure>/<cell>.png``, without reading pixels.

    Columns: ``class`` (the folder name, categorical over all classes found, sorted by code
    point as the official code orders its labels),
    ``class_index`` (its code), ``file`` (path relative to ``root``, unique: a good id for
    :func:`salted_hash_split`), ``cell_id`` (the file name without ``.png``) and ``path``.
    Rows are sorted by class, then file name in natural order (``cell2`` before ``cell10``).
    """
    root = Path(root)
    by_class = {name: files for name, files in class_folder_pngs(root, IC2D_LAYOUT).items()
                if files}                     # an empty structure folder is skipped
    if not by_class:
        raise DataFormatError(no_class_folders_message(root, IC2D_LAYOUT))
    found = sorted(by_class)                  # code-point order, like the official np.unique
    wanted = select_classes(found, classes, root, IC2D_LAYOUT)
    return class_table(by_class, wanted, categories=found, relative_to=root, layout=IC2D_LAYOUT)


def read_ic2d_pngs(root, *, classes: Sequence[str] | None = None, indices=None,
                   pad_to: tuple[int, int] | None = None,
                   max_bytes: int = DEFAULT_MAX_BYTES) -> ImageSet:
    """The 2D paper's cells: per-structure folders of RGB PNGs -> membrane, structure, DNA.

    root:
        The folder whose sub-folders are the structures (:func:`list_ic2d_pngs`).
    classes:
        Read only these structures (folder names; default all).
    indices:
        Positions in :func:`list_ic2d_pngs`' table (for the same ``classes``) to read, e.g.
        ``split.test``; default all. All 6,077 cells take 4.8 GB as float32.
    pad_to:
        ``(height, width)``: zero-pad every cell, centred, to this size, as the paper padded
        its cells to 256x256. Without it, cells of different sizes raise an error that lists
        the sizes found.
    max_bytes:
        Refuse (MemoryError) to build a larger image array; read a subset with ``indices``.

    Images: float32 ``(N, 3, H, W)`` in [0, 1], 8-bit values divided by 255 as the official
    code does. Metadata: ``class``, ``class_index``, ``file``, ``cell_id``.
    """
    table = list_ic2d_pngs(root, classes=classes)
    table = table.iloc[cell_positions(indices, len(table))].reset_index(drop=True)
    paths = [Path(path) for path in table["path"]]
    shape = _common_shape([png_size(path, IC2D_LAYOUT) for path in paths], paths, pad_to,
                          "(height, width)")
    _check_memory(len(paths), len(IC_CHANNELS), shape, max_bytes)
    images = np.zeros((len(paths), len(IC_CHANNELS), *shape), dtype=np.float32)
    for i, path in enumerate(paths):
        images[i] = pad_centred(read_ic2d_png(path), shape, path)
    return ImageSet(images=images, channels=IC_CHANNELS, metadata=table.drop(columns="path"),
                    attrs={"source": "Integrated Cell 2D PNGs (Johnson et al. 2017)",
                           "directory": str(Path(root)), "class_names":
                           list(table["class"].cat.categories), "pad_to": pad_to})


def read_ic2d_png(path) -> np.ndarray:
    """One cell as float32 ``(3, H, W)`` in [0, 1]: membrane (R), structure (G), DNA (B)."""
    pixels = read_rgb_png(path, IC2D_LAYOUT)
    planes = np.stack([pixels[..., PNG_RGB_PLANE[name]] for name in IC_CHANNELS])
    return planes.astype(np.float32) / np.float32(np.iinfo(pixels.dtype).max)


# ------------------------------------------------------------------- 3D data: manifest + TIFFs

@dataclass(frozen=True)
class ManifestColumns:
    """Which columns of a manifest CSV say what about each cell.

    structure:
        The structure (class) name.
    cell_id:
        A stable id per cell. None, or a column the manifest lacks, falls back to the path of
        the cell's (first) image file.
    image:
        One multi-channel TIFF per cell (axes C, Z, Y, X).
    channel_files:
        Channel name -> column of one single-channel TIFF (Z, Y, X) per cell; used when
        ``image`` is None.
    channel_index:
        Channel name -> column giving that channel's index in ``image``, row by row.
    """
    structure: str
    cell_id: str | None = None
    image: str | None = None
    channel_files: Mapping[str, str] = field(default_factory=dict)
    channel_index: Mapping[str, str] = field(default_factory=dict)


# The successor data (Quilt package aics/pipeline_integrated_single_cell, metadata.csv): one
# multi-channel 3D TIFF per cell, channel indices per row (the official code's later loader).
PIPELINE_COLUMNS = ManifestColumns(
    structure="StructureId/Name", cell_id="CellId", image="save_reg_path",
    channel_index={"membrane": "ch_memb", "structure": "ch_struct", "dna": "ch_dna",
                   "cell_seg": "ch_seg_cell", "nucleus_seg": "ch_seg_nuc",
                   "transmitted": "ch_trans"})
# The 3D paper's release ipp_17_10_25 (data_jobs_out.csv): one 3D TIFF per channel per cell;
# the paper-era code split on save_h5_reg_path.
PAPER_3D_COLUMNS = ManifestColumns(
    structure="structureProteinName", cell_id="save_h5_reg_path",
    channel_files={"membrane": "save_memb_reg_path", "structure": "save_struct_reg_path",
                   "dna": "save_dna_reg_path", "cell_seg": "save_cell_reg_path",
                   "nucleus_seg": "save_nuc_reg_path", "transmitted": "save_trans_reg_path"})
MANIFEST_PRESETS = {"pipeline": PIPELINE_COLUMNS, "paper_3d": PAPER_3D_COLUMNS}


def read_allen_manifest(manifest, *, root=None, columns="auto",
                        channels: Sequence[str] = IC_CHANNELS) -> pd.DataFrame:
    """The manifest CSV with the columns the reader needs, checked, one row per cell.

    columns:
        ``"auto"`` (recognise :data:`PIPELINE_COLUMNS` or :data:`PAPER_3D_COLUMNS` by their
        path columns), a preset name (``"pipeline"``, ``"paper_3d"``), a
        :class:`ManifestColumns`, or a dict of its fields, e.g. ``{"image": "path",
        "structure": "gene", "cell_id": "id"}`` for a manifest of one's own.

    Returns the manifest's columns plus ``structure`` (categorical, sorted), ``structure_index``,
    ``cell_id`` (str), ``manifest_row`` (the row in the file, from 0) and ``file`` (the cell's
    image, or its first channel's file, as written in the manifest). ``attrs`` keeps the
    :class:`ManifestColumns` used and ``root``, the folder relative paths start from.
    """
    path = Path(manifest)
    if not path.is_file():
        raise FileNotFoundError(
            f"no manifest CSV at {path}; pass the manifest of the release (data_jobs_out.csv "
            "of the 3D paper, metadata.csv of the successor data) or one of your own "
            "(cellnb.data.registry.describe('allen_integrated_cell_3d'))")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataFormatError(f"{path} could not be read as a CSV manifest ({error}); check "
                              "that it is the manifest and is complete") from error
    spec = _manifest_columns(columns, table, path)
    channels = _check_channel_names(channels)
    unmapped = [name for name in channels if name not in spec.channel_files]
    if spec.image is None and unmapped:
        raise ValueError(f"columns names neither an image column nor file columns for channel(s) "
                         f"{unmapped}; give 'image' (one multi-channel file per cell) or "
                         "'channel_files' with a column per channel read")
    needed = [spec.structure] + ([spec.image] if spec.image
                                 else [spec.channel_files[name] for name in channels])
    missing = [name for name in needed if name not in table.columns]
    if missing:
        raise DataFormatError(f"{path} lacks column(s) {missing}; it has {list(table.columns)}."
                              " Pass columns=ManifestColumns(...) or a dict naming the "
                              "columns that hold the structure and the file paths")
    file_column = spec.image or spec.channel_files[channels[0]]
    id_column = spec.cell_id if spec.cell_id in table.columns else file_column
    _check_no_empty_cells(table, dict.fromkeys([*needed, id_column]), path)
    table = table.copy()
    table["manifest_row"] = np.arange(len(table), dtype=np.int64)
    table["file"] = table[file_column].astype(str)
    table["cell_id"] = _id_strings(table[id_column])
    names = sorted(table[spec.structure].astype(str).unique())
    table["structure"] = pd.Categorical(table[spec.structure].astype(str), categories=names)
    table["structure_index"] = table["structure"].cat.codes.astype(np.int64)
    table.attrs.update(columns=spec, cell_id_column=id_column,
                       root=str(Path(root) if root is not None else path.parent))
    return table


def read_allen_single_cells(manifest, *, root=None, channels: Sequence[str] = IC_CHANNELS,
                            dims: int = 3, projection: str = "max", columns="auto",
                            rows=None, structures: Sequence[str] | None = None,
                            channel_indices: Mapping[str, int] | None = None,
                            channel_names: Mapping[str, Sequence[str]] | None = None,
                            axes: str | None = None, scale: str | None = "dtype",
                            pad_to: tuple[int, ...] | None = None, on_missing: str = "raise",
                            max_bytes: int = DEFAULT_MAX_BYTES) -> ImageSet:
    """Allen Cell single cells from a manifest CSV and (OME-)TIFFs, as 3D volumes or 2D.

    manifest, root, columns:
        The CSV (see :func:`read_allen_manifest`) and the folder its relative paths start
        from (default: the manifest's folder). An absolute path that does not exist (the
        release's manifests hold the authors' own paths) is looked for under ``root`` by its
        last two parts, then by its name.
    channels:
        Channel names to read, in order (:data:`ALLEN_CHANNELS`); default membrane, structure,
        DNA.
    dims, projection:
        3: volumes ``(N, C, Z, Y, X)``. 2: their projection along z, ``(N, C, Y, X)``, by
        ``"max"`` (the 2D paper's maximum-intensity projection) or ``"mean"``.
    rows, structures:
        Read only these manifest rows (positions from 0, e.g. ``split.test`` of a split of
        :func:`read_allen_manifest`'s ``cell_id``) and/or these structures.
    channel_indices, channel_names:
        How a multi-channel file's channels are found, first rule that applies: the indices
        given here (same for every file); the manifest's per-row index columns (``ch_memb``,
        ...); the OME channel names, matched case-insensitively against
        :data:`DEFAULT_CHANNEL_NAMES` and the names ``channel_names`` adds, e.g.
        ``{"structure": ["EGFP-TOM20"]}``.
    axes:
        The axes of every file, e.g. ``"CZYX"``, for TIFFs without OME or ImageJ metadata.
        Without it such files are taken as ``ZYX`` (one channel per file) or ``CZYX``
        (multi-channel), the order the official code reads them in.
    scale:
        ``"dtype"`` (default): integers divided by their type's maximum (8-bit data by 255,
        as the official code does), floats kept; ``"cell_max"``: each cell divided by the
        largest value of the channels read (the 3D paper's code divided each cell by its
        maximum when it cached the per-channel TIFFs); None:
        values as stored.
    pad_to:
        Spatial shape ((Y, X) for ``dims=2``, (Z, Y, X) for 3) to zero-pad every cell to,
        centred. The 3D paper's 128x96x64 lists z last, so here it is ``(64, ...)``. Cells of
        different sizes without ``pad_to`` raise an error that lists the sizes.
    on_missing:
        A row whose file does not exist: ``"raise"`` or ``"skip"`` (listed in
        ``attrs["missing"]``).

    Metadata: ``structure``, ``structure_index``, ``cell_id``, ``file``, ``manifest_row``.
    """
    if dims not in (2, 3):
        raise ValueError(f"dims must be 2 (projection) or 3 (volumes), got {dims!r}")
    if projection not in ("max", "mean"):
        raise ValueError(f"projection must be 'max' or 'mean', got {projection!r}")
    if scale not in ("dtype", "cell_max", None):
        raise ValueError(f"scale must be 'dtype', 'cell_max' or None, got {scale!r}")
    if on_missing not in ("raise", "skip"):
        raise ValueError(f"on_missing must be 'raise' or 'skip', got {on_missing!r}")
    channels = _check_channel_names(channels)
    table = read_allen_manifest(manifest, root=root, columns=columns, channels=channels)
    spec, base = table.attrs["columns"], Path(table.attrs["root"])
    id_column = table.attrs["cell_id_column"]
    table = _select_rows(table, rows, structures, Path(manifest))
    files, missing = _resolve_cell_files(table, spec, channels, base, Path(manifest))
    if missing and on_missing == "raise":
        raise FileNotFoundError(_missing_files_message(missing, Path(manifest), base))
    keep = [i for i in range(len(table)) if files[i] is not None]
    table = table.iloc[keep].reset_index(drop=True)
    files = [files[i] for i in keep]
    rules = _ChannelRules(channels, channel_indices, channel_names, axes)

    layouts = [rules.layout(cell, row, spec) for cell, (_, row) in zip(files, table.iterrows())]
    shapes = [layout.spatial_shape(dims) for layout in layouts]
    where = [layout.path for layout in layouts]
    wanted = "(Y, X)" if dims == 2 else "(Z, Y, X)"
    shape = _common_shape(shapes, where, pad_to, wanted)
    _check_memory(len(table), len(channels), shape, max_bytes)
    images = np.zeros((len(table), len(channels), *shape), dtype=np.float32)
    for i, layout in enumerate(layouts):
        cell = layout.read(dims, projection, scale)
        images[i] = pad_centred(cell, shape, layout.path)
    metadata = table[["structure", "structure_index", "cell_id", "file", "manifest_row"]]
    return ImageSet(images=images, channels=channels, metadata=metadata.reset_index(drop=True),
                    attrs={"source": "Allen Cell single cells (Integrated Cell papers)",
                           "manifest": str(manifest), "root": str(base), "dims": dims,
                           "projection": projection if dims == 2 else None, "scale": scale,
                           "pad_to": pad_to, "cell_id_column": id_column,
                           "class_names": list(table["structure"].cat.categories),
                           "missing": [f"row {row}: {path}" for row, _, path in missing]})


def _manifest_columns(columns, table: pd.DataFrame, path: Path) -> ManifestColumns:
    if isinstance(columns, ManifestColumns):
        return columns
    if isinstance(columns, Mapping):
        allowed = {item.name for item in fields(ManifestColumns)}
        unknown = sorted(set(columns) - allowed)
        if unknown or "structure" not in columns:
            raise ValueError(f"columns needs 'structure' and may hold {sorted(allowed)}; got "
                             f"{sorted(columns)}")
        return ManifestColumns(**columns)
    if columns in MANIFEST_PRESETS:
        return MANIFEST_PRESETS[columns]
    if columns != "auto":
        raise ValueError(f"columns must be 'auto', one of {list(MANIFEST_PRESETS)}, a "
                         f"ManifestColumns or a dict, got {columns!r}")
    for preset in MANIFEST_PRESETS.values():
        marker = preset.image or preset.channel_files["membrane"]
        if marker in table.columns:
            return preset
    raise DataFormatError(
        f"{path} is neither the successor data's metadata.csv (column save_reg_path) nor the "
        f"3D paper's data_jobs_out.csv (save_memb_reg_path, ...); its columns are "
        f"{list(table.columns)}. Pass columns={{'image': <path column>, 'structure': <class "
        "column>, 'cell_id': <id column>}} (a ManifestColumns field dict)")


def _id_strings(ids: pd.Series) -> pd.Series:
    """Ids as text; whole numbers read as floats (a column with gaps) lose their ``.0``."""
    if ids.dtype.kind == "f":
        return pd.Series([str(int(value)) if value == value and value == int(value)
                          else str(value) for value in ids], index=ids.index)
    return ids.astype(str)


def _check_no_empty_cells(table: pd.DataFrame, names: Sequence[str], path: Path) -> None:
    for name in names:
        empty = np.flatnonzero(table[name].isna().to_numpy())
        if len(empty):
            raise DataFormatError(f"{path}: column {name!r} is empty in row(s) "
                                  f"{empty[:5].tolist()} (from 0, header excluded); fill "
                                  "them or drop those rows from the manifest (an empty cell "
                                  "id can be avoided with columns=... and cell_id=None, which "
                                  "uses the file paths as ids)")


def _select_rows(table: pd.DataFrame, rows, structures, manifest: Path) -> pd.DataFrame:
    if structures is not None:
        structures = [structures] if isinstance(structures, str) else list(structures)
        known = list(table["structure"].cat.categories)
        unknown = [name for name in structures if name not in known]
        if unknown:
            raise DataFormatError(f"{manifest} has no structure(s) {unknown}; it has {known}")
    selected = table.iloc[cell_positions(rows, len(table))]
    if structures is not None:
        selected = selected[selected["structure"].isin(structures)]
    return selected.reset_index(drop=True)


def _resolve_cell_files(table, spec: ManifestColumns, channels, base: Path, manifest: Path):
    """Per row: the image path, or channel -> path; None where a file is missing."""
    columns = ({"": spec.image} if spec.image
               else {name: spec.channel_files[name] for name in channels})
    files, missing = [], []
    for _, row in table.iterrows():
        found = {}
        for name, column in columns.items():
            path = _find_file(str(row[column]), base)
            if path is None:
                missing.append((int(row["manifest_row"]), column, str(row[column])))
                break
            found[name] = path
        files.append(None if len(found) < len(columns) else
                     (found[""] if spec.image else found))
    return files, missing


def _find_file(written: str, base: Path) -> Path | None:
    """The file a manifest entry means: as written, under ``base``, or by its last parts."""
    path = Path(written)
    candidates = [path] if path.is_absolute() else [base / path]
    candidates += [base.joinpath(*path.parts[-2:]), base / path.name]
    return next((candidate for candidate in candidates if candidate.is_file()), None)


def _missing_files_message(missing, manifest: Path, base: Path) -> str:
    shown = "; ".join(f"row {row}, {column}: {path}" for row, column, path in missing[:3])
    return (f"{len(missing)} cell(s) of {manifest} point to files that do not exist ({shown}"
            f"{'; ...' if len(missing) > 3 else ''}). Relative paths start from root={base}: "
            "pass the folder the release was unpacked into as root=, copy the missing files "
            "again, or pass on_missing='skip' to leave those cells out")


def _check_channel_names(channels) -> tuple[str, ...]:
    channels = (channels,) if isinstance(channels, str) else tuple(channels)
    unknown = [name for name in channels if name not in ALLEN_CHANNELS]
    if not channels or unknown or len(set(channels)) != len(channels):
        raise ValueError(f"channels must be distinct names among {list(ALLEN_CHANNELS)}, got "
                         f"{list(channels)}")
    return channels


# ---------------------------------------------------------------------- one cell's TIFF files

@dataclass
class _CellLayout:
    """Where one cell's channels are: (file, channel index in it) per requested channel."""
    path: Path                               # the file named in errors
    sources: list[tuple[Path, int]]
    shapes: dict[Path, tuple[int, int, int]]  # (Z, Y, X) of each file
    axes: str | None
    single: bool                             # one file per channel

    def spatial_shape(self, dims: int) -> tuple[int, ...]:
        zyx = {self.shapes[path] for path, _ in self.sources}
        if len(zyx) > 1:
            raise DataFormatError(f"the channel files of the cell of {self.path} have different "
                                  f"sizes {sorted(zyx)}; all channels of a cell must have one "
                                  f"size: {_TIFF_FIX}")
        shape = zyx.pop()
        return shape[1:] if dims == 2 else shape

    def read(self, dims: int, projection: str, scale: str | None) -> np.ndarray:
        arrays = {}
        planes = []
        for path, index in self.sources:
            if path not in arrays:
                arrays[path] = _read_czyx(path, self.axes, self.single)
            volume = arrays[path][index]
            planes.append(_scaled(volume, scale).astype(np.float32, copy=False))
        cell = np.stack(planes)
        if scale == "cell_max":
            largest = cell.max()
            cell = cell / largest if largest > 0 else cell
        if dims == 2:
            cell = cell.max(axis=1) if projection == "max" else cell.mean(axis=1)
        return cell.astype(np.float32, copy=False)


class _ChannelRules:
    """Find each requested channel in a cell's file(s), by the first rule that applies."""

    def __init__(self, channels, indices, names, axes):
        self.channels = channels
        self.indices = dict(indices or {})
        unknown = [name for name in self.indices if name not in ALLEN_CHANNELS]
        if unknown:
            raise ValueError(f"channel_indices has unknown channel(s) {unknown}; names are "
                             f"{list(ALLEN_CHANNELS)}")
        names = {name: [aliases] if isinstance(aliases, str) else list(aliases)
                 for name, aliases in (names or {}).items()}
        self.names = {name: (*DEFAULT_CHANNEL_NAMES.get(name, (name,)), *names.get(name, ()))
                      for name in ALLEN_CHANNELS}
        self.axes = _check_axes(axes)

    def layout(self, cell, row, spec: ManifestColumns) -> _CellLayout:
        if isinstance(cell, dict):            # one single-channel file per channel
            headers = {path: _tiff_header(path, self.axes, single=True) for path in cell.values()}
            for path, (n_channels, _, _) in headers.items():
                if n_channels != 1:
                    raise DataFormatError(f"{path} holds {n_channels} channels but the manifest "
                                          "names one file per channel; pass axes= if its axes "
                                          f"are not Z, Y, X, or {_TIFF_FIX}")
            return _CellLayout(path=cell[self.channels[0]],
                               sources=[(cell[name], 0) for name in self.channels],
                               shapes={path: header[1] for path, header in headers.items()},
                               axes=self.axes, single=True)
        n_channels, shape, ome_names = _tiff_header(cell, self.axes, single=False)
        sources = [(cell, self._index(name, n_channels, ome_names, cell, row, spec))
                   for name in self.channels]
        return _CellLayout(path=cell, sources=sources, shapes={cell: shape}, axes=self.axes,
                           single=False)

    def _index(self, name, n_channels, ome_names, path, row, spec) -> int:
        if name in self.indices:
            index, how = self.indices[name], "channel_indices"
        elif spec.channel_index.get(name) in row.index and pd.notna(
                row[spec.channel_index[name]]):
            column = spec.channel_index[name]
            index, how = row[column], f"column {column!r} of manifest row {row['manifest_row']}"
        elif ome_names:
            accepted = {alias.lower() for alias in self.names[name]}
            matches = [i for i, found in enumerate(ome_names) if found.lower() in accepted]
            if not matches:
                raise DataFormatError(
                    f"{path} has no {name} channel: its OME channel names are {ome_names} and "
                    f"none is one of {sorted(accepted)}. Pass channel_names={{{name!r}: "
                    f"['<its name>']}} or channel_indices={{{name!r}: <index>}}")
            index, how = matches[0], "its OME channel names"
        else:
            raise DataFormatError(
                f"{path} has {n_channels} channels but no OME channel names, and the manifest "
                f"has no index column for {name}; pass channel_indices={{{name!r}: <index>, "
                "...}} (the successor data's metadata.csv gives them as ch_memb, ch_struct, "
                "ch_dna)")
        try:
            index = int(index)
        except (TypeError, ValueError):
            raise DataFormatError(f"{path}: the index of channel {name} from {how} is "
                                  f"{index!r}, not an integer") from None
        if not 0 <= index < n_channels:
            raise DataFormatError(f"{path} has {n_channels} channels, so channel {name}'s index "
                                  f"{index} (from {how}) does not exist; check the index, or "
                                  "pass axes= if the file's channel axis was misread")
        return index


def _check_axes(axes: str | None) -> str | None:
    if axes is None:
        return None
    axes = axes.upper()
    if len(set(axes)) != len(axes) or not set("YX") <= set(axes) <= set("CZYX"):
        raise ValueError(f"axes must be letters among C, Z, Y, X including Y and X, each once "
                         f"(e.g. 'CZYX'), got {axes!r}")
    return axes


def _open_tiff(path: Path):
    import tifffile

    try:
        return tifffile.TiffFile(path)
    except Exception as error:  # tifffile raises TiffFileError, ValueError, struct.error, ...
        raise DataFormatError(f"{path} could not be read as a TIFF ({type(error).__name__}: "
                              f"{error}); it is probably truncated or not a TIFF: {_TIFF_FIX}"
                              ) from error


def _tiff_header(path: Path, axes: str | None, *, single: bool):
    """(number of channels, (Z, Y, X), OME channel names or None), from the metadata only."""
    with _open_tiff(path) as tif:
        try:
            _check_complete(tif, path)
            series = tif.series[0]
            shape, found = tuple(series.shape), _trusted_axes(tif, series)
            names = _ome_channel_names(tif) if tif.is_ome else None
        except DataFormatError:
            raise
        except Exception as error:
            raise DataFormatError(f"{path}: its TIFF structure is unreadable "
                                  f"({type(error).__name__}: {error}); it is probably truncated "
                                  f"or corrupt: {_TIFF_FIX}") from error
    czyx = _czyx_shape(shape, axes or found, path, single)
    if names is not None and len(names) != czyx[0]:
        names = None
    return czyx[0], czyx[1:], names


def _read_czyx(path: Path, axes: str | None, single: bool) -> np.ndarray:
    """A TIFF's first series as ``(C, Z, Y, X)``, its channels and z on the first two axes."""
    with _open_tiff(path) as tif:
        try:
            series = tif.series[0]
            data, found = series.asarray(), _trusted_axes(tif, series)
        except Exception as error:  # truncated strips show only when the pixels are read
            raise DataFormatError(f"{path}: reading the pixels failed ({type(error).__name__}: "
                                  f"{error}); the file is probably truncated: {_TIFF_FIX}"
                                  ) from error
    check_array(data, name=str(path), dtype_kind="biuf")
    order = _czyx_order(data.shape, axes or found, path, single)
    return _to_czyx(data, order)


def _check_complete(tif, path: Path) -> None:
    """Raise if a page's pixel data would lie past the end of the file (a cut-off copy).

    A truncated TIFF often keeps a readable header and first page, and tifffile then quietly
    reports fewer pages (or no OME metadata), so the file looks like another, smaller image.
    """
    size = tif.filehandle.size
    for number, page in enumerate(tif.pages):
        ends = [offset + count for offset, count in zip(page.dataoffsets, page.databytecounts)]
        if ends and max(ends) > size:
            raise DataFormatError(f"{path} is truncated: page {number}'s pixel data ends at byte "
                                  f"{max(ends):,} but the file has {size:,} bytes, as an "
                                  f"interrupted copy leaves it: {_TIFF_FIX}")


def _trusted_axes(tif, series) -> str | None:
    """The series' axes where metadata says them (OME, ImageJ); None for a plain TIFF."""
    return series.axes if (tif.is_ome or tif.is_imagej) else None


def _ome_channel_names(tif) -> list[str] | None:
    import tifffile

    try:
        image = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]
    except (KeyError, TypeError, ValueError):
        return None
    image = image[0] if isinstance(image, list) else image
    found = image.get("Pixels", {}).get("Channel")
    found = [found] if isinstance(found, dict) else (found or [])
    names = [str(channel.get("Name", "")) for channel in found]
    return names if names and all(names) else None


def _czyx_order(shape, axes: str | None, path: Path, single: bool) -> str:
    """The file's axis letters (C, Z, Y, X, or others of size 1), checked against its shape."""
    if axes is None:
        guesses = {2: "YX", 3: "ZYX"} if single else {2: "YX", 3: None, 4: "CZYX"}
        axes = guesses.get(len(shape))
        if axes is None:
            raise DataFormatError(
                f"{path} has shape {shape} and no OME or ImageJ metadata naming its axes; pass "
                "axes= with one letter per axis among C, Z, Y, X (e.g. 'CZYX' or 'CYX')")
    if len(axes) != len(shape):
        raise DataFormatError(f"{path} has shape {shape} but axes {axes!r}; pass axes= with one "
                              "letter per axis among C, Z, Y, X")
    extra = [(letter, size) for letter, size in zip(axes, shape)
             if letter not in "CZYX" and size > 1]
    if extra or not set("YX") <= set(axes):
        raise DataFormatError(f"{path} has axes {axes!r} (shape {shape}); a cell must be C, Z, Y, "
                              "X (other axes, such as time, of size 1). Pass axes= if the "
                              f"metadata misnames them, or {_TIFF_FIX}")
    return axes


def _czyx_shape(shape, axes, path: Path, single: bool) -> tuple[int, int, int, int]:
    order = _czyx_order(shape, axes, path, single)
    size = dict(zip(order, shape))
    return size.get("C", 1), size.get("Z", 1), size["Y"], size["X"]


def _to_czyx(data: np.ndarray, axes: str) -> np.ndarray:
    kept = [i for i, letter in enumerate(axes) if letter in "CZYX"]
    data = data.reshape([data.shape[i] for i in kept])      # drops the size-1 others
    letters = "".join(axes[i] for i in kept)
    for letter in "CZ":
        if letter not in letters:
            data, letters = data[np.newaxis], letter + letters
    return np.transpose(data, [letters.index(letter) for letter in "CZYX"])


def _scaled(volume: np.ndarray, scale: str | None) -> np.ndarray:
    if scale == "dtype" and volume.dtype.kind in "ui":
        return volume.astype(np.float32) / np.float32(np.iinfo(volume.dtype).max)
    return volume.astype(np.float32, copy=False)


# ------------------------------------------------------------------------------ shared helpers

def _common_shape(shapes, paths, pad_to, wanted: str) -> tuple[int, ...]:
    """The one spatial shape of all cells, or ``pad_to``; errors list the sizes and files."""
    shapes = [tuple(int(size) for size in shape) for shape in shapes]
    if pad_to is not None:
        pad_to = tuple(int(size) for size in pad_to)
        if shapes and len(pad_to) != len(shapes[0]):
            raise ValueError(f"pad_to must be {wanted}, {len(shapes[0])} sizes, got {pad_to}")
        too_big = [(path, shape) for path, shape in zip(paths, shapes)
                   if any(have > want for have, want in zip(shape, pad_to))]
        if too_big:
            largest = tuple(int(size) for size in np.max(shapes, axis=0))
            raise DataFormatError(f"{too_big[0][0]} is {too_big[0][1]}, larger than pad_to="
                                  f"{pad_to} ({len(too_big)} cell(s) are); pass a pad_to of "
                                  f"at least {largest}, the largest size of the cells read")
        return pad_to
    if not shapes:
        raise DataFormatError("no cells to read: the selection (rows/indices/classes/"
                              "structures) is empty")
    sizes = sorted(set(shapes))
    if len(sizes) > 1:
        examples = "; ".join(f"{shape}: {paths[shapes.index(shape)]}" for shape in sizes[:4])
        largest = tuple(int(size) for size in np.max(shapes, axis=0))
        raise DataFormatError(f"the cells have {len(sizes)} different sizes {wanted} ("
                              f"{examples}); a batch needs one size. Pass pad_to={largest} "
                              "(or larger) to zero-pad every cell to one size, centred, as "
                              "the papers padded theirs")
    return sizes[0]


def _check_memory(n: int, n_channels: int, shape, max_bytes: int) -> None:
    check_memory(n, n_channels, shape, max_bytes, how_to_shrink=(
        "Read a subset (rows=/indices=, e.g. one side of salted_hash_split, or "
        "structures=/classes=), use dims=2"))


__all__ = [
    "ALLEN_CHANNELS", "DEFAULT_CHANNEL_NAMES", "DEFAULT_SALT", "HOLD_OUT_2D", "HOLD_OUT_3D",
    "IC_CHANNELS", "MANIFEST_PRESETS", "PAPER_3D_COLUMNS", "PIPELINE_COLUMNS", "HashSplit",
    "ManifestColumns", "hash_numbers", "list_ic2d_pngs", "read_allen_manifest",
    "read_allen_single_cells", "read_ic2d_png", "read_ic2d_pngs", "salted_hash_split",
]
