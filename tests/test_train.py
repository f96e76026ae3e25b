"""The shared training loop: callbacks, history, precision helpers, RNG capture and checkpoints.

Exact resume (in-process and after a SIGKILL) is specified in test_train_resume.py.
"""
import math
import os
import random

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from cellnb.train import (
    BestWeights,
    ConfigMismatchError,
    CorruptCheckpointError,
    EarlyStopping,
    History,
    PlateauCounter,
    ReduceLROnPlateau,
    Trainer,
    capture_rng,
    grad_scaler,
    maybe_compile,
    mean_over_batches,
    plot_history,
    precision_context,
    read_checkpoint,
    restore_rng,
)
from cellnb.train.checkpoint import config_differences

matplotlib.use("Agg")


def fire_epochs(callback, values) -> list[int]:
    """The 1-based epochs at which ``callback.step`` returned True for this value sequence."""
    return [epoch for epoch, value in enumerate(values, start=1) if callback.step(value)]


# ------------------------------------------------------------------------------- callbacks


def test_plateau_counter_restarts_on_improvement_and_never_improves_on_nan():
    counter = PlateauCounter("min")
    assert [counter.update(v) for v in [3.0, 4.0, 4.0, 2.0, math.nan]] == [True, False, False, True, False]
    assert counter.best == 2.0 and counter.bad_epochs == 1


def test_plateau_counter_in_max_mode_with_min_delta():
    counter = PlateauCounter("max", min_delta=0.1)
    assert [counter.update(v) for v in [0.5, 0.55, 0.7]] == [True, False, True]
    with pytest.raises(ValueError, match="mode must be"):
        PlateauCounter("lowest")


def test_lr_drops_after_more_than_patience_bad_epochs_counting_afresh_after_each_best():
    # patience=2: the third bad epoch in a row drops the rate. The best at epoch 4 restarts the
    # count (without the restart the drop would come at epoch 5), and so does each drop.
    optimizer = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=1.0)
    reduce_lr = ReduceLROnPlateau([optimizer], patience=2)
    assert fire_epochs(reduce_lr, [3, 4, 4, 2.9, 4, 4, 4, 4, 4, 4]) == [7, 10]
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01)


def test_lr_drop_lowers_every_group_of_every_optimizer_down_to_min_lr():
    first, second = nn.Linear(2, 1), nn.Linear(2, 1)
    sgd = torch.optim.SGD([{"params": [first.weight]}, {"params": [first.bias], "lr": 0.5}], lr=1.0)
    adam = torch.optim.Adam(second.parameters(), lr=0.1)
    reduce_lr = ReduceLROnPlateau([sgd, adam], patience=0, min_lr=0.02)
    assert fire_epochs(reduce_lr, [1, 1]) == [2]
    assert [g["lr"] for g in sgd.param_groups] == pytest.approx([0.1, 0.05])
    assert adam.param_groups[0]["lr"] == pytest.approx(0.02)   # 0.01 would be below min_lr
    reduce_lr.step(1)
    assert [g["lr"] for g in sgd.param_groups] == pytest.approx([0.02, 0.02])
    assert not reduce_lr.step(1), "nothing left to lower: no drop is reported"


def test_early_stopping_stops_on_bad_epoch_patience_plus_one_counting_from_the_last_best():
    # Keras' EarlyStopping(patience=3) would stop at the same epoch: it counts one higher.
    assert fire_epochs(EarlyStopping(patience=2), [1, 2, 2, 0.5, 2, 2, 2, 2]) == [7, 8]
    assert fire_epochs(EarlyStopping(patience=1, mode="max"), [0.1, 0.2, 0.3, 0.2, 0.2]) == [5]


def test_best_weights_restore_the_best_epoch_and_survive_a_weights_only_round_trip(tmp_path):
    model = nn.Linear(3, 2)
    best = BestWeights({"net": model})
    snapshots = []
    for epoch, value in enumerate([2.0, 1.0, 1.5], start=1):
        with torch.no_grad():
            model.weight.add_(1.0)
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        best.step(value, epoch)
    assert best.epoch == 2 and best.value == 1.0
    torch.save(best.state_dict(), tmp_path / "best.pt")
    restored = BestWeights({"net": model})
    restored.load_state_dict(torch.load(tmp_path / "best.pt", weights_only=True))
    restored.restore()
    assert all(torch.equal(model.state_dict()[k], snapshots[1][k]) for k in snapshots[1])


