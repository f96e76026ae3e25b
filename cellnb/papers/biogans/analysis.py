"""The BioGANs chapter's analyses of trained generators: one function per question it asks.

Osokin, Chessel, Carazo Salas & Vaggi, "GANs for Biological Image Synthesis" (ICCV 2017). The
building blocks live beside this module (:mod:`.c2st`, :mod:`.consistency`,
:mod:`.reconstruction`, :mod:`.interpolation`); here they are applied to the chapter's models and
cells, and each function returns what :mod:`.findings` and :mod:`.figures` take:

* :func:`separability_check` - the separable generator's red does not move when z_green does
  (Section 4.1, Fig. 2): measured on the trained network, not assumed.
* :func:`green_diversity` - Fig. 4: groups of samples sharing z_red, and how much their greens
  vary (the GAN's conditional mode collapse shows as a small number).
* :func:`training_c2st` - Fig. 3: the two-sample test against each snapshot of each model.
* :func:`samples_by_class`, :func:`real_by_class`, :func:`real_multi_green` - generated and real
  cells per class, and the simulator's "every protein in this very cell" ground truth, for
  :func:`.consistency.consistency_report`.
* :func:`reconstruction_study` - Section 5.2, Table 3 and Figs. 5-6 on a class-balanced subset
  of the held-out cells, with the nearest-neighbour and Gaussian reference rows.
* :func:`cell_cycle_walk` - Section 5.3 and Fig. 7: anchors chosen by measurement, the slerp
  frames and their check.
* :func:`cross_class_sources` - the cross-class consistency of several multi-green sources
  (the star model, the composites, the multi-channel model), for the comparison notebook.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from ...train.parallel import run_in_processes
from .baselines import NEIGHBOURS, multichannel_training_set
from .c2st import STATISTICS, c2st_score, generator_source, score_rows, summary_statistics
from .consistency import POOLED, cross_class_rates
from .data import BioGanData
from .interpolation import (
    STEPS_PER_SEGMENT,
    CellCycleAnchors,
    InterpolationCheck,
    interpolation_check,
    interpolation_frames,
    pick_cell_cycle_anchors,
    slerp_path,
)
from .model import BioGanConfig, class_pairs, latent_size, sample_latent
from .reconstruction import (
    evaluation_mode,
    gaussian_nll_reference,
    median_mad,
    nearest_neighbour_baseline,
    reconstruct,
)
from .train import sample

DIVERSITY_ROWS, DIVERSITY_PER_ROW = 4, 8      # Fig. 4: rows of 8 greens sharing one red


# ----------------------------------------------------------------------------- separability

def separability_check(generator: nn.Module, config: BioGanConfig, n: int = 16,
                       seed: int = 0) -> dict[str, float]:
    """Resample z_green with z_red fixed: the largest change of any red pixel (0 for a separable
    generator, exactly) and the mean change of the greens (positive: z_green is used)."""
    if config.generator_kind == "dcgan":
        raise ValueError("a DCGAN generator has one z: separability applies to the 'separable' "
                         "and 'star' kinds")
    draws = torch.Generator().manual_seed(seed)
    first, second = sample_latent(config, n, draws), sample_latent(config, n, draws)
    device = next(generator.parameters()).device
    with evaluation_mode(generator), torch.no_grad():
        a = generator(z_red=first["z_red"].to(device), z_green=first["z_green"].to(device))
        b = generator(z_red=first["z_red"].to(device), z_green=second["z_green"].to(device))
    return dict(max_red_change=float((a[:, 0] - b[:, 0]).abs().max()),
                green_change=float((a[:, 1:] - b[:, 1:]).abs().mean()))


# ----------------------------------------------------------------------- Fig. 4: diversity

def green_diversity(generator: nn.Module, config: BioGanConfig, *, rows: int = DIVERSITY_ROWS,
                    per_row: int = DIVERSITY_PER_ROW, n_rows_scored: int = 32,
                    green_class: int = 0, seed: int = 0) -> dict:
    """Fig. 4's question: given a red, how varied are the greens?

    ``n_rows_scored`` draws of z_red, each with ``per_row`` draws of z_green; the diversity is
    the per-pixel standard deviation of the green (on the [0, 1] scale) across a row, averaged
    over pixels and rows. Returns ``images`` (rows, per_row, 2, H, W) in [-1, 1], the first
    ``rows`` rows for the figure, and ``diversity``. For the star model, ``green_class`` picks the
    tower shown.
    """
    if config.generator_kind == "dcgan":
        raise ValueError("diversity given red needs a separable or star generator")
    n_rows = max(rows, n_rows_scored)
    draws = torch.Generator().manual_seed(seed)
    latent = sample_latent(config, n_rows * per_row, draws)
    # Every row shares the first draw's z_red.
    z_red = latent["z_red"].reshape(n_rows, per_row, -1)[:, :1].expand(-1, per_row, -1)
    latent["z_red"] = z_red.reshape(n_rows * per_row, -1)
    device = next(generator.parameters()).device
    with evaluation_mode(generator), torch.no_grad():
        images = generator(**{k: v.to(device) for k, v in latent.items()}).cpu()
    if config.generator_kind == "star":
        images = class_pairs(images)[green_class]
    images = images.reshape(n_rows, per_row, *images.shape[1:]).numpy()
    green01 = (images[:, :, 1] + 1) / 2
    return dict(images=images[:rows], diversity=float(green01.std(axis=1).mean()))


# --------------------------------------------------------------------- Fig. 3: along training

def training_c2st(real, snapshots: Mapping[str, Mapping[int, nn.Module]],
                  configs: Mapping[str, BioGanConfig], *, processes: int = 1,
                  progress: bool = True, **c2st_options) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The C2ST of every snapshot of every model against the held-out ``real`` cells (pooled
    classes, one two-channel critic, as Fig. 3).

    ``snapshots``: model name -> {generator iteration: generator}; ``configs``: model name ->
    its config. ``c2st_options`` go to :func:`.c2st.c2st_score` (steps, splits, batch, config
    for the critic's width, seed ...). ``processes`` > 1 scores the snapshots side by side in
    worker processes (the same scores). Returns the per-split scores and a table with one row
    per (model, iteration): mean, std, median, mad.
    """
    labels = [(model, iteration) for model, by_iteration in snapshots.items()
              for iteration in sorted(by_iteration)]
    jobs = [dict(real=real, generator=snapshots[model][iteration], config=configs[model],
                 options=dict(c2st_options, progress=progress and processes == 1))
            for model, iteration in labels]
    results = run_in_processes(_snapshot_score, jobs, processes=processes)
    rows = [row for (model, iteration), result in zip(labels, results)
            for row in score_rows(result, model=model, iteration=iteration)]
    scores = pd.DataFrame(rows)
    return scores, c2st_summary(scores, ["model", "iteration"])


