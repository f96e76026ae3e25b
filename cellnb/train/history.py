"""The record of a run: one row per epoch, one column per term, and the standard figure of it.

Columns are ``train_<term>`` (epoch means of what ``step`` returned), ``val_<term>`` (what
``validate`` returned), ``lr_<optimizer>`` (the learning rate of the optimiser's first parameter
group when the epoch started: the rate all its steps used, or its first step's where the step
advances a schedule; a drop on a plateau shows from the next epoch) and ``seconds``. The history is
kept as a dict of lists, which is what the checkpoint stores (plain lists load with
``weights_only=True``; a pickled DataFrame would not), and becomes a DataFrame indexed by the
1-based epoch on demand.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "lr")   # column prefixes; the rest of the name is the term


class History:
    """Per-epoch records as columns; a term that appears late is NaN for the earlier epochs."""

    def __init__(self, columns: dict[str, list] | None = None):
        self.columns = {name: list(values) for name, values in (columns or {}).items()}

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def append(self, record: dict[str, float]) -> None:
        epochs = len(self)
        for name in record:
            self.columns.setdefault(name, [math.nan] * epochs)
        for name, values in self.columns.items():
            values.append(float(record.get(name, math.nan)))

    def frame(self) -> pd.DataFrame:
        index = pd.RangeIndex(1, len(self) + 1, name="epoch")
        return pd.DataFrame(self.columns, index=index, dtype=float)

    def state_dict(self) -> dict:
        return {name: list(values) for name, values in self.columns.items()}

    def load_state_dict(self, state: dict) -> None:
        self.columns = {name: list(values) for name, values in state.items()}


def term_family(column: str) -> tuple[str, str]:
    """``"val_loss"`` -> ``("loss", "val")``; ``"lr_adam"`` -> ``("lr", "adam")``."""
    prefix, _, rest = column.partition("_")
    if prefix == "lr" and rest:
        return "lr", rest
    if prefix in SPLITS and rest:
        return rest, prefix
    return column, column


def plot_history(history: pd.DataFrame, *, best_epoch: int | None = None, ncols: int = 3,
                 size: float = 3.2):
    """One panel per term (train and val together), one for the learning rates; the figure.

    A panel is log-scaled when its values are positive and span a factor of ten or more, the
    usual shape of a loss curve and of a stepped learning rate. ``best_epoch`` draws a dotted
    line where the restored weights come from.
    """
    import matplotlib.pyplot as plt

    families: dict[str, list[str]] = {}
    for column in history.columns:
        if column != "seconds":
            families.setdefault(term_family(column)[0], []).append(column)
    if not families:
        raise ValueError("the history has no columns to plot; train at least one epoch first")
    ncols = min(ncols, len(families))
    nrows = math.ceil(len(families) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, 0.8 * size * nrows), squeeze=False)
    for ax in axes.ravel()[len(families):]:
        ax.set_visible(False)
    for ax, (family, columns) in zip(axes.ravel(), families.items()):
        for column in columns:
            ax.plot(history.index, history[column], marker=".", label=term_family(column)[1])
        if _suits_log_scale(history[columns].to_numpy()):
            ax.set_yscale("log")
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle=":", linewidth=1)
        ax.set_title(family)
        ax.set_xlabel("epoch")
        if len(columns) > 1:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _suits_log_scale(values: np.ndarray) -> bool:
    values = values[np.isfinite(values)]
    return values.size > 0 and values.min() > 0 and values.max() >= 10 * values.min()
