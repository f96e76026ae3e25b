"""Leave-one-out k-NN accuracy: the paper's Table 1 protocol (k = 11, standardised, balanced)."""
import numpy as np
import pytest

from cellnb.evaluation.knn import knn_accuracy_loo


def clusters(n_per_class=30, n_classes=3, dim=5, spread=0.1, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5, size=(n_classes, dim))
    labels = np.repeat(np.arange(n_classes), n_per_class)
    return centres[labels] + rng.normal(scale=spread, size=(len(labels), dim)), labels


def brute_force(features, labels, k, standardise=True):
    """Reference: per cell, sort the distances to every other cell, vote, balanced accuracy."""
    x = np.asarray(features, float)
    if standardise:
        x = (x - x.mean(0)) / x.std(0)
    classes = np.unique(labels)
    predicted = []
    for i in range(len(x)):
        others = np.delete(np.arange(len(x)), i)
        nearest = others[np.argsort(np.linalg.norm(x[others] - x[i], axis=1), kind="stable")[:k]]
        counts = [(labels[nearest] == c).sum() for c in classes]
        predicted.append(classes[int(np.argmax(counts))])
    predicted = np.array(predicted)
    return np.mean([(predicted[labels == c] == c).mean() for c in classes])


def test_separated_clusters_are_classified_perfectly():
    features, labels = clusters()
    assert knn_accuracy_loo(features, labels) == pytest.approx(1.0)


def test_shuffled_labels_score_near_chance():
    features, labels = clusters(n_per_class=100, n_classes=4)
    shuffled = np.random.default_rng(1).permutation(labels)
    assert abs(knn_accuracy_loo(features, shuffled) - 0.25) < 0.1


def test_a_cell_never_votes_for_itself():
    # Two classes far apart; one class-0 cell sits exactly on a lone class-1 cell's twin. With
    # k = 1 the twin is the only neighbour: each of the two identical cells must be predicted
    # from the other, never from itself.
    features = np.array([[0.0], [0.1], [0.2], [10.0], [10.0]])
    labels = np.array([0, 0, 0, 1, 0])
    # cell 3 (class 1) sees its twin (class 0): wrong; cell 4 (class 0) sees cell 3: wrong.
    assert knn_accuracy_loo(features, labels, k=1, standardise=False, balanced=False) == 0.6


def test_many_exact_duplicates_still_exclude_self():
    # Six identical points, more than k + 1: self may fall outside the k + 1 returned neighbours;
    # the cell is then still predicted from k others, and all of them are the same class.
    features = np.vstack([np.zeros((6, 2)), np.ones((6, 2)) * 5])
    labels = np.repeat([0, 1], 6)
    assert knn_accuracy_loo(features, labels, k=3) == 1.0


def test_equals_brute_force_reference_on_random_data():
    rng = np.random.default_rng(3)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        features = rng.normal(size=(60, 4))
        labels = rng.integers(0, 3, size=60)
        for k in (1, 4, 11):
            assert knn_accuracy_loo(features, labels, k=k) == pytest.approx(
                brute_force(features, labels, k))


def test_unbalanced_accuracy_and_k_larger_than_the_set():
    features, labels = clusters(n_per_class=3, n_classes=2)
    assert knn_accuracy_loo(features, labels, balanced=False) <= 1.0   # k = 11 cut to n - 1 = 5


def test_refuses_bad_input():
    with pytest.raises(ValueError, match="one label per cell"):
        knn_accuracy_loo(np.zeros((4, 2)), [0, 1, 0])
    with pytest.raises(ValueError, match="at least 2 cells"):
        knn_accuracy_loo(np.zeros((1, 2)), [0])
    with pytest.raises(ValueError, match="NaN"):
        knn_accuracy_loo(np.array([[0.0], [np.nan], [1.0]]), [0, 1, 0])
