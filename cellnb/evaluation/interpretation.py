"""Scoring the feature-zeroing interpretation of cytoself (Kobayashi et al. 2022, Fig. 5).

The paper zeroes the quantised vectors of one code, decodes, and shows in red where the output
changed: the regions causally linked to that code. On synthetic cells we know where each pattern
is, so the picture becomes a number (notes/cytoself.md §4.4 item 6, §6 item 26): how much of the
change lies inside the pattern's mask, compared with how much of the image the mask covers.

The zeroing is a model operation and lives with the model; this module only scores its result.
"""
from __future__ import annotations

import numpy as np


def change_inside_mask(reference: np.ndarray, altered: np.ndarray, mask: np.ndarray, *,
                       per_image: bool = False) -> dict:
    """Where does ``altered`` differ from ``reference``? Energy inside ``mask`` vs the mask's area.

    Shapes: images are (H, W), a batch (N, H, W), or a batch of multi-channel images
    (N, C, H, W); a 3-D array is always read as a batch, so pass a single multi-channel image as
    (1, C, H, W). ``mask`` is (H, W), shared by every image, or (N, H, W), one per image; it is
    applied to every channel.

    The change energy is the sum of squared differences (over pixels and channels). Returns:

    - ``fraction_inside``: energy inside the mask / total energy (1 if the change is confined to
      the mask; equal to the area fraction if the change is uniform);
    - ``area_fraction``: pixels inside the mask / all pixels;
    - ``enrichment``: fraction_inside / area_fraction (1 means "no better than anywhere";
      the largest possible value is 1 / area_fraction).

    With no change at all (total energy 0) ``fraction_inside`` and ``enrichment`` are NaN: there
    is nothing to localise. With an empty mask ``enrichment`` is NaN. The numbers pool the whole
    batch (an image that changes more weighs more); ``per_image=True`` returns arrays of N values.
    """
    reference = np.asarray(reference, dtype=np.float64)
    altered = np.asarray(altered, dtype=np.float64)
    mask = np.asarray(mask).astype(bool)
    if reference.shape != altered.shape:
        raise ValueError(f"reference {reference.shape} and altered {altered.shape} images differ in shape")
    if reference.ndim == 2:
        reference, altered = reference[None], altered[None]
    if reference.ndim == 3:
        reference, altered = reference[:, None], altered[:, None]
    if reference.ndim != 4:
        raise ValueError(f"expected images of shape (H, W), (N, H, W) or (N, C, H, W), got {reference.shape}")
    n, _, height, width = reference.shape
    if mask.shape not in ((height, width), (n, height, width)):
        raise ValueError(f"expected a mask of shape {(height, width)} or {(n, height, width)}, "
                         f"got {mask.shape}")
    mask = np.broadcast_to(mask, (n, height, width))

    energy = ((altered - reference) ** 2).sum(1)  # (N, H, W), summed over channels
    inside = (energy * mask).sum((1, 2))
    total = energy.sum((1, 2))
    area = mask.sum((1, 2)).astype(np.float64)
    if not per_image:
        inside, total, area = inside.sum(keepdims=True), total.sum(keepdims=True), area.sum(keepdims=True)
    area_fraction = area / (height * width * (n if not per_image else 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction_inside = np.where(total > 0, inside / total, np.nan)
        enrichment = np.where(area_fraction > 0, fraction_inside / area_fraction, np.nan)
    result = dict(fraction_inside=fraction_inside, area_fraction=area_fraction, enrichment=enrichment)
    if per_image:
        return result
    return {name: float(value[0]) for name, value in result.items()}
