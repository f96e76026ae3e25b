"""Feature-space distances of Fig 2B / Table 2 and the multi-localisation score of Fig 5."""
import numpy as np
import pytest

from cellnb.evaluation.distances import multilocalisation_score, normalised_pairwise_distances, spread_ranking


def images(n_classes=3, images_per_class=8, cells_per_image=5, separation=4.0, dim=6, seed=0,
           cell_line_shift=0.0):
    """Cells grouped into images; each image's label sets its centre. Half the images are in
    cell line 0, half in line 1; ``cell_line_shift`` moves line 1 along a separate direction."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim)) * separation
    features, labels, groups, lines = [], [], [], []
    for c in range(n_classes):
        for i in range(images_per_class):
            line = i % 2
            x = centres[c] + rng.normal(size=(cells_per_image, dim))
            x[:, 0] += cell_line_shift * line
            features.append(x)
            labels += [c] * cells_per_image
            groups += [f"img{c}-{i}"] * cells_per_image
            lines += [line] * cells_per_image
    return np.vstack(features), np.array(labels), np.array(groups), np.array(lines)


def test_same_label_images_are_closer_than_expected_and_noise_is_not():
    features, labels, groups, _ = images()
    result = normalised_pairwise_distances(features, labels, groups=groups, pairs=200)
    assert result["overall"] < -0.3
    assert set(result["per_class"]) == {0, 1, 2}
    assert all(v < 0 for v in result["per_class"].values())
    shuffled_features, *_ = images(separation=0.0)
    noise = normalised_pairwise_distances(shuffled_features, labels, groups=groups, pairs=200)
    assert abs(noise["overall"]) < 0.05


def test_zscore_reading_has_the_same_sign_and_a_larger_magnitude_when_spread_is_small():
    features, labels, groups, _ = images()
    relative = normalised_pairwise_distances(features, labels, groups=groups, pairs=200)
    zscore = normalised_pairwise_distances(features, labels, groups=groups, pairs=200,
                                           normalisation="zscore")
    assert np.sign(zscore["overall"]) == np.sign(relative["overall"])
    assert zscore["overall"] != pytest.approx(relative["overall"])


def test_seeded_and_reproducible():
    features, labels, groups, _ = images()
    first = normalised_pairwise_distances(features, labels, groups=groups, pairs=100, seed=3)
    again = normalised_pairwise_distances(features, labels, groups=groups, pairs=100, seed=3)
    assert first == again


def test_single_cells_as_items_match_a_direct_computation():
    # Two classes on a line; with one cell per item the pair distance is |x_a - x_b|.
    features = np.array([[0.0], [1.0], [10.0], [11.0]])
    labels = np.array([0, 0, 1, 1])
    result = normalised_pairwise_distances(features, labels, pairs=400, standardise=False)
    # same pairs: always distance 1; different pairs: 9, 10, 10 or 11, mean 10
    assert result["per_class"][0] == pytest.approx((1 - 10) / 10, abs=0.02)


def test_table2_protocol_and_cell_line_constraint():
    features, labels, groups, lines = images(cell_line_shift=6.0)
    pooled = normalised_pairwise_distances(features, labels, groups=groups, balanced=False,
                                           pairs=300)
    assert pooled["per_class"] == {} and pooled["overall"] < 0
    same = normalised_pairwise_distances(features, labels, groups=groups, balanced=False, pairs=300,
                                         cell_lines=lines, cell_line_constraint="same")
    different = normalised_pairwise_distances(features, labels, groups=groups, balanced=False,
                                              pairs=300, cell_lines=lines,
                                              cell_line_constraint="different")
    # A cell-line effect makes same-label images of different lines look less alike.
    assert same["overall"] < different["overall"]


def test_normalised_distances_refuse_bad_input():
    features, labels, groups, lines = images()
    with pytest.raises(ValueError, match="normalisation"):
        normalised_pairwise_distances(features, labels, normalisation="ratio")
    with pytest.raises(ValueError, match="one label per cell"):
        normalised_pairwise_distances(features, labels[:-1])
    with pytest.raises(ValueError, match="at least 2 labels"):
        normalised_pairwise_distances(features, np.zeros(len(labels)))
    mixed = labels.copy()
    mixed[0] = 2                       # one cell of image img0-0 carries another label
    with pytest.raises(ValueError, match="two"):
        normalised_pairwise_distances(features, mixed, groups=groups)
    with pytest.raises(ValueError, match="needs cell_lines"):
        normalised_pairwise_distances(features, labels, cell_line_constraint="same")
    with pytest.raises(ValueError, match="single item"):
        normalised_pairwise_distances(np.arange(3.0)[:, None], [0, 1, 1], pairs=10)
    with pytest.raises(ValueError, match="NaN"):
        normalised_pairwise_distances(np.array([[np.nan], [1.0]]), [0, 1])


def test_multilocalisation_score_is_monotone_in_the_mixing_fraction():
    rng = np.random.default_rng(0)
    a_centre, b_centre = rng.normal(size=8) * 3, rng.normal(size=8) * 3
    reference_a = a_centre + 0.1 * rng.normal(size=(50, 8))
    reference_b = b_centre + 0.1 * rng.normal(size=(50, 8))
    alphas = np.linspace(0.05, 0.95, 10)               # share of compartment B
    cells = (1 - alphas)[:, None] * a_centre + alphas[:, None] * b_centre
    scores = multilocalisation_score(cells, reference_a, reference_b)
    assert np.all(np.diff(scores) > 0)                 # more B, more positive
    assert scores[0] < 0 < scores[-1]
    assert abs(multilocalisation_score((a_centre + b_centre) / 2, reference_a, reference_b)) < 0.05
    # exact value: log(alpha / (1 - alpha)) on the segment between the means
    exact = np.log(alphas / (1 - alphas))
    assert scores == pytest.approx(exact, abs=0.05)


def test_multilocalisation_score_refuses_bad_input():
    with pytest.raises(ValueError, match="same dimension"):
        multilocalisation_score(np.zeros((3, 2)), np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="reference_a"):
        multilocalisation_score(np.zeros((3, 2)), np.zeros((0, 2)), np.zeros((4, 2)))


def test_spread_ranking_puts_variable_images_first():
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(0, 0.1, 20), rng.normal(0, 1.0, 20),
                             rng.normal(0, 0.5, 20), [0.3]])
    groups = np.array(["steady"] * 20 + ["variable"] * 20 + ["middle"] * 20 + ["lonely"])
    ranked, spreads = spread_ranking(scores, groups)
    assert list(ranked) == ["variable", "middle", "steady"]     # one-cell image left out
    assert spreads[0] == pytest.approx(np.std(scores[20:40], ddof=1))
    assert np.all(np.diff(spreads) <= 0)


def test_spread_ranking_refuses_bad_input():
    with pytest.raises(ValueError, match="one score and one group"):
        spread_ranking([0.1, 0.2], ["a"])
    with pytest.raises(ValueError, match="NaN or infinity"):
        spread_ranking([0.1, np.inf], ["a", "a"])
    with pytest.raises(ValueError, match="no group"):
        spread_ranking([0.1, 0.2], ["a", "b"])
