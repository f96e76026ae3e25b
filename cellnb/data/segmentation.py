"""From a field of view to single-cell crops: classical nucleus segmentation and crop extraction.

Every paper in this book trains on crops centred on one cell, cut from larger fields by a
segmentation step the authors ran upstream: cytoself crops 100x100 windows around Hoechst-stained
nuclei (cytoself, Methods, "Image data pre-processing"), paired cell inpainting cuts 64x64 crops
around cell centres (Lu et al. 2019, Methods) and the Integrated Cell centres each cell on its
nucleus (Johnson et al. 2017, Section 3.1). This module
does that step on real or simulated fields so the rest of the pipeline can start from pixels:

* :func:`segment_nuclei` - smoothed automatic threshold, hole filling and a distance-transform
  watershed that splits touching nuclei. It is the Gaussian low-pass + Li threshold that cytoself
  describes (Methods, "Nucleus segmentation"), without its Laplacian refinement, plus the
  textbook watershed split.
* :func:`extract_crops` - fixed-size windows centred on each nucleus centroid, with the border
  and area filters the papers apply (cytoself ignores cells near image edges).
* :func:`distance_to_background` - the Euclidean distance transform used throughout.
* :func:`signed_distance_map` - cytoself's nuclear-distance channel: positive inside the nucleus,
  negative outside, divided by a constant so it lies in about [-1, 1] (cytoself, Methods).

Learned segmenters (StarDist, Cellpose) do better on crowded fields; the cytoself maintainers
recommend StarDist today. The classical pipeline here needs no weights and no network.
"""
from __future__ import annotations

import edt
import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from skimage import feature, filters, measure, segmentation

THRESHOLD_METHODS = {"li": filters.threshold_li, "otsu": filters.threshold_otsu}


def segment_nuclei(nucleus_image: np.ndarray, *, sigma: float = 1.0, threshold="li",
                   local_window: int | None = 31, min_area: int = 30,
                   split_touching: bool = True, min_peak_distance: int = 8,
                   distance_sigma: float = 4.0) -> np.ndarray:
    """Label the nuclei of a 2-D nuclear-stain image; returns an int32 label image (0 = background).

    Parameters are in pixels; the defaults suit nuclei of radius about 8-25 px and were chosen on
    the real DSB2018 field of :func:`cellnb.data.samples.dsb2018_nuclei` (radius ~12 px) from a
    broad plateau of equally good settings, not at a single best point.

    sigma:
        Gaussian low-pass before thresholding, to suppress shot noise and texture inside nuclei.
    threshold:
        Global threshold separating nuclei from background: ``"li"`` (minimum cross-entropy,
        as cytoself), ``"otsu"``, or a number in the image's own intensity units.
    local_window:
        Odd side (px) of a Gaussian-weighted local mean that a pixel must also exceed; about
        1.3 x the typical nucleus diameter. It cuts the dim necks between touching nuclei and
        puts outlines at mid-height of each nucleus' own edge, whatever its brightness, which
        a single global threshold cannot do when nuclei differ several-fold in brightness.
        ``None`` keeps the global threshold alone.
    min_area:
        Objects smaller than this (debris, noise specks, watershed slivers) are removed.
    split_touching:
        Split touching nuclei by a watershed on the distance transform of the foreground, seeded
        at its local maxima (one maximum per roughly convex nucleus).
    min_peak_distance:
        Minimum distance between two seeds, about 0.6 x the typical nucleus radius or more.
        Smaller values over-split elongated nuclei, larger ones merge touching small nuclei.
    distance_sigma:
        Gaussian smoothing of the distance transform before seeding, so that a ragged outline
        or a shallow waist does not create spurious maxima (about a third of the radius).
    """
    image = _as_2d_float(nucleus_image, "nucleus_image")
    smoothed = filters.gaussian(image, sigma=sigma, preserve_range=True) if sigma > 0 else image
    foreground = smoothed > _threshold_value(smoothed, threshold)
    if local_window is not None:
        if local_window < 3 or local_window % 2 == 0:
            raise ValueError(f"local_window must be an odd number of pixels >= 3, got "
                             f"{local_window}; use about 1.3 x the nucleus diameter, or None")
        foreground &= smoothed > filters.threshold_local(smoothed, local_window,
                                                         method="gaussian")
    # Nuclei are solid: dim nucleoli or chromatin gaps inside a nucleus are still nucleus.
    foreground = ndi.binary_fill_holes(foreground)

    if split_touching:
        labels = _split_touching(foreground, min_peak_distance, distance_sigma)
    else:
        labels = measure.label(foreground)
    return _drop_small(labels, min_area)


