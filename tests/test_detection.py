"""Specification of instance matching: hand-made label images whose scores are known exactly."""
import numpy as np
import pytest
from skimage import draw

from cellnb.evaluation.detection import iou_matrix, match_instances


def discs(shape, centres, radius, labels=None):
    image = np.zeros(shape, dtype=np.int32)
    for i, centre in enumerate(centres):
        rr, cc = draw.disk(centre, radius, shape=shape)
        image[rr, cc] = i + 1 if labels is None else labels[i]
    return image


CENTRES = [(15, 15), (15, 45), (45, 15), (45, 45)]


def test_identical_label_images_score_perfectly_whatever_the_label_ids():
    truth = discs((60, 60), CENTRES, 8)
    renamed = discs((60, 60), CENTRES, 8, labels=[40, 7, 1000, 3])
    result = match_instances(renamed, truth)
    assert (result.tp, result.fp, result.fn) == (4, 0, 0)
    assert result.precision == result.recall == result.f1 == result.mean_matched_iou == 1.0
    assert sorted(zip(result.pairs["pred_label"], result.pairs["true_label"])) == [
        (3, 4), (7, 2), (40, 1), (1000, 3)]


def test_one_missing_nucleus_is_a_false_negative():
    truth = discs((60, 60), CENTRES, 8)
    predicted = discs((60, 60), CENTRES[:3], 8)
    result = match_instances(predicted, truth)
    assert (result.tp, result.fp, result.fn) == (3, 0, 1)
    assert result.precision == 1.0
    assert result.recall == pytest.approx(3 / 4)
    assert result.f1 == pytest.approx(2 * 3 / (2 * 3 + 0 + 1))


def test_a_split_nucleus_matches_at_most_once():
    truth = np.zeros((40, 40), dtype=np.int32)
    truth[10:30, 10:30] = 1                     # 400 px
    predicted = np.zeros_like(truth)
    predicted[10:30, 10:22] = 1                 # 240 px: IoU 0.6, a match
    predicted[10:30, 22:30] = 2                 # 160 px: IoU 0.4, a false positive
    result = match_instances(predicted, truth)
    assert (result.tp, result.fp, result.fn) == (1, 1, 0)
    assert result.pairs["pred_label"].tolist() == [1]
    assert result.mean_matched_iou == pytest.approx(0.6)
    # Split into two equal halves (IoU 0.5 each) both may be eligible, but only one can match.
    predicted[10:30, 10:20], predicted[10:30, 20:30] = 1, 2
    result = match_instances(predicted, truth)
    assert (result.tp, result.fp, result.fn) == (1, 1, 0)


def test_a_shifted_disc_matches_only_above_the_threshold():
    truth = discs((80, 80), [(40, 40)], 10)
    shifted = discs((80, 80), [(40, 46)], 10)
    iou = iou_matrix(shifted, truth)[0][0, 0]
    # Two radius-10 discs 6 px apart overlap with IoU of about 0.47 (lens area / union).
    d, r = 6.0, 10.0
    lens = 2 * r * r * np.arccos(d / (2 * r)) - d / 2 * np.sqrt(4 * r * r - d * d)
    assert iou == pytest.approx(lens / (2 * np.pi * r * r - lens), abs=0.03)

    below = match_instances(shifted, truth, iou_threshold=iou + 0.01)
    above = match_instances(shifted, truth, iou_threshold=iou - 0.01)
    assert (below.tp, below.fp, below.fn) == (0, 1, 1) and below.f1 == 0.0
    assert (above.tp, above.fp, above.fn) == (1, 0, 0)
    assert above.mean_matched_iou == pytest.approx(iou)


def test_low_thresholds_maximise_the_number_of_matches():
    # Pred 1 overlaps true 1 best (IoU 8/14 = 0.57) but also true 2 (4/12 = 0.33); pred 2 overlaps
    # only true 1 (2/10 = 0.2). Best-IoU-first matching (or maximising summed IoU, 0.57 > 0.53)
    # finds one pair; the matching with the most pairs at IoU >= 0.2 finds two.
    truth = np.zeros((10, 20), dtype=np.int32)
    truth[:, 0:10], truth[:, 10:14] = 1, 2
    predicted = np.zeros_like(truth)
    predicted[:, 2:14], predicted[:, 0:2] = 1, 2
    result = match_instances(predicted, truth, iou_threshold=0.2)
    assert result.tp == 2
    assert sorted(zip(result.pairs["pred_label"], result.pairs["true_label"])) == [(1, 2), (2, 1)]
    assert result.mean_matched_iou == pytest.approx((4 / 12 + 2 / 10) / 2)


def test_iou_matrix_is_the_pairwise_overlap():
    truth = np.array([[1, 1, 0, 2]])
    predicted = np.array([[1, 2, 2, 2]])
    iou, true_ids, pred_ids = iou_matrix(predicted, truth)
    np.testing.assert_allclose(iou, [[1 / 2, 1 / 4], [0, 1 / 3]])
    assert true_ids.tolist() == [1, 2] and pred_ids.tolist() == [1, 2]


def test_empty_predictions_and_empty_truth():
    truth = discs((30, 30), [(15, 15)], 5)
    nothing = np.zeros_like(truth)
    result = match_instances(nothing, truth)
    assert (result.tp, result.fp, result.fn) == (0, 0, 1)
    assert result.recall == 0.0 and result.f1 == 0.0 and np.isnan(result.precision)
    assert np.isnan(match_instances(nothing, nothing).f1)


def test_bad_inputs_say_what_to_do():
    with pytest.raises(ValueError, match="differ in shape"):
        match_instances(np.zeros((4, 4), int), np.zeros((4, 5), int))
    with pytest.raises(TypeError, match="skimage.measure.label"):
        match_instances(np.zeros((4, 4), float), np.zeros((4, 4), int))
    with pytest.raises(ValueError, match="iou_threshold"):
        match_instances(np.zeros((4, 4), int), np.zeros((4, 4), int), iou_threshold=0)
