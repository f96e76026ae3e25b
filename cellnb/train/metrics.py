"""Averaging the numbers a step or a validation pass returns.

``step(batch)`` returns a dict such as ``{"loss": 0.31, "vq": 0.02}``. Terms may come and go (a
GAN's discriminator may report only every other step), so each name keeps its own sum and count.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch


def as_numbers(metrics, source: str) -> dict[str, float]:
    """``metrics`` as ``{name: float}``, or an error saying what ``source`` should return."""
    if not isinstance(metrics, Mapping):
        raise TypeError(f"{source} must return a dict of numbers such as {{'loss': loss.item()}}, "
                        f"got {type(metrics).__name__}")
    # A tensor (a loss returned without .item()) is detached first: only its value is kept.
    return {str(name): float(value.detach() if isinstance(value, torch.Tensor) else value)
            for name, value in metrics.items()}


class RunningMean:
    """Per-name running means; ``state_dict`` lets a mid-epoch checkpoint keep them."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.weights: dict[str, float] = {}

    def add(self, metrics: dict[str, float], weight: float = 1.0) -> None:
        for name, value in metrics.items():
            self.sums[name] = self.sums.get(name, 0.0) + value * weight
            self.weights[name] = self.weights.get(name, 0.0) + weight

    def means(self) -> dict[str, float]:
        return {name: total / self.weights[name] for name, total in self.sums.items()}

    def state_dict(self) -> dict:
        return {"sums": dict(self.sums), "weights": dict(self.weights)}

    def load_state_dict(self, state: dict) -> None:
        self.sums, self.weights = dict(state["sums"]), dict(state["weights"])


def mean_over_batches(metrics_of_batch: Callable[..., dict], loader: Iterable) -> dict[str, float]:
    """The mean of ``metrics_of_batch(batch)`` over ``loader``, each batch weighted by its size.

    Weighting by size makes the result the per-sample mean even when the last batch is smaller.
    Use it to write a ``validate()`` for :meth:`Trainer.fit`::

        validate = lambda: mean_over_batches(lambda x: {"loss": loss_of(x).item()}, val_loader)
    """
    running = RunningMean()
    for batch in loader:
        running.add(as_numbers(metrics_of_batch(batch), "metrics_of_batch(batch)"), batch_size(batch))
    return running.means()


def batch_size(batch) -> int:
    """The number of samples in ``batch``: the length of its first tensor (1 if it has none)."""
    if isinstance(batch, torch.Tensor):
        return len(batch) if batch.dim() else 1
    if isinstance(batch, Mapping):
        batch = list(batch.values())
    if isinstance(batch, (list, tuple)):
        for item in batch:
            if isinstance(item, torch.Tensor) and item.dim():
                return len(item)
    return 1
