"""Scoring paired-cell-inpainting features: every evaluation of the paper, on held-out cells.

Lu, Kraus, Cooper & Moses, PLoS Comput Biol 2019. Each function takes features (one row per cell
of an :class:`~.data.EvaluationCells`) and returns plain numbers or DataFrames:

* :func:`layer_features`, :func:`handcrafted`, :func:`raw_pixels` - the feature sets: the source
  encoder's five layers (Methods, end of "Datasets, preprocessing, and training"), the paper's
  "classic" features (Methods, "Baseline feature extraction and benchmarking"), normalised pixels;
* :func:`layerwise_knn`, :func:`best_layer` - Table 1 and Fig 2A: leave-one-out k-NN per layer;
* :func:`class_distances` - Fig 2B: normalised distances between images of the same class;
* :func:`cell_line_robustness` - Table 2: the same, within and across cell lines;
* :func:`multilocalisation`, :func:`variability_ranking` - Fig 5: where a cell sits between two
  compartments, and which images vary most from cell to cell;
* :func:`variable_image_clustering` - Fig 6: the sub-populations of one image's cells;
* :func:`protein_clustering`, :func:`rare_neighbours` - Fig 4: proteins clustered by their mean
  features, and the neighbours of a rare class (the nucleolar rim, Fig 4b-d).

Features are standardised (zero mean, unit variance over the cells given) wherever distances are
taken, as in the paper (Methods, "Comparing pairwise distances in feature spaces"). An analysis
whose ground truth the cells lack (real data have no ``alpha``) raises a ``ValueError`` naming
the column; :func:`available` answers the same question without raising.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ...data.transforms import minmax_normalize
from ...evaluation.baselines import (
    intensity_texture_features,
    intensity_texture_names,
    raw_pixel_features,
)
from ...evaluation.distances import (
    multilocalisation_score,
    normalised_pairwise_distances,
    spread_ranking,
)
from ...evaluation.knn import knn_accuracy_loo
from ...sim.catalogue import MIXED, VARIABLE
from .data import EvaluationCells
from .model import LAYERS, PairedInpainting

SINGLE_SET = "features"   # the column of a feature set that has no layers (hand-crafted, pixels)

# ------------------------------------------------------------------ what each analysis needs

COLUMN_MEANINGS = {
    "label": "the k-NN class of single-class proteins",
    "cell_line": "each image's cell line (synthetic ground truth)",
    "localization": "each image's protein class, 'mixed' or 'variable' (synthetic ground truth)",
    "true_localization": "the class each cell shows (synthetic ground truth)",
    "alpha": "each mixed cell's fraction of the first component (synthetic ground truth)",
    "subpopulation": "each variable cell's sub-population (synthetic ground truth)",
    "rare": "which protein is the rare class (synthetic ground truth)",
}
NEEDS = {
    "layerwise_knn": ("label",),
    "class_distances": ("label",),
    "cell_line_robustness": ("label", "cell_line"),
    "multilocalisation": ("label", "protein", "true_localization", "alpha"),
    "variability_ranking": ("localization",),
    "variable_image_clustering": ("localization", "subpopulation"),
    "protein_clustering": ("label", "protein"),
    "rare_neighbours": ("label", "rare"),
}


def missing(cells: EvaluationCells, analysis: str) -> str | None:
    """Why ``analysis`` cannot run on ``cells`` (a sentence), or None when it can."""
    reason = _missing_column(cells, analysis)
    if reason is not None:
        return reason
    meta = cells.metadata
    if analysis == "cell_line_robustness" and meta["cell_line"].nunique() < 2:
        return f"{analysis} needs images of at least 2 cell lines"
    if analysis in ("variability_ranking", "variable_image_clustering") \
            and not (meta["localization"] == VARIABLE).any():
        return f"{analysis} needs images of variable proteins (localization == {VARIABLE!r})"
    if analysis == "rare_neighbours" and not _rare_cells(meta).any():
        return f"{analysis} needs cells of the rare-class protein (column 'rare' all False)"
    return None


def available(cells: EvaluationCells, analysis: str) -> bool:
    """Whether ``analysis`` (a name in :data:`NEEDS`) can run on ``cells``."""
    return missing(cells, analysis) is None


def _missing_column(cells: EvaluationCells, analysis: str) -> str | None:
    if analysis not in NEEDS:
        raise KeyError(f"unknown analysis {analysis!r}; choose from {sorted(NEEDS)}")
    for column in NEEDS[analysis]:
        if not cells.has(column):
            meaning = COLUMN_MEANINGS.get(column, "")
            return f"{analysis} needs column {column!r}" + (f" ({meaning})" if meaning else "")
    return None


def _require(cells: EvaluationCells, analysis: str, *, columns_only: bool = False) -> None:
    reason = (_missing_column if columns_only else missing)(cells, analysis)
    if reason is not None:
        raise ValueError(reason)


# ------------------------------------------------------------------------------ feature sets

@torch.no_grad()
def layer_features(model: PairedInpainting, crops, *, layers: Sequence[str] = LAYERS,
                   batch_size: int = 256) -> dict[str, np.ndarray]:
    """The paper's read-out at each layer: {layer: (N, C_layer) float32}, in eval mode.

    Methods, "Datasets, preprocessing, and training": "we extract representations by maximum
    pooling the output of an intermediate convolutional layer, across spatial dimensions". Each
    crop's channels are min-max normalised to [0, 1] as in training, so the result equals
    ``model(minmax_normalize(crops), output_layer=layer)``. One forward pass per batch serves
    every layer: hooks on the ReLUs the read-out taps collect their spatial maxima on the way to
    the deepest layer asked for.
    """
    layers = list(layers)
    unknown = [name for name in layers if name not in LAYERS]
    if unknown or not layers:
        raise ValueError(f"layers must be among {LAYERS}, got {layers}")
    deepest = max(layers, key=LAYERS.index)
    device = next(model.parameters()).device
    collected: dict[str, list[torch.Tensor]] = {name: [] for name in layers}

    def collector(name):
        def hook(module, inputs, output):
            collected[name].append(output.amax(dim=(2, 3)).float().cpu())
        return hook

    hooks = [model.source_encoder.layers[name].relu.register_forward_hook(collector(name))
             for name in layers]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(crops), batch_size):
                batch = torch.as_tensor(crops[start:start + batch_size]).to(torch.float32)
                model(minmax_normalize(batch).to(device), output_layer=deepest)
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return {name: torch.cat(collected[name]).numpy() for name in layers}


def handcrafted(cells: EvaluationCells, *, distances=(1, 2, 4), levels: int = 32) -> np.ndarray:
    """The paper's "classic" features of every cell (protein = channel 0, markers = the rest):
    (N, 3 + M + 4 * len(distances)); see :func:`~cellnb.evaluation.baselines.
    intensity_texture_features` and :func:`handcrafted_names`."""
    crops = np.asarray(cells.crops, dtype=np.float32)
    return intensity_texture_features(crops[:, 0], crops[:, 1:], distances=distances,
                                      levels=levels)


def handcrafted_names(cells: EvaluationCells, *, distances=(1, 2, 4)) -> list[str]:
    """The column names of :func:`handcrafted` for these cells' marker channels."""
    return intensity_texture_names(list(cells.channels[1:]), distances)


