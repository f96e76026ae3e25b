"""The BioGANs chapter's analyses (``cellnb.papers.biogans.analysis``), the undertrained
generator's cell-cycle walk (``pick_cell_cycle_anchors(require_dividing=False)``) and the
multi-channel baseline's config and data.

Ground truths used: hand-made generator-like modules whose dependence on z_red and z_green is
chosen (a red that leaks z_green, greens that ignore it, greens with a known scale); the
simulator, which renders every protein in the very cell a test image shows; and the library's
own building blocks (``reconstruct``, ``c2st_score``) called directly on the same inputs.

The networks are the ``smoke`` preset's (24x40, nz 8, widths 4). Untrained, DCGAN's
initialisation leaves their output almost constant, so :func:`lively_generator` scales the last
layers up and sets BatchNorm's running statistics from noise (as in
``test_biogans_reconstruction``): its cells then differ from z to z.
"""
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from test_biogans_reconstruction import known_generator
from torch import nn

from cellnb.papers import biogans as bg
from cellnb.papers.biogans import analysis
from cellnb.papers.biogans.c2st import summary_statistics
from cellnb.papers.biogans.interpolation import _shortest_middle_longest
from cellnb.papers.biogans.model import PRESETS
from cellnb.papers.biogans.profiles import multichannel_config

SIZE = (24, 40)
SMOKE = bg.chapter_settings("smoke")            # TipDots and ActinLike, 48 cells each
TINY_C2ST = dict(steps=3, splits=2, batch=8, passes=1, progress=False)
TINY_FIT = dict(restarts=1, outer_steps=2, inner_steps=5)


pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tiny models (conftest)


def lively_generator(kind: str, seed: int = 0, **overrides):
    """An untrained smoke generator whose cells vary with z (see the module docstring)."""
    return known_generator(kind, seed, **overrides)


class HandMadeGenerator(nn.Module):
    """A generator-like module of constant planes whose wiring the test chooses:

    red = tanh(0.3 sum z_red + red_leak * sum z_green), green_k = 0.3 sum z_red +
    green_gains[k] * tanh(0.3 sum z_green): ``red_leak`` != 0 breaks separability, a zero gain
    makes a green that ignores z_green, and a green's spread given z_red scales with its gain.
    Output (B, 1 + len(green_gains), H, W)."""

    def __init__(self, red_leak: float = 0.0, green_gains=(1.0,)):
        super().__init__()
        self.red_leak, self.green_gains = red_leak, tuple(green_gains)
        self.anchor = nn.Parameter(torch.zeros(()))       # gives the module a device

    def forward(self, z_red, z_green):
        red_drive, green_drive = 0.3 * z_red.sum(1), torch.tanh(0.3 * z_green.sum(1))
        red = torch.tanh(red_drive + self.red_leak * z_green.sum(1))
        greens = [0.3 * torch.tanh(red_drive) + gain * green_drive for gain in self.green_gains]
        planes = torch.stack([red, *greens], 1) + self.anchor      # (B, C)
        return planes[:, :, None, None].expand(-1, -1, *SIZE)


class LookupGenerator(nn.Module):
    """z's first coordinate picks one cell of a bank (through the normal CDF): a "generator"
    whose cells, and their stages, are known."""

    def __init__(self, bank: torch.Tensor):
        super().__init__()
        self.register_buffer("bank", bank)
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, z):
        index = (torch.special.ndtr(z[:, 0]) * len(self.bank)).long()
        return self.bank[index.clamp(max=len(self.bank) - 1)]


@pytest.fixture(scope="module")
def sim_config():
    return bg.pombe_config(SMOKE)


@pytest.fixture(scope="module")
def cells(sim_config) -> bg.BioGanData:
    """96 SynthPombe cells of the smoke profile (77 train, 19 test)."""
    return bg.load_cells("synthetic", sim_config=sim_config, cache=False)


@pytest.fixture(scope="module")
def truth(cells, sim_config) -> np.ndarray:
    """Every test cell's red and both proteins' greens, rendered in that cell."""
    return analysis.real_multi_green(cells, sim_config)


# ---------------------------------------------------------------------------- separability

