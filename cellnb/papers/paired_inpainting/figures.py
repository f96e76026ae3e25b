"""The paired-cell-inpainting chapters' static figures (matplotlib): each takes what an analysis of
:mod:`.evaluate` or :mod:`.counterfactual` returned and draws it the way the paper's figure does,
or the way the question is easiest to see."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...data.transforms import minmax_normalize
from ...plotting import category_colours, image_grid
from .model import LAYERS

# The paper's Table 1 (yeast, k-NN balanced accuracy, %): the shape to compare with.
PAPER_TABLE1 = pd.Series([43.09, 70.52, 84.30, 87.98, 81.89], index=list(LAYERS)) / 100


def cells_of_images(data, *, n_images: int = 4, per_image: int = 8, part: str = "train"):
    """The protein channel of some cells of a few images, one image per row: a pair is any two
    cells of one row (Methods, "Sampling pairs")."""
    metadata = data.part_metadata(part)
    positions = data.parts[part]
    images = pd.unique(metadata["image"])[:: max(1, len(pd.unique(metadata["image"]))
                                                  // n_images)][:n_images]
    tiles, labels = [], []
    for image in images:
        rows = np.flatnonzero((metadata["image"] == image).to_numpy())[:per_image]
        crops = minmax_normalize(data.crops[positions[rows], 0]).numpy()
        tiles += list(crops) + [np.ones_like(crops[0])] * (per_image - len(crops))
        labels.append(f"{metadata['protein'].iloc[rows[0]]}")
    return image_grid(tiles, ncols=per_image, row_labels=labels, size=1.0)


def layer_accuracy(table: pd.DataFrame, *, title: str = "k-NN on held-out images (Table 1)"):
    """Balanced accuracy per layer for the networks (lines), the training-free sets (dashed
    levels), and the paper's Table 1 in grey for its shape (yeast, not comparable in level)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.8))
    x = np.arange(len(LAYERS))
    ax.plot(x, PAPER_TABLE1.to_numpy(), color="#bbb", lw=3, label="paper, yeast (Table 1)")
    colours = category_colours(len(table))
    for colour, (name, row) in zip(colours, table.iterrows()):
        layers = row.reindex(list(LAYERS)).astype(float)
        if layers.notna().any():
            ax.plot(x, layers.to_numpy(), marker="o", color=colour, label=name)
        else:
            level = float(row.dropna().iloc[0])
            ax.axhline(level, ls="--", color=colour, label=f"{name} ({level:.2f})")
    ax.set(xticks=x, xticklabels=list(LAYERS), ylim=(0, 1), ylabel="balanced accuracy",
           title=title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def counterfactual_grid(examples, *, size: float = 1.2):
    """S1 Fig's layout: one mismatched pair per row: the source's protein, the target's first
    marker, the prediction, the counterfactual (the target with the source's protein), the
    target's real protein."""
    columns = ["source protein", "target marker", "prediction", "counterfactual",
               "target protein"]
    tiles = []
    for i in range(len(examples.prediction)):
        tiles += [examples.source[i], examples.target_marker[i, 0], examples.prediction[i],
                  examples.counterfactual[i], examples.real[i]]
    labels = [f"{row.source_class} -> {row.target_class}"
              for row in examples.table.itertuples()]
    return image_grid(tiles, ncols=len(columns), titles=columns + [""] * (len(tiles) - 5),
                      row_labels=labels, size=size)


def counterfactual_scatter(table: pd.DataFrame):
    """Each mismatched pair: correlation of the prediction with the target's real protein (x)
    against the correlation with the counterfactual (y). Above the diagonal: the source's
    pattern won."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.scatter(table["corr_real"], table["corr_counterfactual"], s=8, alpha=0.6, color="#1f77b4")
    ax.axline((0, 0), slope=1, color="#999", lw=1)
    ax.set(xlabel="corr(prediction, real target)", ylabel="corr(prediction, counterfactual)",
           xlim=(-1, 1), ylim=(-1, 1), title="mismatched pairs")
    fig.tight_layout()
    return fig


def class_distances(results: dict[str, dict]):
    """Fig 2B: the normalised distance per class for each feature set (negative: cells of one
    class lie closer than cells of different classes)."""
    import matplotlib.pyplot as plt

    frame = pd.DataFrame({name: r["per_class"] for name, r in results.items()})
    frame = frame.sort_values(frame.columns[0])
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(frame) + 1.2))
    height = 0.8 / frame.shape[1]
    for i, (name, colour) in enumerate(zip(frame.columns, category_colours(frame.shape[1]))):
        overall = results[name]["overall"]
        ax.barh(np.arange(len(frame)) + i * height, frame[name], height=height, color=colour,
                label=f"{name} (overall {overall:.2f})")
    ax.axvline(0, color="k", lw=0.8)
    ax.set(yticks=np.arange(len(frame)) + 0.4 - height / 2, yticklabels=frame.index,
           xlabel="normalised pairwise distance (Fig 2B)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def multilocalisation(per_cell: pd.DataFrame, summary: dict):
    """Fig 5: the score of each group of cells (violins), and each mixed cell's score against its
    share in the first compartment."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6),
                                      gridspec_kw=dict(width_ratios=[1.4, 1]))
    shown = per_cell[per_cell["group"] != "other"]
    groups = list(shown.groupby("group")["score"].median().sort_values().index)
    values = [shown.loc[shown["group"] == g, "score"].to_numpy() for g in groups]
    keep = [i for i, v in enumerate(values) if len(v) > 1]
    left.violinplot([values[i] for i in keep], showmedians=True)
    left.set_xticks(np.arange(1, len(keep) + 1), [groups[i] for i in keep], rotation=30,
                    ha="right", fontsize=8)
    left.axhline(0, color="#999", lw=0.8)
    left.set(ylabel=f"log(d {summary['first']} / d {summary['second']})",
             title=f"negative: closer to {summary['first']}")
    mixed = per_cell.dropna(subset=["first_fraction"])
    right.scatter(mixed["first_fraction"], mixed["score"], s=8, alpha=0.6)
    right.set(xlabel=f"true share in {summary['first']} (alpha)", ylabel="score",
              title=f"mixed cells: Spearman {summary['spearman_rho']:.2f}")
    fig.tight_layout()
    return fig


