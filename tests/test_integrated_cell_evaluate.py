"""Integrated Cell evaluation: each criterion holds on crafted inputs where it should, fails where
it should not, and the papers' embedded tables give back their own numbers."""
import math

import numpy as np
import pandas as pd
import pytest

from cellnb.papers.integrated_cell import evaluate as ev


def rng(seed=0):
    return np.random.default_rng(seed)


# --- the papers' tables ---------------------------------------------------------------------

def test_paper_2d_confusion_gives_263_of_304():
    correct, total, accuracy = ev.confusion_accuracy(ev.PAPER_CONFUSION_2D)
    assert (correct, total) == (263, 304)
    assert accuracy == pytest.approx(0.865, abs=5e-4)
    assert ev.PAPER_CONFUSION_2D.sum(axis=1).tolist() == ev.PAPER_TEST_COUNTS_2D.tolist()


def test_paper_2d_report_shows_the_rare_classes_fail():
    report = ev.classification_report(ev.PAPER_CONFUSION_2D, rare="Myosin IIB")
    assert report["rare_recall"] == 0.0
    assert report["recall"]["ZO1"] == pytest.approx(0.2)
    assert report["macro_recall"] == pytest.approx(0.710, abs=5e-4)
    assert report["common_accuracy"] == pytest.approx(263 / 296)


def test_paper_3d_confusion_gives_2140_of_2212():
    correct, total, _ = ev.confusion_accuracy(ev.PAPER_CONFUSION_3D)
    assert (correct, total) == (2140, 2212)


def test_inception_bounds_reproduce_the_3d_training_column():
    bounds = ev.inception_bounds(ev.PAPER_TRAIN_COUNTS_3D)
    assert bounds["all classes"] == pytest.approx(ev.PAPER_INCEPTION_TRAIN_ALL_3D, abs=5e-4)
    assert bounds["Myosin IIB"] == pytest.approx(ev.PAPER_INCEPTION_TRAIN_MYOSIN_3D, rel=2e-4)


# --- R1, R2, R3, C2 ---------------------------------------------------------------------------

def test_reconstruction_beats_the_mean_image_only_when_it_reconstructs():
    targets = rng().uniform(size=(20, 8, 8))
    mean = targets.mean(axis=0)
    good = ev.reconstruction_summary(ev.reconstruction_scores(targets + 0.01, targets, mean))
    bad = ev.reconstruction_summary(ev.reconstruction_scores(rng(1).uniform(size=targets.shape),
                                                             targets, mean))
    assert good["mse_ratio"] < 0.01 and good["bce"] < good["baseline_bce"]
    assert bad["mse_ratio"] > 1.5


def test_prior_matching_small_for_normal_codes_large_for_shifted():
    codes = rng(1).standard_normal((300, 8))
    moments = ev.code_moments(codes)
    assert moments["mean"].abs().max() < 0.25 and moments["std"].between(0.8, 1.2).all()
    same = ev.mmd_to_prior(codes, seed=2)
    shifted = ev.mmd_to_prior(codes * 0.5 + 1.0, seed=2)
    assert abs(same) < 0.01 and shifted > 0.2
    assert ev.mmd_to_prior(codes, seed=2) == same        # seeded


def test_latent_semantics_high_when_linear_zero_for_noise():
    z = rng(3).standard_normal((200, 6))
    parameters = pd.DataFrame(dict(area=z @ rng(4).standard_normal(6) + 5,
                                   noise=rng(5).standard_normal(200)))
    r2 = ev.latent_semantics_r2(z, parameters)
    assert r2["area"] > 0.99 and r2["noise"] < 0.1


def test_zr_regression_r2():
    z = rng(6).standard_normal((100, 4))
    assert ev.regression_r2(z + 0.01 * rng(7).standard_normal(z.shape), z) > 0.99
    assert ev.regression_r2(rng(8).standard_normal(z.shape), z) < 0


# --- C1 -------------------------------------------------------------------------------------

def test_perfect_predictions_give_a_diagonal_confusion():
    labels = np.repeat(np.arange(3), [5, 4, 1])
    table = ev.confusion_table(labels, labels, ["a", "b", "rare"])
    assert (np.asarray(table) == np.diag([5, 4, 1])).all()
    report = ev.classification_report(table, rare="rare")
    assert report["accuracy"] == 1 and report["rare_recall"] == 1


def test_confusion_rows_are_true_columns_predicted():
    table = ev.confusion_table([0, 0, 1], [1, 1, 1], ["a", "b"])
    assert table.loc["a", "b"] == 2 and table.loc["a", "a"] == 0
    assert ev.per_class_recall(table).tolist() == [0.0, 1.0]


# --- I1, I2 ---------------------------------------------------------------------------------

def _cells_with_class_rules(n=40, size=12, seed=9):
    """Each cell's true mean is its class pattern shifted by a cell-specific offset."""
    generator = rng(seed)
    patterns = generator.uniform(size=(2, size, size))
    labels = np.arange(n) % 2
    shifts = generator.integers(-3, 4, size=n)
    truth = np.stack([np.roll(patterns[k], s, axis=1) for k, s in zip(labels, shifts)])
    observed = truth + 0.3 * generator.standard_normal(truth.shape)
    return labels, truth, observed


def test_prediction_equal_to_the_truth_beats_the_template():
    labels, truth, observed = _cells_with_class_rules()
    templates = ev.class_mean_templates(observed, labels, 2)
    scores = ev.integration_scores(truth, truth, templates, labels)
    summary = ev.integration_summary(scores, ["a", "b"])
    assert summary["model_r"] == pytest.approx(1.0)
    assert summary["model_r"] > summary["template_r"] and summary["wilcoxon_p"] < 1e-3
    assert list(summary["per_class"].index) == ["a", "b"]


