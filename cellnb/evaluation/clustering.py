"""The clustering score Γ of cytoself (Kobayashi et al. 2022, Methods; Fig. 6, Supp. Tables 1–2).

How well do the points of each ground-truth class (an organelle, or a protein complex) gather on a
2-D UMAP, compared with how far apart the classes lie?

    Γ = σ*({μ*(C_j)}_j) / μ*({σ*(C_j)}_j)

μ* is a robust mean (a median) and σ* a robust standard deviation "computed using medians"
(Methods, "Clustering score"). The paper gives no formula for σ* of a set of m-D points; we use
the following, which reduces to the official code's per-class size:

- centroid of class j = coordinate-wise median of its points;
- σ*(C_j) = median Euclidean distance of its points to that centroid (the class's *spread*);
- denominator μ* = median over classes of the spreads;
- numerator σ* = median Euclidean distance of the class centroids to *their* coordinate-wise median.

``variant="official"`` reproduces what ``cytoself/analysis/utils/cluster_score.py`` computes
(the cytoself repository): the same centroids and denominator, but the numerator is
``np.std(centroids)`` of the flattened (k × m) array. That is a plain, non-robust standard
deviation which pools the x and y values, so it also measures the gap between the mean x and the
mean y of the centroids: translating one UMAP axis relative to the other (which changes nothing
about the clustering) changes the official Γ, while the paper version is unaffected. The official
variant is kept only so that numbers can be compared with the published code.

Invariances of the paper version: exact under global translation (also per axis), uniform
scaling, reflections and rotations by multiples of 90°. Under an *arbitrary* rotation it is only
approximately invariant, because a coordinate-wise median does not rotate with the points (three
points (0,0), (1,0), (0,1) have median (0,0); rotated by 45° their median is not the rotated
(0,0)). For compact blobs the effect is small. ``centroid="geometric"`` uses the geometric
(spatial) median instead, with which the score is exactly rotation-invariant; it is our option,
not the paper's.

Points whose label is missing (None/NaN) or in ``exclude`` (the grey "others" of Fig. 2) are left
out, as in the paper. A class with fewer than ``min_size`` points (2 by default) is dropped: its
spread would be 0 by construction (one point is its own median) and would pull the denominator
down without saying anything about clustering.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

VARIANTS = ("paper", "official")
CENTROIDS = ("coordinate", "geometric")


def clustering_score(points: np.ndarray, labels, *, exclude: Iterable | None = None,
                     variant: str = "paper", centroid: str = "coordinate", min_size: int = 2) -> float:
    """Γ of ``points`` (n × m, e.g. UMAP coordinates) partitioned by ``labels``.

    ``variant="paper"`` is the robust score of the Methods; ``variant="official"`` pools x and y in
    a plain ``np.std`` of the centroids, as the published code does (see the module docstring).
    Returns ``inf`` when every class collapses to a point but the classes are apart, ``nan`` when
    both spreads and separation are 0.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    geometry = class_geometry(points, labels, exclude=exclude, centroid=centroid, min_size=min_size)
    if len(geometry) < 2:
        raise ValueError(f"the clustering score needs at least 2 classes with >= {min_size} points "
                         f"each, got {len(geometry)}; check the labels and `exclude`")
    centroids = geometry.filter(like="centroid_").to_numpy()
    denominator = float(np.median(geometry["spread"]))
    if variant == "paper":
        numerator = _median_distance(centroids, _centre(centroids, centroid))
    else:
        numerator = float(np.std(centroids))  # flattened (k × m): pools the axes, as the official code
    return _ratio(numerator, denominator)


def class_geometry(points: np.ndarray, labels, *, exclude: Iterable | None = None,
                   centroid: str = "coordinate", min_size: int = 2) -> pd.DataFrame:
    """Per-class centroid, spread (median distance to the centroid) and size, one row per class.

    The classes kept are those ``clustering_score`` uses; the table is handy for drawing each
    class's centroid and a circle of radius ``spread`` on the UMAP. Columns: ``centroid_0`` ..
    ``centroid_{m-1}``, ``spread``, ``n_points``; rows sorted by class label.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2:
        raise ValueError(f"expected points of shape (n, m), got {points.shape}")
    labels = pd.Series(np.asarray(labels, dtype=object))
    if len(labels) != len(points):
        raise ValueError(f"got {len(points)} points but {len(labels)} labels")
    keep = ~labels.isna().to_numpy()
    if exclude is not None:
        keep &= ~labels.isin(list(exclude)).to_numpy()
    codes, names = pd.factorize(labels[keep])
    by_class = np.argsort(codes, kind="stable")
    groups = np.split(points[keep][by_class], np.cumsum(np.bincount(codes, minlength=len(names)))[:-1])
    rows = {}
    for index in _sorted_positions(names):
        members = groups[index]
        if len(members) < min_size:
            continue
        centre = _centre(members, centroid)
        rows[names[index]] = [*centre, _median_distance(members, centre), len(members)]
    columns = [f"centroid_{axis}" for axis in range(points.shape[1])] + ["spread", "n_points"]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    table["n_points"] = table["n_points"].astype(int)
    return table


def geometric_median(points: np.ndarray, *, tol: float = 1e-10, max_iter: int = 1000) -> np.ndarray:
    """The point minimising the summed Euclidean distance to ``points``.

    Unlike the coordinate-wise median it moves with the points under any rotation. Weiszfeld's
    iteration, with Vardi & Zhang's (2000) step for when the estimate lands on a data point.
    """
    points = np.asarray(points, dtype=np.float64)
    estimate = points.mean(0)
    scale = 1 + np.abs(points).max()
    for _ in range(max_iter):
        distance = np.linalg.norm(points - estimate, axis=1)
        on_point = distance < tol * scale
        if on_point.all():
            return estimate
        weights = 1 / distance[~on_point]
        weighted_mean = (weights[:, None] * points[~on_point]).sum(0) / weights.sum()
        if on_point.any():
            # Points at the estimate pull with weight η; move only if the others pull harder.
            pull = np.linalg.norm((weights[:, None] * (points[~on_point] - estimate)).sum(0))
            share = min(1.0, on_point.sum() / pull) if pull > 0 else 1.0
            updated = (1 - share) * weighted_mean + share * estimate
        else:
            updated = weighted_mean
        if np.linalg.norm(updated - estimate) < tol * scale:
            return updated
        estimate = updated
    return estimate


def _sorted_positions(names) -> list[int]:
    try:
        return sorted(range(len(names)), key=lambda i: names[i])
    except TypeError:  # labels of mixed types: sort by their text
        return sorted(range(len(names)), key=lambda i: str(names[i]))


def _centre(points: np.ndarray, centroid: str) -> np.ndarray:
    if centroid == "coordinate":
        return np.median(points, axis=0)
    if centroid == "geometric":
        return geometric_median(points)
    raise ValueError(f"centroid must be one of {CENTROIDS}, got {centroid!r}")


def _median_distance(points: np.ndarray, centre: np.ndarray) -> float:
    return float(np.median(np.linalg.norm(points - centre, axis=1)))


def _ratio(numerator: float, denominator: float) -> float:
    if denominator > 0:
        return numerator / denominator
    return float("inf") if numerator > 0 else float("nan")
