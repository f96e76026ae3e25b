"""Scoring cytoself representations as the paper does, on the atlas's ground truth.

* :func:`score_representation` - the UMAP of test crops, the clustering score Gamma at class
  ("organelle") level and at complex level (Fig. 2, Fig. 3 and Supp. Table 1), and the k-NN
  localisation accuracy fitted on training crops (our addition: the same question without a map).
* :func:`spectrum_analysis` - Fig. 4's feature spectra and their class consensus.
* :func:`identification_report` - how well the identification pretext task does, and whether its
  mistakes stay inside complexes (whose members share a localisation and cannot be told apart).
* :func:`zero_code`, :func:`change_inside_mask`, :func:`zeroing_table` - Fig. 5's feature
  interpretation: decode with every local vector of one code set to zero, see where the image
  changes, and score how much of the change falls inside the pattern's ground-truth mask.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ...evaluation.clustering import clustering_score
from ...evaluation.embedding import two_dimensional
from ...evaluation.knn import knn_accuracy
from ...sim.catalogue import MULTI_CLASS_KINDS
from .spectrum import (
    code_correlation,
    consensus_spectra,
    feature_clusters,
    feature_order,
    feature_spectra,
    protein_code_histograms,
)


def class_labels(metadata: pd.DataFrame) -> np.ndarray:
    """Organelle-level ground truth: the class of single-localisation proteins, None for the
    mixed and variable ones (the paper's grey "others", left out of Gamma)."""
    classes = metadata["localization"].astype(object).to_numpy().copy()
    classes[metadata["localization"].isin(MULTI_CLASS_KINDS).to_numpy()] = None
    return classes


def complex_labels(metadata: pd.DataFrame) -> np.ndarray:
    """Complex-level ground truth: the complex of its members, None for every other protein."""
    complexes = metadata["complex"].astype(object).to_numpy().copy()
    complexes[~metadata["complex"].astype(bool).to_numpy()] = None
    return complexes


def score_representation(train_features: np.ndarray, train_metadata: pd.DataFrame,
                         test_features: np.ndarray, test_metadata: pd.DataFrame, *,
                         method: str = "umap", seed: int = 0, k: int = 10) -> tuple[dict, np.ndarray]:
    """Gamma (class and complex level) on a 2-D map of the test crops and k-NN class accuracy.

    Returns the scores and the map's coordinates (for plotting). Gamma is the paper's robust
    version; the official code's variant is reported beside it (``gamma_class_official``).
    """
    train_features = np.asarray(train_features).reshape(len(train_features), -1)
    test_features = np.asarray(test_features).reshape(len(test_features), -1)
    coordinates = two_dimensional(test_features, method=method, seed=seed)
    classes, complexes = class_labels(test_metadata), complex_labels(test_metadata)
    train_classes = class_labels(train_metadata)
    single_train = np.array([c is not None for c in train_classes])
    single_test = np.array([c is not None for c in classes])
    scores = dict(
        gamma_class=_score_or_nan(coordinates, classes),
        gamma_complex=_score_or_nan(coordinates, complexes),
        gamma_class_official=_score_or_nan(coordinates, classes, variant="official"),
        knn_accuracy=knn_accuracy(train_features[single_train], train_classes[single_train],
                                  test_features[single_test], classes[single_test], k=k))
    return scores, coordinates


def compare_representations(features: dict, train_metadata: pd.DataFrame, test_metadata: pd.DataFrame,
                            *, method: str = "umap", seed: int = 0) -> pd.DataFrame:
    """One row of :func:`score_representation` per named ``(train_features, test_features)``."""
    rows = {name: score_representation(train, train_metadata, test, test_metadata, method=method,
                                       seed=seed)[0]
            for name, (train, test) in features.items()}
    return pd.DataFrame(rows).T


def compare_with_baselines(model, data, *, method: str = "umap", seed: int = 0,
                           ) -> tuple[pd.DataFrame, np.ndarray]:
    """Γ and k-NN of the model's global representation (``vqvec2``) beside two training-free
    baselines under the same scoring: raw pixels (PCA, 50 components, fitted on training crops)
    and the same network untrained (random weights, seeded).

    Returns the table (one row per representation) and the model's map of the test crops.
    """
    from ...evaluation.baselines import raw_pixel_features
    from ...nn import infer
    from .model import Cytoself

    train, test = data.parts["train"], data.parts["test"]
    train_meta, test_meta = data.part_metadata("train"), data.part_metadata("test")
    device = next(model.parameters()).device
    torch.manual_seed(seed)
    untrained = Cytoself(model.config).to(device)
    raw = raw_pixel_features(data.images.numpy(), fit_on=train, seed=seed)

    def global_codes(network):
        return (infer(network, data.images[train], output_layer="vqvec2"),
                infer(network, data.images[test], output_layer="vqvec2"))

    train_features, test_features = global_codes(model)
    ours, coordinates = score_representation(train_features, train_meta, test_features, test_meta,
                                             method=method, seed=seed)
    baselines = compare_representations(
        {"raw pixels, PCA 50": (raw[train], raw[test]),
         "untrained cytoself": global_codes(untrained)},
        train_meta, test_meta, method=method, seed=seed)
    table = pd.concat([pd.DataFrame({"cytoself (this run)": ours}).T, baselines])
    return table, coordinates


def compare_split(history_split: pd.DataFrame, history_no_split: pd.DataFrame, epoch: int) -> dict:
    """Fig. 1c's comparison after ``epoch`` epochs of each run's history: the mean per-batch
    training perplexity (``batch_*``, what the paper plots) and the validation perplexity over
    the whole validation set (``all_*``) and over as many vectors as an unsplit quantiser makes
    (``equal_*``, the fair one: a perplexity cannot exceed the number of vectors counted)."""
    if len(history_split) < epoch or len(history_no_split) < epoch:
        raise ValueError(f"both runs need {epoch} epochs; they have {len(history_split)} and "
                         f"{len(history_no_split)}")
    split, no_split = history_split.iloc[epoch - 1], history_no_split.iloc[epoch - 1]
    return {"epoch": epoch,
            "batch_split": float(split.train_perplexity2),
            "batch_no_split": float(no_split.train_perplexity2),
            "all_split": float(split.val_perplexity2_all),
            "all_no_split": float(no_split.val_perplexity2_all),
            "equal_split": float(split.val_perplexity2_unsplit_count),
            "equal_no_split": float(no_split.val_perplexity2_unsplit_count)}


def _score_or_nan(coordinates, labels, **options) -> float:
    """Gamma, or NaN where the ground truth has fewer than two groups (real data have no
    complex table, for instance)."""
    groups = {label for label in labels if label is not None}
    if len(groups) < 2:
        return float("nan")
    return clustering_score(coordinates, labels, **options)


@torch.no_grad()
def zero_code(model, images: torch.Tensor, code: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reconstructions with and without local code ``code`` (its vectors set to 0), and where
    that code was used: (reconstruction, altered, code_map of shape (N, s1, s1)).

    Runs in eval mode on the model's device, and leaves the model as it found it.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = model(images.to(device))
        used = out.local.indices[:, 0] == code                  # (N, s1, s1)
        local = out.local.vectors * (~used)[:, None]
        altered = model.decode(local, out.global_.vectors)
    finally:
        model.train(was_training)
    return (out.reconstruction.float().cpu().numpy(), altered.float().cpu().numpy(),
            used.cpu().numpy())


@dataclass
class SpectrumAnalysis:
    """Fig. 4's pipeline on one set of crops."""

    histograms: pd.DataFrame      # H: proteins x codes, mean local-code histogram per protein
    correlation: np.ndarray       # C: codes x codes Pearson correlation of H's columns
    order: np.ndarray             # the dendrogram order of the codes
    clusters: np.ndarray          # feature cluster of every code (0 = i, 1 = ii, ...)
    spectra: pd.DataFrame         # H with its columns in dendrogram order
    consensus: pd.DataFrame       # classes x codes: mean spectrum of each class's proteins


def spectrum_analysis(local_histograms: np.ndarray, metadata: pd.DataFrame, *,
                      n_clusters: int = 11, exclude_proteins=()) -> SpectrumAnalysis:
    """Per-protein histograms -> correlation -> ordering -> clusters -> spectra -> class consensus.

    The ordering and the consensus are computed without ``exclude_proteins`` (the orphan), whose
    spectrum is then read from ``spectra`` and compared with the consensus.
    """
    histograms = protein_code_histograms(local_histograms, metadata["protein"].to_numpy())
    known = histograms.drop(index=list(exclude_proteins), errors="ignore")
    correlation = code_correlation(known)
    order = feature_order(correlation)
    clusters = feature_clusters(correlation, order, n_clusters)
    spectra = feature_spectra(histograms, order)
    class_of = pd.Series(class_labels(metadata), index=metadata["protein"].to_numpy())
    class_of = class_of[~class_of.index.duplicated()]
    consensus = consensus_spectra(spectra.loc[known.index], class_of)
    return SpectrumAnalysis(histograms, correlation, order, clusters, spectra, consensus)


PEAK_RULES = ("strongest", "specific")


def peak_code(histograms: pd.DataFrame, protein: str, rule: str = "strongest",
              min_share: float = 0.01) -> int:
    """The code whose ablation Fig. 5 shows for ``protein``.

    ``strongest`` is the paper's choice: the highest peak of the protein's spectrum. Crops are
    mostly background, so that peak is often a background code. ``specific`` (our addition) is
    the code most over-represented in this protein relative to the average protein, among the
    codes holding at least ``min_share`` of its histogram.
    """
    if rule not in PEAK_RULES:
        raise ValueError(f"rule must be one of {PEAK_RULES}, got {rule!r}")
    own = histograms.loc[protein].to_numpy(dtype=float)
    if rule == "strongest":
        return int(own.argmax())
    typical = histograms.to_numpy(dtype=float).mean(0)
    ratio = np.where(own >= min_share * own.sum(), own / (typical + 1e-12), -np.inf)
    return int(ratio.argmax())


def zeroing_table(model, images: torch.Tensor, metadata: pd.DataFrame, masks: np.ndarray,
                  histograms: pd.DataFrame, *, rule: str = "strongest") -> tuple[pd.DataFrame, dict]:
    """Fig. 5 for the first protein of every single-localisation class: zero its peak code, and
    measure how much of the change falls inside the protein's ground-truth pattern mask.

    Returns one row per class (code, energy fraction inside the mask, the mask's area fraction,
    their ratio "enrichment") and, per class, the crops and both reconstructions for plotting.
    """
    rows, examples = [], {}
    classes = [c for c in class_labels(metadata) if c is not None]
    for name in sorted(set(classes)):
        protein = sorted(metadata.loc[metadata.localization == name, "protein"].unique())[0]
        code = peak_code(histograms, protein, rule)
        members = np.flatnonzero(metadata.protein.to_numpy() == protein)
        reconstruction, altered, _ = zero_code(model, images[members], code)
        change = change_inside_mask(reconstruction[:, :1], altered[:, :1], masks[members])
        rows.append(dict(localization=name, protein=protein, code=code, **change))
        examples[name] = (members, reconstruction, altered)
    return pd.DataFrame(rows), examples


# ------------------------------------------------------------------- identification

def identification_report(scores: np.ndarray, true_ids, *, complexes=None, classes=None,
                          top_k: int = 5) -> dict:
    """Top-1 / top-k accuracy, chance levels, and where the top-1 mistakes fall.

    ``scores`` is (n_crops, n_ids): logits or probabilities (only their order matters); column
    i is protein ID i, and ``true_ids`` holds each crop's ID. ``complexes`` and ``classes`` give
    the complex and the localisation class of every ID: an array of length n_ids, or a mapping
    {id: label}; a missing label (None/NaN, or an ID absent from the mapping) never matches.

    Always returned: ``top1``, ``top{k}``, ``chance_top1`` = 1/n_ids, ``chance_top{k}`` =
    k/n_ids, ``n_crops``, ``n_wrong``. With ``complexes``: ``share_wrong_same_complex`` (the
    fraction of wrong top-1 predictions that name another member of the true complex),
    ``chance_wrong_same_complex`` (that share if every wrong answer were drawn uniformly from the
    other IDs: the mean of (complex size - 1) / (n_ids - 1) over the wrong crops),
    ``within_complex_top1`` (among crops of a protein in a complex of >= 2 members whose top-1
    prediction stays in that complex, the fraction exactly right) and ``within_complex_chance``
    (the mean 1/size over those crops). With ``classes``: ``share_wrong_same_class``. A share
    without any crop to average over is NaN.
    """
    scores = np.asarray(scores, dtype=np.float64)
    true_ids = np.asarray(true_ids).astype(int)
    if scores.ndim != 2 or len(scores) != len(true_ids):
        raise ValueError(f"expected scores of shape (n_crops, n_ids) with one true ID per crop, "
                         f"got scores {scores.shape} and {len(true_ids)} IDs")
    n_ids = scores.shape[1]
    if true_ids.size and (true_ids.min() < 0 or true_ids.max() >= n_ids):
        raise ValueError(f"true IDs must index the {n_ids} score columns, got values from "
                         f"{true_ids.min()} to {true_ids.max()}")
    k = min(top_k, n_ids)
    ranked = np.argsort(-scores, axis=1, kind="stable")
    predicted = ranked[:, 0]
    wrong = predicted != true_ids
    report = {
        "top1": _mean(~wrong),
        f"top{top_k}": _mean((ranked[:, :k] == true_ids[:, None]).any(1)),
        "chance_top1": 1 / n_ids,
        f"chance_top{top_k}": k / n_ids,
        "n_crops": len(true_ids),
        "n_wrong": int(wrong.sum()),
    }
    if complexes is not None:
        complex_of = _labels_per_id(complexes, n_ids, "complexes")
        same_complex = _same(complex_of, predicted, true_ids)
        report["share_wrong_same_complex"] = _mean(same_complex[wrong])
        sizes = pd.Series(complex_of).value_counts()  # missing labels are not counted
        size = pd.Series(complex_of[true_ids]).map(sizes).fillna(1).to_numpy()
        report["chance_wrong_same_complex"] = _mean((size[wrong] - 1) / max(n_ids - 1, 1))
        in_complex = (size >= 2) & (same_complex | ~wrong)
        report["within_complex_top1"] = _mean(~wrong[in_complex])
        report["within_complex_chance"] = _mean(1 / size[in_complex])
    if classes is not None:
        class_of = _labels_per_id(classes, n_ids, "classes")
        report["share_wrong_same_class"] = _mean(_same(class_of, predicted, true_ids)[wrong])
    return report


def _labels_per_id(labels, n_ids: int, name: str) -> np.ndarray:
    if isinstance(labels, Mapping | pd.Series):
        return np.array([labels.get(i) for i in range(n_ids)], dtype=object)
    labels = np.asarray(labels, dtype=object)
    if len(labels) != n_ids:
        raise ValueError(f"`{name}` must give a label for each of the {n_ids} IDs, got {len(labels)}")
    return labels


def _same(label_of: np.ndarray, predicted: np.ndarray, true_ids: np.ndarray) -> np.ndarray:
    known = ~pd.isna(label_of)
    return known[predicted] & known[true_ids] & (label_of[predicted] == label_of[true_ids])


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


# ------------------------------------------------------------------- interpretation (Fig. 5)

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


def localise_orphans(spectrum: SpectrumAnalysis, metadata: pd.DataFrame
                     ) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """Fig. 4c-e for every held-out protein (``metadata.orphan``): the class whose consensus
    spectrum correlates best with the orphan's. Returns one row per orphan (protein, true class,
    assigned class, best correlation) and each orphan's correlations with every class."""
    from .spectrum import assign_by_spectrum

    orphans = sorted(metadata.loc[metadata.orphan.astype(bool), "protein"].unique())
    rows, correlations = [], {}
    for protein in orphans:
        true_class = metadata.loc[metadata.protein == protein, "localization"].iloc[0]
        best, correlations[protein] = assign_by_spectrum(spectrum.spectra.loc[protein],
                                                         spectrum.consensus)
        rows.append(dict(protein=protein, true_class=true_class, assigned=best,
                         correlation=round(float(correlations[protein].max()), 3)))
    return pd.DataFrame(rows, columns=["protein", "true_class", "assigned", "correlation"]), correlations


def zeroing_study(model, data, crops, spectrum: SpectrumAnalysis) -> dict | None:
    """Fig. 5 on the test crops with both peak rules (:func:`peak_code`): for each rule, the
    per-class table of :func:`zeroing_table` and its plotting examples; None when the crops carry
    no ground-truth pattern masks (real data)."""
    from .data import pattern_masks

    test = data.parts["test"]
    masks = pattern_masks(crops, test, data.images.shape[-1])
    if masks is None:
        return None
    images, metadata = data.images[test], data.part_metadata("test")
    study = {rule: zeroing_table(model, images, metadata, masks, spectrum.histograms, rule=rule)
             for rule in PEAK_RULES}
    study["masks"] = masks
    return study
