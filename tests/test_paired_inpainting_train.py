"""Paired cell inpainting, end to end on small simulated fields: segmentation -> pairs -> training."""
import numpy as np
import pandas as pd
import pytest
import torch

from cellnb.papers.paired_inpainting.data import pairs_from_fields
from cellnb.papers.paired_inpainting.model import preset
from cellnb.papers.paired_inpainting.train import TrainSettings, train_inpainting
from cellnb.sim import atlas_config, generate_fields

PROTEINS = ["NPL1", "MIT1", "CYT1", "PMB1"]
MIN_CELLS = 16


@pytest.fixture(scope="module")
def fields():
    # 4 proteins x 4 fields of 160 px with 32 cells each; the smoke atlas's 32-px crop scale.
    return generate_fields(atlas_config("smoke", fields_per_protein=4), progress=False,
                           proteins=PROTEINS)


@pytest.fixture(scope="module")
def data(fields):
    return pairs_from_fields(fields, crop_size=32, min_cells=MIN_CELLS, output_size=16)


def _config(data):
    return preset("smoke", source_channels=len(data.channels),
                  target_marker_channels=len(data.markers))


SETTINGS = TrainSettings(epochs=2, batch_size=32, learning_rate=1e-3)


def test_cells_are_found_by_segmentation_not_read_from_the_truth(fields):
    data = pairs_from_fields(fields, crop_size=32, min_cells=2)
    assert data.channels == ("protein", "nucleus", "cell_marker")
    assert data.crops.shape[1:] == (3, 32, 32) and data.crops.dtype == torch.float32
    cells = fields.tables["cells"]
    # True cells whose 32-px window fits in the 160-px field: what the border filter can keep.
    fits = cells[cells.centroid_y.between(16, 144) & cells.centroid_x.between(16, 144)]
    assert 0.7 * len(fits) <= len(data.crops) <= 1.3 * len(fits)
    assert len(data.crops) != len(cells)
    # Crop centres are the segmented nuclei's centroids, which are not the true cell centroids...
    truth = cells.set_index(["field", "cell"]).loc[list(zip(data.metadata.image,
                                                            data.metadata.true_cell.clip(1)))]
    assert not np.allclose(truth.centroid_y.to_numpy(), data.metadata.centroid_y.to_numpy())
    # ...but lie on a true nucleus almost always, and the matched class is the field's.
    nuclei = fields.mask("nuclei")
    position = {image: i for i, image in enumerate(fields.metadata.field)}
    on_nucleus = [nuclei[position[image], round(y), round(x)] > 0 for image, y, x in
                  zip(data.metadata.image, data.metadata.centroid_y, data.metadata.centroid_x)]
    assert np.mean(on_nucleus) >= 0.9
    matched = data.metadata.true_localization.notna()
    assert matched.mean() >= 0.9
    assert (data.metadata.true_localization[matched] == data.metadata.localization[matched]).all()


def test_images_with_too_few_cells_are_dropped_and_counted(fields, data):
    everything = pairs_from_fields(fields, crop_size=32, min_cells=2, output_size=16)
    counts = everything.metadata.groupby("image").size()
    sparse = sorted(counts.index[counts < MIN_CELLS])
    assert len(sparse) > 0, "the fixture should have some sparse fields to drop"
    assert sorted(data.dropped_images.tolist()) == sparse and data.n_dropped_images == len(sparse)
    assert not set(data.metadata.image) & set(sparse)
    assert (data.metadata.groupby("image").size() >= MIN_CELLS).all()


def test_no_image_lies_in_two_parts(data):
    images = {name: set(data.metadata.image.iloc[positions]) for name, positions in data.parts.items()}
    assert images["train"] and images["val"]
    names = list(images)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not images[a] & images[b], f"{a} and {b} share images"
    assert sorted(np.concatenate(list(data.parts.values()))) == list(range(len(data.crops)))


