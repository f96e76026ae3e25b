"""``ImageSet``: the one in-memory form of a dataset that every part of cellnb exchanges.

The simulator produces it, the HDF5 store writes and reads it, real-data loaders return it and
the chapters consume it. Images are channel-first (``N, C, *spatial``) so they go to torch as they
are; per-sample ground truth lives in ``metadata`` (one row per image), pixel ground truth in
``masks`` and anything else tabular (for example one row per cell of a field) in ``tables``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class ImageSet:
    images: np.ndarray                      # (N, C, *spatial), float32
    channels: tuple[str, ...]               # names of the C channels, e.g. ("protein", "nucleus", ...)
    metadata: pd.DataFrame                  # N rows of per-image ground truth
    masks: np.ndarray | None = None         # (N, M, *spatial) integer masks / label images
    mask_names: tuple[str, ...] = ()
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)  # generator config, versions, provenance

    def __post_init__(self):
        self.channels = tuple(self.channels)
        self.mask_names = tuple(self.mask_names)
        self.validate()

    def validate(self) -> None:
        """Raise a ValueError that names the inconsistency, if any."""
        if self.images.ndim < 3:
            raise ValueError(f"images must be (N, C, *spatial), got shape {self.images.shape}")
        n, c = self.images.shape[:2]
        if c != len(self.channels):
            raise ValueError(f"images have {c} channels but {len(self.channels)} channel names "
                             f"were given: {self.channels}")
        if len(self.metadata) != n:
            raise ValueError(f"metadata has {len(self.metadata)} rows for {n} images")
        if self.masks is not None:
            if self.masks.shape[0] != n or self.masks.shape[2:] != self.images.shape[2:]:
                raise ValueError(f"masks of shape {self.masks.shape} do not match images of "
                                 f"shape {self.images.shape}")
            if self.masks.shape[1] != len(self.mask_names):
                raise ValueError(f"masks have {self.masks.shape[1]} planes but "
                                 f"{len(self.mask_names)} mask names: {self.mask_names}")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[2:])

    def channel(self, name: str) -> np.ndarray:
        """All images' channel ``name``, shape (N, *spatial)."""
        return self.images[:, self._index(self.channels, name, "channel")]

    def mask(self, name: str) -> np.ndarray:
        if self.masks is None:
            raise KeyError("this ImageSet carries no masks")
        return self.masks[:, self._index(self.mask_names, name, "mask")]

    def subset(self, index) -> ImageSet:
        """The images at ``index`` (a boolean mask or integer positions), metadata re-indexed."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        return ImageSet(
            images=self.images[index],
            channels=self.channels,
            metadata=self.metadata.iloc[index].reset_index(drop=True),
            masks=None if self.masks is None else self.masks[index],
            mask_names=self.mask_names,
            tables=dict(self.tables),
            attrs=dict(self.attrs),
        )

    @staticmethod
    def _index(names, name, what):
        try:
            return names.index(name)
        except ValueError:
            raise KeyError(f"no {what} named {name!r}; this set has {list(names)}") from None