# -------------------------------------------------------------------------------- history


def test_history_keeps_columns_aligned_when_terms_appear_late():
    history = History()
    history.append({"train_loss": 1.0})
    history.append({"train_loss": 0.5, "val_loss": 0.7})
    frame = history.frame()
    assert list(frame.index) == [1, 2] and frame.index.name == "epoch"
    assert math.isnan(frame.loc[1, "val_loss"]) and frame.loc[2, "val_loss"] == 0.7
    assert History(history.state_dict()).frame().equals(frame)


def test_plot_history_has_one_panel_per_term_and_log_scales_what_spans_decades():
    history = History()
    for epoch in range(1, 6):
        history.append({"train_loss": 10.0 / epoch**2, "val_loss": 12.0 / epoch**2,
                        "train_accuracy": 0.5 + 0.01 * epoch, "lr_adam": 10.0 ** -epoch,
                        "seconds": 1.0})
    fig = plot_history(history.frame(), best_epoch=3)
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}
    assert set(panels) == {"loss", "accuracy", "lr"}
    assert [line.get_label() for line in panels["loss"].get_lines()][:2] == ["train", "val"]
    assert panels["loss"].get_yscale() == "log" and panels["lr"].get_yscale() == "log"
    assert panels["accuracy"].get_yscale() == "linear"


def test_mean_over_batches_weights_each_batch_by_its_size():
    batches = [torch.full((3, 2), 1.0), torch.full((1, 2), 5.0)]
    assert mean_over_batches(lambda x: {"value": x.mean()}, batches) == {"value": 2.0}


# ------------------------------------------------------------------------------ precision


def test_precision_helpers_autocast_on_the_cpu_and_compile_only_on_a_gpu():
    layer = nn.Linear(4, 4)
    x = torch.randn(2, 4)
    with precision_context("cpu", "bf16"):
        assert layer(x).dtype == torch.bfloat16
    with precision_context("cpu", "fp16"):
        assert layer(x).dtype == torch.float16
    with precision_context("cpu", "fp32"):
        assert layer(x).dtype == torch.float32
    loss = layer(x).sum()
    assert grad_scaler("cpu", "fp16").scale(loss).item() == pytest.approx(loss.item() * 2 ** 16)
    for precision in ("fp32", "bf16"):   # bf16 has fp32's range: nothing to scale
        scaler = grad_scaler("cpu", precision)
        assert not scaler.is_enabled() and scaler.scale(loss) is loss
    assert maybe_compile(layer) is layer
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, fp16"):
        precision_context("cpu", "fp8")


def test_schedulers_and_a_grad_scaler_resume_with_the_run(tmp_path):
    def run(epochs):
        trainer, step, batches = linear_run(tmp_path)
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(trainer.optimizers["adam"], T_max=20)
        trainer.schedulers.update(cosine=cosine, scaler=grad_scaler("cpu", "fp16"))

        def step_and_schedule(x):
            metrics = step(x)
            cosine.step()
            return metrics

        trainer.fit(step_and_schedule, batches, epochs=epochs)
        return trainer, cosine

    run(epochs=1)
    trainer, cosine = run(epochs=2)
    assert trainer.global_step == 6 and cosine.last_epoch == 6
    assert trainer.optimizers["adam"].param_groups[0]["lr"] == pytest.approx(cosine.get_last_lr()[0])


# ------------------------------------------------------------------------------------ RNG


def draws(generators):
    return (random.random(), np.random.rand(), torch.rand(1).item(),
            torch.rand(1, generator=generators["torch"]).item(), generators["numpy"].random(),
            generators["python"].random())


def test_rng_states_round_trip_through_a_weights_only_file(tmp_path):
    generators = {"torch": torch.Generator().manual_seed(1), "numpy": np.random.default_rng(2),
                  "python": random.Random(3)}
    np.random.randn()   # leaves a cached Gaussian in NumPy's global state, which must come back
    torch.save(capture_rng(generators), tmp_path / "rng.pt")
    first = draws(generators)
    draws(generators)
    restore_rng(torch.load(tmp_path / "rng.pt", weights_only=True), generators)
    assert draws(generators) == first


