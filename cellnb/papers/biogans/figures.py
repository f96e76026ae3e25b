"""The BioGANs chapter's figures (matplotlib) and the paper's numbers to compare with.

Osokin, Chessel, Carazo Salas & Vaggi, "GANs for Biological Image Synthesis" (ICCV 2017). Each
function takes arrays or tables that the models, the training runs or the evaluations
(:mod:`.c2st`, :mod:`.reconstruction`, :mod:`.consistency`, :mod:`.interpolation`) produced and
draws them the way the paper's figure or table does; every one returns its figure (a table,
for :func:`reconstruction_table`).

Cells are drawn as the paper draws them: red (Bgs4, the growth marker) in the red channel of an
RGB picture and the protein in the green (:func:`cell_rgb`). A multi-green output, the star
model's (B, K + 1, H, W), is drawn as its red alone and then each class's (red, green_k) pair
(:func:`greens_row`), as the right half of Fig. 1 and Fig. 7 show it.

The paper's numbers, drawn beside ours, come from :mod:`.paper`: :data:`.paper.FIG3` (the C2ST
along training), :data:`.paper.TABLE1` (real vs real), :data:`.paper.TABLE2` (the models) and
:data:`.paper.TABLE3` (reconstruction).

Read top to bottom: colours, cells, training, the two-sample test, consistency,
reconstruction, the cell cycle.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ...plotting import category_colours, image_grid, montage
from .paper import (
    FIG3,
    FIG3_REAL,
    GAN,
    TABLE2,
    TABLE2_MODELS,
    TABLE2_STD,
    TABLE3,
    TWINS,
    WGAN_GP,
)

RED_LABEL = "red (Bgs4)"
GAP = 2                                  # white pixels between the tiles of a montage
# How Fig. 3 labels its models, and its real-vs-real row.
FIG3_LABELS = {GAN: "sep. GAN", WGAN_GP: "sep. WGAN-GP"}
FIG3_REAL_LABEL = "Real"


# ------------------------------------------------------------------------------ colours

def _numpy(array) -> np.ndarray:
    """A float array from a numpy array or a (possibly GPU, possibly grad-tracking) tensor."""
    if hasattr(array, "detach"):
        array = array.detach().float().cpu().numpy()
    return np.asarray(array, dtype=np.float32)


def cell_rgb(image, green: int | None = 0) -> np.ndarray:
    """A cell in [-1, 1] as an RGB picture in [0, 1]: R = the red (Bgs4), G = a green protein.

    ``image`` is (C, H, W) or a batch (N, C, H, W), red first; ``green`` picks which green
    (0-based among the C - 1 greens: class k of a star output is ``green=k``), None draws the
    red alone. Values map linearly, -1 -> 0 and 1 -> 1, and are clipped, not rescaled, so a
    dim cell looks dim. Returns (H, W, 3) or (N, H, W, 3); blue stays 0.
    """
    image = _numpy(image)
    if image.ndim not in (3, 4):
        raise ValueError(f"cell_rgb takes (C, H, W) or (N, C, H, W) images, got {image.shape}")
    greens = image.shape[-3] - 1
    if green is not None and not 0 <= green < greens:
        raise ValueError(f"the image has red and {greens} green channel(s): green is in "
                         f"0..{greens - 1} or None (red alone), got {green}")
    rgb = np.zeros(image.shape[:-3] + image.shape[-2:] + (3,), np.float32)
    rgb[..., 0] = image[..., 0, :, :]
    rgb[..., 1] = -1.0 if green is None else image[..., 1 + green, :, :]
    rgb[..., :2] = (rgb[..., :2] + 1) / 2
    return np.clip(rgb, 0, 1)


def cell_tiles(image) -> list[np.ndarray]:
    """A multi-green cell (1 + K, H, W) as K + 1 RGB tiles: the red alone, then (red, green_k)
    for each k."""
    image = _numpy(image)
    return [cell_rgb(image, None)] + [cell_rgb(image, k) for k in range(image.shape[0] - 1)]


def greens_row(image) -> np.ndarray:
    """One picture of a multi-green cell (1 + K, H, W): the red alone, then red + green_k for
    each class, side by side with white gaps (Fig. 1 right, Fig. 7). (H, (K + 1) W + gaps, 3)."""
    return montage(cell_tiles(image), gap=GAP)


def _tile_titles(titles: Sequence[str], total: int) -> list[str]:
    """Titles for the first row of a grid, blank below."""
    return list(titles) + [""] * (total - len(titles))


def _green_names(class_names, greens: int) -> list[str]:
    names = [str(n) for n in class_names] if class_names is not None else \
        [f"green {k + 1}" for k in range(greens)]
    if len(names) != greens:
        raise ValueError(f"the images have {greens} greens but {len(names)} class names were "
                         f"given: {names}; give one name per green")
    return names


# -------------------------------------------------------------------------------- cells

def cells_by_class(images, labels, class_names: Sequence[str], per_class: int = 6,
                   seed: int = 0):
    """Real (red, green) cells, a row per protein: the left half of Fig. 1.

    ``images`` (N, 2, H, W) in [-1, 1]; ``labels`` per cell, class indices into
    ``class_names`` or the names themselves. ``per_class`` cells are drawn at random (seeded)
    from each class; a class short of cells leaves black tiles. What the reader sees: the red
    marks where each cell grows (one tip, both tips, or the septum of a dividing cell) and
    varies within a row, while the green is what tells the rows apart.
    """
    images, labels = _numpy(images), np.asarray(labels)
    names = [str(n) for n in class_names]
    if labels.dtype.kind in "iu":
        labels = np.array(names, dtype=object)[labels]
    rng = np.random.default_rng(seed)
    blank = np.zeros(images.shape[-2:] + (3,), np.float32)
    tiles = []
    for name in names:
        members = np.flatnonzero(labels.astype(str) == name)
        chosen = np.sort(rng.choice(members, size=min(per_class, len(members)), replace=False))
        tiles += [cell_rgb(images[i]) for i in chosen] + [blank] * (per_class - len(chosen))
    return image_grid(tiles, ncols=per_class, row_labels=names, size=1.3)


def generated_cells(images, class_names: Sequence[str] | None = None, n: int = 8):
    """Generated cells: the right half of Fig. 1.

    Two-channel samples (N, 2, H, W) are drawn as a grid of ``n`` cells. Multi-green samples
    (N, K + 1, H, W), the star model's, get one row per sample: the red alone, then each
    class's (red, green_k), titled with ``class_names``. What the reader sees: every green of
    a row sits in the same cell, each where its protein belongs at the stage the red shows,
    though no training image ever had more than one green.
    """
    images = _numpy(images)[:n]
    greens = images.shape[1] - 1
    if greens == 1:
        tiles = list(cell_rgb(images))
        return image_grid(tiles, ncols=min(len(tiles), 8), size=1.3)
    names = _green_names(class_names, greens)
    tiles = [tile for image in images for tile in cell_tiles(image)]
    return image_grid(tiles, ncols=greens + 1, size=1.3,
                      titles=_tile_titles([RED_LABEL, *names], len(tiles)),
                      row_labels=[f"sample {i + 1}" for i in range(len(images))])


# ----------------------------------------------------------------------------- training

# The per-iteration terms train.train_gan logs; the GAN's discriminator loss is its critic_loss.
QUANTITIES = {"critic_loss": "critic / discriminator loss",
              "wasserstein": "Wasserstein estimate",
              "gradient_penalty": "gradient penalty",
              "generator_loss": "generator loss"}
ALIASES = {"discriminator_loss": "critic_loss"}


def _iterations(history: pd.DataFrame) -> np.ndarray:
    if "iteration" in history.columns:
        return history["iteration"].to_numpy()
    return history.index.to_numpy()


def training_curves(histories: Mapping[str, pd.DataFrame], window: int | None = None):
    """Every logged training term against the generator iteration, one panel per quantity and a
    line per model (e.g. "GAN", "WGAN-GP").

    ``histories``: model name -> a :attr:`.train.GanRun.history` (one row per iteration,
    ``iteration`` a column or the index; WGAN-GP logs critic_loss, wasserstein,
    gradient_penalty and generator_loss, the GAN critic_loss and generator_loss). Each line is a
    rolling mean over ``window`` iterations (default: a fiftieth of the run), over its raw values
    drawn faintly. What the reader sees: the WGAN-GP's Wasserstein estimate falls as the
    generator improves, which makes it a usable progress curve (the motivation of Section 4.1),
    while the GAN's losses hold a balance that says little about sample quality.
    """
    import matplotlib.pyplot as plt

    if not histories:
        raise ValueError("training_curves needs at least one history")
    histories = {name: h.rename(columns=ALIASES) for name, h in histories.items()}
    quantities = [q for q in QUANTITIES if any(q in h.columns for h in histories.values())]
    if not quantities:
        raise ValueError(f"no known term among the histories' columns; expected some of "
                         f"{list(QUANTITIES)}")
    colours = dict(zip(histories, category_colours(len(histories))))
    fig, axes = plt.subplots(1, len(quantities), figsize=(3.2 * len(quantities), 2.8),
                             squeeze=False, layout="constrained")
    for ax, quantity in zip(axes.ravel(), quantities):
        for name, history in histories.items():
            if quantity not in history.columns:
                continue
            x, values = _iterations(history), history[quantity]
            span = window or max(1, len(history) // 50)
            ax.plot(x, values, color=colours[name], alpha=0.25, lw=0.6)
            ax.plot(x, values.rolling(span, min_periods=1).mean(), color=colours[name],
                    lw=1.5, label=name)
        ax.set_title(QUANTITIES[quantity], fontsize=9)
        ax.set_xlabel("generator iteration", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    return fig


def diversity_grid(grids: Mapping[str, np.ndarray], scores: Mapping[str, float] | None = None,
                   score_name: str = "C2ST"):
    """Greens for a fixed red, per model side by side: Fig. 4.

    ``grids``: model name -> (rows, per_row, 2, H, W) cells, every cell of a row drawn with the
    same z_red (hence the same red) and its own z_green. ``scores`` (optional): a number per
    model put in its title (Fig. 4 quotes the C2ST: GAN 3.2, WGAN-GP 1.6). What the reader sees
    in the paper: the GAN repeats nearly the same green along a row, the WGAN-GP varies it,
    sometimes to another protein's pattern, the diversity the two-sample test rewards.
    """
    import matplotlib.pyplot as plt

    if not grids:
        raise ValueError("diversity_grid needs at least one model's grid")
    fig, axes = plt.subplots(1, len(grids), figsize=(4.2 * len(grids), 3.6), squeeze=False,
                             layout="constrained")
    for ax, (name, grid) in zip(axes.ravel(), grids.items()):
        grid = _numpy(grid)
        if grid.ndim != 5 or grid.shape[2] != 2:
            raise ValueError(f"{name}: expected cells (rows, per_row, 2, H, W), got {grid.shape}")
        rows, per_row = grid.shape[:2]
        ax.imshow(montage(list(cell_rgb(grid.reshape(-1, *grid.shape[2:]))), ncols=per_row,
                          gap=GAP), interpolation="nearest")
        title = name if scores is None or name not in scores else \
            f"{name}: {score_name} {scores[name]:.2f}"
        ax.set_title(f"{title}\n(a row: one z_red, {per_row} z_green)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


# -------------------------------------------------------------------- the two-sample test

def _paper_fig3_text() -> list[list[str]]:
    """Fig. 3's table as the paper prints it: a row per model and snapshot, then real vs real."""
    rows = [[FIG3_LABELS.get(row.model, row.model), f"{int(row.iteration) // 1000}k",
             f"{row.mean:.1f} ± {row.std:.1f}"] for row in FIG3.itertuples()]
    mean, std = FIG3_REAL
    return rows + [[FIG3_REAL_LABEL, "-", f"{mean:.1f} ± {std:.1f}"]]


