"""The Integrated Cell chapters' static figures (matplotlib): each takes arrays or tables that the
model, the training run or :mod:`.evaluate` produced and draws them the way the 2D paper's figure
does (Johnson, Donovan-Maiye & Maleckar, arXiv 1705.00092, 2017), or the way the question is
easiest to see. Every function returns its figure.

Cells are drawn as the 2D paper's PNGs store them: an RGB picture whose red is the membrane, green
the tagged structure and blue the DNA (:func:`cell_rgb`). A reference image (membrane + DNA) is the
same picture with no green.

The 3D chapter's cells are volumes (C, Z, Y, X), z the short axis and the cell on the coverslip at
z = 0. The 3D paper shows them as maximum projections (Figs. 2-4, S2, S5, S8-S9); so does
:func:`projections` (the top view over the side view), and every volume figure here is built from
it. :func:`isosurface` draws one cell in 3D with plotly. The rest are the 3D paper's supplementary
figures on Algorithm 4 and the walk between cell-cycle states (:mod:`.variation`): Figs. S7
(:func:`variation_distributions`), S8 (:func:`extreme_cells`) and S9 (:func:`walk_strip`).
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
    """A real cell before and after the papers' preprocessing (Sec. 3.1 of both papers).

    ``raw`` (2, H, W) membrane + DNA as imaged (e.g. a maximum projection) or a volume (2, Z, Y,
    X), drawn as :func:`projections`; ``aligned`` the output of
    :func:`cellnb.data.alignment.preprocess_cell` and its ``record``. Each side is scaled to its
    own range for display. What the reader sees: the cell turned so that its long axis is
    horizontal, the nucleus at the centre and the body on the canonical side.
    """
    raw = _numpy(raw)
    raw = minmax_normalize(raw, axis=tuple(range(1, raw.ndim)))
    title = (f"aligned: rotated {record.rotation_deg:+.0f} deg, flipped "
             f"{'x' if record.flipped_major else ''}{'y' if record.flipped_minor else ''}"
             f"{'' if record.flipped_major or record.flipped_minor else 'none'}")
    imaged = "as imaged (max projection)" if raw.ndim == 3 else "as imaged (top, side)"
    return image_grid([_picture(raw), _picture(_numpy(aligned))], ncols=2, size=3.0,
                      titles=[imaged, title])


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


def overlay_structure(reference: np.ndarray, structure: np.ndarray, weight: float) -> np.ndarray:
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
                tiles.append(cell_rgb(overlay_structure(reference, shown, reference_weight)))
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


# ------------------------------------------------------------------------------------ volumes

ISO_FRACTION = 0.5        # isosurface level: this fraction of each channel's maximum
ISO_MAX_VOXELS = 40_000   # above this many voxels isosurface() max-pools the volume
CHANNEL_COLOURS = {"membrane": "#e8392b", "structure": "#2ca02c", "dna": "#1f5fd6"}


def _grey(image: np.ndarray) -> np.ndarray:
    return np.repeat(np.clip(image, 0, 1)[..., None], 3, axis=-1)


def _stretch_z(side: np.ndarray, z_step: float) -> np.ndarray:
    """Repeat the rows of a (Z, ...) side view so that one z step is ``z_step`` pixels tall
    (nearest neighbour); unchanged for ``z_step`` = 1."""
    if z_step == 1:
        return side
    if z_step <= 0:
        raise ValueError(f"z_step must be positive, got {z_step}")
    rows = max(1, round(len(side) * z_step))
    return side[np.minimum((np.arange(rows) / z_step).astype(int), len(side) - 1)]


def projections(volume, *, gap: int = 1, z_step: float = 1.0) -> np.ndarray:
    """A volume as one RGB picture: its top view above its side view, both maximum projections.

    The 3D paper shows its cells this way (e.g. Figs. 2, S2, S8): the top view is the maximum over
    z, what a widefield view of the coverslip would show, (Y, X); the side view the maximum over
    y, (Z, X), drawn with z pointing up, so the coverslip (z = 0) is the picture's bottom row and
    a flat interphase cell looks flat beside a rounded mitotic one. ``volume`` is (C, Z, Y, X)
    with C = 3 (membrane red, structure green, DNA blue; :func:`cell_rgb`) or C = 2 (a reference:
    membrane and DNA), or a single channel (Z, Y, X), drawn grey. Values are clipped to [0, 1].
    ``gap`` white rows separate the views; ``z_step`` (one z step in in-plane pixels, e.g.
    :func:`cellnb.sim.volumes.z_step`) stretches the side view to true proportions. Returns
    (Y + gap + Z * z_step, X, 3).
    """
    volume = _numpy(volume)
    if volume.ndim == 3:
        top, side = _grey(volume.max(axis=0)), _grey(volume.max(axis=1)[::-1])
    elif volume.ndim == 4:
        top = cell_rgb(volume.max(axis=1))
        side = cell_rgb(volume.max(axis=2)[:, ::-1])
    else:
        raise ValueError(f"projections takes a (C, Z, Y, X) or (Z, Y, X) volume, got "
                         f"{volume.shape}")
    side = _stretch_z(side, z_step)
    canvas = np.ones((top.shape[0] + gap + side.shape[0],) + top.shape[1:], np.float32)
    canvas[:top.shape[0]] = top
    canvas[top.shape[0] + gap:] = side
    return canvas


def _picture(image: np.ndarray, z_step: float = 1.0) -> np.ndarray:
    """One cell of a batch as RGB: :func:`projections` of a (C, Z, Y, X) volume, :func:`cell_rgb`
    of a (C, H, W) image."""
    return projections(image, z_step=z_step) if image.ndim == 4 else cell_rgb(image)


def volume_cells(volumes, *, titles: Sequence[str] | None = None, n: int = 6,
                 z_step: float = 1.0, size: float = 1.6):
    """The first ``n`` cells of a batch, each as :func:`projections` (top view over side view).

    ``volumes`` is (N, C, Z, Y, X) (C = 3, or 2 for references), or (N, C, H, W) 2D cells, drawn
    as :func:`cell_rgb`. How the 3D paper introduces its data and reconstructions (Figs. 2, S2):
    the reader sees each cell from above and from the side, so its height, and where along z its
    nucleus and structure sit, are visible too.
    """
    volumes = _numpy(volumes)[:n]
    tiles = [_picture(volume, z_step) for volume in volumes]
    titles = None if titles is None else [str(title) for title in list(titles)[:len(tiles)]]
    return image_grid(tiles, ncols=max(1, len(tiles)), titles=titles, size=size)


def _downsampled(volume: np.ndarray, max_voxels: int) -> tuple[np.ndarray, int]:
    """(C, Z, Y, X) max-pooled by the smallest integer factor s that leaves at most
    ``max_voxels`` voxels per channel (edges padded with each channel's minimum), and s."""
    voxels = int(np.prod(volume.shape[1:]))
    factor = max(1, int(np.ceil((voxels / max_voxels) ** (1 / 3))))
    while np.prod([-(-n // factor) for n in volume.shape[1:]]) > max_voxels:
        factor += 1
    if factor == 1:
        return volume, 1
    padded_shape = [-(-n // factor) * factor for n in volume.shape[1:]]
    padding = [(0, 0)] + [(0, p - n) for p, n in zip(padded_shape, volume.shape[1:])]
    padded = np.pad(volume, padding, mode="minimum")
    c, z, y, x = padded.shape
    pooled = padded.reshape(c, z // factor, factor, y // factor, factor, x // factor, factor)
    return pooled.max(axis=(2, 4, 6)), factor


def _channel_names(channels: int) -> tuple[str, ...]:
    return {3: CHANNELS, 2: tuple(CHANNELS[i] for i in REFERENCE_INDEX),
            1: (CHANNELS[STRUCTURE_INDEX],)}[channels]


def isosurface(volume, *, levels: Sequence[float] | None = None,
               channels: Sequence[int | str] | None = None, fraction: float = ISO_FRACTION,
               opacity: float = 0.35, max_voxels: int = ISO_MAX_VOXELS, z_step: float = 1.0,
               title: str | None = None, height: int = 480):
    """One cell in 3D: a translucent isosurface per channel (plotly), as the 3D paper renders its
    cells in Figs. 1 and 5.

    ``volume`` is (C, Z, Y, X) with C = 3 (membrane red, structure green, DNA blue), C = 2 (a
    reference: membrane, DNA) or a single channel (Z, Y, X), drawn green. ``channels`` picks
    channels by index or name (all by default); ``levels`` gives each picked channel's isovalue,
    by default ``fraction`` of that channel's maximum, so a dim decoded structure still shows a
    surface. Axes are in voxels, z up (the coverslip at the bottom), and the aspect ratio keeps a
    voxel a cube (or ``z_step`` in-plane pixels tall). Volumes of more than ``max_voxels`` voxels
    are max-pooled by an integer factor first (thin shells such as the membrane stay closed), so
    the figure stays small enough to embed in the book; it needs no server (the book embeds it
    with its local plotly.js, :func:`cellnb.display.show_plotly`). Returns the ``go.Figure``, one
    trace per drawn channel.
    """
    import plotly.graph_objects as go

    volume = _numpy(volume)
    if volume.ndim == 3:
        volume = volume[None]
    if volume.ndim != 4 or volume.shape[0] not in (1, 2, 3):
        raise ValueError(f"isosurface takes a (C, Z, Y, X) volume with C in 1..3 or (Z, Y, X), "
                         f"got {volume.shape}")
    names = _channel_names(volume.shape[0])
    picked = list(range(len(names))) if channels is None else \
        [names.index(c) if isinstance(c, str) else int(c) for c in channels]
    if levels is not None and len(levels) != len(picked):
        raise ValueError(f"levels needs one value per drawn channel ({len(picked)}), got "
                         f"{len(levels)}")
    depth, rows, cols = volume.shape[1:]
    pooled, factor = _downsampled(volume, max_voxels)
    # Voxel coordinates of each pooled block's centre (rounded down), as a flattened grid.
    axes = [np.arange(n) * factor + (factor - 1) // 2 for n in pooled.shape[1:]]
    dtype = np.min_scalar_type(max(depth, rows, cols))
    z, y, x = (grid.ravel().astype(dtype) for grid in np.meshgrid(*axes, indexing="ij"))
    figure = go.Figure()
    for i, index in enumerate(picked):
        channel = pooled[index]
        peak = float(volume[index].max())
        level = float(levels[i]) if levels is not None else fraction * peak
        colour = CHANNEL_COLOURS[names[index]]
        # Two surfaces (plotly's default count) at isomin and isomax = the channel's maximum: the
        # second encloses no voxel, so one surface, at ``level``, is drawn.
        figure.add_trace(go.Isosurface(
            x=x, y=y, z=z, value=channel.ravel().astype(np.float32), isomin=level,
            isomax=max(level, peak), surface_count=2, opacity=opacity,
            colorscale=[[0, colour], [1, colour]], showscale=False, showlegend=True,
            name=f"{names[index]} (level {level:.2g})", caps=dict(x_show=False, y_show=False,
                                                                  z_show=False),
            hoverinfo="skip"))
    sides = np.array([cols, rows, depth * z_step], float)
    sides /= sides.max()
    note = "" if factor == 1 else f" (max-pooled {factor}x)"
    figure.update_layout(
        title=dict(text=(title or f"{depth} x {rows} x {cols} voxels") + note, font_size=13),
        height=height, margin=dict(l=0, r=0, t=40, b=0), legend=dict(x=0, y=1),
        scene=dict(xaxis_title="x (voxels)", yaxis_title="y (voxels)",
                   zaxis_title="z (voxels)", aspectmode="manual",
                   aspectratio=dict(x=sides[0], y=sides[1], z=sides[2]),
                   camera=dict(up=dict(x=0, y=0, z=1), eye=dict(x=1.4, y=-1.4, z=0.9))))
    return figure


# ---------------------------------------------------- Algorithm 4 and the walk (3D Figs. S7-S9)

def variation_distributions(values, labels, states, class_names: Sequence[str], *,
                            state_names: Sequence[str] = ("interphase", "mitotic")):
    """Per structure, the spread of Algorithm 4's per-cell statistic by cell state: the 3D paper's
    Fig. S7.

    ``values`` (N,) is each cell's -log det(corr) / n of n structures decoded in it
    (:func:`.variation.model_variation`: smaller means more variable localisation), ``labels``
    (N,) the structure scored, ``states`` (N,) booleans, True for a mitotic cell (None: one box
    per structure). Per structure a box per state, the cells as dots over it. What the reader
    looks for (3D paper Sec. 3.4.5): a structure whose mitotic box sits lower than its interphase
    one becomes more variable in mitosis (the nuclear envelope, nucleoli, Golgi and mitochondria
    in the paper), higher, less variable (microtubules gathering into the spindle). Non-finite
    values are left out. Returns the figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    values, labels = np.asarray(values, float), np.asarray(labels, int)
    states = np.zeros(len(values), bool) if states is None else np.asarray(states, bool)
    groups = [False, True] if states.any() else [False]
    finite = np.isfinite(values)
    colours = ("#1f77b4", "#d62728")
    width = 0.8 / len(groups)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.75 * len(class_names) + 1.5), 3.6))
    rng = np.random.default_rng(0)
    counts = {state: 0 for state in groups}
    for g, state in enumerate(groups):
        offset = (g - (len(groups) - 1) / 2) * width
        for k in range(len(class_names)):
            cells = values[finite & (labels == k) & (states == state)]
            counts[state] += len(cells)
            if not len(cells):
                continue
            ax.boxplot(cells, positions=[k + offset], widths=0.85 * width, showfliers=False,
                       patch_artist=True, manage_ticks=False,
                       boxprops=dict(facecolor=colours[g], alpha=0.35, color=colours[g]),
                       medianprops=dict(color=colours[g]), whiskerprops=dict(color=colours[g]),
                       capprops=dict(color=colours[g]))
            jitter = rng.uniform(-0.25, 0.25, len(cells)) * width
            ax.scatter(k + offset + jitter, cells, s=5, color=colours[g], alpha=0.6, zorder=3)
    ax.set_xticks(np.arange(len(class_names)), [str(n) for n in class_names], rotation=45,
                  ha="right", fontsize=8)
    ax.set_xlim(-0.6, len(class_names) - 0.4)
    ax.set_ylabel("-log det(corr) / n\n(smaller: more variable)", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    if len(groups) > 1:
        ax.legend(handles=[Patch(color=colours[g], alpha=0.5,
                                 label=f"{state_names[int(state)]} ({counts[state]} cells)")
                           for g, state in enumerate(groups)], fontsize=7)
    fig.tight_layout()
    return fig


def extreme_cells(images, values, *, n: int = 4, states=None, title: str | None = None,
                  z_step: float = 1.0, size: float = 1.4):
    """The cells in which a structure is predicted most and least variable: the 3D paper's Fig. S8.

    ``images`` (N, C, Z, Y, X) volumes (or (N, C, H, W) 2D cells) and ``values`` (N,) their
    Algorithm 4 statistics for one structure (smaller: more variable). Top row the ``n`` most
    variable cells (smallest values first), bottom row the ``n`` least variable (largest first),
    each as :func:`projections` with its value in the title; ``states`` (N,) booleans mark the
    mitotic cells' titles with "M". ``n`` is capped at half the cells with finite values, so the
    rows do not share a cell. What the reader sees in the paper: for some structures the most
    variable predictions are made in mitotic (rounded, taller) cells.
    """
    images, values = _numpy(images), np.asarray(values, float)
    candidates = np.flatnonzero(np.isfinite(values))
    if not len(candidates):
        raise ValueError("extreme_cells needs at least one finite value")
    n = max(1, min(n, len(candidates) // 2))
    order = candidates[np.argsort(values[candidates], kind="stable")]
    rows = [order[:n], order[::-1][:n]]
    mitotic = np.zeros(len(values), bool) if states is None else np.asarray(states, bool)
    tiles = [_picture(images[i], z_step) for row in rows for i in row]
    titles = [f"{values[i]:.3g}" + (" M" if mitotic[i] else "") for row in rows for i in row]
    return image_grid(tiles, ncols=n, titles=titles, size=size, suptitle=title,
                      row_labels=["most\nvariable", "least\nvariable"])


def _top_views(frames: np.ndarray) -> np.ndarray:
    """(..., C, Z, Y, X) -> maximum over z, (..., C, Y, X); 2D images (..., C, H, W) as they are."""
    return frames.max(axis=-3) if frames.ndim >= 6 else frames


def structure_overlays(frames, *, reference_weight: float = 0.5,
                       normalize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The top views of a walk's frames as RGB, every structure over the same reference.

    ``frames`` (steps, K, 3, Z, Y, X), every structure decoded at each step of a walk
    (:func:`.explore.walk_frames`), or 2D (steps, K, 3, H, W). Per step the reference (membrane
    and DNA, averaged over the K decodings, which should barely differ) is dimmed to
    ``reference_weight`` under each class's structure in green, min-max scaled per tile if
    ``normalize`` (so a dim prediction's pattern shows). Returns ``(references, overlays)``:
    (steps, Y, X, 3) and (steps, K, Y, X, 3).
    """
    frames = _numpy(frames)
    if frames.ndim not in (5, 6) or frames.shape[2] != len(CHANNELS):
        raise ValueError(f"frames must be (steps, K, 3, Z, Y, X) or (steps, K, 3, H, W), got "
                         f"{frames.shape}")
    tops = _top_views(frames)
    references = tops[:, :, list(REFERENCE_INDEX)].mean(axis=1)      # (steps, 2, Y, X)
    overlays = np.stack([np.stack([
        cell_rgb(overlay_structure(references[s], minmax_normalize(structure) if normalize
                                 else structure, reference_weight))
        for structure in tops[s, :, STRUCTURE_INDEX]]) for s in range(len(tops))])
    return cell_rgb(references), overlays


def walk_columns(n_steps: int, *, steps: Sequence[float] | None = None,
                 states: dict[int, str] | None = None) -> list[str]:
    """A title per step of a walk: the state's name at its anchor columns (``states`` maps a
    column, negative counting from the end, to a name), else the step's value if ``steps`` is
    given, else empty."""
    if steps is not None and len(steps) != n_steps:
        raise ValueError(f"steps needs one value per step ({n_steps}), got {len(steps)}")
    names = {int(column) % n_steps: str(name) for column, name in (states or {}).items()}
    return [names.get(j, "" if steps is None else f"{float(steps[j]):.3g}")
            for j in range(n_steps)]


def walk_strip(frames, class_names: Sequence[str], *, steps: Sequence[float] | None = None,
               states: dict[int, str] | None = None, reference_weight: float = 0.5,
               normalize: bool = True, show_reference: bool = True, size: float = 1.1):
    """Every structure along a walk through the reference space: the 3D paper's Fig. S9.

    ``frames`` (steps, K, 3, Z, Y, X) are decoded at each point of a path between state medoids
    (:func:`.variation.walk`, :func:`.explore.walk_frames`), z^s = 0, every class; 2D frames
    (steps, K, 3, H, W) work too. Rows are the structures (green over the dimmed reference, top
    views, :func:`structure_overlays`), columns the steps, so time reads left to right (the paper
    lays it down the rows); the first row, if ``show_reference``, is the reference alone, the
    cell's shape. Column titles are the state names at the anchors (``states``: column -> name)
    or ``steps``' values (:func:`walk_columns`). What the reader sees: as the cell rounds up
    towards mitosis every structure rearranges with it, one model answering for all of them.
    """
    references, overlays = structure_overlays(frames, reference_weight=reference_weight,
                                              normalize=normalize)
    n_steps, n_classes = overlays.shape[:2]
    if len(class_names) != n_classes:
        raise ValueError(f"{n_classes} structures in frames but {len(class_names)} names")
    rows = ([list(references)] if show_reference else []) + \
        [list(overlays[:, k]) for k in range(n_classes)]
    labels = (["cell"] if show_reference else []) + [str(name) for name in class_names]
    titles = walk_columns(n_steps, steps=steps, states=states)
    tiles = [tile for row in rows for tile in row]
    return image_grid(tiles, ncols=n_steps, titles=titles + [""] * (len(tiles) - n_steps),
                      row_labels=labels, size=size)


def correlation_distributions(structures: dict, labels, class_names: Sequence[str], *,
                              ks: pd.DataFrame | None = None, ncols: int = 4,
                              bins: int = 30):
    """Per structure, the distribution of Pearson r between every pair of its cells' structure
    channels, one curve per source: the 3D paper's Fig. S6.

    ``structures`` maps a source's name (e.g. "data", "generated", "enc-dec") to its (N, ...)
    structure channels, all of the same cells' classes ``labels`` (N,). ``ks`` (optional:
    :func:`.analysis.correlation_check`'s table) puts each class's KS distances in its title. What
    the reader looks for (3D Sec. 3.4.4): generated cells as alike to each other as real cells of
    the class are; a curve shifted right means the model draws the structure too uniformly, one
    shifted left more diversely. Returns the figure.
    """
    import matplotlib.pyplot as plt

    from .evaluate import pairwise_correlations

    labels = np.asarray(labels, int)
    classes = [k for k in range(len(class_names)) if (labels == k).sum() >= 2]
    ncols = max(1, min(ncols, len(classes)))
    nrows = max(1, -(-len(classes) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.1 * nrows), squeeze=False,
                             sharex=True)
    colours = dict(zip(structures, category_colours(len(structures))))
    edges = np.linspace(-1, 1, bins + 1)
    for ax, k in zip(axes.flat, classes):
        for name, images in structures.items():
            r = pairwise_correlations(np.asarray(images)[labels == k])
            ax.hist(r, edges, density=True, histtype="step", color=colours[name], label=name)
        title = str(class_names[k])
        if ks is not None and class_names[k] in ks.index:
            title += "\nKS " + ", ".join(f"{column} {value:.2f}"
                                         for column, value in ks.loc[class_names[k]].items())
        ax.set_title(title, fontsize=8)
        ax.set_yticks([])
    for ax in list(axes.flat)[len(classes):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("pairwise r")
    axes.flat[0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def leakage_bars(table: pd.DataFrame):
    """How well a probe reads the class from z^s under each EncD^s design (criterion L1).

    ``table`` has one row per design (index: its name) with columns ``accuracy`` (the probe's
    cross-validated accuracy, :func:`.evaluate.class_leakage`) and ``chance`` (the majority-class
    rate). A bar at the dashed line means z^s holds no class; the 3D paper's (K+1)-way EncD^s
    (Sec. 2.2.2) is meant to get there. Returns the figure.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 * len(table) + 2.0, 2.8))
    positions = np.arange(len(table))
    ax.bar(positions, table["accuracy"], color=category_colours(len(table)), width=0.6)
    chance = float(table["chance"].max())
    ax.axhline(chance, color="k", linestyle="--", linewidth=1)
    ax.text(len(table) - 0.5, chance, " chance", va="bottom", ha="right", fontsize=8)
    for x, value in zip(positions, table["accuracy"]):
        ax.text(x, value, f"{value:.0%}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(positions, [str(name) for name in table.index])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("class read from z^s")
    fig.tight_layout()
    return fig


def variation_against_truth(by_class: pd.DataFrame, spearman: float | None = None):
    """Each structure's mean Algorithm 4 statistic, the model's against the truth's (criterion
    V1): one labelled dot per class. ``by_class`` has columns ``model`` and ``truth``
    (:func:`.analysis.variation_check`); both axes read "larger: more stereotyped". The dots
    need not lie on the diagonal (the model's values depend on its decoder, the truth's on the
    simulator's noise), only rise together: the Spearman correlation is in the title. Returns
    the figure.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    colours = category_colours(len(by_class))
    for (name, row), colour in zip(by_class.iterrows(), colours):
        ax.scatter(row.truth, row.model, color=colour, s=30, zorder=3)
        ax.annotate(str(name), (row.truth, row.model), textcoords="offset points",
                    xytext=(4, 3), fontsize=8)
    ax.set_xlabel("truth: -log det(corr) / n")
    ax.set_ylabel("model: -log det(corr) / n")
    ax.set_title("per-class variation" + ("" if spearman is None
                                          else f", Spearman {spearman:+.2f}"), fontsize=10)
    fig.tight_layout()
    return fig
