"""Reader for the LIN fission-yeast cells that the biogans chapter trains its GANs on.

Osokin, Chessel, Carazo Salas and Vaggi, *GANs for Biological Image Synthesis* (ICCV 2017),
learn from the LIN dataset of Dodgson et al. (Sec. 3.3): about 170,000 images of single fission
yeast cells, each with two fluorescence channels that the paper calls "red" and "green". Red
is always Bgs4, which marks where the cell grows and hence its stage in the cycle (Sec. 3.2);
green is one of 41 polarity factors, one per strain. The experiments keep six of them (Alp14,
Arp3, Cki2, Mkh1, Sid2, Tea1: 26,909 cells, Sec. 3.3 and Fig. 1) at 48x80 px; the comparison of
real classes (Table 1) adds Fim1 and Tea4.

The authors' release (registry entry ``lin_fission_yeast``) unzips to one folder per split, each
with one sub-folder per protein::

    LIN_Normalized_WT_size-48-80_train/<protein>/cellNNNNNN.png
    LIN_Normalized_WT_size-48-80_test/<protein>/cellNNNNNN.png

Each PNG is RGB with R = Bgs4, G = the protein and B empty. The train/test split is the
authors' own, fixed by these folders. :func:`list_lin_pngs` lists the cells without reading
pixels; :func:`read_lin_pngs` returns them as an :class:`~cellnb.data.imageset.ImageSet` with
channels ``("red", "green")`` scaled to [-1, 1]: the paper builds on DCGAN (Sec. 4.1), whose
generator ends in tanh, so real cells must lie in the same range; an 8-bit value ``v`` becomes
``v / 127.5 - 1``, which is ``(v / 255 - 0.5) / 0.5`` as in the authors' code, and the masked
background (0) becomes -1.

The folder listing, the PNG decoding and their messages are those of the 2D Integrated Cell
reader, shared in :mod:`cellnb.data.png_folders`; this module adds the splits, the checks the
LIN files need (48x80, blue empty, no empty protein folder) and the scaling. The random flips
the authors apply while training are a transform, not part of reading.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cellnb.data.imageset import ImageSet
from cellnb.data.png_folders import (
    PngFolderLayout,
    check_memory,
    check_no_empty_folders,
    class_folder_pngs,
    class_table,
    no_class_folders_message,
    pad_centred,
    read_rgb_png,
    select_classes,
)
from cellnb.data.validation import DataFormatError, cell_positions

LIN = "lin_fission_yeast"               # the dataset's name in cellnb.data.registry
LIN_CHANNELS = ("red", "green")         # Bgs4, the tagged polarity factor (Sec. 3.3)
PNG_RGB_PLANE = {"red": 0, "green": 1}  # R, G; B is empty in the release
BLUE_PLANE = 2
PAPER_SIZE = (48, 80)                   # (height, width) of the paper's cells (Sec. 3.3)
SPLITS = ("train", "test")
# The six polarity factors of the experiments (Sec. 3.3, Fig. 1) and the two Table 1 adds.
PAPER_PROTEINS = ("Alp14", "Arp3", "Cki2", "Mkh1", "Sid2", "Tea1")
TABLE1_PROTEINS = (*PAPER_PROTEINS, "Fim1", "Tea4")
DEFAULT_MAX_BYTES = 2 * 2**30           # refuse to build larger float32 arrays (2 GiB)

_SPLIT_SUFFIX = re.compile(r"(?:^|_)(train|test)$")
_DESCRIBE = f"cellnb.data.registry.describe({LIN!r})"
LIN_LAYOUT = PngFolderLayout(
    class_word="protein", class_column="protein", keyword="proteins", dataset=LIN,
    data_name="the LIN data",
    root_hint=f"<data_dir>/{LIN}/LIN_Normalized_WT_size-48-80_train (or ..._test)",
    rgb_meaning="R = Bgs4, G = the protein, B = empty",
    fix=f"unzip it again from the release's LIN_Normalized_WT_size-<h>-<w>.zip (see {_DESCRIBE})")


def release_name(size: tuple[int, int] = PAPER_SIZE) -> str:
    """The authors' name of the release of cells of ``size``: its zip and folders start so."""
    height, width = size
    return f"LIN_Normalized_WT_size-{height}-{width}"


