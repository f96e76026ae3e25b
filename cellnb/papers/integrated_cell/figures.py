"""The Integrated Cell chapters' static figures (matplotlib): each takes arrays or tables that the
model, the training run or :mod:`.evaluate` produced and draws them the way the 2D paper's figure
does (Johnson, Donovan-Maiye & Maleckar, arXiv 1705.00092, 2017), or the way the question is
easiest to see. Every function returns its figure.

Cells are drawn as the 2D paper's PNGs store them: an RGB picture whose red is the membrane, green
the tagged structure and blue the DNA (:func:`cell_rgb`). A reference image (membrane + DNA) is the
same picture with no green.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ...data.transforms import minmax_normalize
from ...plotting import category_colours, image_grid
from ...train.history import term_family
from .evaluate import PAPER_CONFUSION_2D, confusion_accuracy
from .model import CHANNELS, REFERENCE_INDEX, STRUCTURE_INDEX


def _numpy(array) -> np.ndarray:
    """A float array from a numpy array or a (possibly GPU, possibly grad-tracking) tensor."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    return np.asarray(array, dtype=np.float32)


def cell_rgb(image) -> np.ndarray:
    """A cell as an RGB picture in [0, 1]: R = membrane, G = structure, B = DNA.

    The 2D paper's data and figures (Figs. 2-3, S1-S2) are RGB images with these three channels,
    so this is how its cells look. ``image`` is (C, H, W) or a batch (N, C, H, W) with C = 3
    (membrane, structure, DNA; :data:`.model.CHANNELS`) or C = 2 (a reference image: membrane and
    DNA, drawn with no green). Values are clipped to [0, 1], not rescaled, so a dim decoded cell
    looks dim. Returns (H, W, 3) or (N, H, W, 3).
    """
    image = _numpy(image)
    if image.ndim not in (3, 4):
        raise ValueError(f"cell_rgb takes (C, H, W) or (N, C, H, W) images, got {image.shape}")
    channels = image.shape[-3]
    if channels == 2:
        full = np.zeros(image.shape[:-3] + (3,) + image.shape[-2:], np.float32)
        full[..., REFERENCE_INDEX[0], :, :] = image[..., 0, :, :]
        full[..., REFERENCE_INDEX[1], :, :] = image[..., 1, :, :]
        image = full
    elif channels != len(CHANNELS):
        raise ValueError(f"cell_rgb takes 3 channels {CHANNELS} or 2 (membrane, DNA), "
                         f"got {channels}")
    return np.clip(np.moveaxis(image, -3, -1), 0, 1)


def cells_by_class(images, labels, class_names: Sequence[str], *, per_class: int = 6,
                   seed: int = 0):
    """A row of cells per labelled structure, as the 2D paper's Fig. 2 introduces its data.

    What the reader sees: the membrane and DNA vary from cell to cell within a row, while the
    green structure is what tells the rows apart. ``per_class`` cells are drawn at random
    (seeded) from each class; a class with fewer cells leaves black tiles.
    """
    images, labels = _numpy(images), np.asarray(labels, int)
    rng = np.random.default_rng(seed)
    blank = np.zeros(images.shape[-2:] + (3,), np.float32)
    tiles = []
    for k in range(len(class_names)):
        members = np.flatnonzero(labels == k)
        chosen = np.sort(rng.choice(members, size=min(per_class, len(members)), replace=False))
        tiles += [cell_rgb(images[i]) for i in chosen] + [blank] * (per_class - len(chosen))
    return image_grid(tiles, ncols=per_class, row_labels=[str(n) for n in class_names], size=1.2)


STAGE_TITLES = ("reference model, membrane + DNA (Fig. S3a)",
                "conditional model, structure given the reference (Fig. S3b)")