@pytest.mark.parametrize("kind", ["separable", "star"])
def test_resampling_z_green_leaves_the_red_exactly_unchanged(kind):
    config, generator = lively_generator(kind)
    check = analysis.separability_check(generator, config, n=8)
    assert check["max_red_change"] == 0.0
    assert check["green_change"] > 1e-3            # z_green is used


def test_a_red_that_sees_z_green_fails_the_check():
    config = bg.preset("smoke", generator_kind="separable")
    check = analysis.separability_check(HandMadeGenerator(red_leak=0.1), config, n=8)
    assert check["max_red_change"] > 0.01
    assert analysis.separability_check(HandMadeGenerator(), config, n=8)["max_red_change"] == 0


def test_separability_needs_a_split_latent():
    config = bg.preset("smoke")                    # dcgan: one z
    with pytest.raises(ValueError, match="one z"):
        analysis.separability_check(bg.build_generator(config), config)


# ------------------------------------------------------------------------ Fig. 4: diversity

def test_every_row_of_the_diversity_figure_shares_one_red():
    config, generator = lively_generator("separable")
    result = analysis.green_diversity(generator, config, rows=3, per_row=5, n_rows_scored=6)
    images = result["images"]
    assert images.shape == (3, 5, 2, *SIZE)
    assert images.min() >= -1 and images.max() <= 1
    np.testing.assert_array_equal(images[:, :, 0], np.broadcast_to(images[:, :1, 0],
                                                                   images[:, :, 0].shape))
    assert not np.allclose(images[0, 0, 0], images[1, 0, 0])     # rows have their own red
    assert result["diversity"] > 0


def test_diversity_is_zero_without_z_green_and_scales_with_the_green_spread():
    """Star towers with green gains 0, 0.5 and 1: ``green_class`` picks the tower, the one
    ignoring z_green has no diversity, and doubling the gain doubles it."""
    config = bg.preset("smoke", generator_kind="star", n_classes=3)
    generator = HandMadeGenerator(green_gains=(0.0, 0.5, 1.0))
    diversity = [analysis.green_diversity(generator, config, rows=2, per_row=4, n_rows_scored=8,
                                          green_class=k)["diversity"] for k in range(3)]
    assert diversity[0] == 0.0
    assert diversity[1] > 0.01
    assert diversity[2] == pytest.approx(2 * diversity[1], rel=1e-5)


def test_diversity_needs_a_separable_or_star_generator():
    config = bg.preset("smoke")
    with pytest.raises(ValueError, match="separable or star"):
        analysis.green_diversity(bg.build_generator(config), config)


# --------------------------------------------------------------------- Fig. 3: along training

def test_training_c2st_scores_every_snapshot_of_every_model(cells):
    """Each row is the C2ST of its own snapshot (the same call made by hand), snapshots in
    order of iteration whatever order they are given in."""
    config, early = lively_generator("separable", seed=1)
    _, late = lively_generator("separable", seed=2)
    real, _ = cells.part("test")
    snapshots = {"WGAN-GP": {20: late, 10: early}, "GAN": {20: early}}
    options = dict(TINY_C2ST, config=config, seed=3)
    scores, summary = analysis.training_c2st(real, snapshots, {"WGAN-GP": config, "GAN": config},
                                             **options)
    assert list(zip(summary.model, summary.iteration)) == [("WGAN-GP", 10), ("WGAN-GP", 20),
                                                           ("GAN", 20)]
    assert list(summary.columns) == ["model", "iteration", "mean", "std", "median", "mad"]
    assert (scores.groupby(["model", "iteration"]).size() == TINY_C2ST["splits"]).all()
    for (model, iteration), rows in scores.groupby(["model", "iteration"]):
        by_hand = bg.c2st_score(real, bg.generator_source(snapshots[model][iteration], config),
                                **options)
        np.testing.assert_allclose(rows.sort_values("split").score, by_hand.score)
    late_scores = scores[(scores.model == "WGAN-GP") & (scores.iteration == 20)].score
    early_scores = scores[(scores.model == "WGAN-GP") & (scores.iteration == 10)].score
    assert not np.allclose(late_scores.to_numpy(), early_scores.to_numpy())


