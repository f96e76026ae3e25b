"""The Integrated Cell's analyses: each criterion's function on crafted inputs whose answer is
known, and the whole chain on a briefly trained smoke model."""
import numpy as np
import pandas as pd
import pytest
import torch

from cellnb.papers import integrated_cell as ic
from cellnb.papers.integrated_cell import analysis
from cellnb.papers.integrated_cell.model import ConditionalOutput
from cellnb.sim import IntegratedCellConfig as ToyCells
from cellnb.sim import resample_structure

SIZE = 32


def disc(radius: float, centre=(SIZE / 2, SIZE / 2), size: int = SIZE) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    return ((y - centre[0]) ** 2 + (x - centre[1]) ** 2 <= radius ** 2).astype(np.float32)


def crafted_held_out(images, labels, *, log_probs=None, zr=None, zr_hat=None,
                     reconstruction=None, metadata=None) -> analysis.HeldOut:
    n = len(images)
    images = torch.as_tensor(np.asarray(images, np.float32))
    zr = torch.zeros(n, 4) if zr is None else torch.as_tensor(zr, dtype=torch.float32)
    log_probs = torch.zeros(n, 3) if log_probs is None else torch.as_tensor(log_probs)
    output = ConditionalOutput(log_probs, zr if zr_hat is None else torch.as_tensor(zr_hat),
                               torch.zeros(n, 4),
                               images if reconstruction is None else reconstruction)
    return analysis.HeldOut(np.arange(n), images, np.asarray(labels),
                            pd.DataFrame(index=range(n)) if metadata is None else metadata,
                            zr, images[:, [0, 2]], output)


@pytest.fixture(scope="module")
def trained():
    toy = ToyCells(n_cells=96, size=SIZE, seed=0)
    data = ic.load_cells("synthetic", sim_config=toy, cache=False, hold_out=0.1)
    config = ic.preset("smoke", n_classes=data.n_classes, image_shape=data.image_shape)
    run = ic.train_integrated_cell(config, data, ic.TrainSettings(
        reference_epochs=2, conditional_epochs=2, batch_size=24), seed=0, verbose=False)
    return toy, data, run


def test_held_out_runs_both_models_in_eval_mode_on_the_test_cells(trained):
    _, data, run = trained
    held = analysis.held_out(run.reference, run.conditional, data)
    n = len(data.parts["test"])
    assert len(held) == n and held.images.shape == (n, 3, SIZE, SIZE)
    assert held.reference_reconstruction.shape == (n, 2, SIZE, SIZE)
    assert held.output.reconstruction.shape == (n, 3, SIZE, SIZE)
    assert not run.reference.training and not run.conditional.training
    assert torch.allclose(held.zr, run.zr[data.parts["test"]], atol=1e-5)   # same frozen z^r
    again = analysis.held_out(run.reference, run.conditional, data)
    assert torch.equal(again.output.zs, held.output.zs)


def test_the_whole_chain_gives_every_findings_input(trained):
    toy, data, run = trained
    held = analysis.held_out(run.reference, run.conditional, data)
    seen = analysis.train_reconstructions(run.reference, run.conditional, data, n=16)
    recon = analysis.reconstruction_check(data, held, train_reconstruction=seen["reference"])
    assert recon["test_mse"] > 0 and recon["train_bce"] > 0
    predictions = analysis.integrate_held_out(run.conditional, held)
    assert predictions.shape == (len(held), data.n_classes, 3, SIZE, SIZE)
    truths = analysis.ground_truth_means(toy, held, data.class_names, n=2)
    templates = np.zeros((data.n_classes, SIZE, SIZE)) + np.arange(SIZE)
    integration = analysis.integration_check(predictions, held, templates, data.class_names,
                                             truths=truths)
    assert integration["ground_truth"] and np.isfinite(integration["model_r"])
    walks = analysis.traversals(run.reference, steps=[-1, 0, 1])
    assert walks.shape == (run.reference.config.latent_reference, 3, 2, SIZE, SIZE)
    table = ic.findings(reconstruction=recon, integration=integration,
                        invariance=analysis.invariance_check(predictions),
                        traversal=analysis.traversal_check(walks),
                        classification=analysis.classification_check(
                            held, data.class_names, rare=analysis.rarest_class(data)),
                        zr_r2=analysis.zr_regression_check(held))
    assert set(table.reproduced) <= {"yes", "no", "n/a (not measured)"} | {
        v for v in table.reproduced if v.startswith("n/a")}