def test_template_prediction_does_not_beat_the_template():
    labels, truth, observed = _cells_with_class_rules()
    templates = ev.class_mean_templates(observed, labels, 2)
    scores = ev.integration_scores(templates[labels], truth, templates, labels)
    assert ev.integration_summary(scores)["wilcoxon_p"] == 1.0


def test_reference_invariance():
    reference = rng(10).uniform(size=(2, 16, 16))
    same = np.stack([reference + 0.01 * rng(k).standard_normal(reference.shape)
                     for k in range(5)])
    assert ev.reference_invariance(same)["min_r"] > 0.95
    assert ev.reference_invariance(rng(11).uniform(size=(5, 2, 16, 16)))["min_r"] < 0.5


# --- V1, V2 ---------------------------------------------------------------------------------

def test_variation_sign_convention_stereotyped_is_larger():
    """Resamples of one image (stereotyped) > independent noise (variable) ≈ 0."""
    base = rng(12).uniform(size=(16, 16))
    resamples = base + 0.1 * rng(13).standard_normal((30, 16, 16))
    noise = rng(14).standard_normal((30, 16, 16))
    stereotyped, variable = ev.variation_statistic(resamples), ev.variation_statistic(noise)
    assert stereotyped > 1.0 > 0.2 > variable >= 0


def test_variation_is_finite_for_duplicates_and_more_images_than_pixels():
    assert ev.variation_statistic(np.ones((5, 4, 4)) * np.arange(16).reshape(4, 4)) < 14
    assert np.isfinite(ev.variation_statistic(rng(15).standard_normal((40, 3, 3))))


def test_variation_agreement_and_state_shift():
    truth = pd.Series([3.0, 2.0, 1.0, 0.5], index=list("abcd"))
    assert ev.variation_agreement(truth * 2 + 1, truth)["spearman"] == pytest.approx(1.0)
    assert ev.variation_agreement(-truth, truth)["spearman"] == pytest.approx(-1.0)
    generator = rng(16)
    state = np.arange(200) < 40
    values = np.where(state, 1.0, 2.0) + 0.2 * generator.standard_normal(200)
    shift = ev.state_shift(values, state)
    assert shift["median_shift"] < 0 and shift["mannwhitney_p"] < 1e-6
    assert shift["enrichment"] == pytest.approx(5.0)      # all of the top 10 % are in state
    null = ev.state_shift(generator.standard_normal(200), state)
    assert null["mannwhitney_p"] > 0.01


# --- G1, G2 ---------------------------------------------------------------------------------

def test_confident_classifier_reaches_exp_entropy():
    labels = np.repeat(np.arange(4), 25)
    scores = ev.inception_scores(np.eye(4)[labels], labels, list("abcd"))
    assert scores["all classes"] == pytest.approx(4.0)      # exp(H) of 4 balanced classes
    assert scores["a"] == pytest.approx(4.0)


def test_inception_score_matches_bounds_on_imbalanced_labels():
    labels = np.repeat(np.arange(3), [60, 30, 10])
    scores = ev.inception_scores(np.eye(3)[labels], labels)
    bounds = ev.inception_bounds(pd.Series(np.bincount(labels), index=["0", "1", "2"]))
    assert np.allclose(scores.to_numpy(), bounds.to_numpy())
    uninformative = ev.inception_scores(np.full((100, 3), 1 / 3), labels)
    assert uninformative["all classes"] == pytest.approx(1.0)


def test_correlation_distributions_same_source_close_other_far():
    def images(seed, spread):
        base = rng(100).uniform(size=(12, 12))
        return base + spread * rng(seed).standard_normal((25, 12, 12))
    labels = np.zeros(25, int)
    close = ev.correlation_distribution_distance(images(1, 0.3), labels, images(2, 0.3), labels)
    far = ev.correlation_distribution_distance(images(1, 0.3), labels, images(3, 3.0), labels)
    assert close.loc[0, "ks"] < 0.25 and far.loc[0, "ks"] > 0.9


# --- L1 -------------------------------------------------------------------------------------

def test_leakage_near_chance_for_independent_codes_high_for_dependent():
    labels = np.arange(300) % 3
    independent = ev.class_leakage(rng(17).standard_normal((300, 4)), labels)
    assert independent["excess"] < 0.15
    dependent = rng(18).standard_normal((300, 4))
    dependent[:, 0] += 6 * labels
    leaky = ev.class_leakage(dependent, labels)
    assert leaky["accuracy"] > 0.9 and leaky["excess"] > 0.5


# --- T1 -------------------------------------------------------------------------------------

def _disc(radius, size=32):
    y, x = np.mgrid[:size, :size] - size / 2
    r = np.hypot(y, x)
    return (np.abs(r - radius) < 1).astype(float)             # an outline, filled by the area


def test_growing_outline_is_monotone_random_frames_are_not():
    frames = np.stack([_disc(r) for r in (4, 6, 8, 10, 12)])
    areas = ev.membrane_area(frames)
    assert areas[0] > math.pi * 3 ** 2 and np.all(np.diff(areas) > 0)
    result = ev.traversal_monotonicity(areas)
    assert result["monotone"] and result["strict"]
    shuffled = ev.traversal_monotonicity(areas[[2, 0, 4, 1, 3]])
    assert not shuffled["monotone"]
    assert not ev.traversal_monotonicity([5, 5, 5])["monotone"]
