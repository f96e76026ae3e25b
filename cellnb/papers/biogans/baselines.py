"""The baselines of Table 2: K independent one-class generators, and the nearest-neighbour
composite that makes multi-channel training images out of two-channel ones.

Osokin, Chessel, Carazo Salas & Vaggi, "GANs for Biological Image Synthesis" (ICCV 2017),
Section 4.2 ("Multi-channel models") and Table 2.

* :class:`IndependentGenerators` - one 2-channel generator per protein, all fed the same z (the
  "one-class" columns of Table 2). Nothing ties their reds together: each class's generator
  draws its own red, so the K greens of one z belong to K different cells. As a module it returns
  (B, K + 1, H, W), red from the *first* generator then every generator's green, the layout of
  the star generator; for per-class evaluation use :meth:`IndependentGenerators.pairs`, which
  keeps each green with its own red.
* :func:`nearest_neighbour_composite` - Section 4.2's artificial multi-channel images: for each
  cell's red, every other class's green is borrowed from one of the ``k`` training cells of
  that class whose red is nearest (L2), picked at random, and every channel is cut to where the
  red shows the cell. :func:`multichannel_training_set` applies it to a labelled two-channel
  training set (the "multi-channel" columns of Table 2); fed generated reds, the same function
  gives a reference for how consistent borrowed greens are with a red they were not imaged with.

Read top to bottom: the independent generators, the nearest-neighbour search, the composite.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .model import BioGanConfig, build_generator

BACKGROUND = -1.0        # a masked pixel in [-1, 1]: 0 in the [0, 1] images of the data
NEIGHBOURS = 5           # k of the composite (the authors' nearest-neighbour cache keeps 5)


# ------------------------------------------------------------------ independent generators

class IndependentGenerators(nn.Module):
    """K one-class generators fed the same latent (Table 2, "one-class" columns).

    ``config`` describes one class's generator (``image_channels == 2``, ``generator_kind``
    "dcgan" or "separable"); ``config.n_classes`` of them are built, or ``generators`` are
    wrapped (e.g. K trained ones). Call it like one of them: ``net(**sample_latent(config, n))``.

    ``forward`` -> (B, K + 1, H, W): the red of generator 0, then green_1 ... green_K, one from
    each generator. Only green_1 belongs to that red: the reds of the K generators differ
    (:meth:`reds`), which is what "not synchronised" means. :meth:`pairs` gives each class's own
    (red, green) pairs, (K, B, 2, H, W), the layout per-class critics take.
    """

    def __init__(self, config: BioGanConfig, generators: Sequence[nn.Module] | None = None):
        super().__init__()
        if config.image_channels != 2 or config.generator_kind == "star":
            raise ValueError("each independent generator is a one-class (red, green) model: use "
                             "generator_kind 'dcgan' or 'separable' with image_channels 2, got "
                             f"{config.generator_kind!r} with {config.image_channels} channels")
        if generators is None:
            generators = [build_generator(config) for _ in range(config.n_classes)]
        if len(generators) != config.n_classes:
            raise ValueError(f"expected {config.n_classes} generators (config.n_classes), got "
                             f"{len(generators)}")
        self.config = config
        self.generators = nn.ModuleList(generators)

    def pairs(self, *latent, **named_latent) -> torch.Tensor:
        """Every generator's own (red, green) images for the same latent: (K, B, 2, H, W)."""
        return torch.stack([generator(*latent, **named_latent) for generator in self.generators])

    def reds(self, *latent, **named_latent) -> torch.Tensor:
        """The K reds drawn from one latent: (B, K, H, W); they differ from class to class."""
        return self.pairs(*latent, **named_latent)[:, :, 0].transpose(0, 1)

    def forward(self, *latent, **named_latent) -> torch.Tensor:
        pairs = self.pairs(*latent, **named_latent)                # (K, B, 2, H, W)
        greens = pairs[:, :, 1].transpose(0, 1)                     # (B, K, H, W)
        return torch.cat([pairs[0, :, :1], greens], 1)             # (B, K + 1, H, W)


# ----------------------------------------------------------------- nearest-neighbour search

def nearest_indices(queries: torch.Tensor, references: torch.Tensor, k: int = 1, *,
                    chunk: int = 512) -> torch.Tensor:
    """The ``k`` references nearest to each query in L2, nearest first: (N, k) indices.

    Both are batches of images (any shape after the first axis, flattened). Distances come from
    ||q||^2 + ||r||^2 - 2 q.r, ``chunk`` queries at a time, so memory stays at chunk x M.
    """
    if len(references) < k:
        raise ValueError(f"asked for {k} nearest neighbours among {len(references)} references")
    queries = queries.reshape(len(queries), -1).float()
    references = references.reshape(len(references), -1).float()
    reference_norms = (references * references).sum(1)
    found = []
    for start in range(0, len(queries), chunk):
        block = queries[start:start + chunk]
        distances = ((block * block).sum(1, keepdim=True) + reference_norms
                     - 2 * block @ references.T)                        # (chunk, M)
        found.append(torch.topk(distances, k, dim=1, largest=False).indices)
    return torch.cat(found) if found else torch.empty(0, k, dtype=torch.long)


# ------------------------------------------------------------------------------ the composite

