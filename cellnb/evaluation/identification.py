"""How well does the identification pretext task do, and where do its mistakes go?

cytoself trains its representation by asking which protein a crop shows (Kobayashi et al. 2022,
§"the protein identification pretext task"). Some proteins cannot be told apart: subunits of one
complex share their localisation. A healthy model is well above chance overall, and its mistakes
land mostly on proteins of the same complex, then of the same localisation class (notes/cytoself.md
§4.4 item 2, §6 item 22). Inside a complex it should be near chance.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd


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