def raw_pixels(cells: EvaluationCells, fit_on=None, *, n_components: int | None = 50,
               seed: int = 0) -> np.ndarray:
    """Normalised pixels of every channel, PCA-reduced to ``n_components`` (fitted on the cells
    ``fit_on`` selects, default all): the floor every learned representation must clear."""
    return raw_pixel_features(np.asarray(cells.crops, dtype=np.float32),
                              n_components=n_components, seed=seed, fit_on=fit_on)


# ------------------------------------------------------------------------ Table 1 and Fig 2A

def layerwise_knn(feature_sets: Mapping[str, Mapping[str, np.ndarray] | np.ndarray], labels, *,
                  k: int = 11) -> pd.DataFrame:
    """Leave-one-out k-NN balanced accuracy of every feature set at every layer.

    Table 1 and Fig 2A: standardised features, k = 11, Euclidean, each cell predicted from the
    other cells, the mean per-class recall. Only cells whose label is not None / NaN are scored.
    ``feature_sets`` maps a name to {layer: (N, d)} (a CNN) or to one (N, d) array (hand-crafted,
    pixels), which fills the column ``"features"``. Rows: feature sets; columns: layers
    (NaN where a set has no such layer).
    """
    labels = np.asarray(labels, dtype=object)
    scored = pd.notna(labels)
    if len(np.unique(labels[scored])) < 2:
        raise ValueError(f"need labelled cells of at least 2 classes, got "
                         f"{len(np.unique(labels[scored]))} class(es) in {scored.sum()} cells")
    rows = {}
    for name, features in feature_sets.items():
        per_layer = features if isinstance(features, Mapping) else {SINGLE_SET: features}
        rows[name] = {}
        for layer, values in per_layer.items():
            values = np.asarray(values)
            if len(values) != len(labels):
                raise ValueError(f"{name!r} {layer}: {len(values)} rows for {len(labels)} labels")
            rows[name][layer] = knn_accuracy_loo(values[scored], labels[scored], k=k)
    columns = [c for c in (*LAYERS, SINGLE_SET) if any(c in row for row in rows.values())]
    columns += sorted({c for row in rows.values() for c in row} - set(columns))
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=columns)
    table.index.name = "feature set"
    return table


