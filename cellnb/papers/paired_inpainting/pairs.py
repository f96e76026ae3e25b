"""Pairs of cells from one image: the training inputs of paired cell inpainting.

Lu, Kraus, Cooper & Moses, "Learning unsupervised feature representations for single cell
microscopy images with paired cell inpainting", PLoS Comput Biol 2019. This module implements:

* Methods, "Sampling pairs": every epoch iterates over every cell as the source and draws the
  target "with uniform probability ... from the set of all valid possible target cells", i.e. the
  other cells of the same image (:class:`PairSampler`).
* Methods, "Datasets, preprocessing, and training": images with too few cells are discarded
  (fewer than 30 yeast cells, fewer than 5 human cells; :func:`cells_by_image`); each crop is
  rescaled to [0, 1]; "random horizontal and vertical flips to source and target cells
  independently" (:class:`PairDataset`).
* Evaluation needs cells from images the model never trained on, and some analyses need proteins
  it never saw (:func:`split_by_image`).

Randomness comes only from ``torch.Generator`` objects passed in, so a training run that
checkpoints them (``cellnb.train``) replays an epoch's pairs and flips exactly. Use one generator
for the sampler and another for the flips, and ``num_workers=0``: the crops are in memory and a
batch costs a handful of tensor operations, while worker processes would each draw from their own
copy of the generator.

Example::

    kept, dropped = cells_by_image(image_ids, min_cells=10)
    parts = split_by_image(image_ids[kept], seed=0)
    train = kept[parts["train"]]
    sampler = PairSampler(image_ids, generator=torch.Generator().manual_seed(0), positions=train)
    dataset = PairDataset(crops, ["protein", "nucleus"],
                          generator=torch.Generator().manual_seed(1))
    for source, target_marker, target_protein in dataset.batches(sampler, batch_size=64):
        ...
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import torch

from cellnb.data.splits import grouped_split
from cellnb.data.transforms import minmax_normalize

PAIR_FLIP_PROBABILITY = 0.5  # Methods, "Datasets, preprocessing, and training": random flips


def _labels(values, what: str) -> np.ndarray:
    """A 1-D numpy array of per-cell labels from a list, array, Series or Index."""
    values = values.to_numpy() if isinstance(values, (pd.Series, pd.Index)) else values
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"{what} must give one label per cell (1-D), got shape {values.shape}")
    return values


def _image_codes(image_ids) -> np.ndarray:
    """Integer code per cell, one code per distinct image id."""
    ids = _labels(image_ids, "image_ids")
    codes, _ = pd.factorize(ids, sort=True, use_na_sentinel=True)
    if (codes < 0).any():
        raise ValueError(f"image_ids contain missing values at positions "
                         f"{np.flatnonzero(codes < 0)[:5].tolist()}; give every cell its image")
    return codes


def cells_by_image(image_ids, min_cells: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Positions of cells whose image has at least ``min_cells`` cells, and the dropped image ids.

    A cell alone in its image has no partner, so such images cannot be used; the paper also drops
    images with few cells (fewer than 30 yeast or 5 human cells; Methods, "Datasets,
    preprocessing, and training"). Returns ``(kept, dropped)``: sorted integer positions into
    ``image_ids``, and the sorted distinct ids of the dropped images, so a chapter can report how
    many images the filter removed.
    """
    if int(min_cells) != min_cells or min_cells < 2:
        raise ValueError(f"min_cells must be an integer >= 2 (a pair needs two cells of one "
                         f"image), got {min_cells!r}")
    ids = _labels(image_ids, "image_ids")
    codes = _image_codes(ids)
    counts = np.bincount(codes)
    keep = counts[codes] >= min_cells
    dropped = np.unique(ids[~keep])
    if not keep.any():
        raise ValueError(f"no image has at least {min_cells} cells ({len(counts)} images, at "
                         f"most {counts.max() if len(counts) else 0} cells each): nothing can be "
                         "paired; lower min_cells or check that image_ids group cells by image")
    return np.flatnonzero(keep), dropped