def _planes(images, name: str) -> torch.Tensor:
    """A batch of single-channel images as (N, H, W): accepts (N, H, W) or (N, 1, H, W)."""
    images = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
    if images.dim() == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.dim() != 3:
        raise ValueError(f"expected {name} as (N, H, W) or (N, 1, H, W), got "
                         f"{tuple(images.shape)}")
    return images.float()


def nearest_neighbour_composite(red_images, greens_by_class_train: Sequence,
                                reds_by_class_train: Sequence, k: int = NEIGHBOURS,
                                seed: int = 0, *, own_greens=None, own_classes=None,
                                background: float = BACKGROUND) -> torch.Tensor:
    """Multi-green images built around given reds (Section 4.2, "Multi-channel models").

    For every red in ``red_images`` (N, H, W) and every class c, the green is that of a training
    cell of class c among the ``k`` whose red is nearest in L2 (``reds_by_class_train[c]``, the
    greens in ``greens_by_class_train[c]``, same order), one of the k picked at random with
    ``seed``. Where ``own_classes[i] == c`` the cell keeps its own green ``own_greens[i]``
    instead. Every channel is then set to ``background`` wherever the red is not above it:
    the borrowed greens are cut to this cell's outline.

    Returns (N, K + 1, H, W) in [-1, 1]: red, then green_1 ... green_K.
    """
    reds = _planes(red_images, "red_images")
    if len(greens_by_class_train) != len(reds_by_class_train):
        raise ValueError(f"got greens for {len(greens_by_class_train)} classes but reds for "
                         f"{len(reds_by_class_train)}; give both per class, in the same order")
    n_classes = len(greens_by_class_train)
    # One uniform draw per (cell, class), whatever the class sizes: the picks are a function of
    # the seed and the cell's position only.
    uniform = torch.rand(len(reds), n_classes, generator=torch.Generator().manual_seed(seed))
    greens = []
    for c in range(n_classes):
        train_reds = _planes(reds_by_class_train[c], f"reds_by_class_train[{c}]")
        train_greens = _planes(greens_by_class_train[c], f"greens_by_class_train[{c}]")
        if len(train_reds) != len(train_greens):
            raise ValueError(f"class {c}: {len(train_reds)} reds but {len(train_greens)} greens")
        k_c = min(k, len(train_reds))
        candidates = nearest_indices(reds, train_reds, k_c)              # (N, k_c)
        pick = (uniform[:, c] * k_c).long().clamp(max=k_c - 1)
        greens.append(train_greens[candidates[torch.arange(len(reds)), pick]])
    greens = torch.stack(greens, 1) if greens else reds.new_empty(len(reds), 0, *reds.shape[1:])
    if own_greens is not None or own_classes is not None:
        greens = _keep_own_greens(greens, own_greens, own_classes)
    images = torch.cat([reds[:, None], greens], 1)                        # (N, K + 1, H, W)
    inside = (reds > background)[:, None]
    return torch.where(inside, images, torch.full_like(images, background))


def _keep_own_greens(greens: torch.Tensor, own_greens, own_classes) -> torch.Tensor:
    if own_greens is None or own_classes is None:
        raise ValueError("own_greens and own_classes go together: the green each cell was "
                         "imaged with and the class it belongs to")
    own_greens = _planes(own_greens, "own_greens")
    own_classes = torch.as_tensor(np.asarray(own_classes), dtype=torch.long)
    if len(own_greens) != len(greens) or len(own_classes) != len(greens):
        raise ValueError(f"expected one own green and class per red ({len(greens)}), got "
                         f"{len(own_greens)} and {len(own_classes)}")
    greens = greens.clone()
    rows = torch.arange(len(greens))
    greens[rows, own_classes] = own_greens
    return greens


def multichannel_training_set(images, class_ids, n_classes: int | None = None,
                              k: int = NEIGHBOURS, seed: int = 0, *,
                              background: float = BACKGROUND) -> torch.Tensor:
    """The multi-channel baseline's training images (Section 4.2; Table 2) from labelled
    two-channel cells ``images`` (N, 2, H, W) of classes ``class_ids`` (N,) in 0..K-1.

    Each cell keeps its red and its own green; the other K - 1 greens come from the nearest
    training cells of those classes (:func:`nearest_neighbour_composite`). (N, K + 1, H, W).
    """
    images = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
    class_ids = torch.as_tensor(np.asarray(class_ids), dtype=torch.long)
    if images.dim() != 4 or images.shape[1] != 2 or len(class_ids) != len(images):
        raise ValueError(f"expected (red, green) images (N, 2, H, W) and N class ids, got "
                         f"{tuple(images.shape)} and {tuple(class_ids.shape)}")
    n_classes = int(class_ids.max()) + 1 if n_classes is None else n_classes
    members = [class_ids == c for c in range(n_classes)]
    empty = [c for c, rows in enumerate(members) if not rows.any()]
    if empty:
        raise ValueError(f"classes {empty} have no training cells to borrow greens from")
    return nearest_neighbour_composite(
        images[:, 0], [images[rows, 1] for rows in members], [images[rows, 0] for rows in members],
        k, seed, own_greens=images[:, 1], own_classes=class_ids, background=background)
