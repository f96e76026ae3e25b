"""Per-class folders of RGB PNGs: the layout that two of the papers' datasets share.

The 2D data of the Integrated Cell (``<root>/<structure>/<cell>.png``, read by
:mod:`cellnb.data.ic_readers`) and the LIN data of biogans (``<split>/<protein>/<cell>.png``,
read by :mod:`cellnb.data.lin_readers`) both keep one sub-folder per class, whose name is the
label, holding one RGB PNG per cell. Listing such folders, reading one PNG's pixels and saying
what is wrong with a file or folder are the same job for both, so they are written once, here.
Each reader adds what its own paper needs (which colour is which channel, the scaling, splits)
and lends the words of its messages through a :class:`PngFolderLayout`.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cellnb.data.validation import DataFormatError

# PIL modes that hold three colour planes; anything else (grey "L", "I;16", ...) is refused.
RGB_MODES = ("RGB", "RGBA", "P")


@dataclass(frozen=True)
class PngFolderLayout:
    """What one dataset calls the parts of its per-class PNG folders, for its error messages.

    class_word:   what a class folder stands for, ``"structure"`` or ``"protein"``
    class_column: the name of the metadata column holding the class (the folder name)
    keyword:      the reader's argument that selects classes, ``"classes"`` or ``"proteins"``
    dataset:      the dataset's name in :mod:`cellnb.data.registry`
    data_name:    how messages name the data, e.g. ``"the 2D data"``
    root_hint:    the folder to pass as root, e.g. ``"<data_dir>/allen_integrated_cell_2d/2D"``
    rgb_meaning:  what the colours hold, e.g. ``"R = membrane, G = structure, B = DNA"``
    fix:          what to do about a bad file, e.g. ``"copy it again from ..."``
    """
    class_word: str
    class_column: str
    keyword: str
    dataset: str
    data_name: str
    root_hint: str
    rgb_meaning: str
    fix: str

    def describe_hint(self) -> str:
        return f"cellnb.data.registry.describe({self.dataset!r})"


# ------------------------------------------------------------------------------- listing

def class_folder_pngs(root, layout: PngFolderLayout) -> dict[str, list[Path]]:
    """Every sub-folder of ``root`` and the PNGs it holds, in natural order; empty ones too.

    Readers decide what an empty folder means: the 2D Integrated Cell reader skips it, the LIN
    reader refuses it (see :func:`check_no_empty_folders`).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"no folder at {root}; pass the folder whose sub-folders are the "
            f"{layout.class_word}s (<root>/<{layout.class_word}>/<cell>.png), i.e. "
            f"{layout.root_hint} (see {layout.describe_hint()})")
    return {folder.name: sorted((path for path in folder.iterdir() if is_png(path)),
                                key=lambda path: natural_key(path.name))
            for folder in root.iterdir() if folder.is_dir()}


def select_classes(found: Sequence[str], classes, root, layout: PngFolderLayout) -> list[str]:
    """The classes of ``found`` to read: all, or those named in ``classes``, in ``found``'s
    order; a name not found raises an error listing the classes that are there."""
    if classes is None:
        return list(found)
    classes = [classes] if isinstance(classes, str) else list(classes)
    unknown = [name for name in classes if name not in found]
    if unknown:
        raise DataFormatError(f"{root} has no class folder(s) {unknown} holding PNGs; its "
                              f"classes are {list(found)}. Pass {layout.keyword}= from that "
                              "list")
    return [name for name in found if name in classes]


def check_no_empty_folders(root, by_class: Mapping[str, list[Path]],
                           classes: Sequence[str], layout: PngFolderLayout) -> None:
    """Refuse a class folder among ``classes`` that holds no PNG: a sign of a partial copy."""
    for name in classes:
        if by_class[name]:
            continue
        folder = Path(root) / name
        others = sorted(path.name for path in folder.iterdir())
        held = f" (it holds {others[:3]}, none a .png)" if others else ""
        raise DataFormatError(
            f"{folder} is an empty {layout.class_word} folder{held}: every <{layout.class_word}>"
            f"/ folder of {layout.data_name} holds its cells as <cell>.png, so the copy is "
            f"probably incomplete. Copy {layout.data_name} again ({layout.describe_hint()}), "
            f"delete the folder, or pass {layout.keyword}= without {name!r}")


def class_table(by_class: Mapping[str, list[Path]], classes: Sequence[str], *,
                categories: Sequence[str], relative_to, layout: PngFolderLayout) -> pd.DataFrame:
    """One row per PNG of ``classes``: class, class_index, file, cell_id and path.

    ``<class_column>`` is categorical over ``categories`` and ``class_index`` its code, so the
    codes do not depend on which classes are read. ``file`` is the path relative to
    ``relative_to`` (portable, unique), ``cell_id`` the file name without ``.png``.
    """
    rows = [(name, path) for name in classes for path in by_class[name]]
    table = pd.DataFrame({
        layout.class_column: pd.Categorical([name for name, _ in rows],
                                            categories=list(categories)),
        "file": [path.relative_to(relative_to).as_posix() for _, path in rows],
        "cell_id": [path.stem for _, path in rows],
        "path": [str(path) for _, path in rows]})
    table.insert(1, "class_index", table[layout.class_column].cat.codes.astype(np.int64))
    return table


