"""Paired cell inpainting against its baselines, over several seeds (the second notebook).

The paper compares one trained model with each baseline once (Table 1, Fig 2A, Table 2), with no
seeds or intervals. Orderings that rest on one run can be luck, so here every network variant is
trained from ``n_seeds`` seeds on the same data and scored with the same read-out:

* ``"paired"``: the method (a target from the same image);
* ``"self pairs"``: target = source, flips still independent: what pairing adds (ours);
* ``"autoencoder"``: the paper's autoencoder baseline, reconstructing its own input (Fig 2A);
* ``"random init"``: the untrained network of each seed (ours: on simple images a random
  encoder is a strong baseline).

Each variant's features are the spatial maxima of every source conv layer (the paper's read-out);
the training-free feature sets (hand-crafted, raw pixels) have no seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ...progress import progress
from .data import EvaluationCells, InpaintingData
from .evaluate import cell_line_robustness, handcrafted, layer_features, layerwise_knn
from .findings import OURS
from .model import LAYERS, InpaintingConfig, PairedInpainting
from .train import TrainSettings, train_inpainting

# Variant name -> the keyword arguments of train_inpainting that make it.
VARIANTS = {"paired": {}, "self pairs": {"self_pairs": True}, "autoencoder": {"autoencoder": True}}
RANDOM = "random init"


@dataclass
class VariantRun:
    variant: str
    seed: int
    model: PairedInpainting
    history: pd.DataFrame | None      # None for the untrained network

    @property
    def best_val_loss(self) -> float:
        if self.history is None or "val_loss" not in self.history:
            return float("nan")
        return float(self.history["val_loss"].min())


def train_variants(config: InpaintingConfig, data: InpaintingData, settings: TrainSettings, *,
                   seeds, variants=tuple(VARIANTS), device: str = "cpu",
                   checkpoint_dir=None) -> list[VariantRun]:
    """Every variant from every seed, plus each seed's untrained network (checkpointed runs
    resume or reload, so a second call costs nothing)."""
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}; choose from {list(VARIANTS)}")
    runs = []
    jobs = [(seed, variant) for seed in seeds for variant in variants]
    for seed, variant in progress(jobs, desc="training variants", unit="run"):
        name = "baselines-" + variant.replace(" ", "_")
        model, history, _ = train_inpainting(config, data, settings, seed=seed, device=device,
                                             checkpoint_dir=checkpoint_dir, name=name,
                                             verbose=False, **VARIANTS[variant])
        runs.append(VariantRun(variant, seed, model.cpu().eval(), history))
    for seed in seeds:
        torch.manual_seed(seed)   # the initial weights train_inpainting starts from
        runs.append(VariantRun(RANDOM, seed, PairedInpainting(config).eval(), None))
    return runs


def variant_features(runs: list[VariantRun], cells: EvaluationCells) -> dict:
    """(variant, seed) -> {layer: (cells, channels)} features of ``cells``."""
    return {(run.variant, run.seed): layer_features(run.model, cells.crops) for run in runs}


def accuracy_table(features: dict, cells: EvaluationCells, *, k: int = 11) -> pd.DataFrame:
    """One row per (variant, seed): k-NN balanced accuracy per layer (Table 1 protocol)."""
    rows = []
    for (variant, seed), layers in features.items():
        table = layerwise_knn({variant: layers}, cells.metadata["label"], k=k)
        rows.append({"variant": variant, "seed": seed,
                     **table.loc[variant, list(LAYERS)].astype(float).to_dict()})
    return pd.DataFrame(rows)


def mean_and_sd(accuracy: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds of every layer's accuracy, per variant, and of the
    best layer's (each seed's own best)."""
    values = accuracy.set_index(["variant", "seed"])[list(LAYERS)]
    values = values.assign(best=values.max(axis=1))
    grouped = values.groupby(level="variant", sort=False)
    return pd.concat({"mean": grouped.mean(), "sd": grouped.std()}, axis=1)


def formatted(summary: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """"mean ± sd" strings for a table a reader reads."""
    mean, sd = summary["mean"], summary["sd"]
    return mean.round(digits).astype(str) + " ± " + sd.round(digits).astype(str)


def best_layers(summary: pd.DataFrame) -> dict[str, str]:
    """Each variant's best layer by mean accuracy over seeds."""
    return {variant: str(row.idxmax()) for variant, row in summary["mean"][list(LAYERS)].iterrows()}


def cell_line_table(features: dict, cells: EvaluationCells, layers: dict[str, str], *,
                    seed: int = 0) -> pd.DataFrame:
    """Table 2 per variant at its best layer (mean over seeds), the hand-crafted features beside
    them; rows renamed so that the method is :data:`OURS`."""
    per_seed = []
    for (variant, run_seed), by_layer in features.items():
        table = cell_line_robustness({variant: by_layer[layers[variant]]}, cells, seed=seed)
        per_seed.append(table.assign(seed=run_seed))
    table = pd.concat(per_seed).groupby(level=0, sort=False).mean().drop(columns="seed")
    classic = cell_line_robustness({"hand-crafted": handcrafted(cells)}, cells, seed=seed)
    table = pd.concat([table, classic])
    return table.rename(index={"paired": OURS})


def pretext_loss(runs: list[VariantRun]) -> pd.DataFrame:
    """The best validation loss of every trained run: its own pretext task's error, which is not
    comparable across variants' tasks but shows that an easier task is no better teacher."""
    rows = [{"variant": r.variant, "seed": r.seed, "val_loss": r.best_val_loss}
            for r in runs if r.history is not None]
    return pd.DataFrame(rows).groupby("variant", sort=False)["val_loss"].agg(["mean", "std"])


def seed_differences(accuracy: pd.DataFrame, first: str = "paired",
                     second: str = RANDOM) -> pd.Series:
    """Per seed, ``first``'s best-layer accuracy minus ``second``'s (same seed, same data)."""
    best = accuracy.set_index(["variant", "seed"])[list(LAYERS)].max(axis=1)
    return (best.loc[first] - best.loc[second]).rename(f"{first} - {second}")


def overall_accuracies(cells: EvaluationCells, extra: dict[str, np.ndarray]) -> pd.Series:
    """k-NN balanced accuracy of seed-free feature sets (hand-crafted, raw pixels)."""
    table = layerwise_knn(extra, cells.metadata["label"])
    return table["features"].astype(float)