def c2st_along_training(table: pd.DataFrame, real: tuple[float, float] | None = None):
    """The C2ST score of generator snapshots against the test cells: Fig. 3.

    ``table``: columns model, iteration, mean, std (a row per model and snapshot). A line with
    error bars per model; ``real`` = (mean, std) of real training against real test images, a
    grey band: the floor a perfect generator would reach. Beside it, the paper's Fig. 3
    numbers (:data:`.paper.FIG3` and :data:`.paper.FIG3_REAL`) as a small table, labelled as
    the paper labels them. What the reader sees: the score falls as training goes on for both
    models, the WGAN-GP below the GAN at every stage.
    """
    import matplotlib.pyplot as plt

    missing = {"model", "iteration", "mean", "std"} - set(table.columns)
    if missing:
        raise ValueError(f"the table needs columns model, iteration, mean, std; missing "
                         f"{sorted(missing)}")
    fig, (ax, side) = plt.subplots(1, 2, figsize=(8.6, 3.2), width_ratios=[1.5, 1],
                                   layout="constrained")
    models = list(dict.fromkeys(table.model))
    for colour, model in zip(category_colours(len(models)), models):
        rows = table[table.model == model].sort_values("iteration")
        ax.errorbar(rows.iteration, rows["mean"], yerr=rows["std"], marker="o", capsize=3,
                    color=colour, label=str(model))
    if real is not None:
        mean, std = real
        ax.axhspan(mean - std, mean + std, color="#bbbbbb", alpha=0.5, lw=0)
        ax.axhline(mean, color="#777777", lw=1, label="real vs real")
    if (table.iteration > 0).all():       # Fig. 3's snapshots (1k, 5k, 50k) span decades
        ax.set_xscale("log")
        ax.minorticks_off()
    iterations = sorted(set(table.iteration))
    ax.set_xticks(iterations, [f"{int(i):,}" for i in iterations], fontsize=7)
    ax.set(xlabel="generator iteration", ylabel="C2ST score (lower: closer to real)")
    ax.set_title("C2ST along training (ours)", fontsize=9)
    ax.legend(fontsize=7)
    side.axis("off")
    shown = side.table(cellText=_paper_fig3_text(), colLabels=["model", "steps", "C2ST"],
                       loc="center", cellLoc="center")
    shown.auto_set_font_size(False)
    shown.set_fontsize(7)
    side.set_title("paper, Fig. 3", fontsize=9)
    return fig