def _snapshot_score(real, generator: nn.Module, config: BioGanConfig, options: dict):
    """One snapshot's C2ST (module level, so a worker process can run it)."""
    return c2st_score(real, generator_source(generator, config), **options)


def c2st_summary(scores: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Per group of per-split scores: mean, std, median and MAD, computed as the tables' are
    (:func:`.c2st.summary_statistics`), so Fig. 3's spreads compare with Tables 1-2's."""
    table = scores.groupby(list(by), sort=False).score.apply(
        lambda split_scores: pd.Series(summary_statistics(split_scores))).unstack()
    return table[list(STATISTICS)].reset_index()


# ----------------------------------------------------------------- cells for the consistency

def samples_by_class(generator: nn.Module, config: BioGanConfig, class_names: Sequence[str],
                     n: int, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``n`` samples of a multi-green generator (the star model, or any (B, K + 1, H, W)
    output) as class -> (red, green_k) pairs (n, 2, H, W), and the multi-green images."""
    images = sample(generator, config, n, seed)
    if images.shape[1] != len(class_names) + 1:
        raise ValueError(f"the generator draws {images.shape[1] - 1} greens but "
                         f"{len(class_names)} class names were given")
    pairs = class_pairs(images).numpy()
    return {name: pairs[k] for k, name in enumerate(class_names)}, images.numpy()


def real_by_class(data: BioGanData, part: str = "test") -> dict[str, np.ndarray]:
    """Class -> the (red, green) cells of ``part``."""
    images, labels = data.part(part)
    return {name: images[labels == k].numpy() for k, name in enumerate(data.class_names)}


def real_multi_green(data: BioGanData, sim_config, part: str = "test",
                     limit: int | None = None) -> np.ndarray:
    """The simulator's ground truth of a multi-green image: for each cell of ``part`` (at most
    ``limit``), its red and every class's green rendered in that very cell (geometry, stage,
    microscope): (N, K + 1, H, W). Only synthetic data have it."""
    from ...sim.pombe import render_all_greens

    if "cell" not in data.metadata:
        raise ValueError("only simulated cells have every protein's green in the same cell")
    cells = data.part_metadata(part)["cell"].to_numpy()[:limit]
    pairs = np.stack([render_all_greens(sim_config, int(cell), with_red=True) for cell in cells])
    return np.concatenate([pairs[:, 0, :1], pairs[:, :, 1]], axis=1)


# --------------------------------------------------------------------- Table 3: reconstruction

@dataclass
class ReconstructionStudy:
    """Table 3 and Figs. 5-6 on held-out cells.

    ``table``: one row per (task, model) with rmse_median, rmse_mad, nll_median, nll_mad, plus a
    "nearest neighbour" row (RMSE only) and a "Gaussian noise" row whose nll_median and nll_mad
    are the prior's NLL mean and standard deviation in theory. ``per_cell``: model, task,
    class_name, rmse, nll for every cell (Fig. 6). ``cells`` the reconstructed test cells,
    ``neighbours`` their nearest training cells, ``images`` (task, model) -> reconstructions
    (Fig. 5)."""

    table: pd.DataFrame
    per_cell: pd.DataFrame
    cells: np.ndarray
    neighbours: np.ndarray
    images: dict


def balanced_test_cells(data: BioGanData, n: int, seed: int = 0) -> np.ndarray:
    """Positions (into ``data``) of about ``n`` held-out cells, as many of each class."""
    rng = np.random.default_rng(seed)
    per_class = max(1, n // data.n_classes)
    chosen = [rng.choice(positions, min(per_class, len(positions)), replace=False)
              for positions in data.class_positions("test")]
    return np.sort(np.concatenate(chosen))


def reconstruction_study(models: Mapping[str, tuple[nn.Module, BioGanConfig]],
                         data: BioGanData, *, n_cells: int = 48,
                         tasks: Sequence[str] = ("regular", "separable"), restarts: int = 5,
                         outer_steps: int = 50, inner_steps: int = 20, seed: int = 0,
                         processes: int = 1, progress: bool = True) -> ReconstructionStudy:
    """Reconstruct a class-balanced subset of ``n_cells`` held-out cells with every model, by
    every task (Section 5.2). A star model reconstructs each cell through its own class's
    tower; a one-class or pooled model through its one green. The paper: 5 restarts of 50 outer
    L-BFGS steps of up to 20 inner ones, every test cell. ``processes`` > 1 runs the (task,
    model) pairs side by side in worker processes (the same numbers)."""
    positions = balanced_test_cells(data, n_cells, seed)
    cells, labels = data.images[positions], data.labels[positions].numpy()
    train_images, train_labels = data.part("train")
    neighbours = nearest_neighbour_baseline(train_images, cells, train_classes=train_labels,
                                            test_classes=labels)
    names = np.asarray(data.class_names)[labels]
    fit = dict(restarts=restarts, outer_steps=outer_steps, inner_steps=inner_steps, seed=seed)
    pairs = [(task, model) for task in tasks for model in models]
    jobs = [dict(generator=models[model][0], config=models[model][1], cells=cells,
                 labels=labels, task=task, fit=fit) for task, model in pairs]
    results = run_in_processes(_reconstruct_cells, jobs, processes=processes,
                               progress="reconstructions" if progress else None)
    rows, per_cell, images = [], [], {}
    for (task, model), (rmse, nll, rebuilt) in zip(pairs, results):
        images[task, model] = rebuilt
        rows.append(_table_row(task, model, rmse, nll))
        per_cell.append(pd.DataFrame(dict(model=model, task=task, class_name=names, rmse=rmse,
                                          nll=nll)))
    d = latent_size(next(iter(models.values()))[1])
    reference = gaussian_nll_reference(d)
    rows.append(_table_row("-", "nearest neighbour", neighbours.rmse, None))
    rows.append(dict(task="-", model="Gaussian noise", rmse_median=np.nan, rmse_mad=np.nan,
                     nll_median=reference.mean, nll_mad=reference.std))
    return ReconstructionStudy(pd.DataFrame(rows), pd.concat(per_cell, ignore_index=True),
                               cells.numpy(), neighbours.images.numpy(), images)


def _reconstruct_cells(generator, config, cells, labels, task, fit):
    """Every cell reconstructed by one model and task (module level: a worker can run it)."""
    rmse, nll = np.empty(len(cells)), np.empty(len(cells))
    rebuilt = np.empty(cells.shape, np.float32)
    groups = ([(k, labels == k) for k in np.unique(labels)] if config.generator_kind == "star"
              else [(None, np.ones(len(cells), bool))])
    for green_class, rows in groups:
        result = reconstruct(generator, config, cells[torch.as_tensor(rows)], mode=task,
                             green_class=None if green_class is None else int(green_class),
                             **fit)
        rmse[rows], nll[rows] = result.rmse, result.nll
        rebuilt[rows] = result.images.numpy()
    return rmse, nll, rebuilt


def _table_row(task: str, model: str, rmse, nll) -> dict:
    rmse_median, rmse_mad = median_mad(rmse)
    nll_median, nll_mad = (np.nan, np.nan) if nll is None else median_mad(nll)
    return dict(task=task, model=model, rmse_median=rmse_median, rmse_mad=rmse_mad,
                nll_median=nll_median, nll_mad=nll_mad)


# ------------------------------------------------------------------- Fig. 7: the cell cycle

@dataclass
class CellCycleWalk:
    anchors: CellCycleAnchors
    frames: np.ndarray              # (S, K + 1, H, W): red, then every green
    check: InterpolationCheck


def cell_cycle_walk(generator: nn.Module, config: BioGanConfig, class_names: Sequence[str], *,
                    n_candidates: int = 64, steps_per_segment: int = STEPS_PER_SEGMENT,
                    seed: int = 42, pixel_size: float | None = None) -> CellCycleWalk:
    """Section 5.3: choose a small, a middle and a dividing cell among ``n_candidates`` draws by
    measuring them, slerp through the three, render every frame and check the story.

    A generator that draws no dividing cell among the candidates (an undertrained one) still
    gets a walk, from its shortest to its longest cell: the check then finds no septum, and
    says so, rather than the chapter stopping."""
    anchors = pick_cell_cycle_anchors(generator, config, n_candidates, seed,
                                      pixel_size=pixel_size, require_dividing=False)
    frames = interpolation_frames(generator, config,
                                  slerp_path(anchors.latents, steps_per_segment)).numpy()
    check = interpolation_check(frames, class_names, pixel_size=pixel_size)
    return CellCycleWalk(anchors, frames, check)


# ------------------------------------------------------------- Table 2 and cross-class checks

def multichannel_data(data: BioGanData, k: int = NEIGHBOURS, seed: int = 0) -> BioGanData:
    """The multi-channel baseline's training cells (Section 4.2): every training cell with its
    own green and, for each other protein, the green of one of the ``k`` training cells of that
    protein whose red is nearest, cut to this cell's outline. Images (N, K + 1, H, W), all in
    the ``train`` part."""
    images, labels = data.part("train")
    composite = multichannel_training_set(images, labels, data.n_classes, k, seed)
    return BioGanData(composite, labels, list(data.class_names), data.part_metadata("train"),
                      {"train": np.arange(len(composite)), "test": np.arange(0)})


def cross_class_sources(sources: Mapping[str, object],
                        class_names: Sequence[str]) -> pd.DataFrame:
    """Cross-class consistency of multi-green images (B, K + 1, H, W) per source: one row per
    source, a column per class (green k fits the shared red) and ``"all"`` (every green does)."""
    return pd.DataFrame({name: cross_class_rates(images, class_names)
                         for name, images in sources.items()}).T.rename_axis("source")[
        [*class_names, POOLED]]