def test_ground_truth_means_are_the_mean_of_fresh_draws_in_the_same_cell(trained):
    toy, data, run = trained
    held = analysis.held_out(run.reference, run.conditional, data)
    means = analysis.ground_truth_means(toy, held, data.class_names, n=3)
    cell, label = int(held.metadata.cell[0]), int(held.labels[0])
    expected = resample_structure(toy, cell, data.class_names[label], 3).mean(0)
    np.testing.assert_allclose(means[0], expected)
    every = analysis.ground_truth_means(toy, held, data.class_names, n=3, classes=[0, 1])
    assert every.shape == (len(held), 2, SIZE, SIZE)


def test_reconstruction_check_perfect_and_mean_image():
    images = np.stack([np.stack([disc(r), disc(r / 2), disc(r / 3)]) for r in (4, 6, 8, 10)])

    class Data:
        parts = {"train": np.arange(4), "test": np.arange(4)}
    Data.images = torch.as_tensor(images)
    perfect = crafted_held_out(images, [0, 1, 2, 0])
    result = analysis.reconstruction_check(Data, perfect, stage="conditional")
    assert result["test_mse"] == pytest.approx(0, abs=1e-9)
    assert result["mean_image_mse"] > 0.01
    mean = torch.as_tensor(images).mean(0, keepdim=True).expand(4, -1, -1, -1)
    lazy = crafted_held_out(images, [0, 1, 2, 0], reconstruction=mean)
    result = analysis.reconstruction_check(Data, lazy, stage="conditional")
    assert result["test_mse"] == pytest.approx(result["mean_image_mse"], rel=1e-5)


def test_prior_check_passes_prior_draws_and_catches_shifted_codes():
    rng = np.random.default_rng(0)
    codes = rng.standard_normal((400, 8))
    good = analysis.prior_check(codes, codes_without_encd=codes + 1.0)
    assert good["max_abs_mean"] < 0.25 and 0.8 < good["min_std"] <= good["max_std"] < 1.2
    assert good["mmd"] < 3 * good["mmd_noise"]
    assert good["mmd_without_encd"] - good["mmd"] > 10 * good["mmd_noise"]
    assert analysis.prior_check(codes + 1.0)["max_abs_mean"] > 0.8


def test_semantics_check_recovers_linearly_encoded_shape_and_skips_real_cells():
    rng = np.random.default_rng(1)
    metadata = pd.DataFrame({name: rng.uniform(1, 5, 300) for name in analysis.SHAPE_PARAMETERS})
    mixing = rng.standard_normal((len(analysis.SHAPE_PARAMETERS), 8))
    result = analysis.semantics_check(metadata.to_numpy() @ mixing, metadata)
    assert result["r2"] > 0.99
    noise = analysis.semantics_check(rng.standard_normal((300, 8)), metadata)
    assert noise["r2"] < 0.1
    assert analysis.semantics_check(rng.standard_normal((300, 8)), pd.DataFrame(
        {"structure": ["a"] * 300})) is None


def test_traversal_check_finds_the_axis_along_which_the_cell_grows():
    steps = 5
    growing = np.stack([np.stack([disc(3 + 2 * s), disc(2)]) for s in range(steps)])
    still = np.stack([np.stack([disc(6), disc(2)])] * steps)
    result = analysis.traversal_check(np.stack([still, growing, still]))
    assert result["axis"] == 1 and result["monotone"] and result["n_monotone"] == 1
    assert result["table"].area_change[1] > 0
    assert not analysis.traversal_check(np.stack([still, still]))["monotone"]


