"""The identification report (cytoself's pretext task): accuracy, chance, and where mistakes fall."""
import numpy as np
import pytest

from cellnb.papers.cytoself.evaluate import identification_report

# Six proteins: 0 and 1 form a complex, 2 and 3 another; 0–3 are nuclear, 4–5 cytoplasmic.
COMPLEXES = ["A", "A", "B", "B", None, None]
CLASSES = ["nuclear"] * 4 + ["cytoplasmic"] * 2


def _scores(predicted_rankings, n_ids=6):
    """Scores whose descending order is each given ranking (the rest after it)."""
    scores = np.zeros((len(predicted_rankings), n_ids))
    for row, ranking in enumerate(predicted_rankings):
        scores[row, list(ranking)] = np.linspace(1, 0.5, len(ranking))
    return scores


def test_accuracies_and_chance_levels():
    true = [0, 1, 2, 4]
    scores = _scores([[0], [2, 3, 4, 5, 0, 1], [3, 2, 1], [5, 4]])
    report = identification_report(scores, true, top_k=2)
    assert report["top1"] == pytest.approx(1 / 4)
    assert report["top2"] == pytest.approx(3 / 4)  # crop 1 has its protein ranked last
    assert report["chance_top1"] == pytest.approx(1 / 6) and report["chance_top2"] == pytest.approx(2 / 6)
    assert report["n_crops"] == 4 and report["n_wrong"] == 3
    assert "share_wrong_same_complex" not in report  # only reported when complexes are given


def test_logits_and_probabilities_give_the_same_report():
    logits = np.random.default_rng(0).normal(size=(50, 6))
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    true = np.random.default_rng(1).integers(0, 6, 50)
    assert identification_report(logits, true) == identification_report(probabilities, true)


def test_where_the_mistakes_fall():
    true = [0, 0, 2, 2, 4, 1]
    predicted = [1, 1, 3, 0, 5, 1]  # wrong: 4 of the first 5, right: the last
    scores = np.eye(6)[predicted]
    report = identification_report(scores, true, complexes=COMPLEXES, classes=CLASSES)
    assert report["n_wrong"] == 5
    # Wrong predictions 0→1, 0→1, 2→3 stay in the complex; 2→0 and 4→5 do not (4 has no complex).
    assert report["share_wrong_same_complex"] == pytest.approx(3 / 5)
    assert report["share_wrong_same_class"] == pytest.approx(5 / 5)
    # Crops whose top-1 stays inside their complex: the three confusions and the correct 1→1.
    assert report["within_complex_top1"] == pytest.approx(1 / 4)
    assert report["within_complex_chance"] == pytest.approx(1 / 2)
    # By chance a wrong answer names one of the (size - 1) partners among the 5 other IDs:
    # 1/5 for the wrong crops of proteins 0, 0, 2, 2, and 0 for protein 4 (no complex).
    assert report["chance_wrong_same_complex"] == pytest.approx((4 * 1 / 5 + 0) / 5)


def test_chance_share_grows_with_the_complex():
    complexes = ["A"] * 4 + [None] * 6            # a complex of 4 among 10 proteins
    report = identification_report(np.eye(10)[[9]], [0], complexes=complexes)
    assert report["chance_wrong_same_complex"] == pytest.approx(3 / 9)


def test_labels_may_be_given_as_a_mapping():
    true, predicted = [0, 2], [1, 5]
    scores = np.eye(6)[predicted]
    from_list = identification_report(scores, true, complexes=COMPLEXES, classes=CLASSES)
    from_mapping = identification_report(scores, true, complexes={0: "A", 1: "A", 2: "B", 3: "B"},
                                         classes=dict(enumerate(CLASSES)))
    assert from_list == from_mapping
    assert from_list["share_wrong_same_complex"] == pytest.approx(1 / 2)


def test_no_mistakes_gives_nan_shares():
    report = identification_report(np.eye(6), range(6), complexes=COMPLEXES)
    assert report["top1"] == 1 and np.isnan(report["share_wrong_same_complex"])


def test_rejects_ids_outside_the_score_columns():
    with pytest.raises(ValueError, match="index the 6 score columns"):
        identification_report(np.eye(6), [0, 1, 2, 3, 4, 6])
    with pytest.raises(ValueError, match="label for each of the 6 IDs"):
        identification_report(np.eye(6), range(6), complexes=["A", "A"])