def best_layer(row: pd.Series) -> tuple[str, float]:
    """(layer, accuracy) of the best layer in one row of :func:`layerwise_knn`: what Fig 2A
    reports for each CNN ("we ... report the top-performing layer")."""
    values = row.dropna().astype(float)
    if values.empty:
        raise ValueError(f"row {row.name!r} has no score")
    return str(values.idxmax()), float(values.max())


# ----------------------------------------------------------------------- Fig 2B and Table 2

def class_distances(features, cells: EvaluationCells, *, pairs: int = 1000, seed: int = 0,
                    normalisation: str = "relative") -> dict:
    """Fig 2B: how much closer the cells of two same-class images are than expected.

    Items are images, each labelled by its class (labelled single-class images only); per class,
    ``pairs`` same-class image pairs against ``pairs`` pairs with each other class, every pair
    scored by the mean distance over all cell x cell combinations of the two images, on
    standardised features (:func:`~cellnb.evaluation.distances.normalised_pairwise_distances`).
    Negative: same-class cells sit closer than expected. Classes with a single image cannot form
    a same-class pair and are left out (listed in ``excluded``).

    Returns ``{"overall": float, "per_class": {class: float}, "excluded": [class, ...]}``.
    """
    _require(cells, "class_distances")
    features, meta = _labelled_only(features, cells)
    images_per_class = meta.groupby("label")["image"].nunique()
    excluded = sorted(images_per_class.index[images_per_class < 2])
    kept = ~meta["label"].isin(excluded).to_numpy()
    result = normalised_pairwise_distances(
        features[kept], meta["label"].to_numpy()[kept], groups=meta["image"].to_numpy()[kept],
        normalisation=normalisation, balanced=True, pairs=pairs, seed=seed)
    return result | {"excluded": excluded}


def cell_line_robustness(feature_sets: Mapping[str, np.ndarray], cells: EvaluationCells, *,
                         pairs: int = 10000, seed: int = 0,
                         normalisation: str = "relative") -> pd.DataFrame:
    """Table 2: the normalised same-class distance with both images of the same cell line, and of
    different cell lines; a small ``difference`` (different - same) means features that ignore
    morphology.

    As in Table 2, classes are not balanced: ``pairs`` same-class image pairs against ``pairs``
    pairs with any different class (Methods), labelled single-class images only. Every feature
    set sees the same image pairs (the sampling depends on the seed and the images only).
    """
    _require(cells, "cell_line_robustness")
    rows = {}
    for name, features in feature_sets.items():
        values, meta = _labelled_only(features, cells)
        scores = {constraint: normalised_pairwise_distances(
            values, meta["label"].to_numpy(), groups=meta["image"].to_numpy(),
            cell_lines=meta["cell_line"].to_numpy(), cell_line_constraint=constraint,
            normalisation=normalisation, balanced=False, pairs=pairs, seed=seed)["overall"]
            for constraint in ("same", "different")}
        rows[name] = scores | {"difference": scores["different"] - scores["same"]}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "feature set"
    return table