def test_classification_check_and_the_rarest_class():
    images = np.zeros((6, 3, 4, 4))
    labels = np.array([0, 0, 1, 1, 2, 2])
    guesses = np.array([0, 0, 1, 1, 2, 0])
    held = crafted_held_out(images, labels, log_probs=np.log(np.eye(3)[guesses] + 1e-6))
    result = analysis.classification_check(held, ["a", "b", "c"], rare="c")
    assert result["accuracy"] == pytest.approx(5 / 6) and result["rare_recall"] == 0.5
    assert result["common_accuracy"] == 1.0 and result["n"] == 6

    class Data:
        labels = torch.tensor([0, 0, 0, 1, 2, 2])
        parts = {"train": np.arange(6)}
        n_classes = 3
        class_names = ["a", "b", "c"]
    assert analysis.rarest_class(Data) == "b"


def test_zr_regression_check_is_one_for_a_perfect_head():
    zr = np.random.default_rng(2).standard_normal((50, 4))
    held = crafted_held_out(np.zeros((50, 3, 4, 4)), np.zeros(50, int), zr=zr, zr_hat=zr)
    assert analysis.zr_regression_check(held) == pytest.approx(1.0)


def test_integration_check_scores_a_perfect_model_above_the_template():
    rng = np.random.default_rng(3)
    n, k = 12, 3
    labels = np.arange(n) % k
    truths = np.stack([disc(3 + i % 5, centre=(10 + i, 16)) for i in range(n)])
    predictions = rng.uniform(0, 0.1, (n, k, 3, SIZE, SIZE)).astype(np.float32)
    predictions[np.arange(n), labels, 1] = truths
    templates = np.stack([truths[labels == c].mean(0) for c in range(k)])
    held = crafted_held_out(np.zeros((n, 3, SIZE, SIZE)), labels)
    names = ["envelope", "nucleolus", "puncta"]
    result = analysis.integration_check(predictions, held, templates, names, truths=truths)
    assert result["model_r"] == pytest.approx(1.0) and result["template_r"] < 0.95
    assert result["wilcoxon_p"] < 0.01 and result["determined_r"] == pytest.approx(1.0)
    assert analysis.integration_check(predictions, held, templates, names) == {
        "ground_truth": False}


def test_nucleus_masks_find_the_dna_blob():
    dna = 0.9 * disc(6, centre=(12, 14)) + 0.05 * disc(1, centre=(2, 2))
    mask = analysis.nucleus_masks(dna[None])[0]
    assert mask.sum() == disc(6, centre=(12, 14)).sum() and not mask[2, 2]


def test_placement_check_measures_inside_the_nucleus_and_on_its_rim():
    n, names = 4, ["envelope", "nucleolus"]
    nucleus = disc(6)
    images = np.zeros((n, 3, SIZE, SIZE), np.float32)
    images[:, 2] = nucleus
    inside = disc(2)
    rim = disc(7) - disc(5)
    outside = disc(3, centre=(4, 4))
    good = np.zeros((n, 2, 3, SIZE, SIZE), np.float32)
    good[:, 0, 1], good[:, 1, 1] = rim, inside
    bad = np.zeros_like(good)
    bad[:, 0, 1], bad[:, 1, 1] = outside, outside
    held = crafted_held_out(images, np.zeros(n, int))
    truths = good[:, :, 1]
    result = analysis.placement_check(good, held, names, truths=truths)
    assert result["nucleolus_inside"] == pytest.approx(1.0)
    assert result["envelope_rim"] > 0.9 and result["envelope_rim_truth"] > 0.9
    wrong = analysis.placement_check(bad, held, names)
    assert wrong["nucleolus_inside"] < 0.05 and wrong["envelope_rim"] < 0.05
    assert wrong["nucleolus_inside_truth"] is None
    assert analysis.placement_check(good, held, ["a", "b"]) is None


