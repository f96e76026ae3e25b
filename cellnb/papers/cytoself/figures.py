"""The cytoself chapter's figures (matplotlib), each the analogue of a panel of the paper."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...plotting import composite, image_grid
from ...sim.catalogue import MULTI_CLASS_KINDS


def examples_per_class(data, part: str = "test", per_class: int = 2):
    """Two crops of each localisation class, each as its protein and nuclear-distance channels."""
    positions = data.parts[part]
    classes = data.metadata.localization.to_numpy()
    picks = np.concatenate([positions[classes[positions] == name][:per_class]
                            for name in sorted(set(classes[positions]))])
    tiles = [data.images[i, c].numpy() for i in picks for c in range(data.images.shape[1])]
    titles = [title for i in picks
              for title in (data.metadata.localization[i][:14], *data.channels[1:])]
    return image_grid(tiles, titles=titles, ncols=8, size=1.2)


def perplexity_curves(histories: dict[str, pd.DataFrame], column: str = "train_perplexity2",
                      title: str = "global codebook perplexity (Fig. 1c)"):
    """One line per run of the per-epoch perplexity."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.4))
    for name, history in histories.items():
        ax.plot(history.index, history[column], marker="o", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("perplexity")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def reconstructions(images: np.ndarray, reconstructed: np.ndarray, channels, n: int = 8):
    """Inputs above their reconstructions, one row per channel pair."""
    tiles, labels = [], []
    for c, name in enumerate(channels):
        tiles += [images[i, c] for i in range(n)] + [reconstructed[i, c] for i in range(n)]
        labels += [f"{name}\ninput", f"{name}\noutput"]
    return image_grid(tiles, ncols=n, row_labels=labels)


def class_panels(coordinates: np.ndarray, metadata: pd.DataFrame, classes=None, *, ncols: int = 4):
    """The atlas once per class: that class's crops coloured by protein, the rest in grey (the
    circular insets of Fig. 2). ``classes`` defaults to every single-localisation class."""
    import matplotlib.pyplot as plt

    if classes is None:
        classes = sorted(c for c in metadata.localization.unique() if c not in MULTI_CLASS_KINDS)
    nrows = int(np.ceil(len(classes) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3 * ncols, 3 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, name in zip(axes.ravel(), classes):
        members = (metadata["localization"] == name).to_numpy()
        ax.scatter(*coordinates[~members].T, s=1, c="#d0d0d0", rasterized=True)
        for protein in sorted(metadata.loc[members, "protein"].unique()):
            own = members & (metadata["protein"] == protein).to_numpy()
            ax.scatter(*coordinates[own].T, s=3, label=protein, rasterized=True)
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=6, markerscale=3, frameon=False, loc="best")
    fig.tight_layout()
    return fig


def spectra_heatmap(consensus: pd.DataFrame, cluster_labels: np.ndarray, order: np.ndarray,
                    *, title: str = "consensus feature spectra per class (Fig. 4b)"):
    """Class x code heat map of consensus spectra, with the feature clusters marked on top."""
    import matplotlib.pyplot as plt

    values = consensus.to_numpy()
    values = values / np.maximum(values.max(1, keepdims=True), 1e-12)
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(consensus) + 1.4))
    ax.imshow(values, aspect="auto", cmap="magma", interpolation="nearest")
    ax.set_yticks(range(len(consensus)), consensus.index, fontsize=8)
    ordered = np.asarray(cluster_labels)[order]
    bounds = np.flatnonzero(np.diff(ordered)) + 0.5
    for bound in bounds:
        ax.axvline(bound, color="white", lw=0.6)
    starts = np.concatenate([[0], np.ceil(bounds).astype(int)])
    ends = np.concatenate([np.ceil(bounds).astype(int), [len(ordered)]])
    from .spectrum import roman

    ax.set_xticks((starts + ends - 1) / 2, [roman(int(ordered[s])) for s in starts], fontsize=8)
    ax.set_xlabel("codes in dendrogram order, feature clusters i, ii, ...")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def orphan_correlations(correlations: pd.Series, true_class: str, protein: str):
    """Bar chart of the orphan's spectrum correlation with each class consensus (Fig. 4c)."""
    import matplotlib.pyplot as plt

    ordered = correlations.sort_values()
    fig, ax = plt.subplots(figsize=(5, 0.28 * len(ordered) + 1))
    colours = ["tab:red" if name == true_class else "tab:grey" for name in ordered.index]
    ax.barh(ordered.index, ordered.to_numpy(), color=colours)
    ax.set_xlabel("Pearson r with the class consensus spectrum")
    ax.set_title(f"held-out protein {protein} (true class in red)")
    fig.tight_layout()
    return fig


def zeroing_panel(images: np.ndarray, reconstruction: np.ndarray, altered: np.ndarray,
                  masks: np.ndarray, n: int = 6):
    """Input, reconstruction, and the change when one code is zeroed (red) over the pattern
    mask's outline (Fig. 5)."""
    from skimage.segmentation import find_boundaries

    tiles = []
    for i in range(min(n, len(images))):
        change = np.abs(reconstruction[i, 0] - altered[i, 0])
        overlay = composite(images[i, 0]) * 0.6
        overlay[..., 0] = np.maximum(overlay[..., 0], change / max(change.max(), 1e-8))
        overlay[find_boundaries(masks[i] > 0)] = (0.3, 0.6, 1.0)
        tiles += [composite(images[i, 0]), composite(reconstruction[i, 0]), overlay]
    return image_grid(tiles, ncols=3, titles=["input", "reconstruction", "change (red), mask (blue)"]
                      * min(n, len(images)))


def zeroing_panels(study: dict, images: np.ndarray, metadata: pd.DataFrame, *,
                   name: str = "nucleolus", n: int = 3):
    """:func:`zeroing_panel` for class ``name`` (or the first class) with each peak rule of a
    :func:`~cellnb.papers.cytoself.evaluate.zeroing_study`: the paper's peak, then ours."""
    figures = []
    for rule in ("strongest", "specific"):
        examples = study[rule][1]
        chosen = name if name in examples else sorted(examples)[0]
        members, reconstruction, altered = examples[chosen]
        figures.append(zeroing_panel(images[members], reconstruction, altered,
                                     study["masks"][members], n=n))
        figures[-1].suptitle(f"{chosen}: {'the paper' if rule == 'strongest' else 'our'} "
                             f"{rule} code")
    return figures
