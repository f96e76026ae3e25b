"""The paired-cell-inpainting chapter's data: whole fields -> segmented single-cell crops by image.

Lu, Kraus, Cooper & Moses, PLoS Comput Biol 2019, Methods, "Datasets, preprocessing, and
training": cells are found by segmenting the nuclear channel (human: an Otsu threshold, connected
components, objects under 400 px dropped), a fixed window is cut around each centre, and "we
remove any images with fewer than 5 cells" (30 for yeast). Pairs are drawn within an image, so
the crops keep their image (here: field of view) id, and the train / val / test split is by image.

The cells are *found*, not read from the simulator's ground truth: :func:`segment_nuclei` and
:func:`extract_crops` (border and area filters) run on every field, so a crop may hold a debris
object, two merged nuclei or an off-centre cell, as in real data. Where the fields carry ground
truth, each crop is matched to the true cell under its centre, so analyses can score it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ...data.segmentation import extract_crops, segment_nuclei
from ...sim.catalogue import MULTI_CLASS_KINDS
from .pairs import split_by_image

PROTEIN = "protein"
MARKERS = ("nucleus", "cell_marker")   # the structural markers, in the order the model takes them
REFERENCE_CROP = 64                    # the simulator's reference crop; its cells scale with crop_size
# Image-level columns copied onto each crop where the fields have them (the atlas has all).
IMAGE_COLUMNS = ("protein", "localization", "cell_line", "rare")
# Cell-level ground truth of the atlas, matched to each crop: the class the cell shows, its
# nuclear fraction alpha (mixed proteins), its sub-population (variable proteins; -1 otherwise).
TRUTH_COLUMNS = ("cell_localization", "alpha", "subpopulation")


@dataclass
class EvaluationCells:
    """The cells features are scored on: crops of images the model never trained on.

    ``metadata`` has one row per crop with at least ``image`` and ``protein``; ``label`` is the
    class the k-NN benchmark predicts (None where a cell has no single-class label: mixed and
    variable proteins, or unlabelled real data). Synthetic cells also carry their ground truth:
    ``localization`` (the protein's), ``true_localization`` (the cell's), ``cell_line``,
    ``alpha``, ``subpopulation``, ``rare``; an analysis whose columns are missing says "n/a".
    """

    crops: torch.Tensor           # (N, C, S, S) float32, raw intensities, protein first
    channels: tuple[str, ...]
    metadata: pd.DataFrame        # indexed 0..N-1

    def __post_init__(self):
        if len(self.crops) != len(self.metadata):
            raise ValueError(f"{len(self.crops)} crops but {len(self.metadata)} metadata rows")
        missing = {"image", "protein", "label"} - set(self.metadata.columns)
        if missing:
            raise ValueError(f"evaluation metadata lacks column(s) {sorted(missing)}")

    def __len__(self) -> int:
        return len(self.crops)

    @property
    def labelled(self) -> np.ndarray:
        """Positions of the cells with a k-NN label."""
        return np.flatnonzero(self.metadata["label"].notna().to_numpy())

    def has(self, *columns: str) -> bool:
        """Whether the cells carry these ground-truth columns (with at least one value)."""
        return all(c in self.metadata and self.metadata[c].notna().any() for c in columns)

    def __repr__(self) -> str:
        return (f"EvaluationCells({len(self)} crops {tuple(self.crops.shape[1:])} of "
                f"{self.metadata['image'].nunique()} images, {len(self.labelled)} labelled)")


@dataclass
class InpaintingData:
    """Crops of the cells found in each kept field, grouped by image and split by image."""

    crops: torch.Tensor           # (N, C, S, S) float32, raw intensities (min-max at batch time)
    channels: tuple[str, ...]     # protein first, then the markers
    metadata: pd.DataFrame        # one row per crop: image, protein, localization, centroid, ...
    parts: dict[str, np.ndarray]  # train / val / test (/ holdout) -> positions into crops
    dropped_images: np.ndarray    # ids of the fields with fewer than min_cells cells found

    @property
    def n_dropped_images(self) -> int:
        return len(self.dropped_images)

    @property
    def image_ids(self) -> np.ndarray:
        return self.metadata["image"].to_numpy()

    @property
    def markers(self) -> tuple[str, ...]:
        return self.channels[1:]

    def part_metadata(self, name: str) -> pd.DataFrame:
        """The metadata rows of part ``name``, in the part's order, indexed from 0."""
        return self.metadata.iloc[self.parts[name]].reset_index(drop=True)

    def evaluation_cells(self, part: str = "test") -> EvaluationCells:
        """The cells of part ``part`` (``"all"``: every cell, as the paper's protein-level
        analyses use the images it trained on) with their k-NN label: the protein's class, except
        for the proteins that show more than one (mixed, variable), which get None."""
        positions = np.arange(len(self.crops)) if part == "all" else self.parts[part]
        metadata = self.metadata.iloc[positions].reset_index(drop=True)
        if "localization" in metadata:
            classes = metadata["localization"].astype(object)
            label = classes.where(~classes.isin(MULTI_CLASS_KINDS), None)
        else:
            label = pd.Series([None] * len(metadata), dtype=object)
        metadata = metadata.assign(label=label.to_numpy())
        return EvaluationCells(self.crops[positions], self.channels, metadata)

    def fingerprint(self) -> str:
        """A hash of the crops, their images and the split: what a checkpoint's data must match."""
        digest = hashlib.sha256()
        for array in (self.crops.numpy(), *(self.parts[name] for name in sorted(self.parts))):
            digest.update(np.ascontiguousarray(array).data)
        # Image ids are numbers for the atlas, names for real data ("AAC1_1").
        digest.update("\n".join(map(str, self.image_ids)).encode())
        digest.update(repr((self.channels, sorted(self.parts))).encode())
        return digest.hexdigest()[:16]

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name} {len(p)}" for name, p in self.parts.items())
        return (f"InpaintingData({len(self.crops)} crops {tuple(self.crops.shape[1:])} of "
                f"{self.metadata['image'].nunique()} images, channels={self.channels}; {sizes}; "
                f"{self.n_dropped_images} images dropped)")


