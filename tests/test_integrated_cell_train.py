"""Training the Integrated Cell's two stages: losses fall, z^r stays frozen, the routing of
Section 2.3 holds inside the real step, runs resume bit for bit, and the split is stable."""
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from cellnb.papers.integrated_cell import data as ic_data
from cellnb.papers.integrated_cell import train as ic_train
from cellnb.papers.integrated_cell.model import ReferenceModel, make_optimizers, preset
from cellnb.papers.integrated_cell.profiles import CHAPTER, chapter_settings
from cellnb.runtime import configure_threads
from cellnb.sim import IntegratedCellConfig as SimConfig
from cellnb.sim import generate_integrated_cells

SETTINGS = ic_train.TrainSettings(reference_epochs=2, conditional_epochs=2, batch_size=16)


@pytest.fixture(scope="module")
def cells():
    configure_threads(1)
    return generate_integrated_cells(SimConfig(n_cells=64, size=32), progress=False)


@pytest.fixture(scope="module")
def data(cells):
    return ic_data.integrated_cell_data(cells)


@pytest.fixture(scope="module")
def config(data):
    return preset("smoke", image_shape=data.image_shape, n_classes=data.n_classes)


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def snapshot(module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


# ------------------------------------------------------------------------------- data, split

def test_data_tensors_and_split(data, cells):
    assert data.images.shape == (64, 3, 32, 32) and data.images.dtype == torch.float32
    assert data.labels.dtype == torch.int64 and int(data.labels.max()) < data.n_classes
    assert sorted(np.concatenate(list(data.parts.values()))) == list(range(64))
    assert len(data.parts["test"]) < len(data.parts["train"])
    # The split follows the cell ids: reordering and dropping cells moves no one.
    order = np.arange(63, 0, -1)
    shuffled = ic_data.integrated_cell_data(cells.subset(order))
    for part in ("train", "test"):
        assert set(shuffled.cell_ids[shuffled.parts[part]]) <= set(data.cell_ids[data.parts[part]])
    assert ic_data.integrated_cell_data(cells).fingerprint() == data.fingerprint()
    more = ic_data.integrated_cell_data(cells, hold_out=0.5)
    assert set(data.cell_ids[data.parts["test"]]) <= set(more.cell_ids[more.parts["test"]])


def test_unknown_datasets_and_missing_folders_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset"):
        ic_data.load_cell_images("nope")
    with pytest.raises(ValueError, match="pass data_dir"):
        ic_data.load_cell_images("allen_cells")
    with pytest.raises(FileNotFoundError, match="no manifest"):
        ic_data.load_cell_images("allen_cells", data_dir=tmp_path)


def test_allen_single_cells_are_projected_and_labelled_by_structure(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    rng = np.random.default_rng(0)
    rows = []
    for cell, structure in enumerate(["TOM20", "Lamin B1", "TOM20", "Fibrillarin"]):
        volume = rng.integers(0, 255, (3, 5, 12, 10), dtype=np.uint8)
        tifffile.imwrite(tmp_path / f"cell{cell}.ome.tif", volume, ome=True,
                         metadata={"axes": "CZYX",
                                   "Channel": {"Name": ["membrane", "structure", "dna"]}},
                         photometric="minisblack")
        rows.append({"CellId": 7 + cell, "StructureId/Name": structure,
                     "save_reg_path": f"cell{cell}.ome.tif"})
    pd.DataFrame(rows).to_csv(tmp_path / "metadata.csv", index=False)
    data = ic_data.load_cells("allen_cells", data_dir=tmp_path, pad_to=(16, 16), hold_out=0.25)
    assert data.images.shape == (4, 3, 16, 16)
    assert sorted(data.class_names) == ["Fibrillarin", "Lamin B1", "TOM20"]
    assert [data.class_names[k] for k in data.labels] == ["TOM20", "Lamin B1", "TOM20",
                                                          "Fibrillarin"]
    same = ic_data.load_cells("allen_cells", data_dir=tmp_path / "metadata.csv",
                              pad_to=(16, 16), hold_out=0.25)
    assert torch.equal(same.images, data.images)


def test_profiles_define_every_knob():
    assert chapter_settings("smoke").model == "smoke"
    assert set(CHAPTER["cpu"]) == set(CHAPTER["gpu"])


# ---------------------------------------------------------------------- both stages, frozen zr

def test_losses_fall_and_zr_stays_frozen(config, data):
    settings = replace(SETTINGS, reference_epochs=6, conditional_epochs=6)
    reference, history, _ = ic_train.train_reference(config, data, settings, verbose=False)
    assert {"train_encd", "train_decd", "train_reconstruction", "train_encoder",
            "train_decoder"} <= set(history.columns)
    assert history["train_reconstruction"].iloc[-1] < history["train_reconstruction"].iloc[0]

    zr = ic_train.frozen_reference_latents(reference, data)
    assert zr.shape == (len(data), config.latent_reference)
    zr_before, weights_before = zr.clone(), snapshot(reference)
    conditional, history, _ = ic_train.train_conditional(config, data, zr, settings,
                                                         verbose=False)
    for column in ("train_reconstruction", "train_class_nll", "train_zr_mse"):
        assert history[column].iloc[-1] < history[column].iloc[0], column
    assert torch.equal(zr, zr_before)
    assert states_equal(snapshot(reference), weights_before)
    assert torch.equal(ic_train.frozen_reference_latents(reference, data), zr_before)


# ------------------------------------------------------------------------------ routing

class RecordingUpdates(ic_train._Updates):
    """Records which networks each phase of the step changed."""

    def __init__(self, model, *args):
        super().__init__(*args)
        self.model, self.changed = model, {}

    def _record(self, phase, run):
        nets = ic_train.networks(self.model)
        before = {name: snapshot(net) for name, net in nets.items()}
        run()
        self.changed[phase] = {name for name, net in nets.items()
                               if not states_equal(snapshot(net), before[name])}

    def discriminator(self, name, loss):
        self._record(name, lambda: super(RecordingUpdates, self).discriminator(name, loss))

    def autoencoder(self, *args):
        self._record("autoencoder", lambda: super(RecordingUpdates, self).autoencoder(*args))


def one_reference_step(config, data, updates_class=ic_train._Updates):
    torch.manual_seed(0)
    model = ReferenceModel(config)
    model.train()
    nets = ic_train.networks(model)
    extra = (model,) if updates_class is RecordingUpdates else ()
    updates = updates_class(*extra, make_optimizers(model),
                            torch.amp.GradScaler("cpu", enabled=False))
    x = ic_train.reference_of(data.images[:16])
    ic_train.reference_step(model, nets, updates, x, torch.Generator().manual_seed(1),
                            device="cpu", precision="fp32")
    return model, updates


def test_each_update_changes_only_its_own_networks(config, data):
    _, updates = one_reference_step(config, data, RecordingUpdates)
    # BN running statistics change in the forward pass, before any update: compare parameters
    # and buffers together, so an update may only touch the networks it is meant to.
    assert updates.changed["encd"] == {"encd"}
    assert updates.changed["decd"] == {"decd"}
    assert updates.changed["autoencoder"] == {"encoder", "decoder"}


def test_adversarial_signals_reach_only_their_network(config, data):
    """gamma_Dec moves the decoder but not the encoder; gamma_Enc the encoder but not the
    decoder (eqs. 15-16 routed as Section 2.3 says)."""
    base, _ = one_reference_step(replace(config, gamma_enc=0.0, gamma_dec=0.0), data)
    loud_dec, _ = one_reference_step(replace(config, gamma_enc=0.0, gamma_dec=100.0), data)
    loud_enc, _ = one_reference_step(replace(config, gamma_enc=100.0, gamma_dec=0.0), data)
    assert states_equal(snapshot(loud_dec.encoder), snapshot(base.encoder))
    assert not states_equal(snapshot(loud_dec.decoder), snapshot(base.decoder))
    assert states_equal(snapshot(loud_enc.decoder), snapshot(base.decoder))
    assert not states_equal(snapshot(loud_enc.encoder), snapshot(base.encoder))


# ------------------------------------------------------------------------------ exact resume

class Killed(RuntimeError):
    pass


def killing(step_function, after: int):
    calls = {"n": 0}

    def wrapped(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > after:
            raise Killed
        return step_function(*args, **kwargs)
    return wrapped


@pytest.mark.parametrize("stage", ["reference", "conditional"])
def test_killed_run_resumes_bit_for_bit(stage, config, data, tmp_path, monkeypatch):
    step_name = f"{stage}_step"
    zr = torch.randn(len(data), config.latent_reference, generator=torch.Generator()
                     .manual_seed(3))

    def train(folder):
        options = dict(checkpoint_dir=folder, checkpoint_every=1, verbose=False)
        if stage == "reference":
            return ic_train.train_reference(config, data, SETTINGS, **options)
        return ic_train.train_conditional(config, data, zr, SETTINGS, **options)

    whole, whole_history, _ = train(tmp_path / "whole")
    # Killed in the second epoch, after its first step; the checkpoint of that step survives.
    steps_per_epoch = len(data.parts["train"]) // SETTINGS.batch_size
    monkeypatch.setattr(ic_train, step_name, killing(getattr(ic_train, step_name),
                                                     steps_per_epoch + 1))
    with pytest.raises(Killed):
        train(tmp_path / "killed")
    monkeypatch.undo()
    resumed, resumed_history, trainer = train(tmp_path / "killed")
    assert trainer.global_step == 2 * steps_per_epoch
    assert states_equal(whole.state_dict(), resumed.state_dict())
    columns = [c for c in whole_history.columns if c != "seconds"]
    assert whole_history[columns].equals(resumed_history[columns])


# ------------------------------------------------------------------- the 3D paper's switches

def test_random_generation_decodes_permuted_classes_from_prior_draws(monkeypatch):
    """3D code's generated cells: Dec(one-hot y[perm], z~^r, z~^s), scored by DecD against
    y[perm]; with decd_on_reconstructions DecD sees both fake batches."""
    from cellnb.papers.integrated_cell import model as ic_model

    config = preset("smoke", generation="random", decd_on_reconstructions=True)
    torch.manual_seed(0)
    model = ic_model.ConditionalModel(config).train()
    nets = ic_train.networks(model)
    updates = ic_train._Updates(make_optimizers(model), torch.amp.GradScaler("cpu", enabled=False))
    decoded, scored, fakes_seen = [], [], []
    decode = nets["decoder"].forward
    monkeypatch.setattr(nets["decoder"], "forward", lambda code: decoded.append(code) or
                        decode(code))
    adversarial, discriminator = ic_train.decoder_adversarial_loss, ic_train.decd_loss
    monkeypatch.setattr(ic_train, "decoder_adversarial_loss", lambda decd, fakes, labels:
                        scored.append(labels) or adversarial(decd, fakes, labels))
    monkeypatch.setattr(ic_train, "decd_loss", lambda decd, real, fakes, labels:
                        fakes_seen.append(len(fakes)) or discriminator(decd, real, fakes, labels))
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    x = torch.rand(8, 3, 32, 32)
    ic_train.conditional_step(model, nets, updates, x, labels, torch.zeros(8, 8),
                              torch.Generator().manual_seed(1), device="cpu", precision="fp32")
    k = config.n_classes
    generated_code = decoded[1]
    generated_labels = generated_code[:, :k].argmax(1)
    assert torch.equal(generated_code[:, :k], torch.nn.functional.one_hot(generated_labels, k)
                       .float())                                        # hard classes
    assert sorted(generated_labels.tolist()) == sorted(labels.tolist())  # a permutation
    assert not torch.equal(generated_labels, labels)
    assert generated_code[:, k:k + config.latent_reference].std() > 0.5  # z~^r, not z_hat^r
    own, permuted = scored[0]
    assert torch.equal(own, labels) and torch.equal(permuted, generated_labels)
    assert fakes_seen == [2]