def no_class_folders_message(root, layout: PngFolderLayout) -> str:
    """Why ``root`` holds no ``<class>/<cell>.png``, and which folder to pass instead."""
    root = Path(root)
    word = layout.class_word
    flat = [path for path in root.iterdir() if is_png(path)]
    if flat:
        return (f"{root} holds PNGs directly ({flat[0].name}, ...) but no class folders; the "
                "class of a cell is the name of its folder, so pass the folder above the "
                f"{word} folders (<root>/<{word}>/<cell>.png)")
    deeper = next((path for path in root.rglob("*.png") if path.is_file()), None)
    if deeper is not None:
        return (f"{root} holds no <{word}>/<cell>.png, but PNGs deeper down (e.g. "
                f"{deeper}); pass {deeper.parent.parent} (the folder whose sub-folders are the "
                f"{word}s) as root")
    return (f"{root} holds no PNGs; expected <root>/<{word}>/<cell>.png. Copy "
            f"{layout.data_name} there ({layout.describe_hint()})")


# ------------------------------------------------------------------------------- one PNG

def read_rgb_png(path, layout: PngFolderLayout) -> np.ndarray:
    """One cell's pixels as ``(H, W, 3)`` integers (R, G, B), as stored (uint8 for 8 bits).

    A file that is not RGB (a grey PNG holds one channel only) or cannot be decoded (truncated
    by an interrupted copy, or not a PNG) raises :class:`DataFormatError` naming the file.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()                       # PIL reads lazily: truncation shows only here
            mode = image.mode
            if mode not in RGB_MODES:
                raise DataFormatError(
                    f"{path} has mode {mode} (bands {image.getbands()}), not RGB: a cell of "
                    f"{layout.data_name} is one RGB PNG with {layout.rgb_meaning}. A "
                    "single-channel file is one channel only; re-export the cell as RGB or "
                    + layout.fix)
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise _unreadable(path, error, layout) from error


def png_size(path, layout: PngFolderLayout) -> tuple[int, int]:
    """(height, width) from the PNG header, without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise _unreadable(Path(path), error, layout) from error
    return height, width


def _unreadable(path: Path, error: Exception, layout: PngFolderLayout) -> DataFormatError:
    return DataFormatError(f"{path} could not be read as a PNG ({type(error).__name__}: "
                           f"{error}); it is probably truncated or not an image: {layout.fix}")


# ------------------------------------------------------------------------- shared helpers

def pad_centred(cell: np.ndarray, shape: tuple[int, ...], path) -> np.ndarray:
    """Zero-pad ``(C, *spatial)`` to ``(C, *shape)``, splitting the padding evenly."""
    spatial = cell.shape[1:]
    if spatial == tuple(shape):
        return cell
    if any(have > want for have, want in zip(spatial, shape)):
        raise DataFormatError(f"{path} is {spatial}, larger than {shape}; pass a larger pad_to")
    before = [(want - have) // 2 for have, want in zip(spatial, shape)]
    pads = [(0, 0)] + [(b, want - have - b) for b, have, want in zip(before, spatial, shape)]
    return np.pad(cell, pads)


def check_memory(n: int, n_channels: int, shape, max_bytes: int, *, how_to_shrink: str) -> None:
    """Refuse (MemoryError) to build an ``(n, n_channels, *shape)`` float32 array larger than
    ``max_bytes``; ``how_to_shrink`` says which arguments of the reader read less."""
    needed = n * n_channels * int(np.prod(shape)) * 4
    if needed > max_bytes:
        raise MemoryError(
            f"{n:,} cells of {n_channels}x{'x'.join(map(str, shape))} float32 need "
            f"{needed / 2**30:.1f} GiB, more than max_bytes={max_bytes:,}. {how_to_shrink}, "
            "or raise max_bytes if the memory is there")


def is_png(path: Path) -> bool:
    return path.suffix.lower() == ".png" and path.is_file()


def natural_key(text: str) -> tuple:
    """Sort key reading digit runs as numbers: ``cell2`` before ``cell10``."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", text) if part)


__all__ = [
    "RGB_MODES", "PngFolderLayout", "check_memory", "check_no_empty_folders", "class_folder_pngs",
    "class_table", "is_png", "natural_key", "no_class_folders_message", "pad_centred",
    "png_size", "read_rgb_png", "select_classes",
]