# --------------------------------------------------------------------------------- Fig 5

def mixture_proteins(first: str, second: str, catalogue=None) -> dict[str, tuple[str, str]]:
    """The mixed proteins blending ``first`` and ``second`` (either order): {name: (component
    whose fraction is ``alpha``, other component)}, from the simulator's catalogue (default:
    :func:`cellnb.sim.catalogue.build_catalogue`; the mixed proteins are the same in every
    atlas)."""
    if catalogue is None:
        from ...sim.catalogue import build_catalogue
        catalogue = build_catalogue()
    return {p.name: p.classes for p in catalogue.proteins
            if p.localization == MIXED and set(p.classes) == {first, second}}


def compartment_cells(cells: EvaluationCells, first: str, second: str,
                      catalogue=None) -> np.ndarray:
    """One bool per cell: whether its protein lives in ``first`` and/or ``second`` only (single-
    class proteins of either, the mixed and the variable proteins of the two). Fig 5 ranks the
    images "for cytosol-and-nucleoplasm single-cells" this way: a variable protein of two other
    compartments cannot spread along this score, and is no miss of it."""
    if catalogue is None:
        from ...sim.catalogue import build_catalogue
        catalogue = build_catalogue()
    pair = {first, second}
    proteins = {p.name for p in catalogue.proteins if p.classes and set(p.classes) <= pair}
    meta = cells.metadata
    return (meta["protein"].isin(proteins) | meta["localization"].isin(pair)).to_numpy()


def multilocalisation(features, cells: EvaluationCells, *, first: str = "nucleoplasm",
                      second: str = "cytoplasm",
                      mixtures: Mapping[str, tuple[str, str]] | None = None
                      ) -> tuple[pd.DataFrame, dict]:
    """Fig 5: each cell's log(||f - mu_first|| / ||f - mu_second||), and how it tracks alpha.

    Sign convention: **negative = closer to ``first``** (the Methods' convention; with the
    defaults, negative = nuclear). The references mu are the mean features of the cells of
    single-class images of ``first`` and of ``second`` (Methods, "Single cell analysis of
    multiply-localized proteins"). All cells are standardised together before the score (the
    paper does not say; its distances elsewhere are on standardised features).

    The mixed cells scored against alpha are those of the proteins blending exactly these two
    classes (``mixtures``, default :func:`mixture_proteins`); ``first_fraction`` is each mixed
    cell's fraction of ``first`` (alpha, or 1 - alpha when ``first`` is the second component).
    More of ``first`` should mean a lower score, so ``spearman_rho`` should be strongly negative,
    the ``first`` references' median below 0 and the ``second`` references' above 0.

    Returns (one row per cell: image, protein, label, true_localization, group - ``first``,
    ``second``, the mixed protein's name or "other" - first_fraction, score; summary dict).
    """
    _require(cells, "multilocalisation")
    meta = cells.metadata
    features = _features_of(features, cells)
    is_first, is_second = (meta["label"] == first).to_numpy(), (meta["label"] == second).to_numpy()
    for name, chosen in ((first, is_first), (second, is_second)):
        if not chosen.any():
            raise ValueError(f"no cells of single-class {name!r} images to define its reference")
    standardised = _standardise(features)
    scores = multilocalisation_score(standardised, standardised[is_first], standardised[is_second])

    mixtures = mixture_proteins(first, second) if mixtures is None else dict(mixtures)
    alpha = meta["alpha"].to_numpy(dtype=float)
    first_fraction = np.full(len(meta), np.nan)
    for protein, components in mixtures.items():
        if set(components) != {first, second}:
            raise ValueError(f"mixture {protein!r} blends {components}, not {first} and {second}")
        chosen = (meta["protein"] == protein).to_numpy() \
            & (meta["true_localization"] == MIXED).to_numpy()
        first_fraction[chosen] = alpha[chosen] if components[0] == first else 1 - alpha[chosen]
    is_mixed = np.isfinite(first_fraction) & np.isfinite(scores)

    group = np.full(len(meta), "other", dtype=object)
    group[is_mixed] = meta["protein"].to_numpy(dtype=object)[is_mixed]
    group[is_first], group[is_second] = first, second
    table = meta[["image", "protein", "label", "true_localization"]].reset_index(drop=True)
    table = table.assign(group=group, first_fraction=first_fraction, score=scores)
    summary = {
        "first": first, "second": second, "n_mixed_cells": int(is_mixed.sum()),
        "spearman_rho": _spearman(first_fraction[is_mixed], scores[is_mixed]),
        "median_first": float(np.median(scores[is_first])),
        "median_second": float(np.median(scores[is_second])),
        "n_first": int(is_first.sum()), "n_second": int(is_second.sum())}
    return table, summary