def test_invariance_check_is_one_when_the_reference_ignores_the_class():
    rng = np.random.default_rng(4)
    cells = rng.uniform(0, 1, (3, 1, 3, 8, 8)).repeat(4, axis=1)
    cells[:, :, 1] = rng.uniform(0, 1, (3, 4, 8, 8))        # the structure may differ
    result = analysis.invariance_check(cells)
    assert result["median_min_r"] == pytest.approx(1.0) and result["worst_r"] == pytest.approx(1)
    cells[0, 1, 0] = rng.uniform(0, 1, (8, 8))              # one class redraws the membrane
    assert analysis.invariance_check(cells)["worst_r"] < 0.8


# --- the 3D paper's criteria on the same briefly trained model ----------------------------------

def test_inception_check_reports_every_source_beside_its_bound(trained):
    _, data, run = trained
    held = analysis.held_out(run.reference, run.conditional, data)
    table = analysis.inception_check(run.conditional, data, held, n_train=32)
    assert list(table.columns) == ["data train", "data test", "enc-dec test", "generated",
                                   "bound"]
    assert "all classes" in table.index
    # exp(mutual information): between 1 (KL >= 0) and the number of classes.
    scores = table.drop(columns="bound").to_numpy()
    assert (scores[np.isfinite(scores)] >= 1 - 1e-5).all()
    assert (table.loc["all classes"].drop("bound") <= data.n_classes + 1e-6).all()
    counts = np.bincount(data.labels[data.parts["train"]].numpy())
    frequency = counts / counts.sum()
    assert table.loc["all classes", "bound"] == pytest.approx(
        np.exp(-(frequency[frequency > 0] * np.log(frequency[frequency > 0])).sum()))


def test_generated_cells_are_seeded_and_of_the_model_shape(trained):
    _, data, run = trained
    labels = np.array([0, 1, 2, 0])
    a = analysis.generated_cells(run.conditional, labels, seed=1)
    assert a.shape == (4, 3, SIZE, SIZE)
    assert torch.equal(a, analysis.generated_cells(run.conditional, labels, seed=1))
    assert not torch.equal(a, analysis.generated_cells(run.conditional, labels, seed=2))


def test_correlation_check_is_zero_for_identical_sets_and_one_for_disjoint_ones():
    rng = np.random.default_rng(5)
    n = 12
    labels = np.arange(n) % 2
    base = rng.uniform(0, 1, (1, 3, 8, 8))
    images = base + 0.05 * rng.standard_normal((n, 3, 8, 8))     # near-duplicates: r near 1
    held = crafted_held_out(images, labels, reconstruction=torch.as_tensor(images,
                                                                           dtype=torch.float32))
    noise = torch.as_tensor(rng.uniform(0, 1, (n, 3, 8, 8)), dtype=torch.float32)  # r near 0
    table = analysis.correlation_check(held, noise, ["a", "b"])
    assert list(table.columns) == ["generated", "enc-dec test"]
    assert (table["enc-dec test"] == 0).all() and (table["generated"] == 1).all()


def test_leakage_check_reads_a_class_written_into_z_s():
    n = 40
    labels = np.arange(n) % 2
    images = np.zeros((n, 3, 4, 4))
    held = crafted_held_out(images, labels)
    rng = np.random.default_rng(6)
    held.output.zs = torch.as_tensor(rng.standard_normal((n, 4)) + 3 * labels[:, None],
                                     dtype=torch.float32)
    assert analysis.leakage_check(held)["accuracy"] > 0.9
    held.output.zs = torch.as_tensor(rng.standard_normal((n, 4)), dtype=torch.float32)
    assert analysis.leakage_check(held)["excess"] < 0.25