def variable_image(features, cells, image, *, method: str = "ward", max_cells: int = 24):
    """Fig 6: the dendrogram of one image's cells, leaves coloured by their true sub-population,
    and the cells' protein channel in leaf order."""
    import matplotlib.pyplot as plt
    from scipy.cluster.hierarchy import dendrogram, linkage

    rows = np.flatnonzero((cells.metadata["image"] == image).to_numpy())[:max_cells]
    values = np.asarray(features, float)
    values = (values - values.mean(0)) / np.where(values.std(0) > 0, values.std(0), 1)
    tree = linkage(values[rows], method=method)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(0.45 * len(rows) + 1, 3.6),
                                      gridspec_kw=dict(height_ratios=[2, 1]))
    leaves = dendrogram(tree, ax=top, no_labels=True, color_threshold=0,
                        above_threshold_color="#555")["leaves"]
    sub = cells.metadata["subpopulation"].to_numpy()[rows][leaves]
    shown = cells.metadata["true_localization"].to_numpy()[rows][leaves]
    colours = {s: c for s, c in zip(sorted(set(sub)), ("#1f77b4", "#d62728", "#2ca02c"))}
    for i, s in enumerate(sub):
        top.plot(5 + 10 * i, 0, "s", color=colours[s], ms=6, clip_on=False)
    names = dict(zip(sub, shown))
    top.set_title(f"image {image} ({cells.metadata['protein'].iloc[rows[0]]}): "
                  + ", ".join(f"{names[s]} = {'blue' if i == 0 else 'red'}"
                              for i, s in enumerate(sorted(set(sub)))), fontsize=9)
    top.set_yticks([])
    strip = minmax_normalize(cells.crops[rows[leaves], 0]).numpy()
    bottom.imshow(np.concatenate(list(strip), axis=1), cmap="gray")
    bottom.axis("off")
    fig.tight_layout()
    return fig


def protein_heatmap(features, cells, table: pd.DataFrame):
    """Fig 4: each protein's mean feature vector (standardised), proteins in dendrogram order,
    rows labelled with the protein and its class; features ordered by their own clustering."""
    import matplotlib.pyplot as plt
    from scipy.cluster.hierarchy import leaves_list, linkage

    values = np.asarray(features, float)
    values = (values - values.mean(0)) / np.where(values.std(0) > 0, values.std(0), 1)
    proteins = cells.metadata["protein"].to_numpy()
    names = list(table["protein"])
    means = np.stack([values[proteins == name].mean(0) for name in names])
    rows = leaves_list(linkage(means, method="ward"))
    cols = leaves_list(linkage(means.T, method="average"))
    fig, ax = plt.subplots(figsize=(8, 0.16 * len(names) + 1))
    limit = np.percentile(np.abs(means), 98)
    ax.imshow(means[rows][:, cols], aspect="auto", cmap="cividis", vmin=-limit, vmax=limit,
              interpolation="nearest")
    labels = [f"{names[i]} ({table['label'].iloc[i]})" for i in rows]
    ax.set_yticks(np.arange(len(names)), labels, fontsize=6)
    ax.set(xticks=[], xlabel="features (clustered)", title="proteins x mean features (Fig 4)")
    fig.tight_layout()
    return fig


def layer_accuracy_over_seeds(summary: pd.DataFrame, levels: pd.Series | None = None):
    """Table 1 over seeds: each network variant's mean accuracy per layer with its standard
    deviation as error bars; the seed-free feature sets as dashed levels; the paper in grey."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.8))
    x = np.arange(len(LAYERS))
    ax.plot(x, PAPER_TABLE1.to_numpy(), color="#bbb", lw=3, label="paper, yeast (Table 1)")
    mean, sd = summary["mean"][list(LAYERS)], summary["sd"][list(LAYERS)]
    colours = category_colours(len(mean) + (0 if levels is None else len(levels)))
    for colour, variant in zip(colours, mean.index):
        ax.errorbar(x, mean.loc[variant], yerr=sd.loc[variant].fillna(0), marker="o",
                    capsize=3, color=colour, label=variant)
    if levels is not None:
        for colour, (name, level) in zip(colours[len(mean):], levels.items()):
            ax.axhline(level, ls="--", color=colour, label=f"{name} ({level:.2f})")
    ax.set(xticks=x, xticklabels=list(LAYERS), ylim=(0, 1), ylabel="balanced accuracy",
           title="k-NN on held-out images, mean ± sd over seeds")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
