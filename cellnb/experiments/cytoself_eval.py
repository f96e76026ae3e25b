"""Scoring cytoself representations as the paper does, on the atlas's ground truth.

* :func:`score_representation` - the UMAP of test crops, the clustering score Gamma at class
  ("organelle") level and at complex level (notes §3, Fig. 2 and Supp. Table 1), and the k-NN
  localisation accuracy fitted on training crops (notes §4.4).
* :func:`spectrum_analysis` - Fig. 4's feature spectra and their class consensus.
* :func:`zero_code` - Fig. 5's feature interpretation: decode with every local vector of one code
  set to zero and see where the image changes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..evaluation.baselines import MULTI_CLASS_KINDS
from ..evaluation.clustering import clustering_score
from ..evaluation.embedding import two_dimensional
from ..evaluation.knn import knn_accuracy
from ..evaluation.spectrum import (
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
    that code was used: (reconstruction, altered, code_map of shape (N, s1, s1))."""
    model.eval()
    out = model(images)
    used = out.local.indices[:, 0] == code                      # (N, s1, s1)
    local = out.local.vectors * (~used)[:, None]
    altered = model.decode(local, out.global_.vectors)
    return out.reconstruction.numpy(), altered.numpy(), used.numpy()


@dataclass
class SpectrumAnalysis:
    """Fig. 4's pipeline on one set of crops (notes §3 and §6 items 23-25)."""

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
    from ..evaluation.interpretation import change_inside_mask

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
