"""The cytoself chapter's experiment code: data preparation, training, scoring and analyses."""
import numpy as np
import pandas as pd
import pytest
import torch

from cellnb.papers.cytoself.ablation import ablation_table, compare_with_paper, run_ablation
from cellnb.papers.cytoself.data import cytoself_data, load_crops, model_inputs
from cellnb.papers.cytoself.evaluate import (
    compare_split,
    score_representation,
    spectrum_analysis,
    zero_code,
)
from cellnb.papers.cytoself.model import Cytoself, preset
from cellnb.papers.cytoself.train import TrainSettings, train_cytoself
from cellnb.sim import AtlasConfig, generate_crops

TINY = AtlasConfig(crop_size=32, n_proteins=32, fields_per_protein=4, crops_per_field=5,
                   cells_per_field=12, field_size=160)


@pytest.fixture(scope="module")
def crops():
    return generate_crops(TINY, progress=False)


@pytest.fixture(scope="module")
def data(crops):
    return cytoself_data(crops, seed=0)


def test_splits_are_disjoint_grouped_by_field_and_hold_the_orphan_out(data):
    parts = {name: set(positions.tolist()) for name, positions in data.parts.items()}
    assert sum(len(p) for p in parts.values()) == len(data.images)
    fields = {name: set(data.metadata.field.iloc[list(p)]) for name, p in parts.items()}
    for a in ("train", "val", "test"):
        for b in ("train", "val", "test"):
            assert a == b or not fields[a] & fields[b], f"a field is in both {a} and {b}"
    orphan = data.metadata.orphan.to_numpy()
    assert set(np.flatnonzero(orphan)) == parts["orphan"] and orphan.any()
    assert (data.labels[data.parts["orphan"]] == -1).all()
    assert set(data.metadata.protein.iloc[data.parts["train"]]) == set(data.proteins)


def test_inputs_are_protein_scaled_per_crop_and_the_distance_map_as_is(crops, data):
    assert data.channels == ("protein", "nuclear_distance")
    protein = data.images[:, 0]
    assert torch.allclose(protein.amax((1, 2)), torch.ones(len(protein)), atol=1e-5)
    np.testing.assert_array_equal(data.images[:, 1].numpy(), crops.channel("nuclear_distance"))
    raw = model_inputs(crops, ("protein", "nucleus"), size=16)
    assert raw.shape == (len(crops), 2, 16, 16) and raw.max() <= 1 + 1e-6
    with pytest.raises(ValueError, match="lack channel"):
        model_inputs(crops, ("protein", "membrane"))
    with pytest.raises(KeyError, match="unknown channel set"):
        cytoself_data(crops, channels="dna")


def test_training_records_every_term_and_a_finished_run_is_reloaded_not_retrained(data, tmp_path):
    config = preset("smoke", n_classes=data.n_classes)
    settings = TrainSettings(epochs=2, learning_rate=1e-3, batch_size=32)
    model, history, trainer = train_cytoself(config, data, settings, checkpoint_dir=tmp_path,
                                             verbose=False)
    for term in ("reconstruction1", "reconstruction2", "vq1", "vq2", "fc1_ce", "fc2_ce", "loss",
                 "perplexity2", "fc2_accuracy"):
        assert f"train_{term}" in history and f"val_{term}" in history
    assert {"val_perplexity2_all", "val_perplexity2_unsplit_count"} <= set(history)
    assert len(history) == 2 and history.train_loss.iloc[-1] < history.train_loss.iloc[0]
    again, history_again, _ = train_cytoself(config, data, settings, checkpoint_dir=tmp_path,
                                             verbose=False)
    pd.testing.assert_frame_equal(history, history_again)
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_checkpoints_are_keyed_by_what_defines_the_run(crops, data, tmp_path):
    """A reader re-running the chapter with another seed gets a fresh run beside the old one
    (it used to stop with ConfigMismatchError); the same parameters find the old run; more
    epochs continue it rather than starting over."""
    config = preset("smoke", n_classes=data.n_classes)
    settings = TrainSettings(epochs=1, learning_rate=1e-3, batch_size=64)
    _, _, first = train_cytoself(config, data, settings, seed=0, checkpoint_dir=tmp_path,
                                 verbose=False)
    _, _, other_seed = train_cytoself(config, data, settings, seed=1, checkpoint_dir=tmp_path,
                                      verbose=False)
    assert first.checkpoint_path != other_seed.checkpoint_path
    assert first.checkpoint_path.exists() and other_seed.checkpoint_path.exists()
    smaller_lr = TrainSettings(**{**settings.__dict__, "learning_rate": 5e-4})
    _, _, other_lr = train_cytoself(config, data, smaller_lr, checkpoint_dir=tmp_path, verbose=False)
    other_data = cytoself_data(crops, seed=1)      # the same crops, another split
    _, _, moved_split = train_cytoself(config, other_data, settings, checkpoint_dir=tmp_path,
                                       verbose=False)
    assert len({first.checkpoint_path, other_lr.checkpoint_path, moved_split.checkpoint_path}) == 3
    longer = TrainSettings(**{**settings.__dict__, "epochs": 2})
    _, history, resumed = train_cytoself(config, data, longer, seed=0, checkpoint_dir=tmp_path,
                                         verbose=False)
    assert resumed.checkpoint_path == first.checkpoint_path and len(history) == 2
    assert len(list(tmp_path.glob("*.pt"))) == 4


