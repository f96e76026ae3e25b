"""Small drawing primitives the pattern renderers share: noise fields, point splatting, curves.

Everything works on whole arrays (no per-pixel Python), because the simulator must produce
hundreds of crops per second on one core.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def smooth_noise(shape, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Periodic Gaussian random field with correlation length ``scale`` pixels, zero mean, unit std.

    Fields with features of 2 pixels or more are drawn on a coarser grid and interpolated up
    (periodically, so the result still tiles seamlessly): the same statistics at a fraction of
    the cost of filtering every pixel.
    """
    step = max(1, int(scale // 2))
    coarse_shape = tuple(-(-n // step) for n in shape)
    white = rng.standard_normal(coarse_shape, dtype=np.float32)
    zoom = tuple(n / c for n, c in zip(shape, coarse_shape))
    field = ndimage.gaussian_filter(white, [scale / z for z in zoom], mode="wrap")
    if step > 1:
        field = ndimage.zoom(field, zoom, order=1, mode="grid-wrap", grid_mode=True)
    return (field - field.mean()) / (field.std() + 1e-8)


def bandpass_noise(shape, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Periodic noise with features of about ``scale`` pixels (difference of Gaussians), unit std.

    Its zero crossings form a connected, reticular network, which is what the ER pattern uses.
    """
    white = rng.standard_normal(shape, dtype=np.float32)
    field = (ndimage.gaussian_filter(white, scale * 0.5, mode="wrap")
             - ndimage.gaussian_filter(white, scale, mode="wrap"))
    return (field - field.mean()) / (field.std() + 1e-8)


def splat(points: np.ndarray, shape, weights=None) -> np.ndarray:
    """Deposit point masses at sub-pixel ``points`` (n, 2: y, x) by bilinear weighting.

    Points outside the array are dropped. Blurring the result with a Gaussian gives spots of
    that size, which is how puncta, dots and fibres are drawn. One ``bincount`` over the four
    corner pixels of every point does the deposit (far faster than ``np.add.at``).
    """
    if len(points) == 0:
        return np.zeros(shape, np.float32)
    weights = np.ones(len(points), np.float32) if weights is None else np.asarray(weights, np.float32)
    y0, x0 = np.floor(points[:, 0]).astype(np.intp), np.floor(points[:, 1]).astype(np.intp)
    fy, fx = points[:, 0] - y0, points[:, 1] - x0
    rows = np.concatenate([y0, y0, y0 + 1, y0 + 1])
    cols = np.concatenate([x0, x0 + 1, x0, x0 + 1])
    mass = np.concatenate([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx]) * np.tile(weights, 4)
    inside = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
    flat = rows[inside] * shape[1] + cols[inside]
    image = np.bincount(flat, mass[inside], minlength=shape[0] * shape[1])
    return image.reshape(shape).astype(np.float32)


def sample_points_in(mask: np.ndarray, n: int, rng: np.random.Generator,
                     weight: np.ndarray | None = None) -> np.ndarray:
    """``n`` sub-pixel points inside ``mask``, drawn with probability proportional to ``weight``."""
    candidates = np.flatnonzero(mask)
    if n <= 0 or candidates.size == 0:
        return np.zeros((0, 2), np.float32)
    if weight is None:
        chosen = candidates[rng.integers(candidates.size, size=n)]
    else:
        cumulative = np.cumsum(weight.ravel()[candidates], dtype=np.float64)
        if cumulative[-1] <= 0:
            chosen = candidates[rng.integers(candidates.size, size=n)]
        else:
            picks = np.searchsorted(cumulative, rng.random(n) * cumulative[-1], side="right")
            chosen = candidates[np.minimum(picks, candidates.size - 1)]
    y, x = np.divmod(chosen, mask.shape[1])
    return np.stack([y, x], 1).astype(np.float32) + rng.uniform(0, 1, (n, 2)).astype(np.float32)


def random_curves(starts: np.ndarray, lengths: np.ndarray, rng: np.random.Generator, *,
                  persistence: float = 0.3, directions: np.ndarray | None = None,
                  step: float = 0.5) -> np.ndarray:
    """Points along persistent random walks (tubules, fibres), all walks advanced together.

    ``persistence`` is the std (radians) of the turning angle per step: small values give
    straight fibres, large values tortuous tubules.
    """
    n = len(starts)
    if n == 0:
        return np.zeros((0, 2), np.float32)
    steps = int(np.ceil(lengths.max() / step))
    heading = rng.uniform(0, 2 * np.pi, n) if directions is None else np.asarray(directions, float)
    turns = rng.normal(0, persistence, (steps, n)).cumsum(0) + heading
    increments = step * np.stack([np.sin(turns), np.cos(turns)], -1)       # (steps, n, 2)
    paths = starts[None] + np.cumsum(increments, 0)                           # (steps, n, 2)
    keep = (np.arange(1, steps + 1)[:, None] * step) <= lengths[None]        # (steps, n)
    return paths[keep].astype(np.float32)
