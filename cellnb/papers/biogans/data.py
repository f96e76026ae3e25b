"""The BioGANs chapter's data: two-channel cells as tensors, protein labels, a train/test split,
and the real batches a GAN trains on.

Osokin, Chessel, Carazo Salas & Vaggi, "GANs for Biological Image Synthesis" (ICCV 2017). The
paper trains on 48x80 cells of the LIN dataset (Section 3.3): red (Bgs4) first, then one green
protein, scaled to [-1, 1] for the generators' tanh output (Section 4.1). Two sources:

* ``"synthetic"``: SynthPombe cells (:mod:`cellnb.sim.pombe`), simulated once and then read from
  the data cache. The split is the salted hash of each cell's index, so a cell's side depends on
  its id only. :data:`TEST_FRACTION` = 20 % is held out: the paper does not give the LIN ratio,
  and the test set must feed both evaluations of Section 5: the two-sample test halves it again
  (a fresh critic trains on one half and is scored on the other, each half at least a batch),
  and the reconstructions of Section 5.2. At the cpu profile's 500 cells per class, 20 % leaves
  about 100 test cells per class, 50 per half: more than one batch of 32.
* ``"lin"``: the authors' release read by :func:`cellnb.data.lin_readers.read_lin_pngs`; its
  ``_train`` and ``_test`` folders are the split.

Batches. One training iteration (one generator update) needs ``n_critic`` real batches, one per
critic update. :class:`IterationBatches` is the loader the Trainer iterates: each item holds one
iteration's real batches, so a checkpoint never falls inside an iteration. Models of one class or
of pooled classes draw B random cells (:func:`pooled_batches`); the star-shaped model's K critics
each need B cells of their own class, so class-conditional batches hold B cells of every class,
shape (K, B, 2, H, W) (:func:`class_balanced_batches`). Cells are drawn without replacement,
one shuffled pass over a class after another.

Random flips: every drawn cell is flipped horizontally and vertically with probability 1/2 each
(:func:`random_flips`), from the run's own seeded generator. The authors' code flips test cells
as well, wherever it reads them; ``flips=`` says whether a batch of test cells is flipped.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch

from ...data.ic_readers import salted_hash_split
from ...data.imageset import ImageSet

DATASETS = ("synthetic", "lin")
TEST_FRACTION = 0.2        # of the synthetic cells (see the module docstring)
SPLIT_SALT = "biogans"     # the synthetic split's salt: another salt draws another split
FLIP_PROBABILITY = 0.5     # per axis, as the authors' code flips


@dataclass
class BioGanData:
    """Cells as model inputs: images (N, C, H, W) float32 in [-1, 1], red first (C = 2: red,
    green); labels (N,) int64 indexing ``class_names`` (the green protein); one metadata row per
    cell; and the positions of the ``train`` and ``test`` parts."""

    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    metadata: pd.DataFrame
    parts: dict[str, np.ndarray]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.images.shape[2:])

    @property
    def n_channels(self) -> int:
        return self.images.shape[1]

    def __len__(self) -> int:
        return len(self.images)

    def part(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, labels) of part ``name``, in the part's order."""
        positions = torch.from_numpy(self._positions(name))
        return self.images[positions], self.labels[positions]

    def part_metadata(self, name: str) -> pd.DataFrame:
        return self.metadata.iloc[self._positions(name)].reset_index(drop=True)

    def class_positions(self, part: str = "train") -> list[np.ndarray]:
        """For each class in ``class_names`` order, the positions of its cells in ``part``."""
        positions = self._positions(part)
        labels = self.labels.numpy()[positions]
        return [positions[labels == k] for k in range(self.n_classes)]

    def class_counts(self) -> pd.DataFrame:
        """Cells per class (rows) and part (columns)."""
        counts = {name: np.bincount(self.labels.numpy()[positions], minlength=self.n_classes)
                  for name, positions in self.parts.items()}
        return pd.DataFrame(counts, index=pd.Index(self.class_names, name="protein"))

    def select_classes(self, names: Sequence[str]) -> BioGanData:
        """The cells of ``names`` only, relabelled 0..len(names) - 1 in that order: the data of
        a one-class model (Table 2's one-class columns) or of a subset of proteins."""
        names = [names] if isinstance(names, str) else list(names)
        unknown = [name for name in names if name not in self.class_names]
        if unknown or not names or len(set(names)) != len(names):
            raise ValueError(f"select distinct classes among {self.class_names}, got {names}")
        old_labels = [self.class_names.index(name) for name in names]
        keep = np.flatnonzero(np.isin(self.labels.numpy(), old_labels))
        relabel = np.full(self.n_classes, -1)
        relabel[old_labels] = np.arange(len(names))
        new_position = np.full(len(self), -1)
        new_position[keep] = np.arange(len(keep))
        parts = {name: new_position[positions[np.isin(positions, keep)]]
                 for name, positions in self.parts.items()}
        index = torch.from_numpy(keep)
        return BioGanData(self.images[index], torch.from_numpy(relabel[self.labels.numpy()[keep]]),
                          names, self.metadata.iloc[keep].reset_index(drop=True), parts)

    def fingerprint(self) -> str:
        """A hash of the images, labels, class names and split: what a checkpoint must match."""
        digest = hashlib.sha256()
        for array in (self.images.numpy(), self.labels.numpy(),
                      *(self.parts[name] for name in sorted(self.parts))):
            digest.update(np.ascontiguousarray(array).data)
        digest.update(repr((list(self.class_names), sorted(self.parts))).encode())
        return digest.hexdigest()[:16]

    def _positions(self, part: str) -> np.ndarray:
        if part not in self.parts:
            raise KeyError(f"no part {part!r}; the data have {sorted(self.parts)}")
        return self.parts[part]