def _heatmap(ax, matrix: pd.DataFrame, outlined: set[tuple[str, str]], title: str):
    values = matrix.to_numpy(float)
    ax.imshow(values, cmap="viridis")
    finite = values[np.isfinite(values)]
    middle = (finite.min() + finite.max()) / 2 if len(finite) else 0.0
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=7,
                    color="black" if value > middle else "white")
    rows, columns = [str(n) for n in matrix.index], [str(n) for n in matrix.columns]
    for row, column in outlined:
        if row in rows and column in columns:
            ax.add_patch(_outline(rows.index(row), columns.index(column)))
    ax.set_xticks(np.arange(len(columns)), columns, rotation=90, fontsize=7)
    ax.set_yticks(np.arange(len(rows)), rows, fontsize=7)
    ax.set(xlabel="class of the training images", ylabel="class of the test images")
    ax.set_title(title, fontsize=9)


def _outline(i: int, j: int):
    from matplotlib.patches import Rectangle

    return Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", lw=2)


def _twin_cells(twins: Mapping[str, str] | None) -> set[tuple[str, str]]:
    pairs = {(str(a), str(b)) for a, b in (twins or {}).items()}
    return pairs | {(b, a) for a, b in pairs}


def score_matrix(matrix: pd.DataFrame, paper: pd.DataFrame | None = None,
                 twins: Mapping[str, str] | None = None):
    """The real-vs-real C2ST matrix as a heatmap with its numbers: Table 1.

    ``matrix``: rows the class of the test images, columns the class of the training images
    (:func:`.c2st.real_vs_real_matrix`). ``twins`` (class -> its designed twin, e.g.
    ``cellnb.sim.pombe.POMBE_TWINS``) outlines the twin cells in both directions. With
    ``paper`` (e.g. :data:`.paper.TABLE1`) the paper's matrix is drawn beside, its twins
    (Arp3/Fim1, Tea1/Tea4, bold in the paper) outlined. What the reader sees: a diagonal near
    0, every other pair far, twins nearer than the rest but not as near as a class to itself,
    and no symmetry: the score is not a metric.
    """
    import matplotlib.pyplot as plt

    panels = [(matrix, _twin_cells(twins), "ours")]
    if paper is not None:
        panels.append((paper, _twin_cells(TWINS), "paper, Table 1"))
    side = 0.45 * max(len(m) for m, _, _ in panels) + 1.8
    fig, axes = plt.subplots(1, len(panels), figsize=(side * len(panels), side), squeeze=False,
                             layout="constrained")
    for ax, (table, outlined, title) in zip(axes.ravel(), panels):
        _heatmap(ax, table, outlined, title)
    return fig