class PairSampler:
    """Every kept cell once per epoch as the source, each with a partner from its own image.

    ``image_ids`` has one label per crop. ``positions`` (optional) restricts sampling to those
    crops, e.g. the training part of :func:`split_by_image`; partners are drawn only among them.
    Images with fewer than ``min_cells`` of these cells are dropped (see :attr:`dropped_images`).

    Iterating yields ``(source, target)`` integer positions into the crops array, ``len()`` of
    them: the sources in an order drawn from ``generator``, each target uniform among the other
    cells of the source's image, never the source itself (Methods, "Sampling pairs"). All of an
    epoch's draws happen when iteration starts, so restoring the generator's state replays the
    epoch. :meth:`epoch_pairs` returns the same pairs as one ``(n, 2)`` tensor.

    Vectorised: one ``randperm``, one ``rand`` and a few gathers per epoch, no loop over images.
    Measured on a shared 2-core CPU (torch 2.13): an epoch of 100,000 cells in 5,000 images takes
    about 10 ms with :meth:`epoch_pairs` (up to 0.15 s when the other core's work competes), and
    0.15-0.4 s when iterated as Python tuples (the DataLoader route); building the sampler, 30 ms.
    """

    def __init__(self, image_ids, *, generator: torch.Generator | None = None,
                 min_cells: int = 2, positions=None):
        codes = _image_codes(image_ids)
        self.n_cells = len(codes)
        if positions is None:
            positions = np.arange(self.n_cells)
        else:
            positions = np.unique(np.asarray(positions, dtype=np.int64))
            if len(positions) and (positions[0] < 0 or positions[-1] >= self.n_cells):
                raise IndexError(f"positions must lie in [0, {self.n_cells}) for "
                                 f"{self.n_cells} image_ids, got range "
                                 f"[{positions[0]}, {positions[-1]}]")
        ids = _labels(image_ids, "image_ids")
        kept, self.dropped_images = cells_by_image(ids[positions], min_cells=min_cells)
        positions = positions[kept]
        local = np.unique(codes[positions], return_inverse=True)[1].reshape(-1)
        # Cells sorted by image: image g owns sorted slots start[g] : start[g] + count[g].
        order = np.argsort(local, kind="stable")
        counts = np.bincount(local)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order)) - starts[local[order]]
        self.generator = generator
        self.positions = torch.as_tensor(positions, dtype=torch.int64)  # kept crops, sorted
        self._sorted_positions = torch.as_tensor(positions[order], dtype=torch.int64)
        self._start = torch.as_tensor(starts[local], dtype=torch.int64)   # per kept cell
        self._others = torch.as_tensor(counts[local] - 1, dtype=torch.int64)
        self._rank = torch.as_tensor(rank, dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.positions)

    def epoch_pairs(self) -> torch.Tensor:
        """``(n, 2)`` int64 tensor of (source, target) crop positions for one epoch."""
        n = len(self.positions)
        sources = torch.randperm(n, generator=self.generator)  # index into kept cells
        # Uniform over the other cells: pick k in [0, others) among ranks with the source's
        # rank skipped. float64 rand has 53 bits, so the rounding bias is below 1e-12.
        uniform = torch.rand(n, dtype=torch.float64, generator=self.generator)
        others = self._others[sources]
        k = torch.minimum((uniform * others).long(), others - 1)
        k = k + (k >= self._rank[sources]).long()
        targets = self._sorted_positions[self._start[sources] + k]
        return torch.stack([self.positions[sources], targets], dim=1)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        yield from map(tuple, self.epoch_pairs().tolist())

    def __repr__(self) -> str:
        return (f"PairSampler({len(self)} sources of {self.n_cells} cells, "
                f"{len(self.dropped_images)} images dropped)")