C2ST_SCORES = pd.DataFrame(dict(model=["a"] * 5 + ["b"] * 3 + ["c"],
                                iteration=[1] * 5 + [2] * 3 + [7],
                                score=[1.0, 2.0, 4.0, 8.0, 100.0, -1.0, 0.5, 3.0, 2.5]))


def test_c2st_summary_gives_mean_median_and_mad_per_group():
    table = analysis.c2st_summary(C2ST_SCORES, ["model", "iteration"]).set_index("model")
    for model, rows in C2ST_SCORES.groupby("model"):
        values = rows.score.to_numpy()
        median = np.median(values)
        assert table.loc[model, "mean"] == pytest.approx(values.mean())
        assert table.loc[model, "median"] == pytest.approx(median)
        assert table.loc[model, "mad"] == pytest.approx(np.median(np.abs(values - median)))
    assert table.loc["a", "median"] == 4.0 and table.loc["a", "mad"] == 3.0   # robust to 100
    assert table.loc["c", "std"] == 0.0                       # one split: no spread, not NaN
    assert list(table.index) == ["a", "b", "c"]               # the groups keep their order


def test_c2st_summary_spreads_agree_with_the_tables_statistics():
    table = analysis.c2st_summary(C2ST_SCORES, ["model"]).set_index("model")
    for model, rows in C2ST_SCORES.groupby("model"):
        assert table.loc[model, "std"] == pytest.approx(summary_statistics(rows.score)["std"])


# ----------------------------------------------------------------- cells for the consistency

def test_samples_by_class_pairs_each_green_with_the_shared_red():
    config, generator = lively_generator("star")
    by_class, multi = analysis.samples_by_class(generator, config, ["TipDots", "ActinLike"], 6)
    assert multi.shape == (6, 3, *SIZE)
    assert list(by_class) == ["TipDots", "ActinLike"]
    for k, pairs in enumerate(by_class.values()):
        assert pairs.shape == (6, 2, *SIZE)
        np.testing.assert_array_equal(pairs[:, 0], multi[:, 0])
        np.testing.assert_array_equal(pairs[:, 1], multi[:, 1 + k])
    again, _ = analysis.samples_by_class(generator, config, ["TipDots", "ActinLike"], 6)
    np.testing.assert_array_equal(again["ActinLike"], by_class["ActinLike"])   # seeded
    with pytest.raises(ValueError, match="2 greens but 3 class names"):
        analysis.samples_by_class(generator, config, ["TipDots", "ActinLike", "RingOnly"], 6)


def test_real_by_class_splits_a_part_by_protein(cells):
    for part in ("test", "train"):
        by_class = analysis.real_by_class(cells, part)
        assert list(by_class) == cells.class_names
        images, labels = cells.part(part)
        for k, name in enumerate(cells.class_names):
            np.testing.assert_array_equal(by_class[name], images[labels == k].numpy())


def test_the_simulators_multi_green_holds_each_cells_own_red_and_green(cells, truth):
    """The own class's green is the test image's green (the simulator renders the same cell);
    the other protein's green is a different picture of that cell."""
    images, labels = cells.part("test")
    images, labels = images.numpy(), labels.numpy()
    assert truth.shape == (len(images), 1 + cells.n_classes, *SIZE)
    np.testing.assert_allclose(truth[:, 0], images[:, 0])
    rows = np.arange(len(images))
    np.testing.assert_allclose(truth[rows, 1 + labels], images[:, 1])
    assert not np.allclose(truth[rows, 2 - labels], images[:, 1])


def test_real_multi_green_limits_and_needs_simulated_cells(cells, sim_config, truth):
    np.testing.assert_array_equal(analysis.real_multi_green(cells, sim_config, limit=3), truth[:3])
    without_ids = replace(cells, metadata=cells.metadata.drop(columns="cell"))
    with pytest.raises(ValueError, match="only simulated cells"):
        analysis.real_multi_green(without_ids, sim_config)


# --------------------------------------------------------------------- Table 3: reconstruction