def _model_colours(names) -> list:
    """One colour per model, the same in every panel: Table 2's models in the paper's order
    first, then any other name."""
    known = list(TABLE2_MODELS)
    extra = [name for name in names if name not in known]
    palette = dict(zip(known + extra, category_colours(len(known) + len(extra))))
    return [palette[name] for name in names]


def _grouped_bars(ax, table: pd.DataFrame, spread: pd.DataFrame | None = None, *,
                  highlight: str | None = None):
    """Bars of table's columns grouped by its rows; ``highlight`` (a row) drawn with edges."""
    rows, columns = list(table.index), list(table.columns)
    width = 0.8 / len(columns)
    colours = _model_colours(columns)
    for j, (column, colour) in enumerate(zip(columns, colours)):
        x = np.arange(len(rows)) + (j - (len(columns) - 1) / 2) * width
        errors = None if spread is None else spread[column].reindex(rows).to_numpy(float)
        bars = ax.bar(x, table[column].to_numpy(float), width, yerr=errors, capsize=2,
                      color=colour, label=str(column))
        if highlight in rows:
            bars[rows.index(highlight)].set(edgecolor="black", linewidth=1.5)
    ax.set_xticks(np.arange(len(rows)), [str(r) for r in rows], rotation=30, ha="right",
                  fontsize=7)
    ax.axhline(0, color="black", lw=0.6)
    ax.tick_params(labelsize=7)