def loss_curves(reference_history: pd.DataFrame | None,
                conditional_history: pd.DataFrame | None, *, ncols: int = 5,
                size: float = 2.3):
    """Every loss term per epoch, one group of panels per stage: the 2D paper's Fig. S3.

    The histories are the training run's (one column per ``train_`` / ``val_`` term, as
    :mod:`cellnb.train.history` names them); train and validation values of one term share a
    panel, learning rates and timings are left out. What the reader sees: the reconstruction
    falling in both stages while the adversarial terms of the encoder, decoder and the two
    discriminators hold a balance rather than converge (neither side wins), and in the
    conditional stage the class and z^r-regression losses falling as well. A stage whose history
    is None is skipped.
    """
    import matplotlib.pyplot as plt

    stages = [(title, history) for title, history in zip(STAGE_TITLES, (reference_history,
                                                                        conditional_history))
              if history is not None]
    if not stages:
        raise ValueError("loss_curves needs at least one history")
    grouped = []
    for title, history in stages:
        families: dict[str, list[str]] = {}
        for column in history.columns:
            family, split = term_family(column)
            if split in ("train", "val"):
                families.setdefault(family, []).append(column)
        grouped.append((title, history, families))
    rows = [-(-len(families) // ncols) for _, _, families in grouped]
    fig = plt.figure(figsize=(size * ncols, 0.8 * size * sum(rows) + 0.4 * len(rows)),
                     layout="constrained")
    subfigures = np.atleast_1d(fig.subfigures(len(grouped), 1, height_ratios=rows))
    for subfigure, nrows, (title, history, families) in zip(subfigures, rows, grouped):
        axes = subfigure.subplots(nrows, ncols, squeeze=False).ravel()
        for ax in axes[len(families):]:
            ax.remove()
        for ax, (family, columns) in zip(axes, families.items()):
            for column in columns:
                ax.plot(history.index, history[column], marker=".",
                        label=term_family(column)[1])
            ax.set_title(family.replace("_", " "), fontsize=9)
            ax.set_xlabel("epoch", fontsize=8)
            ax.tick_params(labelsize=7)
            if len(columns) > 1:
                ax.legend(fontsize=7)
        subfigure.suptitle(title, fontsize=10)
    return fig


def preprocessing(raw, aligned, record):
    """A real cell before and after the papers' preprocessing (2D paper Sec. 3.1).

    ``raw`` (2, H, W) membrane + DNA as imaged (e.g. a maximum projection), ``aligned`` the
    output of :func:`cellnb.data.alignment.preprocess_cell` and its ``record``. Each side is
    scaled to its own range for display. What the reader sees: the cell turned so that its long
    axis is horizontal, the nucleus at the centre and the body on the canonical side.
    """
    raw = minmax_normalize(_numpy(raw), axis=(-2, -1))
    title = (f"aligned: rotated {record.rotation_deg:+.0f} deg, flipped "
             f"{'x' if record.flipped_major else ''}{'y' if record.flipped_minor else ''}"
             f"{'' if record.flipped_major or record.flipped_minor else 'none'}")
    return image_grid([cell_rgb(raw), cell_rgb(_numpy(aligned))], ncols=2, size=3.0,
                      titles=["as imaged (max projection)", title])


def reconstructions(images, reconstructed, *, titles: Sequence[str] = ("input", "reconstruction"),
                    n: int = 6):
    """Cells over what the autoencoder makes of them: the 2D paper's Figs. S1 (reference model)
    and S2 (conditional model).

    ``images`` and ``reconstructed`` are (N, C, H, W) with C = 2 (membrane, DNA; no green) or 3;
    the first ``n`` are shown, inputs in the top row. What the reader sees: the cell's outline and
    nucleus come back, blurred; fine texture, which the N(0, I) code cannot hold, does not.
    """
    images, reconstructed = _numpy(images)[:n], _numpy(reconstructed)[:n]
    tiles = list(cell_rgb(images)) + list(cell_rgb(reconstructed))
    return image_grid(tiles, ncols=len(images), row_labels=list(titles), size=1.3)


def prior_histograms(codes, codes_without=None, *, dims: int = 4,
                     labels: Sequence[str] = ("with EncD", "without EncD")):
    """The first ``dims`` latent dimensions' histograms against the N(0, 1) prior density.

    The latent discriminator EncD pushes the codes towards the prior (2D paper Sec. 2.1.2, after
    Makhzani et al.'s adversarial autoencoder), which is what makes decoding a prior draw
    (generation, Algorithm 3's z^s = 0) meaningful. ``codes`` is (N, D); ``codes_without``, if
    given, the codes of the same cells from a model trained without EncD (the ablation), drawn
    as an outline: without the discriminator nothing keeps the codes near N(0, 1).
    """
    import matplotlib.pyplot as plt
    from scipy import stats

    codes = _numpy(codes)
    dims = min(dims, codes.shape[1])
    fig, axes = plt.subplots(1, dims, figsize=(2.6 * dims, 2.4), squeeze=False)
    grid = np.linspace(-4, 4, 201)
    bins = np.linspace(-4, 4, 33)
    for d, ax in enumerate(axes.ravel()):
        ax.hist(np.clip(codes[:, d], -4, 4), bins=bins, density=True, color="#1f77b4",
                alpha=0.6, label=labels[0])
        if codes_without is not None:
            ax.hist(np.clip(_numpy(codes_without)[:, d], -4, 4), bins=bins, density=True,
                    histtype="step", color="#d62728", lw=1.5, label=labels[1])
        ax.plot(grid, stats.norm.pdf(grid), color="k", lw=1, label="N(0, 1)")
        ax.set(title=f"z_{d + 1}", yticks=[])
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def shape_semantics(predicted: pd.DataFrame, true: pd.DataFrame, r2: pd.Series):
    """Each shape parameter read out of z^r (held out) against its true value, R^2 in the title.

    The 2D paper reads its latent space only by eye (Fig. S4); on simulated cells the shape
    parameters are known, so :func:`.evaluate.latent_semantics_r2`'s cross-validated read-out
    puts a number on it. Points on the diagonal: z^r holds that parameter; a flat cloud: it
    does not.
    """
    import matplotlib.pyplot as plt

    names = list(true.columns)
    fig, axes = plt.subplots(1, len(names), figsize=(2.6 * len(names), 2.8), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        ax.scatter(true[name], predicted[name], s=6, alpha=0.6, color="#1f77b4")
        ax.axline((float(true[name].mean()),) * 2, slope=1, color="#999", lw=1)
        ax.set_title(f"{name}\nR² = {float(r2[name]):.2f}", fontsize=9)
        ax.set_xlabel("true", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("predicted from z^r", fontsize=8)
    fig.tight_layout()
    return fig


def traversal_grid(frames, steps, *, names: Sequence[str] = ("z_1", "z_2")):
    """Cells decoded over a plane of the latent space: the 2D paper's Fig. S4b.

    ``frames`` is (S, S, C, H, W): ``frames[i, j]`` is decoded at ``names[0]`` = ``steps[i]`` and
    ``names[1]`` = ``steps[j]`` standard deviations of the prior, the other dimensions at 0 (see
    :func:`.explore.traversal_plane`). What the reader sees: moving along a row or a column
    changes the cell smoothly (its size, its elongation, where the nucleus sits), so nearby codes
    decode to similar cells.
    """
    frames = _numpy(frames)
    steps = [float(s) for s in steps]
    if frames.shape[:2] != (len(steps), len(steps)):
        raise ValueError(f"frames must be ({len(steps)}, {len(steps)}, C, H, W) for "
                         f"{len(steps)} steps, got {frames.shape}")
    tiles = [cell_rgb(frames[i, j]) for i in range(len(steps)) for j in range(len(steps))]
    titles = [f"{names[1]} {s:+g} SD" for s in steps] + [""] * (len(tiles) - len(steps))
    return image_grid(tiles, ncols=len(steps), titles=titles,
                      row_labels=[f"{names[0]} {s:+g} SD" for s in steps], size=1.2)


def _row_normalised(confusion: pd.DataFrame) -> np.ndarray:
    counts = np.asarray(confusion, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)


def confusion_matrices(ours: pd.DataFrame, paper: pd.DataFrame | None = PAPER_CONFUSION_2D, *,
                       titles: Sequence[str] = ("this model", "2D paper (Table S9)")):
    """Hold-out confusion matrices of Enc^{r,s}, ours beside the paper's (2D paper Table S9).

    Rows are the true structures, columns the predicted ones; colour is the row-normalised share
    (each class's recall on the diagonal), the numbers are counts, and each title carries the
    accuracy. What the reader sees in the paper: a near-perfect diagonal except for the poorly
    sampled classes (Myosin IIB, ZO1) and the confusable actin-like ones; ``paper=None`` draws
    ours alone (pass ``evaluate.PAPER_CONFUSION_3D`` for the 3D paper's Table S11).
    """
    import matplotlib.pyplot as plt

    tables = [ours] + ([] if paper is None else [paper])
    side = 0.42 * max(len(t) for t in tables) + 1.8
    fig, axes = plt.subplots(1, len(tables), figsize=(side * len(tables) + 1, side),
                             squeeze=False, layout="constrained")
    for ax, table, title in zip(axes.ravel(), tables, titles):
        shares = _row_normalised(table)
        image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for (i, j), count in np.ndenumerate(np.asarray(table, dtype=int)):
            if count:
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                        color="white" if shares[i, j] > 0.5 else "black")
        names = [str(n) for n in table.index]
        ax.set_xticks(np.arange(len(table.columns)), [str(n) for n in table.columns],
                      rotation=90, fontsize=7)
        ax.set_yticks(np.arange(len(names)), names, fontsize=7)
        correct, total, accuracy = confusion_accuracy(table)
        ax.set(xlabel="predicted", ylabel="true")
        ax.set_title(f"{title}: accuracy {accuracy:.2f} ({correct}/{total})", fontsize=9)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="share of the true class")
    return fig


def _with_structure(reference: np.ndarray, structure: np.ndarray, weight: float) -> np.ndarray:
    """A (3, H, W) cell: the dimmed reference (membrane, DNA) around a structure channel."""
    cell = np.zeros((3,) + structure.shape, np.float32)
    cell[REFERENCE_INDEX[0]] = weight * reference[0]
    cell[REFERENCE_INDEX[1]] = weight * reference[1]
    cell[STRUCTURE_INDEX] = structure
    return cell


def integrated_cells(reference_images, predictions, truths, class_names: Sequence[str], *,
                     n: int = 3, reference_weight: float = 0.5, normalize: bool = True):
    """Every structure predicted in the same cells: the 2D paper's Fig. 3 (Algorithm 3).

    Per cell a row: the observed reference (membrane red, DNA blue), then each class's predicted
    structure in green over that reference, dimmed to ``reference_weight``. Where ``truths`` is
    given (the simulator's conditional mean E[x^s | r, y], known only for synthetic cells), a row
    below shows it the same way. ``reference_images`` is (N, 2 or 3, H, W) (the membrane and
    DNA are taken from three channels), ``predictions`` and ``truths`` (N, K, H, W); the first
    ``n`` cells are drawn. ``normalize`` min-max scales each structure tile, so a dim
    prediction's pattern (not its level) shows. What the reader sees: the structures arranged to the
    particular cell, e.g. nucleoli inside its nucleus, membrane-bound proteins on its outline.
    """
    references = _numpy(reference_images)[:n]
    if references.shape[1] == len(CHANNELS):
        references = references[:, list(REFERENCE_INDEX)]
    predictions = _numpy(predictions)[:n]
    truths = None if truths is None else _numpy(truths)[:n]
    blank = np.ones(references.shape[-2:] + (3,), np.float32)
    tiles, row_labels = [], []
    for i, reference in enumerate(references):
        rows = [("predicted", predictions[i])] + ([] if truths is None
                                                  else [("truth", truths[i])])
        for r, (kind, structures) in enumerate(rows):
            tiles.append(cell_rgb(reference) if r == 0 else blank)
            for structure in structures:
                shown = minmax_normalize(structure) if normalize else structure
                tiles.append(cell_rgb(_with_structure(reference, shown, reference_weight)))
            row_labels.append(f"cell {i}: {kind}" if r == 0 else kind)
    ncols = 1 + predictions.shape[1]
    titles = ["reference"] + [str(name) for name in class_names]
    return image_grid(tiles, ncols=ncols, titles=titles + [""] * (len(tiles) - ncols),
                      row_labels=row_labels, size=1.3)


def integration_scores(scores: pd.DataFrame, class_names: Sequence[str]):
    """Per held-out cell, how well Algorithm 3's prediction matches the cell's true conditional
    mean (y) against how well the class's mean training image does (x).

    ``scores`` is :func:`.evaluate.integration_scores`' table (``label``, ``model_r``,
    ``template_r``). The 2D paper shows integration only as pictures (Fig. 3); a point above the
    diagonal is a cell where predicting from its membrane and DNA beat ignoring them.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    colours = category_colours(len(class_names))
    for k, (name, colour) in enumerate(zip(class_names, colours)):
        cells = scores[scores["label"] == k]
        if len(cells):
            ax.scatter(cells["template_r"], cells["model_r"], s=10, alpha=0.7, color=colour,
                       label=str(name))
    values = scores[["template_r", "model_r"]].to_numpy(float)
    low = min(0.0, float(np.nanmin(values)) - 0.05) if len(values) else 0.0
    ax.axline((0, 0), slope=1, color="#999", lw=1)
    above = float((scores["model_r"] > scores["template_r"]).mean()) if len(scores) else 0.0
    ax.set(xlim=(low, 1), ylim=(low, 1), xlabel="r of the class template",
           ylabel="r of the prediction (Algorithm 3)",
           title=f"above the diagonal: {above:.0%} of cells")
    ax.legend(fontsize=7, markerscale=1.5, loc="center left", bbox_to_anchor=(1, 0.5))
    fig.tight_layout()
    return fig
