"""Distances in a feature space: how close same-label cells are, and where a cell sits between two
compartments (Lu, Kraus, Cooper & Moses, PLoS Comput Biol 2019, Fig 2B, Table 2 and Fig 5).

Arrays in, numbers out; the paper's pair counts are keyword defaults and every sampling is seeded.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

NORMALISATIONS = ("relative", "zscore")


def _standardised(features: np.ndarray) -> np.ndarray:
    # "centering and scaling features by their mean and standard deviation" (Methods); a constant
    # feature is left at zero rather than divided by zero.
    sd = features.std(axis=0)
    return (features - features.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _as_matrix(features, what: str = "features") -> np.ndarray:
    features = np.asarray(features, dtype=float)
    if features.ndim != 2 or len(features) == 0:
        raise ValueError(f"expected {what} as a non-empty (cells, features) array, got shape "
                         f"{features.shape}")
    if not np.isfinite(features).all():
        raise ValueError(f"{what} contain NaN or infinity; drop or impute those cells first")
    return features


def _sample_pairs(rng, first: np.ndarray, second: np.ndarray, n: int, lines, constraint,
                  what: str) -> np.ndarray:
    """``n`` random (a, b) item pairs, a from ``first`` and b from ``second``, a != b, drawn with
    replacement, satisfying the cell-line ``constraint`` ("same", "different" or None)."""
    pairs = np.empty((0, 2), dtype=int)
    for _ in range(50):                                   # rejection sampling, vectorised
        a = rng.choice(first, size=4 * n)
        b = rng.choice(second, size=4 * n)
        ok = a != b
        if constraint == "same":
            ok &= lines[a] == lines[b]
        elif constraint == "different":
            ok &= lines[a] != lines[b]
        pairs = np.vstack([pairs, np.stack([a[ok], b[ok]], 1)])
        if len(pairs) >= n:
            return pairs[:n]
    raise ValueError(f"could not draw {n} {what} pairs under the constraint "
                     f"cell_lines={constraint!r}: too few eligible items")


def normalised_pairwise_distances(features, labels, *, groups=None, normalisation: str = "relative",
                                  balanced: bool = True, pairs: int | None = None,
                                  cell_lines=None, cell_line_constraint: str | None = None,
                                  standardise: bool = True, seed: int = 0) -> dict:
    """Mean distance between items (images) of the same class, normalised against items of
    different classes: negative means same-class cells sit closer than expected (Fig 2B).

    ``features`` (cells, d) are single cells; ``groups`` names each cell's item (image or protein;
    default: every cell is its own item) and ``labels`` each cell's item label. A pair of items is
    scored by "the average distance of all cells in the first image paired with all cells in the
    second image" (Methods), Euclidean on standardised features.

    ``balanced=True`` (Fig 2B): per class c, ``pairs`` (paper: 1,000) random same-class pairs
    against ``pairs`` random pairs with *each* other class (17,000 for 18 classes); ``overall`` is
    the mean of the per-class scores. ``balanced=False`` (Table 2): ``pairs`` (paper: 10,000)
    same-class pairs against as many pairs with any different label, pooled. With ``cell_lines``
    (one per cell, constant within an item), ``cell_line_constraint="same"`` or ``"different"``
    restricts every pair to images of the same or of different cell lines (Table 2's columns).

    The paper does not give the formula of the normalisation. ``normalisation="relative"``
    (default, the text's "normalize ... to an expectation of the average pairwise distance")
    returns (d_same - mean d_diff) / mean d_diff; ``"zscore"`` returns
    (d_same - mean d_diff) / sd d_diff.

    Returns ``{"overall": float, "per_class": {label: float}}`` (``per_class`` empty when
    ``balanced=False``).
    """
    features = _as_matrix(features)
    labels = np.asarray(labels)
    n = len(features)
    if labels.shape != (n,):
        raise ValueError(f"expected one label per cell: {n} cells, labels of shape {labels.shape}")
    groups = np.arange(n) if groups is None else np.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"expected one group (image) per cell: {n} cells, groups of shape "
                         f"{groups.shape}")
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation is one of {NORMALISATIONS}, got {normalisation!r}")
    if cell_line_constraint not in (None, "same", "different"):
        raise ValueError(f"cell_line_constraint is None, 'same' or 'different', got "
                         f"{cell_line_constraint!r}")
    if cell_line_constraint is not None and cell_lines is None:
        raise ValueError("cell_line_constraint needs cell_lines, one per cell")
    pairs = pairs if pairs is not None else (1000 if balanced else 10000)
    if pairs < 2:
        raise ValueError(f"pairs must be at least 2 (a standard deviation is taken), got {pairs}")
    if standardise:
        features = _standardised(features)

    # Items: the cells of each group, the group's label (and cell line), which must be unique.
    item_ids, item_of_cell = np.unique(groups, return_inverse=True)
    item_labels = _one_per_item(labels, item_of_cell, len(item_ids), "label")
    item_lines = (None if cell_lines is None else
                  _one_per_item(np.asarray(cell_lines), item_of_cell, len(item_ids), "cell line"))
    cells_of_item = [np.flatnonzero(item_of_cell == i) for i in range(len(item_ids))]
    classes = np.unique(item_labels)
    if len(classes) < 2:
        raise ValueError(f"need items of at least 2 labels to compare, got {len(classes)}")
    members = {c: np.flatnonzero(item_labels == c) for c in classes}
    rng = np.random.default_rng(seed)
    cache: dict[tuple[int, int], float] = {}

    def distances(item_pairs: np.ndarray) -> np.ndarray:
        out = np.empty(len(item_pairs))
        for row, (a, b) in enumerate(item_pairs):
            key = (a, b) if a < b else (b, a)
            if key not in cache:
                cache[key] = cdist(features[cells_of_item[a]], features[cells_of_item[b]]).mean()
            out[row] = cache[key]
        return out

    def score(same: np.ndarray, different: np.ndarray) -> float:
        d_same, d_diff = distances(same).mean(), distances(different)
        scale = d_diff.mean() if normalisation == "relative" else d_diff.std(ddof=1)
        if scale == 0:
            raise ValueError("different-label pairs are all at the same distance; the "
                             f"{normalisation!r} normalisation is undefined")
        return float((d_same - d_diff.mean()) / scale)

    def sample(first, second, what):
        return _sample_pairs(rng, first, second, pairs, item_lines, cell_line_constraint, what)

    if balanced:
        per_class = {}
        for c in classes:
            if len(members[c]) < 2:
                raise ValueError(f"label {c!r} has a single item; same-label pairs need at least 2")
            same = sample(members[c], members[c], f"same-label ({c!r})")
            different = np.vstack([sample(members[c], members[o], f"{c!r}-{o!r}")
                                   for o in classes if o != c])
            per_class[c.item() if hasattr(c, "item") else c] = score(same, different)
        return {"overall": float(np.mean(list(per_class.values()))), "per_class": per_class}

    # Table 2: same-label pairs from any class, different-label pairs from any two classes.
    everything = np.arange(len(item_ids))
    same, different = np.empty((0, 2), int), np.empty((0, 2), int)
    for _ in range(50):
        candidates = sample(everything, everything, "any")
        is_same = item_labels[candidates[:, 0]] == item_labels[candidates[:, 1]]
        same = np.vstack([same, candidates[is_same]])[:pairs]
        different = np.vstack([different, candidates[~is_same]])[:pairs]
        if len(same) == pairs and len(different) == pairs:
            return {"overall": score(same, different), "per_class": {}}
    raise ValueError("could not draw enough same-label pairs; are most labels carried by one item?")


def _one_per_item(values: np.ndarray, item_of_cell: np.ndarray, n_items: int, what: str):
    values = np.asarray(values)
    if values.shape != item_of_cell.shape:
        raise ValueError(f"expected one {what} per cell, got shape {values.shape}")
    first = np.zeros(n_items, dtype=int)
    first[item_of_cell[::-1]] = np.arange(len(item_of_cell))[::-1]   # first cell of each item
    per_item = values[first]
    if (per_item[item_of_cell] != values).any():
        raise ValueError(f"every cell of an image must carry its image's {what}; "
                         f"found an image with two")
    return per_item


def multilocalisation_score(features, reference_a, reference_b) -> np.ndarray:
    """log(||f - mu_A|| / ||f - mu_B||) per cell (Fig 5): negative is closer to compartment A.

    mu_A and mu_B are the mean feature vectors of the reference cells, those of images annotated
    to compartment A alone and to B alone (Methods, "Single cell analysis of multiply-localized
    proteins"). Natural logarithm. Standardise all three arrays together beforehand if wanted: the
    paper does not say whether it did here. A cell exactly at a mean scores -inf or +inf.
    """
    features = np.asarray(features, dtype=float)
    single = features.ndim == 1
    features = _as_matrix(features[None] if single else features)
    reference_a = _as_matrix(reference_a, "reference_a")
    reference_b = _as_matrix(reference_b, "reference_b")
    if not features.shape[1] == reference_a.shape[1] == reference_b.shape[1]:
        raise ValueError(f"features ({features.shape[1]}), reference_a ({reference_a.shape[1]}) and "
                         f"reference_b ({reference_b.shape[1]}) must have the same dimension")
    to_a = np.linalg.norm(features - reference_a.mean(axis=0), axis=1)
    to_b = np.linalg.norm(features - reference_b.mean(axis=0), axis=1)
    with np.errstate(divide="ignore"):
        scores = np.log(to_a) - np.log(to_b)
    return scores[0] if single else scores


def spread_ranking(scores, groups, *, min_cells: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Groups (images) ordered by the standard deviation of their cells' scores, largest first.

    Fig 5's search for variable images ranks them by "the standard deviation of scores" over
    their cells and inspects the top ten. Groups with fewer than ``min_cells`` cells are left out;
    the sample standard deviation (ddof=1) is used. Ties keep the groups' sorted order.
    Returns ``(groups, spreads)`` as two arrays, most variable first.
    """
    scores = np.asarray(scores, dtype=float)
    groups = np.asarray(groups)
    if scores.ndim != 1 or groups.shape != scores.shape:
        raise ValueError(f"expected one score and one group per cell, got scores {scores.shape} "
                         f"and groups {groups.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinity (a cell exactly at a reference mean?)")
    if min_cells < 2:
        raise ValueError(f"min_cells must be at least 2 for a standard deviation, got {min_cells}")
    names, index, counts = np.unique(groups, return_inverse=True, return_counts=True)
    means = np.bincount(index, scores) / counts
    deviations = scores - means[index]          # two passes: no cancellation in sum-of-squares
    with np.errstate(invalid="ignore", divide="ignore"):
        spreads = np.sqrt(np.bincount(index, deviations ** 2) / (counts - 1))
    keep = counts >= min_cells
    if not keep.any():
        raise ValueError(f"no group has {min_cells} or more cells")
    names, spreads = names[keep], spreads[keep]
    order = np.argsort(-spreads, kind="stable")
    return names[order], spreads[order]
