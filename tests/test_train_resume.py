"""Exact resume: a run stopped (or SIGKILLed) and resumed ends bit-identical to an uninterrupted one.

The run draws random numbers everywhere a real one does: a shuffled DataLoader with its own
torch.Generator, an augmentation with its own NumPy generator plus torch's global one, dropout,
and Adam, with a checkpoint every 3 steps (5 batches an epoch, so most checkpoints fall inside an
epoch). This file is also the script the SIGKILL test runs in a subprocess:

    python tests/test_train_resume.py CHECKPOINT RESULT [PAUSE_BEFORE_STEP MARKER]
"""
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from killing import kill_when_marked
from torch import nn

from cellnb.train import Trainer, read_checkpoint

EPOCHS, SAMPLES, BATCH_SIZE, CHECKPOINT_EVERY = 3, 40, 8, 3
STEPS = EPOCHS * SAMPLES // BATCH_SIZE   # 15


class Interrupted(Exception):
    """Stands for a lost runtime inside the same process."""


class AugmentedPairs(torch.utils.data.Dataset):
    """(x, y) pairs; x is rescaled with a NumPy generator and noised with torch's global one."""

    def __init__(self, x, y, rng: np.random.Generator):
        self.x, self.y, self.rng = x, y, rng

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        scale = float(self.rng.uniform(0.8, 1.2))
        return self.x[i] * scale + 0.05 * torch.randn(self.x.shape[1]), self.y[i]


def train(checkpoint_path, *, epochs=EPOCHS, pause_before_step=None, marker=None,
          interrupt_before_step=None):
    """One run from a fresh start or from the checkpoint; its final weights, history and step count."""
    data = torch.Generator().manual_seed(1)
    x, x_val = torch.randn(SAMPLES, 6, generator=data), torch.randn(16, 6, generator=data)
    y, y_val = x[:, :1] - x[:, 1:2], x_val[:, :1] - x_val[:, 1:2]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    augment = np.random.default_rng(2)
    loader = torch.utils.data.DataLoader(AugmentedPairs(x, y, augment), batch_size=BATCH_SIZE,
                                         shuffle=True, generator=torch.Generator().manual_seed(3))
    trainer = Trainer({"model": model}, {"adam": optimizer}, generators={"augment": augment},
                      checkpoint_path=checkpoint_path, checkpoint_every=CHECKPOINT_EVERY,
                      config={"lr": 0.02, "batch_size": BATCH_SIZE}, seed=0, verbose=False)
    steps_run = 0

    def step(batch):
        nonlocal steps_run
        if trainer.global_step == pause_before_step:   # the SIGKILL test kills us here
            Path(marker).touch()
            time.sleep(600)
        if trainer.global_step == interrupt_before_step:
            raise Interrupted
        inputs, targets = batch
        loss = nn.functional.mse_loss(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        steps_run += 1
        return {"loss": loss.item()}

    def validate():
        return {"loss": nn.functional.mse_loss(model(x_val), y_val).item()}

    # lr_patience=0: every bad epoch drops the rate, so the LR counters must resume too.
    history = trainer.fit(step, loader, epochs=epochs, validate=validate, monitor="val_loss",
                          lr_patience=0)
    last = read_checkpoint(checkpoint_path)
    return {"best": model.state_dict(), "last": last["models"]["model"],
            "adam": last["optimizers"]["adam"]["state"], "history": history.drop(columns="seconds"),
            "steps_run": steps_run}


def assert_same_run(resumed, straight):
    for weights in ("best", "last"):
        for key, value in straight[weights].items():
            assert torch.equal(resumed[weights][key], value), f"{weights} {key} differs"
    for index, moments in straight["adam"].items():
        assert all(torch.equal(resumed["adam"][index][k], v) for k, v in moments.items())
    assert resumed["history"].equals(straight["history"])


@pytest.fixture
def one_thread():
    """Same thread count as the subprocess, so that reductions add in the same order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def straight_run(tmp_path, one_thread):
    return train(tmp_path / "straight.pt")


def test_stopping_inside_an_epoch_and_resuming_gives_the_same_weights(tmp_path, straight_run):
    path = tmp_path / "stopped.pt"
    with pytest.raises(Interrupted):
        train(path, interrupt_before_step=7)
    checkpoint = read_checkpoint(path)
    # The last checkpoint came after step 6: epoch 1 done and one batch of epoch 2.
    assert checkpoint["global_step"] == 6 and checkpoint["epoch"] == 1
    assert checkpoint["epoch_in_progress"]["batches"] == 1
    resumed = train(path)
    assert resumed["steps_run"] == STEPS - 6, "the resumed run must not start over"
    assert_same_run(resumed, straight_run)


def test_more_epochs_continue_a_run_that_reached_its_epochs(tmp_path, straight_run):
    path = tmp_path / "short.pt"
    first = train(path, epochs=EPOCHS - 1)
    resumed = train(path, epochs=EPOCHS)
    assert (first["steps_run"], resumed["steps_run"]) == (10, 5)
    assert_same_run(resumed, straight_run)


def test_a_run_killed_with_sigkill_resumes_in_a_new_process_to_the_same_weights(tmp_path,
                                                                               straight_run):
    path, marker, result = tmp_path / "killed.pt", tmp_path / "paused", tmp_path / "result.pt"
    script = [sys.executable, __file__, str(path), str(result)]
    kill_when_marked([*script, "8", str(marker)], marker, what="step 8")
    assert read_checkpoint(path)["global_step"] == 6 and not result.exists()

    subprocess.run(script, check=True, timeout=120)
    resumed = torch.load(result, weights_only=False)
    assert resumed["steps_run"] == STEPS - 6
    assert_same_run(resumed, straight_run)


if __name__ == "__main__":
    torch.set_num_threads(1)
    checkpoint, result, *pause = sys.argv[1:]
    outcome = train(checkpoint, pause_before_step=int(pause[0]) if pause else None,
                    marker=pause[1] if pause else None)
    torch.save(outcome, result)