def test_balanced_test_cells_are_held_out_and_as_many_per_class(cells):
    positions = analysis.balanced_test_cells(cells, 6, seed=0)
    assert len(positions) == 6 and np.all(np.diff(positions) > 0)
    assert np.isin(positions, cells.parts["test"]).all()
    assert np.bincount(cells.labels.numpy()[positions], minlength=2).tolist() == [3, 3]
    np.testing.assert_array_equal(analysis.balanced_test_cells(cells, 6, seed=0), positions)
    assert not np.array_equal(analysis.balanced_test_cells(cells, 6, seed=1), positions)
    # More than a class holds: all of its test cells (8 TipDots, 11 ActinLike).
    np.testing.assert_array_equal(analysis.balanced_test_cells(cells, 100), cells.parts["test"])


@pytest.fixture(scope="module")
def study(cells):
    separable, star = lively_generator("separable"), lively_generator("star", seed=1)
    models = {"separable": separable[::-1], "star": star[::-1]}
    return models, analysis.reconstruction_study(models, cells, n_cells=4, seed=0,
                                                 progress=False, **TINY_FIT)


def test_the_reconstruction_table_has_every_task_and_model_and_the_references(study):
    _, result = study
    table = result.table
    assert list(zip(table.task, table.model)) == [
        ("regular", "separable"), ("regular", "star"), ("separable", "separable"),
        ("separable", "star"), ("-", "nearest neighbour"), ("-", "Gaussian noise")]
    d = 8                                                      # the smoke preset's nz
    gaussian = table.set_index("model").loc["Gaussian noise"]
    assert gaussian.nll_median == pytest.approx(d / 2 + d / 2 * math.log(2 * math.pi))
    assert gaussian.nll_mad == pytest.approx(math.sqrt(d / 2))
    assert np.isnan(gaussian.rmse_median)
    neighbour = table.set_index("model").loc["nearest neighbour"]
    assert np.isnan(neighbour.nll_median) and np.isfinite(neighbour.rmse_median)
    per_cell = result.per_cell
    assert (per_cell.groupby(["task", "model"]).size() == 4).all() and len(per_cell) == 16
    for (task, model), rows in per_cell.groupby(["task", "model"], sort=False):
        row = table[(table.task == task) & (table.model == model)].iloc[0]
        assert row.rmse_median == pytest.approx(np.median(rows.rmse))
        assert row.nll_median == pytest.approx(np.median(rows.nll))
        assert result.images[task, model].shape == (4, 2, *SIZE)


def test_nearest_neighbours_are_training_cells_of_the_same_class(study, cells):
    _, result = study
    train, train_labels = cells.part("train")
    names = np.asarray(cells.class_names)
    for cell, neighbour, name in zip(result.cells, result.neighbours,
                                     result.per_cell.class_name[:4]):
        match = np.flatnonzero((train.numpy() == neighbour).all(axis=(1, 2, 3)))
        assert len(match) and names[train_labels[match[0]]] == name
        assert not np.array_equal(neighbour, cell)             # a training cell, not itself


def test_the_star_model_reconstructs_each_cell_through_its_own_tower(study):
    """Per class, the study's star reconstructions are reconstruct(green_class=k) of that
    class's cells; through the other tower the same cells come out differently."""
    models, result = study
    generator, config = models["star"]
    rows = result.per_cell[(result.per_cell.model == "star") & (result.per_cell.task == "regular")]
    for k, name in enumerate(["TipDots", "ActinLike"]):
        own = (rows.class_name == name).to_numpy()
        targets = torch.as_tensor(result.cells[own])
        by_hand = bg.reconstruct(generator, config, targets, mode="regular", green_class=k,
                                 seed=0, **TINY_FIT)
        np.testing.assert_allclose(rows.rmse[own], by_hand.rmse)
        np.testing.assert_allclose(result.images["regular", "star"][own], by_hand.images.numpy())
        other = bg.reconstruct(generator, config, targets, mode="regular", green_class=1 - k,
                               seed=0, **TINY_FIT)
        assert not np.allclose(other.rmse, by_hand.rmse)


# ------------------------------------------------------------------- Fig. 7: the cell cycle