def field_scale(fields) -> float:
    """Pixels of these fields per pixel of the simulator's reference (64-px crop) scale: 0.5 for
    the smoke and cpu atlases (32-px crops), 1 for real data without that record."""
    config = getattr(fields, "attrs", {}).get("config", {}) or {}
    return float(config.get("crop_size", REFERENCE_CROP)) / REFERENCE_CROP


def segmentation_settings(scale: float = 1.0) -> dict:
    """:func:`segment_nuclei`'s defaults (tuned at nucleus radius ~12 px) scaled to ``scale``."""
    window = int(round(31 * scale)) | 1          # odd
    return dict(sigma=max(0.5, scale), local_window=max(3, window),
                min_area=max(4, int(30 * scale ** 2)), min_peak_distance=max(2, round(8 * scale)),
                distance_sigma=4 * scale)


def pairs_from_fields(fields, *, crop_size: int, min_cells: int, output_size: int | None = None,
                      markers=None, min_area: int | None = None, max_area: int | None = None,
                      segmentation: dict | None = None, fractions=(0.8, 0.1, 0.1),
                      split_seed: int = 0, holdout_proteins=None) -> InpaintingData:
    """Segment every field, crop its cells, drop sparse images and split by image.

    fields:
        an :class:`~cellnb.data.imageset.ImageSet` of whole fields with channels ``protein``,
        ``nucleus`` and optionally ``cell_marker`` (e.g. :func:`cellnb.sim.generate_fields`);
        metadata ``field`` (the image id; else the row number), ``protein``, ``localization``.
    crop_size:
        the window cut around each nucleus centroid, in field pixels; ``output_size`` resizes it
        by area averaging (the paper resizes its human crops to 64 px).
    min_cells:
        images with fewer cells *found* are dropped (paper: 30 yeast, 5 human) and counted.
    markers:
        marker channels after the protein (default: ``nucleus``, then ``cell_marker`` if present).
    min_area, max_area:
        nucleus-area filter in pixels (paper, human: objects under 400 px at 2048-px fields
        dropped); defaults scale with the field's pixel size: 30 and 1,200 reference pixels.
    segmentation:
        keyword arguments for :func:`segment_nuclei` (default :func:`segmentation_settings`).
    fractions, split_seed, holdout_proteins:
        the image-grouped split of :func:`.pairs.split_by_image`, stratified by protein.
    """
    if int(min_cells) != min_cells or min_cells < 2:
        raise ValueError(f"min_cells must be an integer >= 2 (a pair needs two cells of one "
                         f"image), got {min_cells!r}")
    scale = field_scale(fields)
    settings = segmentation_settings(scale) | dict(segmentation or {})
    min_area = settings["min_area"] if min_area is None else min_area
    max_area = int(1200 * scale ** 2) if max_area is None else max_area
    names = list(fields.channels)
    markers = [m for m in MARKERS if m in names] if markers is None else list(markers)
    missing = [name for name in [PROTEIN, *markers] if name not in names]
    if missing or not markers:
        raise ValueError(f"the fields need a {PROTEIN!r} channel and at least one marker; asked "
                         f"for markers {markers}, fields have {names}")
    channel_index = [names.index(name) for name in [PROTEIN, *markers]]
    nucleus = names.index("nucleus") if "nucleus" in names else channel_index[1]

    field_meta = fields.metadata.reset_index(drop=True)
    image_ids = (field_meta["field"].to_numpy() if "field" in field_meta
                 else np.arange(len(field_meta)))
    truth = _ground_truth(fields)

    kept_crops, rows, dropped = [], [], []
    for i in range(len(fields)):
        labels = segment_nuclei(fields.images[i, nucleus], **settings)
        crops, table = extract_crops(fields.images[i, channel_index], labels, size=crop_size,
                                     min_area=min_area, max_area=max_area, exclude_border=True)
        if len(table) < min_cells:
            dropped.append(image_ids[i])
            continue
        table = table[["centroid_y", "centroid_x", "area"]].rename(columns={"area": "nucleus_area"})
        table.insert(0, "image", image_ids[i])
        for column in IMAGE_COLUMNS:
            if column in field_meta:
                table[column] = field_meta.at[i, column]
        if truth is not None:
            table = table.assign(**_match_truth(table, truth, i, image_ids[i]))
        kept_crops.append(crops)
        rows.append(table)
    if not rows:
        raise ValueError(f"no field has {min_cells} cells after segmentation and the border and "
                         f"area filters ({len(fields)} fields); lower min_cells or crop_size, or "
                         "pass segmentation= settings that suit these nuclei")
    crops = torch.from_numpy(np.concatenate(kept_crops).astype(np.float32, copy=False))
    crops = resize_crops(crops, output_size)
    metadata = pd.concat(rows, ignore_index=True)
    strata = metadata["protein"].to_numpy() if "protein" in metadata else None
    parts = split_by_image(metadata["image"].to_numpy(), fractions, split_seed, strata,
                           proteins=strata, holdout_proteins=holdout_proteins)
    return InpaintingData(crops.contiguous(), (PROTEIN, *markers), metadata, parts,
                          np.asarray(dropped))


