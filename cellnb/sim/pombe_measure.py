"""Ground-truth measurements of fission-yeast cells read from the pixels of any 2-channel image.

Why: SynthPombe knows each cell's phase, so a generator trained on it can be checked against
that truth, but a generated cell has no metadata; everything must be read back from its
pixels, the same way for real, simulated and generated images. The paper's Sec. 3.2 says what
to read: Bgs4 (red) marks where the cell grows, so the red gives the stage, and the length is a
proxy for the cell's age. The readings (all vectorised over a batch (N, 2, H, W) in [-1, 1]):

* each channel is taken relative to its own range (a low percentile as its background, the
  maximum of a 3 x 3 mean as its peak), because a generated image may not reach -1 outside
  the cell;
* the cell's extent: the columns where the red's column maximum exceeds half the cell's typical
  red level (the median of its clearly lit pixels), with sub-pixel ends; the length is the
  extent in micrometres;
* the stage from the red: ``dividing`` if the central sixth of the extent holds a large share
  of the red (the septum band), otherwise ``monopolar`` if the red above that typical level is
  concentrated at one end (tip asymmetry), otherwise ``bipolar``;
* the green's share in the central sixth and in the two outer sixths (the tips), and which end
  is brighter, for the class rules of :data:`CLASS_RULES`.

All readings are symmetric under horizontal and vertical flips (the brighter end is reported as
a side, not used as an orientation).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import ndimage

from .pombe import POMBE_STAGES, pixel_size_um

BACKGROUND_PERCENTILE = 5      # the cell covers well under 95 % of the canvas
LIT = 0.1                      # pixels above this share of the peak count as the cell's
EDGE = 0.5                     # the outline: half the cell's typical red level
DIVIDING_CENTRAL_FRACTION = 0.3
MONOPOLAR_TIP_ASYMMETRY = 0.5


def _relative(channel: np.ndarray) -> np.ndarray:
    """A batch (N, H, W) in [-1, 1] to its own range: 0 at its background and 1 at its peak
    (the maximum of a 3 x 3 mean, robust to single noisy pixels).

    The background is the median of the dim pixels (below ``LIT`` of the range above a low
    percentile): the level of an unmasked, noisy background, where there is one, so that its
    noise does not add mass to the cell's columns.
    """
    smooth = ndimage.uniform_filter(channel, size=(1, 3, 3), mode="nearest")
    low = np.percentile(channel, BACKGROUND_PERCENTILE, axis=(1, 2))[:, None, None]
    high = smooth.max(axis=(1, 2))[:, None, None]
    relative = (channel - low) / np.maximum(high - low, 1e-6)
    background = np.nan_to_num(_median_where(relative, relative < LIT))[:, None, None]
    return np.clip((relative - background) / (1 - background), 0, None)


def _median_where(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Each image's median over its pixels where ``keep`` holds (NaN where none does): one
    sort for the batch, NaNs sorting last."""
    flat = np.where(keep, values, np.nan).reshape(len(values), -1)
    flat = np.sort(flat, axis=1)
    count = keep.reshape(len(keep), -1).sum(axis=1)
    rows = np.arange(len(flat))
    lower = flat[rows, np.maximum(count - 1, 0) // 2]
    upper = flat[rows, np.maximum(count, 1) // 2 - (count == 0)]
    return np.where(count > 0, (lower + upper) / 2, np.nan)


def _typical_level(relative: np.ndarray) -> np.ndarray:
    """The median over each image's lit pixels: the cytoplasm's level, most of the cell."""
    return _median_where(relative, relative > LIT)


def _crossing(profile: np.ndarray, threshold: np.ndarray, first: np.ndarray,
              step: int) -> np.ndarray:
    """Sub-pixel position where ``profile`` crosses ``threshold`` between column ``first``
    (above) and its neighbour ``first - step`` (below; the canvas edge if outside)."""
    rows = np.arange(len(profile))
    width = profile.shape[1]
    inner = profile[rows, first]
    neighbour = first - step
    outside = (neighbour < 0) | (neighbour >= width)
    outer = np.where(outside, 0.0, profile[rows, np.clip(neighbour, 0, width - 1)])
    fraction = (inner - threshold) / np.maximum(inner - outer, 1e-6)
    return first - step * np.clip(fraction, 0, 1)


def cell_extent(red: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cell's left and right ends (sub-pixel column positions) from a relative red batch
    (N, H, W), and its typical red level. NaN where no column is lit."""
    level = _typical_level(red)
    smooth = ndimage.uniform_filter(red, size=(1, 3, 1), mode="nearest")
    profile = smooth.max(axis=1)                                    # (N, W)
    threshold = EDGE * level
    above = profile > threshold[:, None]
    found = above.any(axis=1) & np.isfinite(level)
    first = np.argmax(above, axis=1)
    last = profile.shape[1] - 1 - np.argmax(above[:, ::-1], axis=1)
    # An outline pixel is lit in proportion to its coverage: the crossing is the outline.
    left = _crossing(profile, threshold, first, 1)
    right = _crossing(profile, threshold, last, -1)
    nan = np.where(found, 0.0, np.nan)
    return left + nan, right + nan, level


def _zone_weights(left, right, low, high, width: int) -> np.ndarray:
    """Each column's share (0-1) inside [left + low * extent, left + high * extent], with
    partial pixels at the zone's edges: (N, W)."""
    extent = right - left
    start, stop = left + low * extent, left + high * extent
    x = np.arange(width, dtype=np.float64)[None]
    return np.clip(np.minimum(x + 0.5, stop[:, None]) - np.maximum(x - 0.5, start[:, None]),
                   0, 1)


def _zone_masses(columns: np.ndarray, left, right) -> dict[str, np.ndarray]:
    """The column masses (N, W) summed over the cell, its central sixth and its outer sixths."""
    width = columns.shape[1]
    zones = dict(cell=(0, 1), centre=(5 / 12, 7 / 12), left=(0, 1 / 6), right=(5 / 6, 1))
    safe_left, safe_right = np.nan_to_num(left), np.nan_to_num(right, nan=1.0)
    return {name: (columns * _zone_weights(safe_left, safe_right, lo, hi, width)).sum(axis=1)
            for name, (lo, hi) in zones.items()}


def _share(part, whole, found) -> np.ndarray:
    """``part / whole``: 0 for an empty whole, NaN where no cell was found."""
    share = part / np.maximum(whole, 1e-9)
    return np.where(found, share, np.nan)


def _side(left_mass, right_mass, found) -> np.ndarray:
    side = np.where(right_mass >= left_mass, "right", "left")
    return np.where(found, side, "none")


def measure_pombe(images: np.ndarray, *, pixel_size: float | None = None) -> pd.DataFrame:
    """Readings of a batch (N, 2, H, W) of (red, green) images in [-1, 1], one row per image.

    Columns: ``length_um`` and ``length_px`` (the red's extent), ``left_px``/``right_px`` (its
    ends), ``red_central_fraction``, ``red_tip_asymmetry`` (0: equal ends, 1: one end only,
    counting the red above the cell's typical level), ``red_brighter_end``, ``stage`` (one of
    ``POMBE_STAGES``, "unknown" for an image with no cell), ``green_central_fraction``,
    ``green_tip_fraction`` (both outer sixths), ``green_tip_asymmetry`` and
    ``green_brighter_end``. ``pixel_size`` is in micrometres (default: SynthPombe's for the
    image size, :func:`cellnb.sim.pombe.pixel_size_um`).
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[1] != 2:
        raise ValueError(f"expected a batch (N, 2, H, W) of (red, green) images, got shape "
                         f"{images.shape}; add a batch axis to a single image with x[None]")
    pixel_size = pixel_size or pixel_size_um(images.shape[-2:])
    red, green = _relative(images[:, 0]), _relative(images[:, 1])
    left, right, level = cell_extent(red)
    found = np.isfinite(left)
    red_mass = _zone_masses(red.sum(axis=1), left, right)
    # The red above the cell's typical level: the growth zones, without the cytoplasm.
    excess = np.clip(red - np.nan_to_num(level)[:, None, None], 0, None).sum(axis=1)
    red_tips = _zone_masses(excess, left, right)
    green_mass = _zone_masses(green.sum(axis=1), left, right)
    green_tips = green_mass["left"] + green_mass["right"]
    red_central = _share(red_mass["centre"], red_mass["cell"], found)
    red_asymmetry = _share(np.abs(red_tips["left"] - red_tips["right"]),
                           red_tips["left"] + red_tips["right"], found)
    return pd.DataFrame(dict(
        length_um=(right - left) * pixel_size, length_px=right - left, left_px=left,
        right_px=right, red_central_fraction=red_central, red_tip_asymmetry=red_asymmetry,
        red_brighter_end=_side(red_tips["left"], red_tips["right"], found),
        stage=read_stage(red_central, red_asymmetry),
        green_central_fraction=_share(green_mass["centre"], green_mass["cell"], found),
        green_tip_fraction=_share(green_tips, green_mass["cell"], found),
        green_tip_asymmetry=_share(np.abs(green_mass["left"] - green_mass["right"]),
                                   green_tips, found),
        green_brighter_end=_side(green_mass["left"], green_mass["right"], found)))


def read_stage(red_central_fraction, red_tip_asymmetry) -> np.ndarray:
    """The stage from the red: the septum band first, then one growing end or two."""
    central = np.asarray(red_central_fraction, float)
    asymmetry = np.asarray(red_tip_asymmetry, float)
    monopolar, bipolar, dividing = POMBE_STAGES
    stage = np.where(central > DIVIDING_CENTRAL_FRACTION, dividing,
                     np.where(asymmetry > MONOPOLAR_TIP_ASYMMETRY, monopolar, bipolar))
    return np.where(np.isfinite(central), stage, "unknown")


# --- the classes' rules -----------------------------------------------------------------------
#
# Each rule says, from the readings, whether the green does what its class does at the stage
# read from the red (``cellnb.sim.pombe.pombe_class_table`` states them in words). Thresholds sit
# between the designed patterns: a central sixth holds about 1/6-1/5 of an even fill.

Rule = Callable[[pd.DataFrame], np.ndarray]


def _dividing(m: pd.DataFrame) -> np.ndarray:
    return (m.stage == "dividing").to_numpy()


def _at_tips(m: pd.DataFrame) -> np.ndarray:
    return ((m.green_tip_fraction >= 0.4) & (m.green_central_fraction < 0.16)).to_numpy()


def _actin_rule(m: pd.DataFrame) -> np.ndarray:
    """Tips while growing (the red's growing end when monopolar), the middle when dividing."""
    middle = (m.green_central_fraction >= 0.4).to_numpy()
    tips = ((m.green_tip_fraction >= 0.3) & (m.green_central_fraction < 0.16)).to_numpy()
    same_end = ((m.stage != "monopolar") | (m.green_brighter_end == m.red_brighter_end))
    return np.where(_dividing(m), middle, tips & same_end.to_numpy())


def _ring_rule(m: pd.DataFrame) -> np.ndarray:
    """A medial ring exactly when dividing; otherwise an even fill, no tips."""
    ring = (m.green_central_fraction >= 0.3).to_numpy()
    even = ((m.green_central_fraction < 0.27) & (m.green_tip_fraction < 0.4)).to_numpy()
    return np.where(_dividing(m), ring, even)


def _nuclear_rule(m: pd.DataFrame) -> np.ndarray:
    """One central nucleus while growing; the middle emptied once the nuclei part."""
    central = m.green_central_fraction.to_numpy()
    not_tips = (m.green_tip_fraction < 0.4).to_numpy()
    return not_tips & np.where(_dividing(m), central < 0.2, central >= 0.22)


CLASS_RULES: dict[str, Rule] = {
    "TipDots": _at_tips, "TipDots2": _at_tips,
    "ActinLike": _actin_rule, "ActinLike2": _actin_rule,
    "RingOnly": _ring_rule, "Diffuse": _nuclear_rule,
}


def rule_consistency(readings: pd.DataFrame, classes) -> np.ndarray:
    """Whether each image's green follows its class's rule at the stage read from its red:
    a boolean array (N,). ``classes`` is one class name per image, or one name for all."""
    names = np.broadcast_to(np.asarray(classes, dtype=object), (len(readings),))
    unknown = sorted(set(names) - set(CLASS_RULES))
    if unknown:
        raise ValueError(f"no rule for classes {unknown}; rules exist for {list(CLASS_RULES)}")
    consistent = np.zeros(len(readings), bool)
    for name in set(names):
        rows = names == name
        consistent[rows] = CLASS_RULES[name](readings[rows])
    return consistent


def rule_consistency_rates(readings: pd.DataFrame, classes) -> pd.Series:
    """The share of images following their class's rule, per class (indexed by class)."""
    names = np.broadcast_to(np.asarray(classes, dtype=object), (len(readings),))
    consistent = rule_consistency(readings, names)
    return pd.Series(consistent).groupby(names).mean().rename("rule_consistency")