def test_an_undertrained_generator_still_gets_a_walk_from_its_shortest_to_its_longest_cell():
    """The untrained star draws 64 bipolar blobs and no dividing cell: the strict pick raises,
    the fallback starts at the shortest cell found, ends at the longest, and the middle is the
    other cell nearest halfway."""
    config = bg.preset("smoke", generator_kind="star")
    torch.manual_seed(0)
    generator = bg.build_generator(config)
    with pytest.raises(ValueError, match="0 dividing"):
        bg.pick_cell_cycle_anchors(generator, config, 64, seed=42)
    anchors = bg.pick_cell_cycle_anchors(generator, config, 64, seed=42, require_dividing=False)
    length = anchors.readings.length_um.to_numpy()
    start, middle, end = anchors.indices
    assert len(set(anchors.indices)) == 3
    assert length[start] == np.nanmin(length) and length[end] == np.nanmax(length)
    others = np.delete(length, [start, end])
    halfway = (length[start] + length[end]) / 2
    assert abs(length[middle] - halfway) == np.nanmin(np.abs(others - halfway))
    candidates = torch.randn(64, bg.latent_size(config), generator=torch.Generator().manual_seed(42))
    torch.testing.assert_close(anchors.latents, candidates[anchors.indices])


def test_the_fallback_changes_nothing_when_a_cycle_is_drawn(cells):
    """A generator that draws the simulator's cells, dividing ones included, gets the same
    anchors either way; one that draws only non-dividing cells gets the fallback."""
    config = bg.preset("smoke")
    generator = LookupGenerator(cells.images)
    strict = bg.pick_cell_cycle_anchors(generator, config, 64, seed=42)
    assert bg.pick_cell_cycle_anchors(generator, config, 64, seed=42,
                                      require_dividing=False).indices == strict.indices
    growing = torch.from_numpy((cells.metadata.stage != "dividing").to_numpy(copy=True))
    no_septum = LookupGenerator(cells.images[growing])
    with pytest.raises(ValueError, match="0 dividing"):
        bg.pick_cell_cycle_anchors(no_septum, config, 64, seed=42)
    chosen = bg.pick_cell_cycle_anchors(no_septum, config, 64, seed=42,
                                        require_dividing=False).chosen
    assert chosen.length_um.is_monotonic_increasing
    assert (chosen.stage != "dividing").all()


def test_shortest_middle_longest_skips_cells_not_found():
    length = np.array([np.nan, 9.0, 4.0, 7.0, np.nan, 12.0, 8.5])
    assert _shortest_middle_longest(length, np.isfinite(length)) == [2, 6, 5]   # halfway 8
    two = np.array([np.nan, 5.0, np.nan, 6.0])
    assert _shortest_middle_longest(two, np.isfinite(two)) == [0, 1, 2]          # too few found


def test_the_cell_cycle_walk_of_an_undertrained_star_finds_no_septum():
    config = bg.preset("smoke", generator_kind="star")
    torch.manual_seed(0)
    generator = bg.build_generator(config)
    walk = analysis.cell_cycle_walk(generator, config, ["TipDots", "ActinLike"], n_candidates=16,
                                    steps_per_segment=4)
    assert walk.frames.shape == (7, 3, *SIZE)
    assert walk.check.septum_step is None
    assert len(walk.check.readings) == 7 * 2
    torch.testing.assert_close(torch.as_tensor(walk.frames[[0, 3, 6]]),
                               bg.interpolation_frames(generator, config, walk.anchors.latents))


def test_a_walk_through_a_drawn_cycle_ends_on_a_septum(cells):
    walk = analysis.cell_cycle_walk(LookupGenerator(cells.images), bg.preset("smoke"),
                                    ["TipDots"], n_candidates=64, steps_per_segment=5)
    assert walk.frames.shape == (9, 2, *SIZE)
    assert walk.anchors.chosen.stage.tolist()[-1] == "dividing"
    assert walk.check.septum_step is not None and walk.check.septum_step <= 8


# ------------------------------------------------------------- Table 2 and cross-class checks