def _threshold_value(smoothed: np.ndarray, threshold) -> float:
    if isinstance(threshold, str):
        try:
            method = THRESHOLD_METHODS[threshold.lower()]
        except KeyError:
            raise ValueError(f"unknown threshold method {threshold!r}; use one of "
                             f"{sorted(THRESHOLD_METHODS)} or a number") from None
        return float(method(smoothed))
    return float(threshold)


def _split_touching(foreground: np.ndarray, min_peak_distance: int,
                    distance_sigma: float) -> np.ndarray:
    distance = distance_to_background(foreground)
    if distance_sigma > 0:
        distance = filters.gaussian(distance, sigma=distance_sigma, preserve_range=True)
    components = measure.label(foreground)
    # Seeds per connected component, so that a small nucleus lying closer than min_peak_distance
    # to a separate, larger one still gets a seed of its own.
    peaks = feature.peak_local_max(distance, min_distance=min_peak_distance, labels=components,
                                   exclude_border=False)
    markers = np.zeros(foreground.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return segmentation.watershed(-distance, markers, mask=foreground)


def _drop_small(labels: np.ndarray, min_area: int) -> np.ndarray:
    # Filtering by label area (rather than skimage's remove_small_objects, whose keyword changed
    # between scikit-image versions) also removes watershed slivers, not just isolated specks.
    areas = np.bincount(labels.ravel())
    small = areas < min_area
    small[0] = False
    labels = np.where(small[labels], 0, labels)
    return segmentation.relabel_sequential(labels)[0].astype(np.int32)


def distance_to_background(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance from every True pixel to the nearest False one (0 on False), float32.

    The exact transform of scipy.ndimage, computed by the ``edt`` package, which is two to three
    times faster on the simulator's fields, where distance maps are one of the costliest steps.
    A mask without any False pixel has no background to measure from; its distances are then
    taken to the array's edge.
    """
    mask = np.ascontiguousarray(mask, dtype=bool)
    return edt.edt(mask, black_border=bool(mask.all()), parallel=1).astype(np.float32, copy=False)


def signed_distance_map(mask: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Signed Euclidean distance to the mask boundary, divided by ``scale`` (float32).

    Inside the mask a pixel holds its distance to the nearest outside pixel (positive); outside,
    minus its distance to the nearest mask pixel. This is cytoself's nuclear-distance channel
    (Methods, "Image data pre-processing"); with ``scale`` about the crop size the values lie in
    about [-1, 1] (the official code multiplies by 0.01 at 100 px).
    """
    mask = np.asarray(mask)
    if mask.dtype != bool:
        mask = mask > 0
    if not mask.any() or mask.all():
        state = "empty" if not mask.any() else "full (no background)"
        raise ValueError(f"the mask is {state}, so distance to its boundary is undefined; "
                         "compute the map on a larger field that contains both nucleus and "
                         "background")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}; use about the crop size")
    # One transform serves both sides: a pixel's distance to the nearest inner-boundary pixel
    # of the mask is its outside distance and, plus one, its inside distance (within a pixel of
    # two separate transforms, at half the cost).
    boundary = mask & ~ndi.binary_erosion(mask, border_value=1)
    distance = distance_to_background(~boundary)
    return (np.where(mask, distance + 1, -distance) / np.float32(scale)).astype(np.float32)


def extract_crops(image: np.ndarray, labels: np.ndarray, *, size: int = 64,
                  min_area: int | None = None, max_area: int | None = None,
                  exclude_border: bool = True, with_distance_map: bool = False,
                  distance_scale: float | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """Cut ``size`` x ``size`` crops centred on each nucleus of ``labels``.

    image:
        (C, H, W) field (a (H, W) image is treated as one channel).
    labels:
        (H, W) nucleus label image, e.g. from :func:`segment_nuclei`.
    min_area, max_area:
        Nuclei outside this area range (in pixels) are skipped: debris, merged clumps.
    exclude_border:
        Skip nuclei whose crop would leave the image (cytoself §2.1 ignores cells near edges).
        If False those crops are zero-padded instead.
    with_distance_map:
        Append a last channel holding :func:`signed_distance_map` of all nuclei (``labels > 0``),
        computed on the whole field before cropping, as cytoself does, divided by
        ``distance_scale`` (default: ``size``).

    Returns ``(crops, table)``: crops of shape (n, C (+1), size, size), float32, and a DataFrame
    with one row per crop: ``label, centroid_y, centroid_x, area, bbox_min_y, bbox_min_x,
    bbox_max_y, bbox_max_x, crop_top, crop_left``. The nucleus centroid sits within half a pixel
    of the crop's geometric centre ``((size - 1) / 2, (size - 1) / 2)``; use :func:`crop_windows`
    with the table to cut the same windows from any other array (e.g. ``labels``).
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[None]
    if image.ndim != 3:
        raise ValueError(f"image must be (C, H, W) or (H, W), got shape {image.shape}")
    labels = np.asarray(labels)
    if labels.shape != image.shape[1:]:
        raise ValueError(f"labels of shape {labels.shape} do not match the image's spatial shape "
                         f"{image.shape[1:]}; segment the same field you crop")
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")

    table = nucleus_table(labels)
    table["crop_top"], table["crop_left"] = window_origins(table["centroid_y"],
                                                           table["centroid_x"], size)
    keep = np.ones(len(table), dtype=bool)
    if min_area is not None:
        keep &= table["area"].to_numpy() >= min_area
    if max_area is not None:
        keep &= table["area"].to_numpy() <= max_area
    if exclude_border:
        height, width = labels.shape
        keep &= ((table["crop_top"] >= 0) & (table["crop_left"] >= 0)
                 & (table["crop_top"] + size <= height)
                 & (table["crop_left"] + size <= width)).to_numpy()
    table = table[keep].reset_index(drop=True)

    field = image.astype(np.float32, copy=False)
    if with_distance_map:
        scale = float(size) if distance_scale is None else distance_scale
        distance = signed_distance_map(labels > 0, scale)
        field = np.concatenate([field, distance[None]], axis=0)
    return crop_windows(field, table, size), table


def nucleus_table(labels: np.ndarray) -> pd.DataFrame:
    """One row per labelled object: label, centroid_y/x, area and bounding box (pixels)."""
    props = measure.regionprops_table(np.asarray(labels), properties=("label", "centroid",
                                                                      "area", "bbox"))
    return pd.DataFrame({
        "label": props["label"].astype(int),
        "centroid_y": props["centroid-0"], "centroid_x": props["centroid-1"],
        "area": props["area"].astype(int),
        "bbox_min_y": props["bbox-0"], "bbox_min_x": props["bbox-1"],
        "bbox_max_y": props["bbox-2"], "bbox_max_x": props["bbox-3"],
    })


def window_origins(centroid_y, centroid_x, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The top-left corner of the ``size``-px window centred on each centroid: the centroid lies
    within half a pixel of the window's centre ``((size - 1) / 2, (size - 1) / 2)``."""
    half = (size - 1) / 2
    return (np.round(np.asarray(centroid_y, float) - half).astype(int),
            np.round(np.asarray(centroid_x, float) - half).astype(int))


def crop_windows(array: np.ndarray, table: pd.DataFrame, size: int) -> np.ndarray:
    """Cut the windows ``[crop_top : +size, crop_left : +size]`` of ``table`` from ``array``.

    ``array`` is (H, W) or (C, H, W); the result is (n, size, size) or (n, C, size, size).
    Windows that leave the array are zero-padded.
    """
    array = np.asarray(array)
    planar = array.ndim == 2
    field = array[None] if planar else array
    tops = np.asarray(table["crop_top"], dtype=int)
    lefts = np.asarray(table["crop_left"], dtype=int)
    inside = (len(tops) == 0 or (tops.min() >= 0 and lefts.min() >= 0
                                 and tops.max() + size <= field.shape[1]
                                 and lefts.max() + size <= field.shape[2]))
    offset = 0
    if not inside:
        # Padding by one crop size on each side makes every window valid, wherever it starts;
        # only needed (and only paid for) when some window leaves the array.
        field = np.pad(field, ((0, 0), (size, size), (size, size)))
        offset = size
    crops = np.empty((len(tops), field.shape[0], size, size), dtype=field.dtype)
    for i, (top, left) in enumerate(zip(tops + offset, lefts + offset)):
        crops[i] = field[:, top: top + size, left: left + size]
    return crops[:, 0] if planar else crops


def _as_2d_float(image, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (H, W) image, got shape {image.shape}; "
                         "take a maximum projection of a z-stack first, or pick one channel")
    return image.astype(np.float32, copy=False)