def model_comparison_bars(table: pd.DataFrame, paper: pd.DataFrame | None = TABLE2,
                          spread: pd.DataFrame | None = None,
                          paper_spread: pd.DataFrame | None = TABLE2_STD):
    """C2ST of the multi-green models against each class's test images: Table 2 as bars.

    ``table``: rows the classes and their average (the last row), columns the models ("real
    images", "one-class", "one-class sep.", "multi-channel", "multi-channel sep.",
    "star-shaped"; :func:`.c2st.model_comparison`); ``spread`` the matching stds, drawn as
    error bars. Beside it, the paper's average row ("6 proteins") from ``paper`` with
    ``paper_spread``. What the reader sees in the paper: one-class models best, the star-shaped
    model best of those whose greens share a red, the multi-channel models well behind.
    """
    import matplotlib.pyplot as plt

    panels = 1 + (paper is not None)
    fig, axes = plt.subplots(1, panels, figsize=(7.0 + 3.0 * (panels - 1), 3.4), squeeze=False,
                             width_ratios=[2.2, 1][:panels], layout="constrained")
    ours = axes[0, 0]
    _grouped_bars(ours, table, spread, highlight=table.index[-1])
    ours.set(ylabel="C2ST score (lower: closer to real)")
    ours.set_title("ours, per class and averaged", fontsize=9)
    ours.legend(fontsize=6, ncols=2)
    if paper is not None:
        average = paper.index[-1]
        row = paper.loc[[average]].T.rename(columns={average: "paper"})
        errors = None if paper_spread is None else paper_spread.loc[[average]].T.rename(
            columns={average: "paper"})
        ax = axes[0, 1]
        ax.bar(np.arange(len(row)), row["paper"], yerr=None if errors is None else
               errors["paper"], capsize=2, color=_model_colours(list(row.index)))
        ax.set_xticks(np.arange(len(row)), list(row.index), rotation=30, ha="right", fontsize=7)
        ax.axhline(0, color="black", lw=0.6)
        ax.tick_params(labelsize=7)
        ax.set_title(f"paper, Table 2 ({average})", fontsize=9)
    return fig


# ------------------------------------------------------------------------- consistency