def test_fig_1c_comparison_reads_both_histories_at_the_same_epoch():
    def history(batch, all_, equal):
        return pd.DataFrame({"train_perplexity2": batch, "val_perplexity2_all": all_,
                             "val_perplexity2_unsplit_count": equal})

    split = history([10.0, 20, 30], [40.0, 50, 60], [5.0, 6, 7])
    no_split = history([8.0, 9], [4.0, 4.5], [4.0, 4.5])
    compared = compare_split(split, no_split, 2)
    assert compared == {"epoch": 2, "batch_split": 20, "batch_no_split": 9, "all_split": 50,
                        "all_no_split": 4.5, "equal_split": 6, "equal_no_split": 4.5}
    with pytest.raises(ValueError, match="need 3 epochs"):
        compare_split(split, no_split, 3)


def test_epoch_perplexity_over_the_unsplit_count_removes_the_count_advantage():
    """Uniform use of 64 codes over 4x more vectors: the full count sees all 64 codes, the
    unsplit count only as many as 256 draws reach."""
    from cellnb.papers.cytoself.train import epoch_perplexities

    config = preset("smoke")              # 64 global codes, split 4
    codes = torch.arange(1024) % 64
    values = epoch_perplexities(codes, config)
    assert values["perplexity2_all"] == pytest.approx(64, rel=1e-4)
    assert values["perplexity2_unsplit_count"] <= values["perplexity2_all"]
    no_split = epoch_perplexities(codes, config.ablate("no_split"))
    assert no_split["perplexity2_all"] == no_split["perplexity2_unsplit_count"]


def test_scores_see_planted_structure_and_not_noise(data):
    rng = np.random.default_rng(0)
    meta = data.metadata
    classes = pd.factorize(meta.localization)[0]
    planted = np.eye(classes.max() + 1)[classes] * 5 + rng.normal(0, 0.3, (len(meta), classes.max() + 1))
    noise = rng.normal(size=planted.shape)
    train, test = data.parts["train"], data.parts["test"]
    args = (meta.iloc[train].reset_index(drop=True), )
    good, _ = score_representation(planted[train], *args, planted[test],
                                   meta.iloc[test].reset_index(drop=True), method="pca")
    bad, _ = score_representation(noise[train], *args, noise[test],
                                  meta.iloc[test].reset_index(drop=True), method="pca")
    assert good["knn_accuracy"] > 0.9 > 0.3 > bad["knn_accuracy"]
    assert good["gamma_class"] > 2 * bad["gamma_class"]


def test_zeroing_an_unused_code_changes_nothing_and_a_used_one_changes_its_places(data):
    torch.manual_seed(0)
    model = Cytoself(preset("smoke", n_classes=data.n_classes)).eval()
    images = data.images[:6]
    with torch.no_grad():
        indices = model(images, output_layer="vqind1")[:, 0]
    counts = torch.bincount(indices.flatten(), minlength=model.config.local_codes)
    unused, used = int(counts.argmin()), int(counts.argmax())
    assert counts[unused] == 0
    reconstruction, altered, where = zero_code(model, images, unused)
    np.testing.assert_array_equal(reconstruction, altered)
    assert not where.any()
    reconstruction, altered, where = zero_code(model, images, used)
    assert np.array_equal(where, (indices == used).numpy()) and not np.allclose(reconstruction, altered)


def test_zeroing_runs_in_eval_mode_and_leaves_the_model_as_it_was(data):
    torch.manual_seed(0)
    model = Cytoself(preset("smoke", n_classes=data.n_classes)).train()
    images = data.images[:4]
    first = zero_code(model, images, 0)
    assert model.training                           # restored
    again = zero_code(model, images, 0)
    for a, b in zip(first, again):                  # eval mode: BN statistics untouched, no dropout
        np.testing.assert_array_equal(a, b)


def test_spectrum_analysis_orders_codes_and_builds_a_consensus_per_class(data):
    rng = np.random.default_rng(1)
    meta = data.metadata
    classes = pd.factorize(meta.localization)[0]
    # Each class uses its own block of 3 codes out of 64: the consensus spectra must separate.
    histograms = np.zeros((len(meta), 64))
    for i, c in enumerate(classes):
        histograms[i, 3 * c + rng.integers(0, 3, 16)] += 1
    orphan = meta.loc[meta.orphan, "protein"].iloc[0]
    analysis = spectrum_analysis(histograms, meta, n_clusters=5, exclude_proteins=[orphan])
    assert sorted(analysis.order.tolist()) == list(range(64))
    assert orphan in analysis.spectra.index and orphan not in analysis.consensus.index
    assert "mixed" not in analysis.consensus.index and "variable" not in analysis.consensus.index
    from cellnb.papers.cytoself.spectrum import assign_by_spectrum

    true_class = meta.loc[meta.protein == orphan, "localization"].iloc[0]
    assert assign_by_spectrum(analysis.spectra.loc[orphan], analysis.consensus)[0] == true_class