def variability_ranking(scores, cells: EvaluationCells, *, top: int = 10, mask=None,
                        min_cells: int = 2) -> tuple[pd.DataFrame, dict]:
    """Fig 5's search for variable images: images ranked by the standard deviation of their
    cells' scores, and how many of the top ones are truly variable (localization 'variable').

    Precision is taken at k = the number of variable images ranked (precision = recall there)
    and at ``top`` (the paper inspects the top 10). ``mask`` (one bool per cell) restricts the
    ranking to some cells, e.g. the images of the two compartments scored. The paper notes the
    standard deviation misses variable images whose sub-populations are imbalanced.

    Returns (one row per image, most variable first: rank, image, protein, localization, sd,
    n_cells, variable; summary dict with n_images, n_variable, precision_at_n_variable, top,
    precision_at_top).
    """
    _require(cells, "variability_ranking")
    scores = np.asarray(scores, dtype=float)
    if scores.shape != (len(cells),):
        raise ValueError(f"expected one score per cell ({len(cells)}), got shape {scores.shape}")
    chosen = np.ones(len(cells), bool) if mask is None else np.asarray(mask, bool)
    meta = cells.metadata[chosen]
    images, spreads = spread_ranking(scores[chosen], meta["image"].to_numpy(), min_cells=min_cells)
    per_image = meta.groupby("image").agg(protein=("protein", "first"),
                                          localization=("localization", "first"),
                                          n_cells=("image", "size"))
    table = per_image.loc[images].reset_index()
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table.insert(4, "sd", spreads)
    table["variable"] = (table["localization"] == VARIABLE).to_numpy()
    n_variable = int(table["variable"].sum())
    if n_variable == 0:
        raise ValueError("no variable image among the ranked cells; nothing to find")
    summary = {"n_images": len(table), "n_variable": n_variable,
               "precision_at_n_variable": float(table["variable"][:n_variable].mean()),
               "top": top, "precision_at_top": float(table["variable"][:top].mean())}
    return table, summary


# --------------------------------------------------------------------------------- Fig 6

