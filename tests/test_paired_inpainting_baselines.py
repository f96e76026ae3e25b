"""Paired inpainting's baselines over seeds: every variant trained and scored the same way."""
import numpy as np
import pandas as pd
import pytest
import torch

from cellnb.papers.paired_inpainting.baselines import (
    RANDOM,
    accuracy_table,
    best_layers,
    cell_line_table,
    formatted,
    mean_and_sd,
    pretext_loss,
    seed_differences,
    train_variants,
    variant_features,
)
from cellnb.papers.paired_inpainting.data import pairs_from_fields
from cellnb.papers.paired_inpainting.findings import OURS
from cellnb.papers.paired_inpainting.model import LAYERS, PairedInpainting, preset
from cellnb.papers.paired_inpainting.train import TrainSettings
from cellnb.sim import atlas_config, generate_fields


@pytest.fixture(scope="module")
def runs_and_cells(tmp_path_factory):
    fields = generate_fields(atlas_config("smoke", fields_per_protein=8), progress=False,
                             proteins=["NPL1", "CYT1", "MIT1", "PMB1"])
    data = pairs_from_fields(fields, crop_size=32, min_cells=6, output_size=16,
                             fractions=(0.4, 0.2, 0.4))
    config = preset("smoke", source_channels=3, target_marker_channels=2)
    settings = TrainSettings(epochs=1, batch_size=32, learning_rate=1e-3)
    folder = tmp_path_factory.mktemp("checkpoints")
    runs = train_variants(config, data, settings, seeds=(0, 1), checkpoint_dir=folder)
    return runs, data.evaluation_cells("test"), config, (data, settings, folder)


def test_every_variant_and_seed_is_trained_and_the_random_network_is_the_start(runs_and_cells):
    runs, _, config, _ = runs_and_cells
    assert sorted((r.variant, r.seed) for r in runs) == sorted(
        (v, s) for v in ("paired", "self pairs", "autoencoder", RANDOM) for s in (0, 1))
    torch.manual_seed(1)
    start = PairedInpainting(config).state_dict()
    random_run = next(r for r in runs if r.variant == RANDOM and r.seed == 1)
    for name, value in random_run.model.state_dict().items():
        assert torch.equal(value, start[name]), name
    trained = next(r for r in runs if r.variant == "paired" and r.seed == 1)
    first_conv = next(name for name in start if name.startswith("source_encoder")
                      and name.endswith("weight"))
    assert not torch.equal(trained.model.state_dict()[first_conv], start[first_conv])
    assert np.isfinite(pretext_loss(runs)["mean"]).all()


def test_second_call_reloads_the_checkpoints(runs_and_cells):
    runs, _, config, (data, settings, folder) = runs_and_cells
    again = train_variants(config, data, settings, seeds=(0,), variants=("self pairs",),
                           checkpoint_dir=folder)
    before = next(r for r in runs if r.variant == "self pairs" and r.seed == 0)
    for name, value in again[0].model.state_dict().items():
        assert torch.equal(value, before.model.state_dict()[name])


def test_tables_over_seeds(runs_and_cells):
    runs, cells, _, _ = runs_and_cells
    features = variant_features(runs, cells)
    accuracy = accuracy_table(features, cells)
    assert len(accuracy) == 8 and set(LAYERS) <= set(accuracy.columns)
    assert accuracy[list(LAYERS)].stack().between(0, 1).all()
    summary = mean_and_sd(accuracy)
    paired = accuracy[accuracy.variant == "paired"][list(LAYERS)]
    np.testing.assert_allclose(summary["mean"].loc["paired", list(LAYERS)], paired.mean())
    np.testing.assert_allclose(summary["sd"].loc["paired", list(LAYERS)], paired.std())
    np.testing.assert_allclose(summary["mean"].loc["paired", "best"],
                               paired.max(axis=1).mean())
    assert formatted(summary).loc["paired", "conv1"].count("±") == 1
    differences = seed_differences(accuracy)
    assert list(differences.index) == [0, 1]
    layers = best_layers(summary)
    assert set(layers) == {"paired", "self pairs", "autoencoder", RANDOM}
    table = cell_line_table(features, cells, layers)
    assert {OURS, "hand-crafted", RANDOM} <= set(table.index)
    np.testing.assert_allclose(table["difference"], table["different"] - table["same"])
    assert isinstance(table, pd.DataFrame)


def test_unknown_variants_are_refused(runs_and_cells):
    _, _, config, (data, settings, _) = runs_and_cells
    with pytest.raises(ValueError, match="unknown variants"):
        train_variants(config, data, settings, seeds=(0,), variants=("denoising",))