def test_loss_falls_and_a_finished_run_is_reloaded(data, tmp_path):
    model, history, trainer = train_inpainting(_config(data), data, SETTINGS, seed=0,
                                               checkpoint_dir=tmp_path, verbose=False)
    assert np.isfinite(history.train_loss).all() and np.isfinite(history.val_loss).all()
    assert history.train_loss.iloc[-1] < history.train_loss.iloc[0]
    stamp = trainer.checkpoint_path.stat().st_mtime_ns
    again, history_again, _ = train_inpainting(_config(data), data, SETTINGS, seed=0,
                                               checkpoint_dir=tmp_path, verbose=False)
    assert trainer.checkpoint_path.stat().st_mtime_ns == stamp, "a finished run is not retrained"
    pd.testing.assert_frame_equal(history, history_again)
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_killed_and_resumed_run_equals_an_uninterrupted_one(data, tmp_path):
    straight, history, _ = train_inpainting(_config(data), data, SETTINGS, seed=3, verbose=False)
    one_epoch = TrainSettings(**{**SETTINGS.__dict__, "epochs": 1})
    _, _, first = train_inpainting(_config(data), data, one_epoch, seed=3,
                                   checkpoint_dir=tmp_path, verbose=False)
    resumed, resumed_history, second = train_inpainting(_config(data), data, SETTINGS, seed=3,
                                                        checkpoint_dir=tmp_path, verbose=False)
    assert first.checkpoint_path == second.checkpoint_path
    timing = ["seconds"]
    pd.testing.assert_frame_equal(history.drop(columns=timing),
                                  resumed_history.drop(columns=timing))
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


def test_baselines_get_their_own_checkpoints(data, tmp_path):
    one_epoch = TrainSettings(**{**SETTINGS.__dict__, "epochs": 1})
    paths = set()
    for variant in ({}, {"self_pairs": True}, {"autoencoder": True}):
        _, history, trainer = train_inpainting(_config(data), data, one_epoch, seed=0,
                                               checkpoint_dir=tmp_path, verbose=False, **variant)
        assert np.isfinite(history.train_loss).all()
        paths.add(trainer.checkpoint_path)
    assert len(paths) == 3 and all(path.exists() for path in paths)
    with pytest.raises(ValueError, match="choose one baseline"):
        train_inpainting(_config(data), data, one_epoch, self_pairs=True, autoencoder=True)


def test_crops_carry_the_ground_truth_the_analyses_score():
    fields = generate_fields(atlas_config("smoke", fields_per_protein=2), progress=False,
                             proteins=["MIX1", "VAR1", "NPL1"])
    data = pairs_from_fields(fields, crop_size=32, min_cells=4)
    meta = data.metadata
    assert {"cell_line", "rare", "alpha", "subpopulation"} <= set(meta.columns)
    assert (meta.groupby("image").cell_line.nunique() == 1).all()
    found = meta.true_cell > 0
    mixed, variable = meta.localization == "mixed", meta.localization == "variable"
    # alpha is the cell's own draw (jittered around the protein's), only for mixed cells.
    assert meta.alpha[mixed & found].between(0.02, 0.98).all()
    assert meta.alpha[mixed & found].nunique() > 1
    assert meta.alpha[~mixed].isna().all()
    # Variable cells belong to one of two sub-populations, showing one of the two classes.
    assert set(meta.subpopulation[variable & found]) == {0, 1}
    assert (meta.subpopulation[~variable] == -1).all()
    shown = meta[variable & found].groupby("subpopulation").true_localization.nunique()
    assert (shown == 1).all()


def test_evaluation_cells_label_single_class_proteins_only(data):
    cells = data.evaluation_cells("test")
    assert len(cells) == len(data.parts["test"])
    assert torch.equal(cells.crops, data.crops[data.parts["test"]])
    assert (cells.metadata.label == cells.metadata.localization).all()
    assert cells.has("cell_line") and not cells.has("nonexistent")
    everything = data.evaluation_cells("all")
    assert torch.equal(everything.crops, data.crops)
    assert (everything.metadata.image == data.metadata.image).all()
    mixed = data.metadata.assign(localization="mixed")
    relabelled = type(data)(data.crops, data.channels, mixed, data.parts, data.dropped_images)
    assert len(relabelled.evaluation_cells("test").labelled) == 0