def consistency_overview(summary: pd.DataFrame, stages: pd.DataFrame):
    """What the paper could not measure, in three panels: :func:`.consistency.consistency_report`.

    ``summary`` (a row per class and "all"): the length distribution's 1-Wasserstein distance
    to the real one in micrometres, and the share of cells whose green follows its class's rule,
    generated against real. ``stages`` (class x stage): the share of each stage, generated
    against real, pooled over the classes ("all"), the rare dividing stage outlined. What the
    reader sees: whether generated cells have real lengths, divide as often as real ones (a
    dropped mode shows as a missing dividing bar) and put their greens where the protein goes.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(11.0, 3.2), layout="constrained")
    lengths = summary["length_w1_um"]
    axes[0].bar(np.arange(len(lengths)), lengths.to_numpy(float), color="#888888")
    axes[0].set_xticks(np.arange(len(lengths)), [str(n) for n in lengths.index], rotation=30,
                       ha="right", fontsize=7)
    top = np.nanmax(lengths.to_numpy(float), initial=0.0)
    axes[0].set_ylim(0, max(0.1, 1.1 * top))    # real vs real: all 0, still an axis in µm
    axes[0].set_ylabel("W1 to the real lengths (µm)", fontsize=8)
    axes[0].set_title("cell length", fontsize=9)
    classes = stages.index.get_level_values(0)
    pooled = "all" if "all" in set(classes) else classes[0]
    shares = stages.xs(pooled, level=0)[["generated", "real"]]
    _grouped_bars(axes[1], shares, highlight="dividing")
    axes[1].set_ylabel("share of cells", fontsize=8)
    axes[1].set_title(f"stages ({pooled})", fontsize=9)
    axes[1].legend(fontsize=7)
    rules = summary[["rule_generated", "rule_real"]].rename(
        columns={"rule_generated": "generated", "rule_real": "real"})
    _grouped_bars(axes[2], rules, highlight="all")
    axes[2].set_ylim(0, 1.05)
    axes[2].set_ylabel("share following the class rule", fontsize=8)
    axes[2].set_title("green where the protein goes", fontsize=9)
    return fig


def length_histograms(generated_lengths: Mapping[str, np.ndarray], real_lengths: np.ndarray,
                      bins: int = 30):
    """Cell lengths (µm, read from the red) of each model's cells over the real ones.

    ``generated_lengths``: model name -> lengths (NaN for images with no cell found, left out);
    ``real_lengths``: the real cells', a grey filled histogram. What the reader sees: a
    generator that makes cells too short, or only short ones (dropping the long dividing
    cells), has its outline shifted or cut off against the grey.
    """
    import matplotlib.pyplot as plt

    def finite(values):
        values = np.asarray(values, float).ravel()
        return values[np.isfinite(values)]

    real = finite(real_lengths)
    generated = {name: finite(values) for name, values in generated_lengths.items()}
    pooled = np.concatenate([real, *generated.values()])
    if not len(pooled):
        raise ValueError("no finite length to draw")
    edges = np.histogram_bin_edges(pooled, bins=bins)
    fig, ax = plt.subplots(figsize=(5.0, 3.0), layout="constrained")
    ax.hist(real, bins=edges, density=True, color="#bbbbbb", label=f"real ({len(real)})")
    for colour, (name, values) in zip(category_colours(len(generated)), generated.items()):
        ax.hist(values, bins=edges, density=True, histtype="step", lw=1.6, color=colour,
                label=f"{name} ({len(values)})")
    ax.set(xlabel="cell length (µm)", ylabel="density", yticks=[])
    ax.legend(fontsize=7)
    return fig


# ---------------------------------------------------------------------- reconstruction

def reconstructions(test, neighbours, reconstructed: Mapping[str, np.ndarray], n: int = 6):
    """Test cells, their nearest training cells and the models' reconstructions: Fig. 5.

    ``test`` and ``neighbours`` (N, 2, H, W) (or a :class:`.reconstruction.NearestNeighbours`),
    ``reconstructed``: a name -> (N, 2, H, W) per column (e.g. "star WGAN-GP, separable"; a
    :class:`.reconstruction.Reconstruction` works too). A row per cell, the first ``n``. What
    the reader sees: a good generator redraws the test cell closer than any training cell is;
    one that dropped the cell's mode redraws a different cell.
    """
    columns = {"test cell": test, "nearest neighbour": neighbours} | dict(reconstructed)
    arrays = {name: _numpy(getattr(images, "images", images))[:n]
              for name, images in columns.items()}
    rows = min(len(a) for a in arrays.values())
    tiles = [cell_rgb(arrays[name][i]) for i in range(rows) for name in arrays]
    return image_grid(tiles, ncols=len(arrays), size=1.5,
                      titles=_tile_titles(list(arrays), len(tiles)))


def _mean_std(reference) -> tuple[float, float]:
    if hasattr(reference, "mean") and hasattr(reference, "std") and \
            not isinstance(reference, (tuple, list, np.ndarray)):
        return float(reference.mean), float(reference.std)
    mean, std = reference
    return float(mean), float(std)


def reconstruction_scatter(per_cell: pd.DataFrame, nn_median: float, gaussian):
    """Each test cell's reconstruction error against the NLL of the z found for it: Fig. 6.

    ``per_cell``: columns model, task ("regular", "separable"), rmse ([0, 1] scale), nll. A
    panel per task, a colour per model; a vertical grey line at the nearest neighbours' median
    error ``nn_median``; horizontal grey lines at the mean and mean ± 3 std of the NLL of
    prior draws (``gaussian``: (mean, std) or a :class:`.reconstruction.GaussianReference`).
    What the reader sees in the paper: left of the vertical line a model beats copying the
    training set; above the band, it reached the cell only with an improbable z.
    """
    import matplotlib.pyplot as plt

    mean, std = _mean_std(gaussian)
    tasks = list(dict.fromkeys(per_cell.task))
    models = list(dict.fromkeys(per_cell.model))
    colours = dict(zip(models, category_colours(len(models))))
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.8 * len(tasks), 3.2), squeeze=False,
                             sharey=True, layout="constrained")
    for ax, task in zip(axes.ravel(), tasks):
        rows = per_cell[per_cell.task == task]
        for model, cells in rows.groupby("model", sort=False):
            ax.scatter(cells.rmse, cells.nll, s=8, alpha=0.7, color=colours[model],
                       label=str(model))
        ax.axvline(nn_median, color="#888888", lw=1)
        for level in (mean - 3 * std, mean, mean + 3 * std):
            ax.axhline(level, color="#888888", lw=1, ls="-" if level == mean else "--")
        ax.set_title(f"{task} reconstruction", fontsize=9)
        ax.set_xlabel("RMSE ([0, 1] scale)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("NLL of z under N(0, I)", fontsize=8)
    return fig


def _centre_spread(centre, spread, decimals: int) -> str:
    if centre is None or not np.isfinite(centre):
        return "-"
    if spread is None or not np.isfinite(spread):
        return f"{centre:.{decimals}f}"
    return f"{centre:.{decimals}f} ± {spread:.{decimals}f}"


def _formatted(table: pd.DataFrame, name: str, decimals: int) -> pd.Series:
    """A column of "median ± MAD" strings from ``<name>_median``/``<name>_mad`` or
    ``<name>``/``<name>_mad`` columns; strings are kept as they are."""
    centre = f"{name}_median" if f"{name}_median" in table.columns else name
    if centre not in table.columns:
        return pd.Series("-", index=table.index)
    if table[centre].dtype == object:
        return table[centre].fillna("-").astype(str)
    spread = table.get(f"{name}_mad")
    return pd.Series([_centre_spread(c, None if spread is None else s, decimals)
                      for c, s in zip(table[centre], [None] * len(table) if spread is None
                                      else spread)], index=table.index)


def reconstruction_table(table: pd.DataFrame) -> pd.DataFrame:
    """Ours beside the paper's Table 3: a row per (task, model), median ± MAD strings.

    ``table``: columns task ("regular", "separable", "-" for the references), model ("nearest
    neighbour" and "Gaussian noise" on task "-", "GAN-sep", "WGAN-GP-sep", "GAN-star",
    "WGAN-GP-star", or others, appended after the paper's rows: the rows of
    :func:`.analysis.reconstruction_study` and :data:`.paper.TABLE3`) and either rmse_median,
    rmse_mad, nll_median, nll_mad (:meth:`.reconstruction.Reconstruction.summary`) or rmse,
    rmse_mad, nll, nll_mad, or preformatted strings in rmse and nll. Returns columns task,
    model, ours RMSE, paper RMSE, ours NLL, paper NLL; "-" where a side has no number.
    """
    missing = {"task", "model"} - set(table.columns)
    if missing:
        raise ValueError(f"the table needs columns task and model; missing {sorted(missing)}")
    ours = pd.DataFrame({"task": table.task.to_numpy(), "model": table.model.to_numpy(),
                         "ours RMSE": _formatted(table, "rmse", 3).to_numpy(),
                         "ours NLL": _formatted(table, "nll", 0).to_numpy()})
    paper = pd.DataFrame({"task": TABLE3.task, "model": TABLE3.model,
                          "paper RMSE": _formatted(TABLE3, "rmse", 3),
                          "paper NLL": _formatted(TABLE3, "nll", 0)})
    merged = paper.merge(ours, on=["task", "model"], how="outer", sort=False)
    order = {key: i for i, key in enumerate(zip(paper.task, paper.model))}
    merged["_order"] = [order.get(key, len(order)) for key in zip(merged.task, merged.model)]
    merged = merged.sort_values("_order", kind="stable").drop(columns="_order")
    columns = ["task", "model", "ours RMSE", "paper RMSE", "ours NLL", "paper NLL"]
    return merged[columns].fillna("-").reset_index(drop=True)


# ---------------------------------------------------------------------- the cell cycle

def _shown_steps(n_frames: int, steps, count: int = 7) -> list[int]:
    if steps is None:
        return sorted({int(round(s)) for s in np.linspace(0, n_frames - 1, min(count, n_frames))})
    steps = [int(s) for s in steps]
    if any(not 0 <= s < n_frames for s in steps):
        raise ValueError(f"steps must lie in 0..{n_frames - 1}, got {steps}")
    return steps


def interpolation_strip(frames, class_names: Sequence[str], steps: Sequence[int] | None = None,
                        check=None):
    """A cell cycle walked through the latent space: Fig. 7.

    ``frames`` (S, 1 + K, H, W), the star model's cells along a slerp path
    (:func:`.interpolation.interpolation_frames`); ``steps`` the frames shown (default 7
    evenly spaced). A column per shown step: the red alone on top, then each class's
    (red, green_k). With ``check`` (an :class:`.interpolation.InterpolationCheck`), below: the
    measured length and each green's share in the central sixth along every step, the first
    step whose red shows a septum dashed, the shown steps dotted. What the reader sees in the
    paper: the cell grows, then a septum appears, and Arp3 leaves the tips for the middle as
    the cell divides.
    """
    import matplotlib.pyplot as plt

    frames = _numpy(frames)
    names = _green_names(class_names, frames.shape[1] - 1)
    shown = _shown_steps(len(frames), steps)
    rows = len(names) + 1
    fig = plt.figure(figsize=(1.3 * len(shown) + 1.2, 0.8 * rows + (2.6 if check is not None else 0.4)),
                     layout="constrained")
    top, bottom = (fig.subfigures(2, 1, height_ratios=[0.8 * rows, 2.4]) if check is not None
                   else (fig, None))
    axes = top.subplots(rows, len(shown), squeeze=False)
    for column, step in enumerate(shown):
        for row, tile in enumerate(cell_tiles(frames[step])):
            ax = axes[row, column]
            ax.imshow(tile, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"step {step}", fontsize=8)
            if column == 0:
                ax.set_ylabel([RED_LABEL, *names][row], fontsize=8, rotation=0, ha="right",
                              va="center")
    if check is not None:
        _check_panels(bottom, check, shown)
    return fig


def _check_panels(subfigure, check, shown: Sequence[int]):
    length_ax, central_ax = subfigure.subplots(1, 2)
    readings = check.readings
    red = readings.drop_duplicates("step").sort_values("step")
    length_ax.plot(red.step, red.length_um, color="#d62728", marker=".")
    length_ax.set(xlabel="step", ylabel="measured length (µm)")
    names = list(dict.fromkeys(readings.class_name))
    for colour, name in zip(category_colours(len(names)), names):
        rows = readings[readings.class_name == name].sort_values("step")
        central_ax.plot(rows.step, rows.green_central_fraction, color=colour, label=str(name))
    central_ax.set(xlabel="step", ylabel="green in the central sixth", ylim=(0, 1))
    central_ax.legend(fontsize=7)
    for ax in (length_ax, central_ax):
        for step in shown:
            ax.axvline(step, color="#cccccc", lw=0.8, ls=":")
        if check.septum_step is not None:
            ax.axvline(check.septum_step, color="black", lw=1, ls="--", label="septum")
        ax.tick_params(labelsize=7)
    length_ax.set_title(f"length (Spearman with step {check.length_spearman:.2f})", fontsize=9)
    central_ax.set_title("where the greens sit", fontsize=9)
