"""What happens between epochs: learning-rate drops on a plateau, early stopping, best weights.

All three watch one monitored number (``val_loss``, say) and count the epochs since it last
improved; the count restarts at zero on every improvement. ``patience`` counts as in
``torch.optim.lr_scheduler.ReduceLROnPlateau``: it is the number of bad epochs *tolerated*, so the
action comes on bad epoch ``patience + 1``. Keras (and Lightning's EarlyStopping) act on bad epoch
``patience`` instead, so a paper's Keras ``patience=4`` is ``patience=3`` here.

Each class keeps its counters in ``state_dict()`` so that a resumed run carries on counting.
"""
from __future__ import annotations

import math

import torch

from .precision import uncompiled

MODES = ("min", "max")


class PlateauCounter:
    """The best value seen so far and the number of epochs since it was reached.

    ``mode="min"`` means lower is better (a loss), ``"max"`` higher (an accuracy). A value counts
    as an improvement only if it beats the best by more than ``min_delta``; NaN never does.
    """

    def __init__(self, mode: str = "min", min_delta: float = 0.0):
        if mode not in MODES:
            raise ValueError(f"mode must be 'min' (lower is better) or 'max', got {mode!r}")
        self.mode, self.min_delta = mode, min_delta
        self.best = math.inf if mode == "min" else -math.inf
        self.bad_epochs = 0

    def improves(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, value: float) -> bool:
        """Record one epoch's value; True if it is a new best (the count restarts)."""
        if self.improves(value):
            self.best, self.bad_epochs = float(value), 0
            return True
        self.bad_epochs += 1
        return False

    def state_dict(self) -> dict:
        return {"best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.bad_epochs = float(state["best"]), int(state["bad_epochs"])


class ReduceLROnPlateau:
    """Multiply every learning rate of every optimiser by ``factor`` after ``patience`` bad epochs.

    One counter drives all the optimisers together (an adversarial autoencoder's encoder,
    decoder and discriminator slow down at the same time). After a drop the counter restarts,
    as in torch, so the next drop needs ``patience + 1`` further bad epochs. Learning rates never
    go below ``min_lr``.
    """

    def __init__(self, optimizers, *, mode: str = "min", factor: float = 0.1, patience: int = 3,
                 min_lr: float = 0.0, min_delta: float = 0.0):
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must lie in (0, 1) to reduce the learning rate, got {factor}")
        self.optimizers = list(optimizers)
        self.factor, self.patience, self.min_lr = factor, patience, min_lr
        self.counter = PlateauCounter(mode, min_delta)

    def step(self, value: float) -> bool:
        """Record one epoch's monitored value; True if the learning rates were lowered."""
        self.counter.update(value)
        if self.counter.bad_epochs <= self.patience:
            return False
        self.counter.bad_epochs = 0
        lowered = False
        for optimizer in self.optimizers:
            for group in optimizer.param_groups:
                new_lr = max(group["lr"] * self.factor, self.min_lr)
                lowered |= new_lr < group["lr"]
                group["lr"] = new_lr
        return lowered

    def state_dict(self) -> dict:
        # The learning rates themselves live in the optimisers' state dicts.
        return self.counter.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.counter.load_state_dict(state)


class EarlyStopping:
    """Says stop after ``patience`` bad epochs in a row (bad epoch ``patience + 1`` stops)."""

    def __init__(self, *, mode: str = "min", patience: int = 10, min_delta: float = 0.0):
        self.patience = patience
        self.counter = PlateauCounter(mode, min_delta)

    def step(self, value: float) -> bool:
        """Record one epoch's monitored value; True if training should stop now."""
        self.counter.update(value)
        return self.counter.bad_epochs > self.patience

    def state_dict(self) -> dict:
        return self.counter.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.counter.load_state_dict(state)


class BestWeights:
    """A CPU copy of every model's weights at the best monitored value, restored at the end.

    The copy lives on the CPU so that keeping it costs no GPU memory, and it goes into the
    checkpoint so that a run resumed after its best epoch still ends on the best weights.
    """

    def __init__(self, models: dict, *, mode: str = "min"):
        self.models = models
        self.counter = PlateauCounter(mode)
        self.epoch: int | None = None          # 1-based epoch of the best value
        self.weights: dict | None = None       # model name -> state dict on the CPU

    @property
    def value(self) -> float:
        return self.counter.best

    def step(self, value: float, epoch: int) -> bool:
        """Record ``epoch``'s value; on a new best, copy the weights and return True."""
        if not self.counter.update(value):
            return False
        self.epoch = epoch
        self.weights = {name: cpu_copy(uncompiled(model).state_dict())
                        for name, model in self.models.items()}
        return True

    def restore(self) -> None:
        if self.weights is None:
            return
        for name, model in self.models.items():
            uncompiled(model).load_state_dict(self.weights[name])

    def state_dict(self) -> dict:
        return {**self.counter.state_dict(), "epoch": self.epoch, "weights": self.weights}

    def load_state_dict(self, state: dict) -> None:
        self.counter.load_state_dict(state)
        self.epoch, self.weights = state["epoch"], state["weights"]


def cpu_copy(state_dict: dict) -> dict:
    return {key: value.detach().to("cpu", copy=True) if isinstance(value, torch.Tensor) else value
            for key, value in state_dict.items()}