class PairDataset:
    """Crops with named channels, turned into the network's inputs for (source, target) pairs.

    ``crops`` is ``(N, C, S, S)`` (numpy or torch) with ``channel_names`` naming its C channels.
    ``protein`` names the protein channel (default: the first); ``markers`` the structural
    markers (default: every other channel, in order). :meth:`batch` maps a ``(B, 2)`` tensor of
    pairs to

    * ``source``          ``(B, 1 + M, S, S)``: the source cell's protein, then its M markers;
    * ``target_marker``   ``(B, M, S, S)``: the target cell's markers;
    * ``target_protein``  ``(B, 1, S, S)``: the target cell's protein, the inpainting target.

    Each crop's channels are min-max rescaled to [0, 1] (Methods, "Datasets, preprocessing, and
    training"); a constant channel becomes 0, not NaN. With ``flip=True`` the source and the
    target are each flipped horizontally and vertically with p = 0.5, independently of each other
    but with all channels of one cell flipped together, drawing from ``generator``.

    ``dataset[(source, target)]`` returns the pair itself and :meth:`collate` builds the batch, so
    ``DataLoader(dataset, sampler=pair_sampler, batch_size=B, collate_fn=dataset.collate)`` works
    (keep ``num_workers=0``); :meth:`batches` does the same without a DataLoader.
    """

    def __init__(self, crops, channel_names: Sequence[str], *, protein: str | None = None,
                 markers: Sequence[str] | None = None, generator: torch.Generator | None = None,
                 flip: bool = True, eps: float = 1e-8):
        crops = torch.as_tensor(crops)
        if crops.ndim != 4 or crops.shape[-1] != crops.shape[-2]:
            raise ValueError(f"crops must be (cells, channels, S, S), got shape "
                             f"{tuple(crops.shape)}; add a channel axis with crops[:, None] for "
                             "single-channel crops")
        channel_names = [str(name) for name in channel_names]
        if len(channel_names) != crops.shape[1] or len(set(channel_names)) != len(channel_names):
            raise ValueError(f"need {crops.shape[1]} distinct channel names for crops of shape "
                             f"{tuple(crops.shape)}, got {channel_names}")
        protein = channel_names[0] if protein is None else protein
        if markers is None:
            markers = [name for name in channel_names if name != protein]
        missing = [name for name in [protein, *markers] if name not in channel_names]
        if missing:
            raise KeyError(f"channel(s) {missing} not among the crops' channels {channel_names}; "
                           "pass protein= and markers= with names from channel_names")
        if not markers:
            raise ValueError(f"no structural marker channel: crops have only {channel_names}; "
                             "the model needs at least one marker besides the protein")
        if protein in markers:
            raise ValueError(f"the protein channel {protein!r} cannot also be a marker")
        self.crops = crops if crops.is_floating_point() else crops.to(torch.float32)
        self.channel_names = channel_names
        self.protein, self.markers = protein, list(markers)
        self._source_channels = [channel_names.index(name) for name in [protein, *markers]]
        self.generator, self.flip, self.eps = generator, flip, eps

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, pair) -> torch.Tensor:
        return torch.as_tensor(pair, dtype=torch.int64)

    def collate(self, pairs: Sequence) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The batch for a list of ``(source, target)`` pairs (a DataLoader's ``collate_fn``)."""
        return self.batch(torch.stack([torch.as_tensor(pair, dtype=torch.int64)
                                       for pair in pairs]))

    def batch(self, pairs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(source, target_marker, target_protein)`` for a ``(B, 2)`` tensor of pairs."""
        pairs = torch.as_tensor(pairs, dtype=torch.int64)
        if pairs.ndim != 2 or pairs.shape[1] != 2:
            raise ValueError(f"pairs must be (B, 2) (source, target) positions, got shape "
                             f"{tuple(pairs.shape)}")
        if len(pairs) and (pairs.min() < 0 or pairs.max() >= len(self.crops)):
            raise IndexError(f"pair positions must lie in [0, {len(self.crops)}) for "
                             f"{len(self.crops)} crops; were the pairs sampled from image_ids "
                             "of another array?")
        channels = self._source_channels  # protein first, then the markers
        source = minmax_normalize(self.crops[pairs[:, 0]][:, channels], eps=self.eps)
        target = minmax_normalize(self.crops[pairs[:, 1]][:, channels], eps=self.eps)
        if self.flip:
            # Source then target, each: horizontal then vertical. One draw per cell, shared by
            # its channels; source and target draw separately.
            flips = torch.rand(4, len(pairs), generator=self.generator) < PAIR_FLIP_PROBABILITY
            source = _flip_where(_flip_where(source, flips[0], -1), flips[1], -2)
            target = _flip_where(_flip_where(target, flips[2], -1), flips[3], -2)
        return source, target[:, 1:], target[:, :1]

    def batches(self, sampler: PairSampler, batch_size: int,
                drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor,
                                                          torch.Tensor]]:
        """One epoch of batches from ``sampler``, without a DataLoader."""
        if sampler.n_cells != len(self.crops):
            raise ValueError(f"the sampler was built from {sampler.n_cells} image_ids but there "
                             f"are {len(self.crops)} crops; give one image id per crop")
        pairs = sampler.epoch_pairs()
        stop = len(pairs) - len(pairs) % batch_size if drop_last else len(pairs)
        for begin in range(0, stop, batch_size):
            yield self.batch(pairs[begin:begin + batch_size])

    def __repr__(self) -> str:
        return (f"PairDataset({len(self)} crops {tuple(self.crops.shape[1:])}, "
                f"protein={self.protein!r}, markers={self.markers}, flip={self.flip})")


def _flip_where(x: torch.Tensor, chosen: torch.Tensor, axis: int) -> torch.Tensor:
    """``x`` (B, C, S, S) with the chosen cells flipped along ``axis``, all channels together."""
    return torch.where(chosen.view(-1, 1, 1, 1), x.flip(axis), x)


def split_by_image(image_ids, fractions=(0.8, 0.1, 0.1), seed: int = 0, strata=None, *,
                   names=None, proteins=None,
                   holdout_proteins: Sequence | None = None) -> dict[str, np.ndarray]:
    """Positions of cells per part, never putting two cells of one image in different parts.

    Cells of one image share its illumination and neighbours, and the model saw their pairs, so
    evaluation must use other images. Splits whole images with
    :func:`cellnb.data.splits.grouped_split` (``fractions``, ``names``, ``seed``; ``strata``,
    e.g. the protein of each cell, keeps every stratum in every part where it has enough images).

    ``holdout_proteins`` (with ``proteins``, one protein label per cell, e.g. a metadata column)
    first moves every cell of those proteins to an extra part ``"holdout"``, for analyses on
    proteins the model never saw; the remaining cells are split as above. Returns a dict
    name -> sorted positions into ``image_ids``; the parts are disjoint and cover every cell.
    """
    ids = _labels(image_ids, "image_ids")
    n = len(ids)
    if strata is not None and len(_labels(strata, "strata")) != n:
        raise ValueError(f"strata has {len(_labels(strata, 'strata'))} labels for {n} cells; "
                         "give one stratum per cell")
    if holdout_proteins is None:
        return grouped_split(ids, strata=strata, fractions=fractions, names=names, seed=seed)
    if proteins is None:
        raise ValueError("holdout_proteins needs proteins=, one protein label per cell (e.g. "
                         "metadata['protein'])")
    protein_labels = _labels(proteins, "proteins")
    if len(protein_labels) != n:
        raise ValueError(f"proteins has {len(protein_labels)} labels for {n} image_ids; give "
                         "one protein per cell")
    if isinstance(holdout_proteins, (str, bytes)):
        holdout_proteins = [holdout_proteins]
    present = set(protein_labels.tolist())
    absent = [protein for protein in holdout_proteins if protein not in present]
    if absent:
        raise KeyError(f"holdout protein(s) {absent} occur in no cell; check the spelling "
                       f"against proteins (e.g. {sorted(map(str, present))[:5]})")
    held = pd.Series(protein_labels).isin(list(holdout_proteins)).to_numpy()
    mixed = np.intersect1d(ids[held], ids[~held])
    if len(mixed):
        raise ValueError(f"image(s) {mixed[:5].tolist()} hold cells of both held-out and other "
                         "proteins, so holding out the proteins would split an image; give each "
                         "image a single protein")
    rest = np.flatnonzero(~held)
    parts = grouped_split(ids[rest], strata=None if strata is None else
                          _labels(strata, "strata")[rest],
                          fractions=fractions, names=names, seed=seed)
    if "holdout" in parts:
        raise ValueError("'holdout' is reserved for the held-out proteins; name the parts "
                         "otherwise")
    return {**{name: rest[positions] for name, positions in parts.items()},
            "holdout": np.flatnonzero(held)}
