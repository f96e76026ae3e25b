"""The clustering score Γ (cytoself Fig. 6, Supp. Table 1): hand-computed values and invariances."""
import numpy as np
import pytest

from cellnb.evaluation.clustering import class_geometry, clustering_score, geometric_median

PLUS = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]], dtype=float)  # median (0, 0), spread 1


def _three_plus_clusters(separation=10.0):
    """Three '+'-shaped classes of spread 1 centred at (0, 0), (s, 0) and (0, s)."""
    centres = np.array([[0, 0], [separation, 0], [0, separation]])
    points = np.concatenate([centre + PLUS for centre in centres])
    return points, np.repeat(["a", "b", "c"], 4)


def _blobs(rng, n_classes=6, n_points=60):
    centres = rng.uniform(-10, 10, (n_classes, 2))
    points = np.concatenate([centre + rng.normal(0, 1, (n_points, 2)) for centre in centres])
    return points, np.repeat(np.arange(n_classes), n_points)


def _rotate(points, angle):
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return points @ rotation.T


def test_hand_computed_paper_score():
    # Centroids (0,0), (10,0), (0,10): their median is (0,0), distances 0, 10, 10 → σ* = 10.
    # Every class has spread 1 → μ* = 1. Γ = 10.
    points, labels = _three_plus_clusters()
    assert clustering_score(points, labels) == pytest.approx(10.0)


def test_hand_computed_official_score():
    # np.std of the pooled centroid coordinates [0, 0, 10, 0, 0, 10] is (10/3)·√2.
    points, labels = _three_plus_clusters()
    assert clustering_score(points, labels, variant="official") == pytest.approx(10 / 3 * np.sqrt(2))


def test_class_geometry_lists_centroids_spreads_and_sizes():
    points, labels = _three_plus_clusters()
    table = class_geometry(points, labels)
    assert list(table.index) == ["a", "b", "c"]
    np.testing.assert_allclose(table[["centroid_0", "centroid_1"]], [[0, 0], [10, 0], [0, 10]])
    np.testing.assert_allclose(table["spread"], 1)
    assert list(table["n_points"]) == [4, 4, 4]


def test_paper_score_is_invariant_to_translation_scaling_and_axis_symmetries():
    points, labels = _blobs(np.random.default_rng(0))
    score = clustering_score(points, labels)
    assert clustering_score(points + [123.0, -45.0], labels) == pytest.approx(score)
    assert clustering_score(points * 3.7, labels) == pytest.approx(score)
    assert clustering_score(_rotate(points, np.pi / 2), labels) == pytest.approx(score)
    assert clustering_score(points * [-1, 1], labels) == pytest.approx(score)


def test_paper_score_under_arbitrary_rotation_is_close_but_exact_only_with_geometric_median():
    # A coordinate-wise median does not rotate with the points, so with the paper's centroids
    # the score changes slightly; with the geometric median it does not change at all.
    points, labels = _blobs(np.random.default_rng(1))
    rotated = _rotate(points, 0.7)
    assert clustering_score(rotated, labels) == pytest.approx(clustering_score(points, labels), rel=0.1)
    assert clustering_score(rotated, labels, centroid="geometric") == pytest.approx(
        clustering_score(points, labels, centroid="geometric"), rel=1e-6)


def test_coordinate_median_is_not_rotation_equivariant_but_geometric_median_is():
    triangle = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    rotated = _rotate(triangle, np.pi / 4)
    assert not np.allclose(np.median(rotated, 0), _rotate(np.median(triangle, 0)[None], np.pi / 4))
    np.testing.assert_allclose(geometric_median(rotated),
                               _rotate(geometric_median(triangle)[None], np.pi / 4)[0], atol=1e-8)


def test_official_score_changes_when_one_axis_moves_but_paper_score_does_not():
    # Shifting y alone is a translation: the clustering is untouched. The official np.std pools
    # x and y values, so it picks up the gap between mean x and mean y.
    points, labels = _three_plus_clusters()
    shifted = points + [0.0, 100.0]
    assert clustering_score(shifted, labels) == pytest.approx(clustering_score(points, labels))
    official, official_shifted = (clustering_score(p, labels, variant="official") for p in (points, shifted))
    assert official_shifted > 5 * official


def test_others_and_missing_labels_are_left_out():
    points, labels = _three_plus_clusters()
    rng = np.random.default_rng(2)
    others = rng.uniform(-50, 50, (30, 2))
    all_points = np.concatenate([points, others, [[7.0, 7.0]]])
    all_labels = np.concatenate([labels, ["others"] * 30, [None]]).astype(object)
    assert clustering_score(all_points, all_labels, exclude={"others"}) == pytest.approx(10.0)
    assert clustering_score(all_points, all_labels) != pytest.approx(10.0)  # "others" counted as a class


def test_nan_labels_are_left_out():
    points, _ = _three_plus_clusters()
    labels = np.repeat([0.0, 1.0, 2.0], 4)
    labels[0] = np.nan  # the '+' of class 0 loses one arm; its spread is still 1
    assert clustering_score(points, labels) == pytest.approx(10.0)


def test_classes_with_a_single_point_are_dropped():
    points, labels = _three_plus_clusters()
    with_singleton = np.concatenate([points, [[30.0, 30.0]]])
    assert clustering_score(with_singleton, [*labels, "lonely"]) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="at least 2 classes"):
        clustering_score(points[:5], labels[:5])  # class "b" has one point, only "a" remains


def test_more_separated_classes_score_higher():
    scores = [clustering_score(*_three_plus_clusters(separation)) for separation in (2, 5, 20)]
    assert scores[0] < scores[1] < scores[2]


def test_works_in_more_than_two_dimensions():
    rng = np.random.default_rng(3)
    centres = np.eye(3) * 20
    points = np.concatenate([c + rng.normal(0, 1, (50, 3)) for c in centres])
    labels = np.repeat(["x", "y", "z"], 50)
    assert clustering_score(points, labels) > 5
    assert clustering_score(points, rng.permutation(labels)) < 1.5  # shuffled labels: no structure


def test_rejects_unknown_variant_and_mismatched_lengths():
    points, labels = _three_plus_clusters()
    with pytest.raises(ValueError, match="variant"):
        clustering_score(points, labels, variant="robust")
    with pytest.raises(ValueError, match="labels"):
        clustering_score(points, labels[:-1])