def variable_image_clustering(features, cells: EvaluationCells, *, method: str = "ward",
                              n_clusters: int = 2) -> pd.DataFrame:
    """Fig 6: hierarchical clustering of each variable image's cells, scored against the truth.

    The paper clusters one protein's single cells with hierarchical agglomerative clustering and
    reads clades off the dendrogram (qualitative only); here each image of a variable protein is
    cut into ``n_clusters`` clusters (scipy, ``method`` linkage, Euclidean) on features
    standardised over all cells given, and the adjusted Rand index against the cells' true
    sub-population says how well the clades match. Cells without a sub-population (-1: the crop's
    centre fell outside any true cell) are left out.

    Returns one row per variable image: image, protein, n_cells, ari.
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.metrics import adjusted_rand_score

    _require(cells, "variable_image_clustering")
    meta = cells.metadata
    standardised = _standardise(_features_of(features, cells))
    subpopulation = meta["subpopulation"].to_numpy()
    rows = []
    for image in pd.unique(meta.loc[meta["localization"] == VARIABLE, "image"]):
        chosen = (meta["image"] == image).to_numpy() & (subpopulation >= 0)
        if chosen.sum() <= n_clusters:
            continue
        clusters = fcluster(linkage(standardised[chosen], method=method), n_clusters,
                            criterion="maxclust")
        rows.append({"image": image, "protein": meta.loc[chosen, "protein"].iloc[0],
                     "n_cells": int(chosen.sum()),
                     "ari": float(adjusted_rand_score(subpopulation[chosen], clusters))})
    return pd.DataFrame(rows, columns=["image", "protein", "n_cells", "ari"])


# --------------------------------------------------------------------------------- Fig 4

def protein_clustering(features, cells: EvaluationCells, *,
                       method: str = "ward") -> tuple[pd.DataFrame, dict]:
    """Fig 4: proteins clustered by their mean features, scored against their classes.

    The paper averages each protein's cells' features, mean-centres and scales them (Fig 4's
    caption) and clusters the proteins hierarchically. Here the single-class proteins are cut into
    as many clusters as there are classes (scipy, ``method`` linkage) and compared with the
    classes by the adjusted Rand index (sklearn) and purity (the share of proteins in their
    cluster's majority class). The paper's "maximum likelihood" linkage is not specified further;
    Ward is the default.

    Returns (one row per protein: protein, label, n_cells, cluster; summary: ari, purity,
    n_proteins, n_classes).
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.metrics import adjusted_rand_score

    _require(cells, "protein_clustering")
    features, meta = _labelled_only(features, cells)
    proteins = meta["protein"].to_numpy()
    names = pd.unique(proteins)
    means = _standardise(np.stack([features[proteins == name].mean(axis=0) for name in names]))
    per_protein = meta.groupby("protein").agg(label=("label", "first"), n_cells=("image", "size"))
    table = per_protein.loc[names].reset_index()
    n_classes = table["label"].nunique()
    if len(table) <= n_classes:
        raise ValueError(f"{len(table)} proteins of {n_classes} classes: too few to cluster")
    table["cluster"] = fcluster(linkage(means, method=method), n_classes, criterion="maxclust")
    majority = table.groupby("cluster")["label"].agg(lambda labels: labels.value_counts().iloc[0])
    summary = {"ari": float(adjusted_rand_score(table["label"], table["cluster"])),
               "purity": float(majority.sum() / len(table)),
               "n_proteins": len(table), "n_classes": int(n_classes)}
    return table, summary


def rare_neighbours(features, cells: EvaluationCells, *, k: int | None = None,
                    n_nearest: int = 10, protein: str | None = None) -> dict | None:
    """The nucleolar-rim analogue (Results, "Proteome-wide clustering of human proteins ...";
    Fig 4b-d): do the rare class's images find each other among all images?

    The paper finds MKI67, its one documented nucleolar-rim example, and counts 13 unambiguous
    nucleolar-rim proteins among the 32 closest to it. The synthetic atlas has one rare protein
    (metadata ``rare``), so the test is at the image level: features standardised over all cells,
    averaged per image; for each of the rare protein's images, the share of its ``k`` nearest
    other images that show the rare class (default k: the number of other rare-class images, so
    1.0 means they are all nearest), and the rank of its nearest rare-class image (1 = nearest).
    Also reported: the proteins nearest to the rare one by the distance between protein means.

    Returns None when the cells hold no rare-protein cell; else a dict: protein, label,
    n_images, k, base_rate (the share of rare-class images among the other images: a random
    ranking's precision), image_precision (mean over the rare images; NaN with a single rare-class
    image), nearest_same_class_rank (the best over the rare images; NaN likewise), neighbours
    (DataFrame: rare image, rank, image, protein, label, distance), nearest_proteins (DataFrame:
    protein, label, distance).
    """
    _require(cells, "rare_neighbours", columns_only=True)
    meta = cells.metadata
    if not _rare_cells(meta).any():
        return None
    rare_proteins = pd.unique(meta.loc[_rare_cells(meta), "protein"])
    if protein is None:
        if len(rare_proteins) > 1:
            raise ValueError(f"several rare proteins {list(rare_proteins)}; pass protein=")
        protein = rare_proteins[0]
    standardised = _standardise(_features_of(features, cells))
    label_of = _image_labels(meta)

    images, image_means = _group_means(standardised, meta["image"].to_numpy())
    own = np.isin(images, meta.loc[meta["protein"] == protein, "image"].unique())
    rare_label = label_of[images[own][0]]
    same_class = np.array([label_of[image] == rare_label for image in images])
    k = max(1, int(same_class.sum()) - 1) if k is None else int(k)

    rows, precisions, ranks = [], [], []
    for position in np.flatnonzero(own):
        distances = np.linalg.norm(image_means - image_means[position], axis=1)
        order = [i for i in np.argsort(distances, kind="stable") if i != position]
        others_same = same_class[order]
        precisions.append(others_same[:k].mean() if same_class.sum() > 1 else np.nan)
        ranks.append(int(np.argmax(others_same)) + 1 if others_same.any() else np.nan)
        for rank, i in enumerate(order[:max(k, n_nearest)], start=1):
            rows.append({"rare_image": images[position], "rank": rank, "image": images[i],
                         "protein": meta.loc[meta["image"] == images[i], "protein"].iloc[0],
                         "label": label_of[images[i]], "distance": float(distances[i])})

    proteins, protein_means = _group_means(standardised, meta["protein"].to_numpy())
    centre = protein_means[list(proteins).index(protein)]
    nearest = pd.DataFrame({
        "protein": proteins,
        "label": [_protein_label(meta, name) for name in proteins],
        "distance": np.linalg.norm(protein_means - centre, axis=1)})
    nearest = nearest[nearest["protein"] != protein].sort_values("distance", kind="stable")
    # What a random image would score: the share of rare-class images among the others.
    base_rate = float((same_class.sum() - 1) / max(len(images) - 1, 1))
    return {"protein": protein, "label": rare_label, "n_images": int(own.sum()), "k": k,
            "base_rate": base_rate,
            "image_precision": float(np.mean(precisions)),
            "nearest_same_class_rank": float(np.nanmin(ranks)) if np.isfinite(ranks).any()
            else float("nan"),
            "neighbours": pd.DataFrame(rows),
            "nearest_proteins": nearest.head(n_nearest).reset_index(drop=True)}


def image_means(features, cells: EvaluationCells) -> tuple[np.ndarray, pd.DataFrame]:
    """Each image's mean feature vector over its cells (features standardised over all cells
    first), and one metadata row per image (its first cell's image-level columns): what the
    paper's protein-level maps average (Fig 3: "averaging the features for all single cells")."""
    standardised = _standardise(_features_of(features, cells))
    images, means = _group_means(standardised, cells.metadata["image"].to_numpy())
    columns = [c for c in ("image", "protein", "localization", "label", "cell_line", "rare")
               if c in cells.metadata]
    first = cells.metadata[columns].drop_duplicates("image").set_index("image")
    return means, first.loc[images].reset_index()


# ---------------------------------------------------------------------------------- helpers

def _features_of(features, cells: EvaluationCells) -> np.ndarray:
    features = np.asarray(features, dtype=float)
    if features.ndim != 2 or len(features) != len(cells):
        raise ValueError(f"expected features (cells, d) with one row per cell ({len(cells)}), "
                         f"got shape {features.shape}")
    if not np.isfinite(features).all():
        raise ValueError("features contain NaN or infinity")
    return features


def _labelled_only(features, cells: EvaluationCells) -> tuple[np.ndarray, pd.DataFrame]:
    """The features and metadata rows of the cells with a class label."""
    labelled = cells.labelled
    return (_features_of(features, cells)[labelled],
            cells.metadata.iloc[labelled].reset_index(drop=True))


def _standardise(features: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per feature over the cells given; a constant feature stays 0."""
    sd = features.std(axis=0)
    return (features - features.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _group_means(features: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    names, index = np.unique(groups, return_inverse=True)
    sums = np.zeros((len(names), features.shape[1]))
    np.add.at(sums, index, features)
    return names, sums / np.bincount(index)[:, None]


def _image_labels(meta: pd.DataFrame) -> dict:
    """Each image's class: its label, else its protein's localization ('mixed', 'variable')."""
    kind = meta["label"].where(meta["label"].notna(), meta.get("localization"))
    return dict(zip(meta["image"], kind))


def _protein_label(meta: pd.DataFrame, protein) -> object:
    rows = meta.loc[meta["protein"] == protein]
    label = rows["label"].dropna()
    if len(label):
        return label.iloc[0]
    return rows["localization"].iloc[0] if "localization" in rows else None


def _rare_cells(meta: pd.DataFrame) -> np.ndarray:
    if "rare" not in meta:
        return np.zeros(len(meta), bool)
    return meta["rare"].fillna(False).astype(bool).to_numpy()


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)