def test_multichannel_training_cells_keep_their_own_green_and_borrow_the_others(cells):
    data = analysis.multichannel_data(cells, seed=0)
    train, labels = cells.part("train")
    assert data.images.shape == (len(train), 3, *SIZE)
    assert data.parts["train"].tolist() == list(range(len(train))) and len(data.parts["test"]) == 0
    torch.testing.assert_close(data.labels, labels, rtol=0, atol=0)
    assert data.part_metadata("train").cell.tolist() == cells.part_metadata("train").cell.tolist()
    red = train[:, 0]
    inside = red > -1
    torch.testing.assert_close(data.images[:, 0], red, rtol=0, atol=0)
    own = data.images[torch.arange(len(train)), 1 + labels]
    torch.testing.assert_close(own, torch.where(inside, train[:, 1], -1.0), rtol=0, atol=0)
    # The other protein's green: some training cell of that class, cut to this outline.
    for i in range(0, len(train), 10):
        other = 1 - int(labels[i])
        donors = train[labels == other, 1]
        cut = torch.where(inside[i], donors, -1.0)
        assert (cut == data.images[i, 1 + other]).all(dim=(1, 2)).any()


def test_cross_class_sources_rank_the_ground_truth_above_shuffled_greens(cells, truth):
    """The simulator's greens fit their red; greens shuffled across cells fit it less."""
    rng = np.random.default_rng(0)
    shuffled = truth.copy()
    for k in (1, 2):
        shuffled[:, k] = truth[rng.permutation(len(truth)), k]
    table = analysis.cross_class_sources({"truth": truth, "shuffled": shuffled}, cells.class_names)
    assert list(table.index) == ["truth", "shuffled"] and table.index.name == "source"
    assert list(table.columns) == [*cells.class_names, "all"]
    pd.testing.assert_series_equal(table.loc["truth"],
                                   bg.cross_class_rates(truth, cells.class_names),
                                   check_names=False)
    assert table.loc["truth", "all"] > table.loc["shuffled", "all"]
    assert (table.loc["shuffled", "all"] <= table.loc["shuffled", cells.class_names]).all()


# ---------------------------------------------------------------------------------- profiles

def test_the_multichannel_config_widens_the_model_per_output_channel():
    cpu = bg.chapter_settings("cpu")                    # 3 proteins, nz 32, widths 16
    config = multichannel_config(cpu)
    assert (config.image_channels, config.nz, config.ngf, config.ndf) == (4, 64, 32, 32)
    assert config.red_fraction == 1 / 4 and config.nz_red == 16
    assert config.generator_kind == "separable" and config.image_size == SIZE
    assert (config.batch_size, config.lr) == (cpu.batch_size, cpu.lr)
    torch.manual_seed(0)
    generator, critic = bg.build_generator(config), bg.build_critic(config)
    with torch.no_grad():
        images = generator(**bg.sample_latent(config, 2, torch.Generator().manual_seed(0)))
        assert images.shape == (2, 4, *SIZE)
        assert critic(images).shape == (2,)
    assert multichannel_config(cpu, n_classes=1).image_channels == 2
    assert multichannel_config(cpu, lr=1e-3).lr == 1e-3


def test_the_paper_profile_gives_the_papers_seven_channel_model():
    """Six proteins at the paper's scale: nz 350 and widths 224, as ``paper_multichannel``."""
    config = multichannel_config(bg.chapter_settings("gpu"))
    assert config == replace(PRESETS["paper_multichannel"], generator_kind="separable")
    assert (config.nz, config.ngf, config.ndf, config.image_channels) == (350, 224, 224, 7)
    assert bg.parameter_counts(config) == bg.parameter_counts(
        bg.preset("paper_multichannel", generator_kind="separable"))


def test_pombe_config_takes_other_classes():
    cpu = bg.chapter_settings("cpu")
    twins = ("TipDots", "TipDots2", "ActinLike", "ActinLike2")
    config = bg.pombe_config(cpu, classes=twins, seed=3)
    assert config.classes == twins and config.n_cells == 4 * cpu.cells_per_class
    assert config.seed == 3 and tuple(config.size) == SIZE
    default = bg.pombe_config(cpu)
    assert default.classes == tuple(cpu.classes) and default.n_cells == 3 * cpu.cells_per_class