def test_restoring_needs_a_state_for_every_registered_generator():
    state = capture_rng({})
    with pytest.raises(KeyError, match="no saved state for the generator"):
        restore_rng(state, {"augment": np.random.default_rng(0)})
    with pytest.raises(TypeError, match="register a torch.Generator"):
        capture_rng({"bad": object()})


# ---------------------------------------------------------------------------- the trainer


def linear_run(tmp_path, *, config=None, resume=True, verbose=False):
    """Two linear models, two optimisers (one with two parameter groups) and three batches."""
    torch.manual_seed(0)
    first, second = nn.Linear(2, 1), nn.Linear(2, 1)
    sgd = torch.optim.SGD([{"params": [first.weight]}, {"params": [first.bias], "lr": 0.5}], lr=1.0)
    adam = torch.optim.Adam(second.parameters(), lr=0.1)
    trainer = Trainer({"first": first, "second": second}, {"sgd": sgd, "adam": adam},
                      checkpoint_path=tmp_path / "run.pt", config=config or {"lr": 1.0},
                      seed=0, resume=resume, verbose=verbose)
    batches = [torch.randn(4, 2) for _ in range(3)]

    def step(x):
        loss = first(x).pow(2).mean() + second(x).pow(2).mean()
        sgd.zero_grad()
        adam.zero_grad()
        loss.backward()
        sgd.step()
        adam.step()
        return {"loss": loss.item(), "first_norm": first.weight.norm().item()}

    return trainer, step, batches


def scripted_validation(trainer, values):
    """A validate() returning ``values`` in turn and keeping the weights each epoch ended with."""
    snapshots = []

    def validate():
        snapshots.append({name: {k: v.clone() for k, v in model.state_dict().items()}
                          for name, model in trainer.models.items()})
        return {"loss": values[len(snapshots) - 1]}

    return validate, snapshots


VAL_LOSS = [5, 4, 4.5, 4.2, 4.1, 3.9, 4, 4, 4, 4, 4, 4, 4, 4]


def test_fit_drops_the_lr_stops_early_and_ends_on_the_best_epochs_weights(tmp_path):
    trainer, step, batches = linear_run(tmp_path)
    validate, snapshots = scripted_validation(trainer, VAL_LOSS)
    history = trainer.fit(step, batches, epochs=30, validate=validate, monitor="val_loss",
                          lr_patience=2, stop_patience=4)
    # Bad epochs 3-5 (> 2) drop the rate at the end of epoch 5; epoch 6 is the best and restarts
    # both counts; bad epochs 7-9 drop it again; bad epochs 7-11 (> 4) stop. Without the restart
    # at epoch 6, early stopping would have come at epoch 7.
    assert len(history) == 11 and trainer.stopped_early and trainer.best_epoch == 6
    assert list(history.columns) == ["train_loss", "train_first_norm", "val_loss", "lr_sgd",
                                     "lr_adam", "seconds"]
    assert list(history.index) == list(range(1, 12))
    assert history["lr_sgd"].tolist() == pytest.approx([1.0] * 5 + [0.1] * 4 + [0.01] * 2)
    assert history["lr_adam"].tolist() == pytest.approx([0.1] * 5 + [0.01] * 4 + [0.001] * 2)
    assert [g["lr"] for g in trainer.optimizers["sgd"].param_groups] == pytest.approx([0.01, 0.005])
    for name, model in trainer.models.items():
        for key, value in model.state_dict().items():
            assert torch.equal(value, snapshots[5][name][key]), f"{name}.{key} is not epoch 6's"
    assert not torch.equal(snapshots[5]["first"]["weight"], snapshots[10]["first"]["weight"])


def test_a_finished_run_is_not_retrained_and_comes_back_with_its_best_weights(tmp_path):
    trainer, step, batches = linear_run(tmp_path)
    validate, _ = scripted_validation(trainer, VAL_LOSS)
    history = trainer.fit(step, batches, epochs=30, validate=validate, monitor="val_loss",
                          lr_patience=2, stop_patience=4)
    best = {k: v.clone() for k, v in trainer.models["first"].state_dict().items()}

    again, _, _ = linear_run(tmp_path)     # a re-run notebook: fresh weights, same checkpoint

    def must_not_run(_batch):
        raise AssertionError("a finished run was trained again")

    restored = again.fit(must_not_run, batches, epochs=30, validate=must_not_run,
                         monitor="val_loss", lr_patience=2, stop_patience=4)
    assert restored.drop(columns="seconds").equals(history.drop(columns="seconds"))
    assert again.best_epoch == 6
    assert all(torch.equal(v, best[k]) for k, v in again.models["first"].state_dict().items())


