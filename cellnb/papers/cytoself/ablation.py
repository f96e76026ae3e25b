"""cytoself's ablation study (Supp. Table 1, Fig. 6): which ingredients make the atlas cluster?

Seven variants — the full model, without the identification task, without split quantisation,
without vector quantisation, without decoders, without the nuclear channel, and with the raw
nucleus instead of its distance map — each trained from several seeds; every trained model's
global representation of the test crops is mapped by UMAP from several seeds and scored with Γ
at class and complex level. The paper trained 5 models per variant and drew 10 UMAPs of each,
aligned with AlignedUMAP; we draw independent UMAPs (Γ does not depend on the map's orientation
up to the coordinate-wise median's small rotation effect, see ``evaluation.clustering``).
"""
from __future__ import annotations

from dataclasses import replace

import pandas as pd

from ...data.imageset import ImageSet
from ...nn.inference import infer
from .data import cytoself_data
from .evaluate import score_representation
from .model import ABLATIONS, CytoselfConfig
from .train import TrainSettings, train_cytoself

# The input channels each variant sees (the rest see protein + nuclear distance).
VARIANT_CHANNELS = {"no_nuclear_channel": "protein", "raw_nucleus": "raw_nucleus"}
VARIANTS = tuple(ABLATIONS)

# Supp. Table 1 of the paper: mean +- SEM of Γ over 5 models x 10 UMAPs.
PAPER_TABLE = pd.DataFrame(
    {"gamma_class": [3.41, 3.35, 3.17, 2.98, 1.13, 2.85, 2.98],
     "gamma_class_sem": [0.18, 0.23, 0.18, 0.14, 0.094, 0.20, 0.17],
     "gamma_complex": [5.96, 5.38, 4.90, 4.46, 1.26, 5.04, 4.48],
     "gamma_complex_sem": [0.25, 0.19, 0.13, 0.15, 0.062, 0.16, 0.12]},
    index=pd.Index(["full", "no_nuclear_channel", "raw_nucleus", "no_vq", "no_id_task", "no_split",
                    "no_decoder"], name="variant"))


def run_ablation(crops: ImageSet, config: CytoselfConfig, settings: TrainSettings, *,
                 variants=VARIANTS, seeds=(0, 1, 2), map_seeds=(0, 1, 2), method: str = "umap",
                 split_seed: int = 0, device: str = "cpu", checkpoint_dir=None,
                 verbose: bool = False) -> pd.DataFrame:
    """One row per (variant, training seed, map seed) with Γ at both levels and k-NN accuracy.

    Every variant sees the same field-grouped split (``split_seed``); seeds change the initial
    weights, the batch order and the augmentation. With ``checkpoint_dir`` each trained model is
    kept, so an interrupted study resumes where it stopped.
    """
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise KeyError(f"unknown variants {unknown}; choose from {VARIANTS}")
    rows, datasets = [], {}
    for variant in variants:
        channels = VARIANT_CHANNELS.get(variant, "distance")
        if channels not in datasets:
            datasets[channels] = cytoself_data(crops, channels=channels, size=config.input_size,
                                               seed=split_seed)
        data = datasets[channels]
        variant_config = replace(config.ablate(variant), n_classes=data.n_classes)
        train_meta = data.metadata.iloc[data.parts["train"]].reset_index(drop=True)
        test_meta = data.metadata.iloc[data.parts["test"]].reset_index(drop=True)
        for seed in seeds:
            model, history, trainer = train_cytoself(variant_config, data, settings, seed=seed,
                                                     device=device, checkpoint_dir=checkpoint_dir,
                                                     name=f"{variant}-seed{seed}", verbose=verbose)
            train_features = infer(model, data.images[data.parts["train"]], output_layer="vqvec2")
            test_features = infer(model, data.images[data.parts["test"]], output_layer="vqvec2")
            for map_seed in map_seeds:
                scores, _ = score_representation(train_features, train_meta, test_features, test_meta,
                                                 method=method, seed=map_seed)
                rows.append(dict(variant=variant, seed=seed, map_seed=map_seed, **scores,
                                 epochs=len(history), best_epoch=trainer.best_epoch))
    return pd.DataFrame(rows)


def ablation_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard error of the mean per variant, over all models and maps (as the paper)."""
    columns = ["gamma_class", "gamma_complex", "knn_accuracy"]
    grouped = runs.groupby("variant", sort=False)[columns]
    table = grouped.mean()
    sem = grouped.sem(ddof=1).fillna(0.0)
    for column in columns:
        table[f"{column}_sem"] = sem[column]
    table["n"] = grouped.size()
    return table[[c for pair in zip(columns, [f"{c}_sem" for c in columns]) for c in pair] + ["n"]]


def compare_with_paper(table: pd.DataFrame) -> pd.DataFrame:
    """Our Γ beside the paper's, and each variant's rank (1 = highest Γ) in both."""
    ours = table[["gamma_class", "gamma_complex"]].add_suffix("_ours")
    paper = PAPER_TABLE.loc[PAPER_TABLE.index.intersection(table.index), ["gamma_class", "gamma_complex"]]
    joined = ours.join(paper.add_suffix("_paper"))
    for level in ("class", "complex"):
        for source in ("ours", "paper"):
            gamma = joined[f"gamma_{level}_{source}"]
            joined[f"rank_{level}_{source}"] = gamma.rank(ascending=False, method="min").astype(int)
    return joined