# ------------------------------------------------------------------------------- listing

def list_lin_pngs(root, *, split: str | None = None, proteins: Sequence[str] | None = None,
                  size: tuple[int, int] = PAPER_SIZE) -> pd.DataFrame:
    """The LIN cells under ``root``, one row each, without reading pixels.

    root:
        The folder holding ``LIN_Normalized_WT_size-48-80_train/`` and ``..._test/`` (where the
        zip was unpacked), or one of those two. A folder of one's own counts as a split folder
        when its name ends in ``_train``/``_test`` (or is ``train``/``test``); any other folder
        of protein folders needs ``split=`` to say which split it holds.
    split:
        ``"train"`` or ``"test"`` to read one split; ``None`` (default) for every split of
        ``root``: both when ``root`` holds the split folders (a missing one is an error, the
        sign of a partial unzip), ``root``'s own when it is a split folder.
    proteins:
        Read only these proteins (folder names), e.g. :data:`PAPER_PROTEINS`; default all.
        Each must have a folder in every split read.
    size:
        ``(height, width)`` of the release: picks its folders when several releases were
        unpacked side by side (``..._size-96-160_train`` next to ``..._size-48-80_train``).

    Columns: ``protein`` (categorical), ``class_index`` (its code), ``split``, ``file``,
    ``cell_id`` and ``path``. The codes number the proteins read in sorted order, as a
    folder-per-class loader does, over ``proteins`` when given, else over every protein
    folder of the splits read; the same ``proteins`` give the same codes in train and test.
    ``file`` is the path from the folder that holds the split folders (e.g.
    ``LIN_Normalized_WT_size-48-80_test/Cki2/cell100810.png``) and ``cell_id`` is
    ``<split>/<protein>/<file name without .png>``: neither depends on which ``root`` was
    passed. Rows: train before test, then by protein, then file name in natural order.
    """
    size = _checked_size(size)
    folders = _split_folders(Path(root), split, size)
    by_split = {name: _protein_pngs(folder) for name, folder in folders.items()}
    found = sorted(set().union(*by_split.values()))
    wanted = select_classes(found, proteins, root, LIN_LAYOUT)
    tables = []
    for name, folder in folders.items():
        by_protein = by_split[name]
        if proteins is not None:
            _check_proteins_present(folder, by_protein, wanted, size)
        present = [protein for protein in wanted if protein in by_protein]
        check_no_empty_folders(folder, by_protein, present, LIN_LAYOUT)
        table = class_table(by_protein, present, categories=wanted, relative_to=folder.parent,
                            layout=LIN_LAYOUT)
        table.insert(2, "split", name)
        table["cell_id"] = f"{name}/" + table["protein"].astype(str) + "/" + table["cell_id"]
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def _split_folders(root: Path, split: str | None, size: tuple[int, int]) -> dict[str, Path]:
    """``{split: folder}`` of the splits to read, in :data:`SPLITS` order."""
    if split not in (None, *SPLITS):
        raise ValueError(f"split must be 'train', 'test' or None (both), got {split!r}")
    if not root.is_dir():
        raise FileNotFoundError(
            f"no folder at {root}; pass the folder holding {release_name(size)}_train/ and "
            f"..._test/ (where {release_name(size)}.zip was unpacked), or one of those two "
            f"(see {_DESCRIBE})")
    own = _split_of(root.name)
    if own is not None:
        if split not in (None, own):
            raise DataFormatError(
                f"{root} is the {own} split folder but split={split!r} was asked; pass "
                f"split={own!r}, or the folder above it ({root.parent}) to read the {split} "
                "split")
        return {own: root}
    children = [folder for folder in sorted(root.iterdir())
                if folder.is_dir() and _split_of(folder.name) is not None]
    if not children:
        return {split: root} if split is not None else _no_split_folders(root, size)
    wanted = SPLITS if split is None else (split,)
    return {name: _one_split_folder(root, children, name, size) for name in wanted}


def _split_of(name: str) -> str | None:
    match = _SPLIT_SUFFIX.search(name)
    return None if match is None else match[1]