# ------------------------------------------------------------------------------ loading

def load_cells(dataset: str = "synthetic", *, sim_config=None, data_dir=None,
               classes: Sequence[str] | None = None, cache: bool = True, workers: int = 1,
               test_fraction: float = TEST_FRACTION, salt: str = SPLIT_SALT) -> BioGanData:
    """The chapter's cells, labelled and split.

    ``"synthetic"``: the SynthPombe cells of ``sim_config`` (a :class:`cellnb.sim.PombeConfig`;
    default the simulator's), ``classes`` replacing its protein classes when given; simulated
    with ``workers`` processes and cached unless ``cache=False``; ``test_fraction`` of them held
    out by the salted hash of the cell index. ``"lin"``: the LIN release under ``data_dir``
    (the folder holding its ``_train`` and ``_test`` folders), ``classes`` the proteins to read
    (default all; the paper's six are ``cellnb.data.lin_readers.PAPER_PROTEINS``); its folders
    are the split.
    """
    if dataset == "synthetic":
        return _synthetic(sim_config, classes, cache=cache, workers=workers,
                          test_fraction=test_fraction, salt=salt)
    if dataset == "lin":
        if data_dir is None:
            raise ValueError("dataset='lin' reads the authors' PNG folders: pass data_dir (see "
                             "cellnb.data.registry.describe('lin_fission_yeast'))")
        from ...data.lin_readers import read_lin_pngs

        return lin_data(read_lin_pngs(data_dir, proteins=classes))
    raise ValueError(f"unknown dataset {dataset!r}; choose from {DATASETS}")


def _synthetic(sim_config, classes, *, cache: bool, workers: int, test_fraction: float,
               salt: str) -> BioGanData:
    from ...sim.pombe import PombeConfig, generate_pombe_cells

    sim_config = sim_config or PombeConfig()
    if classes is not None:
        sim_config = replace(sim_config, classes=tuple(classes))
    sim_config.validate()

    def build():
        return generate_pombe_cells(sim_config, workers=workers, progress=cache)

    if cache:
        from ...data.cache import cached_imageset
        from ...data.store import read_imageset

        cells = read_imageset(cached_imageset("pombe-cells", sim_config.cache_config(), build))
    else:
        cells = build()
    return synthetic_data(cells, list(sim_config.classes), test_fraction=test_fraction, salt=salt)


def synthetic_data(cells: ImageSet, class_names: Sequence[str], *,
                   test_fraction: float = TEST_FRACTION, salt: str = SPLIT_SALT) -> BioGanData:
    """SynthPombe cells (metadata ``cell`` and ``class_id``) as tensors with the hashed split."""
    metadata = cells.metadata.reset_index(drop=True)
    split = salted_hash_split(metadata["cell"].astype(str).to_numpy(), hold_out=test_fraction,
                              salt=salt)
    return BioGanData(_tensor(cells.images), _labels(metadata["class_id"]), list(class_names),
                      metadata, {"train": split.train, "test": split.test})


def lin_data(cells: ImageSet) -> BioGanData:
    """LIN cells from the reader (metadata ``class_index`` and ``split``) as tensors; the
    release's folders are the split."""
    metadata = cells.metadata.reset_index(drop=True)
    split = metadata["split"].to_numpy()
    parts = {name: np.flatnonzero(split == name) for name in ("train", "test")}
    return BioGanData(_tensor(cells.images), _labels(metadata["class_index"]),
                      [str(name) for name in cells.attrs["class_names"]], metadata, parts)


def _tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.require(images, np.float32, ["C", "W"]))


def _labels(column: pd.Series) -> torch.Tensor:
    """A copy: the array pandas gives may be read-only, which torch cannot share."""
    return torch.tensor(column.to_numpy(np.int64), dtype=torch.int64)


# ------------------------------------------------------------------------------ batches

