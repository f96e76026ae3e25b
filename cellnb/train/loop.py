"""The training loop every chapter shares: a user's step, run over epochs, that resumes exactly.

The loop does not know what a model or a loss is. The user writes ``step(batch)``, which does the
forward pass, the backward pass and the optimiser steps of any number of networks and returns its
loss terms as numbers; the Trainer does the rest::

    for each epoch:
        for each batch:  metrics = step(batch)            every `checkpoint_every` steps: checkpoint
        validate()                                         no_grad, models in eval mode
        best weights, LR drop on a plateau, early stop     all watching `monitor`
        history row, checkpoint, one summary line
    restore the best weights

A checkpoint holds the weights, optimisers, schedulers, callback counters, history, config and the
state of every random generator, so a resumed run makes exactly the draws the uninterrupted one
would have made; resume.py explains how a run resumes inside an epoch.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

from cellnb.progress import progress
from cellnb.runtime import seed_everything

from .callbacks import BestWeights, EarlyStopping, ReduceLROnPlateau
from .checkpoint import (
    check_config,
    check_names,
    load_states,
    normalise_config,
    read_checkpoint,
    states_of,
    write_checkpoint,
)
from .history import History
from .metrics import as_numbers
from .resume import EpochInProgress
from .rng import capture_rng, loader_generators, restore_rng


class Trainer:
    """Fits registered models with a user ``step``; checkpoints and resumes exactly.

    ``models``, ``optimizers`` and ``schedulers`` map names to objects (a single module or
    optimiser is named ``"model"`` / ``"optimizer"``). ``schedulers`` takes anything else with
    ``state_dict()`` that must resume with the run: LR schedulers the step advances, an fp16
    GradScaler. ``generators`` names the torch/NumPy/Python generators the step or ``validate``
    draws from besides the global ones (an augmentation's rng, a validation loader's generator).
    ``seed`` seeds Python, NumPy and torch when a fresh run starts (a resumed run restores the
    checkpoint's states instead). The checkpoint at ``checkpoint_path`` is written at the end of
    every epoch and every ``checkpoint_every`` steps; ``config`` (a dict or dataclass) is stored in
    it and must match on resume.
    """

    def __init__(self, models, optimizers=None, *, schedulers: dict | None = None,
                 generators: dict | None = None, checkpoint_path=None,
                 checkpoint_every: int | None = None, config=None, seed: int | None = 0,
                 resume: bool = True, verbose: bool = True):
        self.models = _named(models, "model")
        self.optimizers = _named(optimizers, "optimizer")
        self.schedulers = dict(schedulers or {})
        self.generators = dict(generators or {})
        self.checkpoint_path = None if checkpoint_path is None else Path(checkpoint_path)
        self.checkpoint_every = checkpoint_every
        self.config = normalise_config(config or {})
        self.seed, self.resume, self.verbose = seed, resume, verbose
        self.epoch = 0                  # epochs completed
        self.global_step = 0            # calls of step() completed
        self.stopped_early = False
        self.history = History()
        self.best_weights: BestWeights | None = None
        self.reduce_lr: ReduceLROnPlateau | None = None
        self.early_stopping: EarlyStopping | None = None
        self._loader_generators: dict = {}
        self._epoch = EpochInProgress()

    @property
    def best_epoch(self) -> int | None:
        return None if self.best_weights is None else self.best_weights.epoch

    def fit(self, step: Callable, train_loader, *, epochs: int, validate: Callable | None = None,
            monitor: str | None = None, mode: str = "min", lr_patience: int | None = None,
            lr_factor: float = 0.1, min_lr: float = 0.0, stop_patience: int | None = None,
            summary=None) -> pd.DataFrame:
        """Train until ``epochs`` epochs are done or early stopping; return the history.

        ``step(batch)`` returns ``{term: number}``; ``validate()`` likewise, run under
        ``torch.no_grad()`` with the models in eval mode. History columns get ``train_`` and
        ``val_`` prefixes, so ``monitor`` names one such as ``"val_loss"`` (``mode="max"`` for an
        accuracy). With a monitor, the best epoch's weights are restored at the end;
        ``lr_patience`` / ``stop_patience`` (bad epochs tolerated, as in torch: Keras patience 4
        is 3 here) switch on the LR drop by ``lr_factor`` and early stopping. ``summary`` names
        the history columns the per-epoch line shows (default: all of them).

        If the checkpoint exists (and ``resume``), training continues from it; a finished run is
        not retrained: its best weights are loaded and its history returned. Raising ``epochs``
        continues a run that ended by reaching them. Without a ``checkpoint_path`` (or with
        ``resume=False``) every call starts afresh. ``fit`` leaves the models in eval mode.
        """
        self._set_callbacks(monitor, mode, lr_patience, lr_factor, min_lr, stop_patience)
        self._loader_generators = {f"train_loader_{i}": generator for i, generator in
                                   enumerate(loader_generators(train_loader))
                                   if not any(generator is g for g in self.generators.values())}
        self._start()
        if self.stopped_early or self.epoch >= epochs:
            self._say(f"already trained: {self.epoch} epochs in {self.checkpoint_path}"
                      + self._restored_note() + "; to train again, pass resume=False to Trainer")
            self._finish()
            return self.history.frame()
        steps_left = _steps_left(train_loader, epochs - self.epoch, self._epoch.batches)
        with progress(total=steps_left, desc="training", unit="step", disable=not self.verbose) as bar:
            while self.epoch < epochs and not self.stopped_early:
                bar.set_postfix(epoch=f"{self.epoch + 1}/{epochs}")
                self._train_epoch(step, train_loader, bar)
                record, notes = self._end_epoch(validate, monitor)
                done = self.stopped_early or self.epoch >= epochs
                self._say(_summary_line(self.epoch, epochs, record, notes, summary)
                          + (self._restored_note() if done else ""), bar)
        self._finish()
        return self.history.frame()

    def _train_epoch(self, step: Callable, loader, bar) -> None:
        for model in self.models.values():
            model.train()
        current = self._epoch
        tick = time.perf_counter()
        # Skips what a resumed epoch did.
        for batch in current.start(loader, self._generators, self._learning_rates()):
            current.running.add(as_numbers(step(batch), "step(batch)"))
            current.batches += 1
            self.global_step += 1
            bar.update(1)
            now = time.perf_counter()
            current.seconds, tick = current.seconds + now - tick, now
            if self.checkpoint_every and self.global_step % self.checkpoint_every == 0:
                self.save_checkpoint()

    def _end_epoch(self, validate: Callable | None, monitor: str | None) -> tuple[dict, list]:
        """Validate, record the epoch, apply the callbacks and checkpoint; the record and notes."""
        start = time.perf_counter()
        record = {f"train_{name}": value for name, value in self._epoch.running.means().items()}
        if validate is not None:
            for model in self.models.values():
                model.eval()
            with torch.no_grad():
                metrics = as_numbers(validate(), "validate()")
            record.update({f"val_{name}": value for name, value in metrics.items()})
        # The rates the epoch started with: a schedule that the step advances has moved them on
        # by now (a StepLR drop on the epoch's last step would show an epoch early).
        record.update({f"lr_{name}": rate for name, rate in self._epoch.learning_rates.items()})
        record["seconds"] = self._epoch.seconds + time.perf_counter() - start
        self.epoch += 1
        self._epoch = EpochInProgress()
        notes = [] if monitor is None else self._watch(monitor, record)
        self.history.append(record)
        self.save_checkpoint()
        return record, notes

    def _watch(self, monitor: str, record: dict) -> list[str]:
        """Feed the monitored value to best weights, LR drop and early stop; notes for the log."""
        if monitor not in record:
            raise KeyError(f"monitor={monitor!r} is not among this epoch's metrics {sorted(record)}; "
                           "step() terms get a 'train_' prefix and validate() terms a 'val_' prefix")
        value, notes = record[monitor], []
        if self.best_weights.step(value, self.epoch):
            notes.append("best")
        if self.reduce_lr is not None and self.reduce_lr.step(value):
            notes.append(f"lr x{self.reduce_lr.factor:g}")
        if self.early_stopping is not None and self.early_stopping.step(value):
            self.stopped_early = True
            notes.append("early stop")
        return notes

    # ------------------------------------------------------------------- start, finish, state

    def _set_callbacks(self, monitor, mode, lr_patience, lr_factor, min_lr, stop_patience) -> None:
        if monitor is None and (lr_patience is not None or stop_patience is not None):
            raise ValueError("lr_patience and stop_patience watch a metric: pass monitor=, e.g. "
                             "monitor='val_loss'")
        self.best_weights = None if monitor is None else BestWeights(self.models, mode=mode)
        self.reduce_lr = None if lr_patience is None else ReduceLROnPlateau(
            self.optimizers.values(), mode=mode, factor=lr_factor, patience=lr_patience, min_lr=min_lr)
        self.early_stopping = None if stop_patience is None else EarlyStopping(
            mode=mode, patience=stop_patience)

    def _start(self) -> None:
        """Resume from the checkpoint if there is one (and ``resume``), else start afresh."""
        if self.resume and self.checkpoint_path is not None and self.checkpoint_path.exists():
            self.load_state_dict(read_checkpoint(self.checkpoint_path), source=self.checkpoint_path)
            return
        if self.seed is not None:
            seed_everything(self.seed)
        self.epoch, self.global_step, self.stopped_early = 0, 0, False
        self.history, self._epoch = History(), EpochInProgress()

    def _finish(self) -> None:
        if self.best_weights is not None:
            self.best_weights.restore()
        for model in self.models.values():
            model.eval()

    def save_checkpoint(self) -> None:
        if self.checkpoint_path is not None:
            write_checkpoint(self.state_dict(), self.checkpoint_path)

    def state_dict(self) -> dict:
        """Everything an exact resume needs, as tensors and plain values."""
        return {
            "config": self.config,
            **{kind: states_of(objects) for kind, objects in self._registered().items()},
            "callbacks": states_of(self._callbacks()),
            "rng": capture_rng(self._generators),
            "epoch": self.epoch,
            "global_step": self.global_step,
            "stopped_early": self.stopped_early,
            "epoch_in_progress": self._epoch.state_dict(),
            "history": self.history.state_dict(),
        }

    def load_state_dict(self, state: dict, source="the checkpoint") -> None:
        check_config(state["config"], self.config, source)
        for kind, objects in self._registered().items():
            check_names(kind, objects, state[kind], source)
        for kind, objects in self._registered().items():
            load_states(objects, state[kind])
        # A callback switched on only now (a new lr_patience, say) starts counting now.
        callbacks = self._callbacks()
        load_states({name: callbacks[name] for name in callbacks.keys() & state["callbacks"].keys()},
                    state["callbacks"])
        self.epoch, self.global_step = state["epoch"], state["global_step"]
        self.stopped_early = state["stopped_early"]
        self._epoch = EpochInProgress()
        self._epoch.load_state_dict(state["epoch_in_progress"])
        self.history.load_state_dict(state["history"])
        restore_rng(state["rng"], self._generators)

    def _learning_rates(self) -> dict[str, float]:
        """Each optimiser's learning rate now (its first parameter group's)."""
        return {name: float(optimizer.param_groups[0]["lr"])
                for name, optimizer in self.optimizers.items()}

    @property
    def _generators(self) -> dict:
        return {**self._loader_generators, **self.generators}

    def _registered(self) -> dict:
        return {"models": self.models, "optimizers": self.optimizers, "schedulers": self.schedulers}

    def _callbacks(self) -> dict:
        callbacks = {"best_weights": self.best_weights, "reduce_lr": self.reduce_lr,
                     "early_stopping": self.early_stopping}
        return {name: callback for name, callback in callbacks.items() if callback is not None}

    def _restored_note(self) -> str:
        if self.best_epoch is None:
            return ""
        return f"; restored the best weights (epoch {self.best_epoch}, {self.best_weights.value:.4g})"

    def _say(self, line: str, bar=None) -> None:
        if self.verbose:
            getattr(bar, "write", print)(line)   # tqdm's write keeps a live bar intact


def _named(objects, default_name: str) -> dict:
    if objects is None:
        return {}
    return dict(objects) if isinstance(objects, dict) else {default_name: objects}


def _steps_left(loader, epochs_left: int, batches_done: int) -> int | None:
    try:
        return epochs_left * len(loader) - batches_done
    except TypeError:   # an iterable dataset without a length
        return None


def _summary_line(epoch: int, epochs: int, record: dict, notes: list[str], columns=None) -> str:
    shown = [name for name in (record if columns is None else columns) if name in record]
    numbers = "  ".join(f"{name} {record[name]:.4g}" for name in shown if name != "seconds")
    line = f"epoch {epoch}/{epochs}  {numbers}  ({record['seconds']:.1f} s)"
    return line + (f"  [{', '.join(notes)}]" if notes else "")