def _no_split_folders(root: Path, size: tuple[int, int]):
    release = release_name(size)
    deeper = next((folder for folder in sorted(root.glob("*/*"))
                   if folder.is_dir() and _split_of(folder.name) is not None), None)
    if deeper is not None:
        raise DataFormatError(
            f"{root} holds no split folder, but {deeper} lies deeper down; pass "
            f"{deeper.parent} (the folder holding the split folders) as root")
    if any(path.is_dir() for path in root.iterdir()):
        raise DataFormatError(
            f"{root} holds no {release}_train/ or _test/ folder and its own name does not end "
            "in _train or _test, so its split is unknown; pass the folder holding the split "
            "folders, one of them, or split='train'/'test' to say which split this folder of "
            "protein folders is")
    raise DataFormatError(
        f"{root} holds neither the split folders {release}_train/ and _test/ nor protein "
        f"folders; unzip {release}.zip there ({_DESCRIBE})")


def _one_split_folder(root: Path, children: list[Path], split: str,
                      size: tuple[int, int]) -> Path:
    """The folder of ``split`` among ``children``; the release of ``size`` when several."""
    release = release_name(size)
    candidates = [folder for folder in children if _split_of(folder.name) == split]
    if len(candidates) > 1:
        candidates = [folder for folder in candidates if folder.name.startswith(release)]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise DataFormatError(
            f"{root} holds several {split} split folders of {release} "
            f"({[folder.name for folder in candidates]}); pass the one to read as root")
    other = next(name for name in SPLITS if name != split)
    beside = ", ".join(folder.name for folder in children)
    raise DataFormatError(
        f"{root} has no {split} split folder: expected {root / f'{release}_{split}'} (or "
        f"another folder whose name ends in _{split}) next to {beside}. Unzip {release}.zip "
        f"again, which holds both splits ({_DESCRIBE}), or pass split={other!r} to read the "
        f"{other} split alone")


def _protein_pngs(split_folder: Path) -> dict[str, list[Path]]:
    """Each protein folder of one split folder and its PNGs (empty folders included)."""
    by_protein = class_folder_pngs(split_folder, LIN_LAYOUT)
    if not any(by_protein.values()):          # no <protein>/<cell>.png: a wrong folder
        raise DataFormatError(no_class_folders_message(split_folder, LIN_LAYOUT))
    return by_protein


def _check_proteins_present(folder: Path, by_protein, wanted, size) -> None:
    missing = [protein for protein in wanted if protein not in by_protein]
    if missing:
        raise DataFormatError(
            f"{folder} has no folder for protein(s) {missing}, which the other split has; the "
            f"copy is probably incomplete: unzip {release_name(size)}.zip again "
            f"({_DESCRIBE}), leave them out of proteins=, or read the other split alone with "
            "split=")


# ------------------------------------------------------------------------------- reading

def read_lin_pngs(root, *, split: str | None = None, proteins: Sequence[str] | None = None,
                  indices=None, size: tuple[int, int] = PAPER_SIZE, pad: bool = False,
                  max_bytes: int = DEFAULT_MAX_BYTES) -> ImageSet:
    """The LIN cells as float32 ``(N, 2, height, width)``: red (Bgs4), green (protein), in [-1, 1].

    root, split, proteins:
        As for :func:`list_lin_pngs`.
    indices:
        Positions in :func:`list_lin_pngs`' table (same ``root``, ``split``, ``proteins``) to
        read; default all. The six proteins of the paper take about 0.8 GB as float32.
    size:
        Every cell must be ``(height, width)``, by default the paper's 48x80 (Sec. 3.3);
        a cell of another size raises an error that names it. It also picks the release's
        folders, as for :func:`list_lin_pngs`.
    pad:
        Zero-pad cells smaller than ``size`` to it, centred, with black (the masked
        background), instead of refusing them. Larger cells are always refused: padding
        cannot shrink them.
    max_bytes:
        Refuse (MemoryError) to build a larger image array; read a subset with ``indices``,
        ``split`` or ``proteins``.

    Scaling: an 8-bit value ``v`` becomes ``v / 127.5 - 1`` (0 -> -1, 255 -> 1), the range of
    the tanh output of the paper's DCGAN generators (Sec. 4.1). Metadata: ``protein``,
    ``class_index``, ``split``, ``file``, ``cell_id`` (see :func:`list_lin_pngs`).
    """
    size = _checked_size(size)
    table = list_lin_pngs(root, split=split, proteins=proteins, size=size)
    table = table.iloc[cell_positions(indices, len(table))].reset_index(drop=True)
    check_memory(len(table), len(LIN_CHANNELS), size, max_bytes,
                 how_to_shrink="Read a subset (indices=, split= or proteins=)")
    images = np.empty((len(table), len(LIN_CHANNELS), *size), dtype=np.float32)
    for i, path in enumerate(table["path"]):
        images[i] = _to_unit_range(_fitted(_lin_planes(path), size, pad, path))
    directory = Path(table["path"][0]).parents[2] if len(table) else Path(root)
    return ImageSet(images=images, channels=LIN_CHANNELS, metadata=table.drop(columns="path"),
                    attrs={"source": "LIN fission-yeast cells (Dodgson et al.), as used by "
                                     "Osokin et al. 2017 (biogans)",
                           "directory": str(directory),
                           "class_names": list(table["protein"].cat.categories),
                           "size": size, "pad": pad, "scaling": "v / 127.5 - 1"})