def random_flips(images: torch.Tensor, generator: torch.Generator, *,
                 probability: float = FLIP_PROBABILITY) -> torch.Tensor:
    """Each image of ``images`` (..., C, H, W) flipped left-right with ``probability`` and,
    independently, upside down with ``probability``; the flags come from ``generator`` (two
    draws per image, horizontal first). A flipped copy; ``images`` is left as it is."""
    leading = images.shape[:-3]
    flags = torch.rand((2, *leading), generator=generator, device=generator.device)
    horizontal, vertical = (flags < probability).to(images.device)[..., None, None, None]
    flipped = torch.where(horizontal, images.flip(-1), images)
    return torch.where(vertical, flipped.flip(-2), flipped)


def _shuffled_passes(positions: torch.Tensor, batch_size: int,
                     generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless batches of ``batch_size`` positions: a shuffled pass over ``positions`` cut into
    full batches (the remainder dropped), then another pass."""
    if len(positions) < batch_size:
        raise ValueError(f"{len(positions)} cells cannot fill one batch of {batch_size}; use a "
                         "smaller batch_size or more cells")
    full = len(positions) // batch_size * batch_size
    while True:
        order = positions[torch.randperm(len(positions), generator=generator)]
        yield from order[:full].split(batch_size)


def pooled_positions(data: BioGanData, part: str, batch_size: int,
                     generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless (B,) position batches drawn from all of ``part``'s cells, whatever the class."""
    return _shuffled_passes(torch.from_numpy(data._positions(part)), batch_size, generator)


def class_balanced_positions(data: BioGanData, part: str, batch_size: int,
                             generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless (K, B) position batches: row k holds B cells of class k, each class passing
    through its own cells in its own shuffled order."""
    streams = [_shuffled_passes(torch.from_numpy(positions), batch_size, generator)
               for positions in data.class_positions(part)]
    for rows in zip(*streams):
        yield torch.stack(rows)


def _images_of(data: BioGanData, positions: Iterator[torch.Tensor], generator: torch.Generator,
               flips: bool, images: torch.Tensor | None) -> Iterator[torch.Tensor]:
    images = data.images if images is None else images
    for batch in positions:
        chosen = images[batch.to(images.device)]
        yield random_flips(chosen, generator) if flips else chosen


def pooled_batches(data: BioGanData, part: str = "train", *, batch_size: int,
                   generator: torch.Generator, flips: bool = True,
                   images: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
    """Endless real batches (B, C, H, W) of random cells of ``part``, randomly flipped.

    ``images`` replaces ``data.images`` (the same cells, already on the training device)."""
    return _images_of(data, pooled_positions(data, part, batch_size, generator), generator,
                      flips, images)


def class_balanced_batches(data: BioGanData, part: str = "train", *, batch_size: int,
                           generator: torch.Generator, flips: bool = True,
                           images: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
    """Endless real batches (K, B, C, H, W): B random cells of each of the K classes, the
    layout the star model's K critics judge (:class:`.model.MultiCritic`)."""
    return _images_of(data, class_balanced_positions(data, part, batch_size, generator),
                      generator, flips, images)


class IterationBatches:
    """The Trainer's loader: ``iterations`` items per pass (one "epoch"), each the real batches
    of one generator iteration, stacked: (n_critic, B, C, H, W) pooled or (n_critic, K, B, C,
    H, W) class-balanced.

    Every pass starts new shuffled passes over the cells from ``generator``, so the Trainer,
    which saves the generator's state when an epoch starts, replays a resumed epoch exactly.
    """

    def __init__(self, data: BioGanData, *, iterations: int, n_critic: int, batch_size: int,
                 class_balanced: bool, generator: torch.Generator, flips: bool = True,
                 part: str = "train", images: torch.Tensor | None = None):
        if iterations < 1 or n_critic < 1:
            raise ValueError(f"iterations and n_critic must be >= 1, got {iterations} and "
                             f"{n_critic}")
        self.data, self.part, self.images = data, part, images
        self.iterations, self.n_critic, self.batch_size = iterations, n_critic, batch_size
        self.class_balanced, self.generator, self.flips = class_balanced, generator, flips
        counts = [len(p) for p in data.class_positions(part)] if class_balanced \
            else [len(data._positions(part))]
        if min(counts) < batch_size:
            raise ValueError(f"the {part} part has {min(counts)} cells "
                             f"{'in its smallest class ' if class_balanced else ''}but a batch "
                             f"needs {batch_size}; use a smaller batch_size or more cells")

    def __len__(self) -> int:
        return self.iterations

    def __iter__(self) -> Iterator[torch.Tensor]:
        draw = class_balanced_batches if self.class_balanced else pooled_batches
        batches = draw(self.data, self.part, batch_size=self.batch_size,
                       generator=self.generator, flips=self.flips, images=self.images)
        for _ in range(self.iterations):
            yield torch.stack([next(batches) for _ in range(self.n_critic)])
