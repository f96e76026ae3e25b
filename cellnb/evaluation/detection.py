"""How well a segmentation finds objects: one-to-one matching of instances by overlap.

A pixel-level score (Dice of foreground against background) cannot tell one nucleus from two
merged ones, yet every crop-based pipeline in this book (cytoself's nucleus-centred crops, paired
cell inpainting's single-cell crops) depends on getting *instances* right. The usual instance
score matches predicted and true objects one-to-one, counts a match only when their
intersection over union (IoU) reaches a threshold (0.5 by convention, as in the DSB2018 challenge),
and reports detection precision, recall and F1 over the matched/unmatched objects.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from skimage.metrics import contingency_table
from skimage.segmentation import relabel_sequential


@dataclass(frozen=True)
class InstanceMatch:
    """The result of :func:`match_instances`; ratios with a zero denominator are NaN."""

    iou_threshold: float
    n_pred: int
    n_true: int
    tp: int                      # matched pairs with IoU >= threshold
    fp: int                      # predicted objects left unmatched
    fn: int                      # true objects left unmatched
    precision: float             # tp / n_pred
    recall: float                # tp / n_true
    f1: float                    # 2 tp / (2 tp + fp + fn)
    mean_matched_iou: float      # mean IoU over the tp pairs
    pairs: pd.DataFrame          # one row per match: pred_label, true_label, iou

    def as_dict(self) -> dict:
        """The scalar scores, e.g. to record or tabulate."""
        return {key: getattr(self, key) for key in (
            "iou_threshold", "n_pred", "n_true", "tp", "fp", "fn",
            "precision", "recall", "f1", "mean_matched_iou")}


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else float("nan")


def iou_matrix(pred_labels: np.ndarray, true_labels: np.ndarray):
    """IoU of every (true, pred) instance pair, from the contingency table of the two images.

    Returns ``(iou, true_ids, pred_ids)``: ``iou[i, j]`` is the IoU of true object ``true_ids[i]``
    and predicted object ``pred_ids[j]``. Label 0 is background in both images.
    """
    pred_labels, true_labels = _check_label_images(pred_labels, true_labels)
    # Sequential labels keep the table as small as the number of objects, whatever the ids are;
    # relabelling preserves order, so sequential label k is the k-th smallest original id.
    pred_seq = relabel_sequential(pred_labels)[0]
    true_seq = relabel_sequential(true_labels)[0]
    pred_ids, true_ids = _object_ids(pred_labels), _object_ids(true_labels)
    # Row 0 / column 0 of the table count overlap with background, so row and column sums give
    # each object's full area.
    table = contingency_table(true_seq, pred_seq).toarray().astype(np.float64)
    true_area = table.sum(axis=1)[1:, None]
    pred_area = table.sum(axis=0)[None, 1:]
    intersection = table[1:, 1:]
    union = true_area + pred_area - intersection
    iou = np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)
    return iou, true_ids, pred_ids


def _object_ids(labels: np.ndarray) -> np.ndarray:
    ids = np.unique(labels)
    return ids[ids > 0]


def match_instances(pred_labels: np.ndarray, true_labels: np.ndarray, *,
                    iou_threshold: float = 0.5) -> InstanceMatch:
    """Match predicted to true instances one-to-one and score the detection.

    Each object takes part in at most one match. Among all one-to-one matchings whose pairs all
    reach ``iou_threshold``, the Hungarian algorithm picks one with the most pairs and, among
    those, the largest total IoU. For thresholds >= 0.5 the matching is unique anyway (two
    objects cannot both overlap a third by more than half its union), so the choice matters only
    for lower thresholds.

    ``pred_labels`` and ``true_labels`` are integer label images of the same shape, 0 = background.
    """
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}; "
                         "0.5 is the usual choice")
    iou, true_ids, pred_ids = iou_matrix(pred_labels, true_labels)
    n_true, n_pred = iou.shape

    eligible = iou >= iou_threshold
    if eligible.any():
        # A weight of (K + IoU) with K above any achievable IoU sum makes "more pairs" dominate
        # "more IoU": the assignment is lexicographic in (count, total IoU).
        big = min(n_true, n_pred) + 1.0
        weight = np.where(eligible, big + iou, 0.0)
        rows, cols = linear_sum_assignment(weight, maximize=True)
        keep = eligible[rows, cols]
        rows, cols = rows[keep], cols[keep]
    else:
        rows = cols = np.zeros(0, dtype=np.int64)

    matched_iou = iou[rows, cols]
    tp = len(rows)
    fp, fn = n_pred - tp, n_true - tp
    pairs = pd.DataFrame({"pred_label": pred_ids[cols], "true_label": true_ids[rows],
                          "iou": matched_iou})
    return InstanceMatch(
        iou_threshold=float(iou_threshold), n_pred=n_pred, n_true=n_true, tp=tp, fp=fp, fn=fn,
        precision=_ratio(tp, n_pred), recall=_ratio(tp, n_true),
        f1=_ratio(2 * tp, 2 * tp + fp + fn),
        mean_matched_iou=float(matched_iou.mean()) if tp else float("nan"),
        pairs=pairs,
    )


def _check_label_images(pred_labels, true_labels):
    pred_labels, true_labels = np.asarray(pred_labels), np.asarray(true_labels)
    if pred_labels.shape != true_labels.shape:
        raise ValueError(f"label images differ in shape: predicted {pred_labels.shape}, true "
                         f"{true_labels.shape}; compare labels of the same field")
    for what, labels in (("predicted", pred_labels), ("true", true_labels)):
        if labels.dtype.kind not in "iub":
            raise TypeError(f"{what} labels must be an integer label image, got dtype "
                            f"{labels.dtype}; label a binary mask with skimage.measure.label")
        if labels.size and labels.min() < 0:
            raise ValueError(f"{what} labels contain negative values; use 0 for background "
                             "and positive integers for objects")
    return pred_labels.astype(np.int64, copy=False), true_labels.astype(np.int64, copy=False)