def read_lin_png(path) -> np.ndarray:
    """One cell as float32 ``(2, H, W)`` in [-1, 1]: red (Bgs4, R), green (the protein, G)."""
    return _to_unit_range(_lin_planes(path))


def _lin_planes(path) -> np.ndarray:
    """The red and green planes of one PNG, as stored, after checking that blue is empty."""
    pixels = read_rgb_png(path, LIN_LAYOUT)
    blue = pixels[..., BLUE_PLANE]
    if blue.any():
        raise DataFormatError(
            f"{path} has a non-empty blue channel ({np.count_nonzero(blue)} px above 0, up to "
            f"{blue.max()}), but a LIN cell has R = Bgs4, G = the protein and B empty: this "
            "is probably not a LIN cell (an Integrated Cell PNG, say, holds DNA in blue) or "
            "its colours were reordered. Remove it from the folder, re-export it with B = 0, "
            "or " + LIN_LAYOUT.fix)
    return np.stack([pixels[..., PNG_RGB_PLANE[name]] for name in LIN_CHANNELS])


def _fitted(planes: np.ndarray, size: tuple[int, int], pad: bool, path) -> np.ndarray:
    """``planes`` at ``size``: as they are, zero-padded when ``pad``, else an error."""
    have = tuple(planes.shape[1:])
    if have == size:
        return planes
    smaller = all(got <= want for got, want in zip(have, size))
    if pad and smaller:
        return pad_centred(planes, size, path)
    have_text, size_text = "x".join(map(str, have)), "x".join(map(str, size))
    if smaller:
        fix = (f"pass pad=True to zero-pad smaller cells to {size_text}, centred, or size={have} "
               "if all your cells are that size")
    else:
        fix = (f"padding cannot shrink it: pass size={have} if all your cells are that size "
               f"(the larger release is {release_name((96, 160))}), or resize the cells to "
               f"{size_text} before reading")
    expected = "the paper's 48x80 (Sec. 3.3)" if size == PAPER_SIZE else f"size={size}"
    raise DataFormatError(f"{path} is {have_text} px (height x width), not {expected}; {fix}")


def _to_unit_range(planes: np.ndarray) -> np.ndarray:
    """Integers in [0, max] -> float32 in [-1, 1]: ``(v - max/2) / (max/2)``."""
    half = np.float32(np.iinfo(planes.dtype).max / 2)
    return (planes.astype(np.float32) - half) / half


def _checked_size(size) -> tuple[int, int]:
    size = tuple(int(side) for side in size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size must be (height, width), two positive sizes, got {size}")
    return size


__all__ = [
    "DEFAULT_MAX_BYTES", "LIN", "LIN_CHANNELS", "LIN_LAYOUT", "PAPER_PROTEINS", "PAPER_SIZE",
    "SPLITS", "TABLE1_PROTEINS", "list_lin_pngs", "read_lin_png", "read_lin_pngs",
    "release_name",
]