def resize_crops(crops: torch.Tensor, output_size: int | None) -> torch.Tensor:
    """Crops (N, C, S, S) as float32 at ``output_size`` px by area averaging (the paper resizes
    its human crops to 64 px); None or their own size leaves them as they are."""
    crops = crops.to(torch.float32)
    if output_size is not None and output_size != crops.shape[-1] and len(crops):
        crops = torch.nn.functional.interpolate(crops, size=(output_size, output_size),
                                                mode="area")
    return crops.contiguous()


def _ground_truth(fields):
    """The fields' true cell masks and per-cell table, or None for real data."""
    if "cells" not in getattr(fields, "mask_names", ()) or "cells" not in getattr(fields, "tables", {}):
        return None
    table = fields.tables["cells"]
    lookup = table.set_index(["field", "cell"])[list(TRUTH_COLUMNS)]
    return fields.mask("cells"), lookup


def _match_truth(table: pd.DataFrame, truth, position: int, image_id) -> dict:
    """The true cell under each crop's centre pixel (0: background), the class it shows, its alpha
    and its sub-population (None, NaN and -1 where the centre is background)."""
    cell_masks, lookup = truth
    rows = np.clip(np.round(table["centroid_y"].to_numpy()).astype(int), 0, cell_masks.shape[1] - 1)
    cols = np.clip(np.round(table["centroid_x"].to_numpy()).astype(int), 0, cell_masks.shape[2] - 1)
    cells = cell_masks[position, rows, cols].astype(int)
    index = pd.MultiIndex.from_arrays([np.full(len(cells), image_id), cells])
    found = lookup.reindex(index)
    classes = found["cell_localization"].to_numpy(dtype=object)
    classes[cells == 0] = None
    return {"true_cell": cells, "true_localization": classes,
            "alpha": found["alpha"].to_numpy(dtype=float),
            "subpopulation": found["subpopulation"].fillna(-1).to_numpy(dtype=int)}
