"""The cytoself chapter's data: crops -> model inputs, protein labels and field-grouped splits.

cytoself trains on crops of [protein, nuclear distance] (Methods, "Image data pre-processing");
the ablations swap the distance map for the raw nucleus or drop the second channel (Supp. Table 1).
The only label is the protein's identity. Splits are 8:1:1 (Methods, "Training protocol"), per
protein and grouped by field of view, so no field is in two splits and test crops come from fields
the model never saw. An *orphan* protein (FAM241A in the paper, Fig. 4c-e) is kept out
of training altogether and only appears in the part called ``orphan``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ...data.imageset import ImageSet
from ...data.splits import grouped_split
from ...data.transforms import minmax_normalize

# Input channels of each variant; intensities are min-max scaled per crop, the distance map is
# kept as it is (already divided by the crop size, about [-1, 1]).
CHANNEL_SETS = {
    "distance": ("protein", "nuclear_distance"),
    "raw_nucleus": ("protein", "nucleus"),
    "protein": ("protein",),
}
INTENSITY_CHANNELS = ("protein", "nucleus")


@dataclass
class CytoselfData:
    images: torch.Tensor          # (N, C, S, S) float32 model inputs
    labels: torch.Tensor          # (N,) int64 protein index among trained proteins, -1 for orphans
    metadata: pd.DataFrame        # one row per crop, aligned with images
    parts: dict[str, np.ndarray]  # train / val / test / orphan -> positions
    proteins: list[str]           # label -> protein name
    channels: tuple[str, ...]

    @property
    def n_classes(self) -> int:
        return len(self.proteins)

    def part(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.from_numpy(self.parts[name])
        return self.images[positions], self.labels[positions]

    def part_metadata(self, name: str) -> pd.DataFrame:
        """The metadata rows of part ``name``, in the part's order, indexed from 0."""
        return self.metadata.iloc[self.parts[name]].reset_index(drop=True)

    def per_protein(self, column: str) -> np.ndarray:
        """``column``'s value for each trained protein, in label order (None where empty), as
        identification reports want their complex and class tables."""
        values = self.metadata.drop_duplicates("protein").set_index("protein")[column].reindex(self.proteins)
        return np.array([None if value in ("", None) or pd.isna(value) else value for value in values],
                        dtype=object)

    def fingerprint(self) -> str:
        """A hash of the inputs, labels and split: what a checkpoint's data must match."""
        digest = hashlib.sha256()
        for array in (self.images.numpy(), self.labels.numpy(),
                      *(self.parts[name] for name in sorted(self.parts))):
            digest.update(np.ascontiguousarray(array).data)
        digest.update(repr((self.proteins, self.channels)).encode())
        return digest.hexdigest()[:16]

    def train_variance(self) -> float:
        """Variance of the training images: the scale of the reconstruction loss (as in the
        authors' code, which divides the image MSE by it)."""
        return float(self.part("train")[0].var())


def model_inputs(crops: ImageSet, channels, size: int | None = None) -> np.ndarray:
    """(N, C, S, S) float32 from the named crop channels, intensities min-max scaled per crop.

    With ``size`` the crops are resized (area averaging) to ``size`` pixels, e.g. OpenCell's
    100-pixel crops to a CPU model's 32.
    """
    missing = [name for name in channels if name not in crops.channels]
    if missing:
        raise ValueError(f"the crops lack channel(s) {missing}; they have {crops.channels}")
    planes = []
    for name in channels:
        plane = crops.channel(name).astype(np.float32)
        planes.append(minmax_normalize(plane) if name in INTENSITY_CHANNELS else plane)
    images = np.stack(planes, axis=1)
    if size is not None and images.shape[-1] != size:
        images = torch.nn.functional.interpolate(torch.from_numpy(images), size=(size, size),
                                                 mode="area").numpy()
    return images


def load_crops(dataset: str, *, atlas_config=None, data_dir=None, max_crops: int | None = None,
               seed: int = 0, workers: int = 1) -> ImageSet:
    """The chapter's crops: the synthetic atlas (cached) or OpenCell's published crops.

    ``dataset="synthetic"`` simulates (once; then read from the cache) the atlas of ``atlas_config``.
    ``dataset="opencell"`` reads the OpenCell files found in ``data_dir`` (see
    :mod:`cellnb.data.opencell`) and keeps a random ``max_crops`` of them.
    """
    if dataset == "synthetic":
        from ...data.cache import cached_imageset
        from ...data.store import read_imageset
        from ...sim import generate_crops

        # The data chapter's cache kind: the same atlas is simulated once for every chapter.
        path = cached_imageset("atlas-crops", atlas_config.cache_config(),
                               lambda: generate_crops(atlas_config, workers=workers))
        return read_imageset(path)
    if dataset == "opencell":
        from ...data.opencell import OpenCellCrops

        reader = OpenCellCrops(data_dir, channels=("protein", "nucleus", "nuclear_distance"))
        indices = np.arange(len(reader))
        if max_crops is not None and max_crops < len(reader):
            indices = np.sort(np.random.default_rng(seed).choice(len(reader), max_crops, replace=False))
        return reader.to_imageset(indices)
    raise ValueError(f"unknown dataset {dataset!r}; use 'synthetic' (the atlas, offline) or 'opencell'")


def cytoself_data(crops: ImageSet, *, channels: str = "distance", size: int | None = None,
                  fractions=(0.8, 0.1, 0.1), seed: int = 0, hold_out_orphans: bool = True) -> CytoselfData:
    """Model inputs, protein labels and the field-grouped, protein-stratified split."""
    if channels not in CHANNEL_SETS:
        raise KeyError(f"unknown channel set {channels!r}; choose from {sorted(CHANNEL_SETS)}")
    metadata = crops.metadata.reset_index(drop=True)
    # Real data have no planted orphan and no complex table: nothing is held out, no complex level.
    if "orphan" not in metadata:
        metadata["orphan"] = False
    if "complex" not in metadata:
        metadata["complex"] = ""
    orphan = metadata["orphan"].to_numpy(bool) if hold_out_orphans else np.zeros(len(metadata), bool)
    trained = metadata.loc[~orphan, "protein"]
    proteins = sorted(trained.unique())
    label_of = {name: i for i, name in enumerate(proteins)}
    labels = np.array([label_of.get(name, -1) for name in metadata["protein"]], np.int64)
    kept = np.flatnonzero(~orphan)
    split = grouped_split(metadata.loc[kept, "field"].to_numpy(),
                          strata=metadata.loc[kept, "protein"].to_numpy(),
                          fractions=fractions, seed=seed)
    parts = {name: kept[positions] for name, positions in split.items()}
    parts["orphan"] = np.flatnonzero(orphan)
    return CytoselfData(torch.from_numpy(model_inputs(crops, CHANNEL_SETS[channels], size)),
                        torch.from_numpy(labels), metadata, parts, proteins, CHANNEL_SETS[channels])


def pattern_masks(crops: ImageSet, positions, size: int) -> np.ndarray | None:
    """The ground-truth pattern masks of the crops at ``positions``, at the model's input size
    (nearest neighbour), or None for crops without them (real data)."""
    if "pattern" not in crops.mask_names:
        return None
    masks = crops.mask("pattern")[positions] > 0
    if masks.shape[-1] != size:
        masks = torch.nn.functional.interpolate(torch.from_numpy(masks[:, None].astype(np.float32)),
                                                size=(size, size)).numpy()[:, 0] > 0.5
    return masks