def test_opencell_files_feed_the_same_pipeline_and_train_one_step(tmp_path):
    from test_opencell import write_shards

    write_shards(tmp_path / "opencell_cytoself")
    crops = load_crops("opencell", data_dir=tmp_path, max_crops=6, seed=0)
    assert len(crops) == 6 and crops.channels == ("protein", "nucleus", "nuclear_distance")
    data = cytoself_data(crops, size=32, fractions=(0.5, 0.25, 0.25))
    assert data.images.shape[1:] == (2, 32, 32) and len(data.parts["orphan"]) == 0
    config = preset("smoke", n_classes=data.n_classes)
    _, history, _ = train_cytoself(config, data, TrainSettings(epochs=1, batch_size=4), verbose=False)
    assert np.isfinite(history.train_loss.iloc[0])
    # Real data carry no complex table: the complex-level score is NaN, the rest is computed.
    meta = data.metadata
    features = data.images.reshape(len(meta), -1).numpy()
    scores, _ = score_representation(features, meta, features, meta, method="pca")
    assert np.isnan(scores["gamma_complex"]) and 0 <= scores["knn_accuracy"] <= 1
    with pytest.raises(ValueError, match="unknown dataset"):
        load_crops("hpa")


def test_ablation_runs_every_variant_and_tabulates_mean_and_sem(crops):

    config = preset("smoke")
    runs = run_ablation(crops, config, TrainSettings(epochs=1, batch_size=64),
                        variants=("full", "no_id_task", "raw_nucleus"), seeds=(0,), map_seeds=(0, 1),
                        method="pca")
    assert len(runs) == 3 * 1 * 2
    assert set(runs.variant) == {"full", "no_id_task", "raw_nucleus"}
    table = ablation_table(runs)
    assert list(table.index) == ["full", "no_id_task", "raw_nucleus"]
    assert (table.n == 2).all() and (table.gamma_class_sem >= 0).all()
    full = runs[runs.variant == "full"].gamma_class
    assert table.loc["full", "gamma_class"] == pytest.approx(full.mean())
    assert table.loc["full", "gamma_class_sem"] == pytest.approx(full.std(ddof=1) / np.sqrt(2))
    compared = compare_with_paper(table)
    assert compared.loc["no_id_task", "rank_class_paper"] == 3    # lowest of the three in the paper
    with pytest.raises(KeyError, match="unknown variants"):
        run_ablation(crops, config, TrainSettings(epochs=1), variants=("no_encoder",))


def test_peak_codes_strongest_is_the_papers_and_specific_skips_shared_background():
    from cellnb.papers.cytoself.evaluate import peak_code

    histograms = pd.DataFrame([[50.0, 10, 0, 1], [50, 0, 12, 1], [50, 0, 0, 13]], index=["A", "B", "C"])
    assert peak_code(histograms, "A") == 0              # the background code every protein uses
    assert peak_code(histograms, "A", "specific") == 1  # what sets A apart
    assert peak_code(histograms, "C", "specific") == 3
    with pytest.raises(ValueError, match="rule must be"):
        peak_code(histograms, "A", "largest")


def test_per_protein_tables_follow_the_label_order_and_masks_follow_the_model_size(crops, data):
    from cellnb.papers.cytoself.data import pattern_masks

    complexes = data.per_protein("complex")
    assert len(complexes) == data.n_classes
    for label, protein in enumerate(data.proteins):
        expected = data.metadata.loc[data.metadata.protein == protein, "complex"].iloc[0] or None
        assert complexes[label] == expected
    masks = pattern_masks(crops, data.parts["test"], 16)
    assert masks.shape == (len(data.parts["test"]), 16, 16) and masks.dtype == bool and masks.any()


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_training_learns_and_resumes_exactly(data, precision, tmp_path):
    """The GPU recipe, run on the CPU: autocast, and for fp16 a loss scale that resumes with the run."""
    config = preset("smoke", n_classes=data.n_classes)
    settings = TrainSettings(epochs=2, learning_rate=1e-3, batch_size=64, precision=precision)
    straight, history, _ = train_cytoself(config, data, settings, verbose=False)
    assert np.isfinite(history.train_loss).all()
    assert history.train_loss.iloc[-1] < history.train_loss.iloc[0]

    half = TrainSettings(**{**settings.__dict__, "epochs": 1})
    _, _, trainer = train_cytoself(config, data, half, checkpoint_dir=tmp_path, verbose=False)
    saved = torch.load(trainer.checkpoint_path, weights_only=True)["schedulers"]
    assert list(saved) == (["grad_scaler"] if precision == "fp16" else [])
    if precision == "fp16":
        assert saved["grad_scaler"]["scale"] > 1
    resumed, resumed_history, _ = train_cytoself(config, data, settings, checkpoint_dir=tmp_path,
                                                 verbose=False)
    timing = ["seconds"]
    pd.testing.assert_frame_equal(history.drop(columns=timing), resumed_history.drop(columns=timing))
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
