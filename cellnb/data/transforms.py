"""Augmentations and normalisations for crops of cells, for numpy arrays and torch tensors alike.

A cell in a micrograph has no preferred orientation, so the eight rotations and reflections of
the square (the dihedral group D4) are free, exact augmentations: no interpolation, no blur.
Intensities differ between fields and microscopes far more than between the cells the models
should tell apart, so crops are min-max normalised one by one, channel by channel.
"""
from __future__ import annotations

import sys

import numpy as np

N_DIHEDRAL = 8


def dihedral(x, element: int):
    """Apply element ``element`` (0..7) of D4 to the last two axes of ``x``.

    Element ``e`` flips the last axis if ``e >= 4`` and then rotates by ``e % 4`` quarter turns,
    so 0 is the identity. Works on numpy arrays (returns a contiguous copy) and torch tensors.
    """
    element = int(element)
    if not 0 <= element < N_DIHEDRAL:
        raise ValueError(f"a dihedral element is an int in 0..7, got {element}")
    if x.ndim < 2:
        raise ValueError(f"dihedral needs at least 2 axes (..., H, W), got shape {tuple(x.shape)}")
    quarter_turns, flip = element % 4, element >= 4
    if isinstance(x, np.ndarray):
        y = np.flip(x, axis=-1) if flip else x
        return np.ascontiguousarray(np.rot90(y, quarter_turns, axes=(-2, -1)))
    import torch  # only reached for tensors, so torch is already imported

    y = torch.flip(x, dims=(-1,)) if flip else x
    return torch.rot90(y, quarter_turns, dims=(-2, -1)) if quarter_turns else y.clone()


class Dihedral:
    """Random D4 augmentation with its own generator: ``Dihedral(seed=0)(image)``.

    A class rather than a closure so it pickles into DataLoader workers. Each worker would
    otherwise receive an identical copy of the generator and repeat the same "random" sequence,
    so inside a worker the generator is re-seeded from ``seed`` and the worker's torch seed, which
    differs between workers and epochs and is reproducible under ``torch.manual_seed``.
    """

    def __init__(self, seed=None):
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._worker_seed = None

    def __call__(self, x):
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(f"Dihedral needs square images, got {tuple(x.shape[-2:])} in the last "
                             "two axes; crop or pad to a square first (a quarter turn would "
                             "change the shape)")
        return dihedral(x, self._generator().integers(N_DIHEDRAL))

    def _generator(self) -> np.random.Generator:
        torch = sys.modules.get("torch")  # no torch imported means no DataLoader worker
        info = torch.utils.data.get_worker_info() if torch is not None else None
        if info is not None and info.seed != self._worker_seed:
            entropy = [] if self.seed is None else [int(self.seed)]
            self._rng = np.random.default_rng([*entropy, info.seed])
            self._worker_seed = info.seed
        return self._rng

    def __repr__(self) -> str:
        return f"Dihedral(seed={self.seed!r})"


def minmax_normalize(x, axis=(-2, -1), eps: float = 1e-8):
    """Rescale ``x`` to [0, 1] over ``axis`` (default: each 2-D plane, i.e. per image and channel).

    A constant crop has range 0; dividing by ``max(range, eps)`` maps it to zeros instead of NaN.
    Integer input becomes float32; float input keeps its dtype. Works on numpy and torch.
    """
    axis = (axis,) if isinstance(axis, int) else tuple(axis)
    if isinstance(x, np.ndarray):
        x = x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float32)
        low = x.min(axis=axis, keepdims=True)
        span = x.max(axis=axis, keepdims=True) - low
        return (x - low) / np.maximum(span, x.dtype.type(eps))
    import torch

    x = x if x.is_floating_point() else x.to(torch.float32)
    low = torch.amin(x, dim=axis, keepdim=True)
    span = torch.amax(x, dim=axis, keepdim=True) - low
    return (x - low) / torch.clamp(span, min=eps)


def random_dihedral_batch(batch, generator=None):
    """Each image of a torch batch (B, ..., H, W) under its own random element of D4.

    Draws from ``generator`` (a ``torch.Generator``) so a training run that checkpoints the
    generator's state resumes with the same augmentations. Eight masked copies, not a Python
    loop over images: the whole batch costs eight small tensor operations.
    """
    import torch

    elements = torch.randint(N_DIHEDRAL, (batch.shape[0],), generator=generator)
    out = batch.clone()
    for element in range(1, N_DIHEDRAL):
        chosen = (elements == element).nonzero().flatten().to(batch.device)
        if chosen.numel():
            out[chosen] = dihedral(batch[chosen], element)
    return out