def test_a_checkpoint_of_another_config_is_refused_with_the_differing_keys(tmp_path):
    trainer, step, batches = linear_run(tmp_path, config={"lr": 1.0, "batch_size": 4})
    trainer.fit(step, batches, epochs=1)
    other, step, batches = linear_run(tmp_path, config={"lr": 0.5, "batch_size": 4})
    with pytest.raises(ConfigMismatchError) as error:
        other.fit(step, batches, epochs=2)
    message = str(error.value)
    assert "lr: 1.0 -> 0.5" in message and "batch_size" not in message
    assert "delete the file or pass resume=False" in message
    fresh, step, batches = linear_run(tmp_path, config={"lr": 0.5, "batch_size": 4}, resume=False)
    assert len(fresh.fit(step, batches, epochs=2)) == 2 and fresh.global_step == 6
    assert read_checkpoint(tmp_path / "run.pt")["config"] == {"lr": 0.5, "batch_size": 4}


def test_config_differences_name_nested_keys_with_dots():
    assert config_differences({"model": {"latent": 64, "depth": 2}, "seed": 0},
                              {"model": {"latent": 32, "depth": 2}}) == [
        "model.latent: 64 -> 32", "seed: 0 -> <absent>"]


def test_a_crash_while_saving_leaves_the_previous_checkpoint_readable(tmp_path, monkeypatch):
    trainer, step, batches = linear_run(tmp_path)
    trainer.fit(step, batches, epochs=1)
    real_save = torch.save

    def crash_halfway(obj, handle, *args, **kwargs):
        handle.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_halfway)
    with pytest.raises(OSError, match="disk full"):
        trainer.fit(step, batches, epochs=2)
    monkeypatch.setattr(torch, "save", real_save)
    checkpoint = read_checkpoint(tmp_path / "run.pt")
    assert checkpoint["epoch"] == 1 and checkpoint["global_step"] == 3
    assert os.listdir(tmp_path) == ["run.pt"], "the temporary file must be removed"


def test_an_unreadable_checkpoint_says_how_to_start_afresh(tmp_path):
    (tmp_path / "run.pt").write_bytes(b"not a checkpoint")
    trainer, step, batches = linear_run(tmp_path)
    with pytest.raises(CorruptCheckpointError, match="resume=False"):
        trainer.fit(step, batches, epochs=1)


def test_fit_explains_a_monitor_it_cannot_find_and_a_step_that_returns_no_dict(tmp_path):
    trainer, step, batches = linear_run(tmp_path, resume=False)
    with pytest.raises(KeyError, match="'val_loss' is not among this epoch's metrics"):
        trainer.fit(step, batches, epochs=1, monitor="val_loss")
    with pytest.raises(TypeError, match="step\\(batch\\) must return a dict"):
        trainer.fit(lambda batch: None, batches, epochs=1)
    with pytest.raises(ValueError, match="pass monitor="):
        trainer.fit(step, batches, epochs=1, lr_patience=2)


def test_headless_fit_prints_one_line_per_epoch_and_the_progress_summary(tmp_path, monkeypatch,
                                                                        capsys):
    monkeypatch.setenv("CELLNB_HEADLESS", "1")
    trainer, step, batches = linear_run(tmp_path, verbose=True)
    validate, _ = scripted_validation(trainer, VAL_LOSS)
    trainer.fit(step, batches, epochs=3, validate=validate, monitor="val_loss")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("epoch 1/3  train_loss ") and "val_loss 5" in lines[0]
    assert lines[2].endswith("restored the best weights (epoch 2, 4)")
    assert lines[3].startswith("training: 9 step in ")


def test_the_epoch_line_shows_the_chosen_columns_only():
    from cellnb.train.loop import _summary_line

    record = {"train_loss": 1.5, "val_loss": 2.25, "train_extra": 7.0, "seconds": 3.0}
    line = _summary_line(2, 5, record, ["best"], columns=("train_loss", "val_loss", "missing"))
    assert line == "epoch 2/5  train_loss 1.5  val_loss 2.25  (3.0 s)  [best]"
    assert "train_extra 7" in _summary_line(2, 5, record, [])
