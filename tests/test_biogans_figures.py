"""The BioGANs chapter's figures and explorers render on tiny arrays and smoke generators, and
the paper's numbers they print beside ours are the paper's."""
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch

from cellnb.papers.biogans import build_generator, figures, paper, preset
from cellnb.papers.biogans.explore import (
    base_latent,
    decode_cell,
    draw_cell,
    explore_live,
    explore_walk_live,
    explore_walk_static,
)
from cellnb.papers.biogans.interpolation import InterpolationCheck
from cellnb.progress import HEADLESS_ENV

matplotlib.use("Agg")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

NAMES = ("TipDots", "ActinLike")
H, W = 24, 40


@pytest.fixture(scope="module")
def separable():
    torch.manual_seed(0)
    config = preset("smoke", generator_kind="separable")
    return build_generator(config), config


@pytest.fixture(scope="module")
def star():
    torch.manual_seed(0)
    config = preset("smoke", generator_kind="star")
    return build_generator(config), config


def _cells(rng, n, channels=2):
    return rng.uniform(-1, 1, (n, channels, H, W)).astype(np.float32)


def _shown_images(fig) -> int:
    return sum(len(ax.images) for ax in fig.axes)


# ------------------------------------------------------------------------------ colours

def test_cell_rgb_puts_red_in_r_and_the_green_in_g():
    image = np.full((3, 4, 5), -1.0, np.float32)      # red, green 1, green 2: all background
    image[0], image[2] = 1.0, 0.0
    rgb = figures.cell_rgb(image, green=1)
    assert rgb.shape == (4, 5, 3) and rgb.min() >= 0 and rgb.max() <= 1
    assert np.allclose(rgb[..., 0], 1) and np.allclose(rgb[..., 1], 0.5)   # [-1, 1] -> [0, 1]
    assert np.allclose(rgb[..., 2], 0)
    assert np.allclose(figures.cell_rgb(image, green=0)[..., 1], 0)        # green 1 is empty
    assert np.allclose(figures.cell_rgb(image, green=None)[..., 1:], 0)    # the red alone
    # Batches and tensors work; out-of-range values are clipped, not rescaled.
    batch = figures.cell_rgb(torch.full((2, 2, 4, 4), 3.0))
    assert batch.shape == (2, 4, 4, 3) and np.allclose(batch[..., :2], 1)
    with pytest.raises(ValueError, match="green is in 0..1"):
        figures.cell_rgb(image, green=2)
    with pytest.raises(ValueError):
        figures.cell_rgb(np.zeros((4, 4)))


def test_greens_row_shows_the_red_then_each_green(rng):
    cell = _cells(rng, 1, channels=3)[0]
    row = figures.greens_row(cell)
    assert row.shape == (H, 3 * W + 2 * figures.GAP, 3)
    assert np.allclose(row[:, :W, 1], 0)                                   # red alone
    assert np.allclose(row[:, W + figures.GAP:2 * W + figures.GAP],
                       figures.cell_rgb(cell, green=0))


# -------------------------------------------------------------------------------- cells

def test_cells_by_class_draws_a_row_per_class(rng):
    labels = np.array([0, 0, 1, 1, 1])
    fig = figures.cells_by_class(_cells(rng, 5), labels, NAMES, per_class=3)
    assert len(fig.axes) == 6 and _shown_images(fig) == 6                # a blank tile in row 1
    assert fig.axes[0].get_ylabel() == "TipDots" and fig.axes[3].get_ylabel() == "ActinLike"
    named = figures.cells_by_class(_cells(rng, 5), np.array(NAMES)[labels], NAMES, per_class=3)
    assert len(named.axes) == 6


def test_generated_cells_one_row_per_star_sample(rng):
    assert len(figures.generated_cells(_cells(rng, 10), n=8).axes) == 8
    fig = figures.generated_cells(_cells(rng, 5, channels=3), NAMES, n=4)
    assert len(fig.axes) == 4 * 3
    assert [ax.get_title() for ax in fig.axes[:3]] == [figures.RED_LABEL, *NAMES]
    with pytest.raises(ValueError, match="one name per green"):
        figures.generated_cells(_cells(rng, 2, channels=3), NAMES[:1])


# ----------------------------------------------------------------------------- training

def test_training_curves_panel_per_quantity_line_per_model(rng):
    iterations = pd.RangeIndex(1, 101, name="iteration")
    wgan = pd.DataFrame(rng.random((100, 4)), index=iterations,
                        columns=["critic_loss", "wasserstein", "gradient_penalty",
                                 "generator_loss"])
    gan = pd.DataFrame(rng.random((100, 2)), columns=["critic_loss", "generator_loss"])
    gan.insert(0, "iteration", np.arange(1, 101))                        # a column works too
    fig = figures.training_curves({"WGAN-GP": wgan, "GAN": gan}, window=10)
    assert [ax.get_title() for ax in fig.axes] == list(figures.QUANTITIES.values())
    assert len(fig.axes[0].lines) == 4 and len(fig.axes[1].lines) == 2   # raw + smoothed
    smoothed = fig.axes[1].lines[1].get_ydata()
    assert np.isclose(smoothed[-1], wgan.wasserstein.iloc[-10:].mean())


def test_diversity_grid_puts_models_side_by_side(rng):
    grids = {"GAN": _cells(rng, 12).reshape(3, 4, 2, H, W),
             "WGAN-GP": _cells(rng, 12).reshape(3, 4, 2, H, W)}
    fig = figures.diversity_grid(grids, {"GAN": 3.2, "WGAN-GP": 1.6})
    assert len(fig.axes) == 2
    assert fig.axes[1].get_title().startswith("WGAN-GP: C2ST 1.60")
    assert fig.axes[0].images[0].get_array().shape == (3 * H + 4, 4 * W + 6, 3)


# -------------------------------------------------------------------- the two-sample test

def test_c2st_along_training_with_the_real_band_and_the_papers_numbers():
    table = pd.DataFrame(dict(model=["GAN"] * 3 + ["WGAN-GP"] * 3,
                              iteration=[100, 300, 500] * 2,
                              mean=[9.0, 6.0, 4.0, 5.0, 3.0, 2.0], std=[0.3] * 6))
    fig = figures.c2st_along_training(table, real=(-0.5, 0.4))
    ax, side = fig.axes
    assert len(ax.containers) == 2                                       # an errorbar per model
    assert len(ax.patches) == 1                                          # the real band
    cells = [cell.get_text().get_text() for cell in side.tables[0].get_celld().values()]
    assert "11.0 ± 0.1" in cells and "-0.7 ± 0.6" in cells and "50k" in cells
    assert "sep. WGAN-GP" in cells and "Real" in cells                  # the paper's labels


def test_score_matrix_outlines_the_twins_in_both_directions(rng):
    classes = ["TipDots", "TipDots2", "ActinLike"]
    matrix = pd.DataFrame(rng.random((3, 3)), index=classes, columns=classes)
    fig = figures.score_matrix(matrix, twins={"TipDots2": "TipDots"})
    assert len(fig.axes) == 1 and len(fig.axes[0].patches) == 2
    assert len(fig.axes[0].texts) == 9
    fig = figures.score_matrix(matrix, paper=paper.TABLE1)
    ours, papers = fig.axes
    assert len(ours.patches) == 0 and len(papers.patches) == 4           # Arp3/Fim1, Tea1/Tea4
    assert "3.7" in [t.get_text() for t in papers.texts]


def test_model_comparison_bars_beside_the_papers_average(rng):
    models = ["real images", "one-class", "star-shaped"]
    table = pd.DataFrame(rng.random((3, 3)), index=["TipDots", "ActinLike", "2 proteins"],
                         columns=models)
    fig = figures.model_comparison_bars(table)
    ours, papers = fig.axes
    assert len(ours.patches) == 9 and len(papers.patches) == 6
    assert ours.patches[2].get_linewidth() == 1.5                        # the average outlined
    assert papers.patches[5].get_height() == pytest.approx(1.4)
    assert len(figures.model_comparison_bars(table, paper=None).axes) == 1


# ------------------------------------------------------------------------- consistency

def test_consistency_overview_three_panels():
    classes = ["TipDots", "ActinLike", "all"]
    summary = pd.DataFrame(dict(length_w1_um=[0.3, 0.5, 0.4], rule_generated=[0.9, 0.6, 0.75],
                                rule_real=[0.95, 0.9, 0.92]),
                           index=pd.Index(classes, name="class_name"))
    stage_names = ["monopolar", "bipolar", "dividing", "unknown"]
    stages = pd.DataFrame(
        dict(generated=[0.5, 0.4, 0.05, 0.05] * 3, real=[0.4, 0.4, 0.2, 0.0] * 3),
        index=pd.MultiIndex.from_product([classes, stage_names], names=["class_name", "stage"]))
    fig = figures.consistency_overview(summary, stages)
    lengths, stage_ax, rules = fig.axes
    assert len(lengths.patches) == 3 and len(stage_ax.patches) == 8 and len(rules.patches) == 6
    assert stage_ax.patches[2].get_linewidth() == 1.5                    # dividing highlighted
    assert stage_ax.get_title() == "stages (all)"


def test_length_histograms_overlay_models_on_the_real_lengths(rng):
    real = rng.normal(10, 2, 200)
    fig = figures.length_histograms({"GAN": rng.normal(8, 1, 100),
                                     "WGAN-GP": np.r_[rng.normal(10, 2, 100), np.nan]}, real)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == ["real (200)", "GAN (100)", "WGAN-GP (100)"]       # NaN left out


# ---------------------------------------------------------------------- reconstruction

def test_reconstructions_columns_per_source(rng):
    test, neighbours = _cells(rng, 8), _cells(rng, 8)
    fig = figures.reconstructions(test, neighbours, {"sep. WGAN-GP": _cells(rng, 8),
                                                     "star WGAN-GP": torch.zeros(8, 2, H, W)},
                                  n=3)
    assert len(fig.axes) == 3 * 4 and _shown_images(fig) == 12
    assert [ax.get_title() for ax in fig.axes[:4]] == ["test cell", "nearest neighbour",
                                                       "sep. WGAN-GP", "star WGAN-GP"]


def test_reconstruction_scatter_panel_per_task_with_reference_lines(rng):
    per_cell = pd.DataFrame(dict(model=["GAN-star", "WGAN-GP-star"] * 10,
                                 task=["regular"] * 10 + ["separable"] * 10,
                                 rmse=rng.random(20) * 0.1, nll=140 + rng.random(20) * 20))
    fig = figures.reconstruction_scatter(per_cell, 0.079, (142.0, 7.0))
    assert [ax.get_title() for ax in fig.axes] == ["regular reconstruction",
                                                   "separable reconstruction"]
    ax = fig.axes[0]
    assert len(ax.collections) == 2 and len(ax.lines) == 4              # 1 vertical, 3 flat
    assert sorted(line.get_ydata()[0] for line in ax.lines[1:]) == [121.0, 142.0, 163.0]


def test_reconstruction_table_puts_ours_beside_the_paper():
    ours = pd.DataFrame(dict(task=["regular", "separable", "separable"],
                             model=["WGAN-GP-star", "WGAN-GP-star", "new model"],
                             rmse_median=[0.05, 0.07, 0.1], rmse_mad=[0.01, 0.02, 0.03],
                             nll_median=[120.0, 130.0, 140.0], nll_mad=[3.0, 4.0, 5.0]))
    table = figures.reconstruction_table(ours)
    assert list(table.columns) == ["task", "model", "ours RMSE", "paper RMSE", "ours NLL",
                                   "paper NLL"]
    assert len(table) == len(paper.TABLE3) + 1 and table.model.iloc[-1] == "new model"
    row = table[(table.task == "regular") & (table.model == "WGAN-GP-star")].iloc[0]
    assert row["ours RMSE"] == "0.050 ± 0.010" and row["paper RMSE"] == "0.041 ± 0.005"
    assert row["ours NLL"] == "120 ± 3" and row["paper NLL"] == "150 ± 8"
    references = table.set_index("model").loc[["nearest neighbour", "Gaussian noise"]]
    assert list(references.task) == ["-", "-"]
    assert list(references["paper RMSE"]) == ["0.079 ± 0.009", "-"]
    assert list(references["paper NLL"]) == ["-", "142 ± 5"]


# ---------------------------------------------------------------------- the cell cycle

def _check(steps: int) -> InterpolationCheck:
    readings = pd.DataFrame(dict(
        step=np.tile(np.arange(steps), 2), class_name=np.repeat(NAMES, steps),
        length_um=np.tile(np.linspace(7, 14, steps), 2),
        green_central_fraction=np.r_[np.full(steps, 0.1), np.linspace(0.1, 0.6, steps)],
        stage=np.tile(["bipolar"] * (steps - 3) + ["dividing"] * 3, 2)))
    return InterpolationCheck(readings=readings, length_spearman=1.0, septum_step=steps - 3,
                              actin=pd.DataFrame(), tips=pd.DataFrame())


def test_interpolation_strip_rows_per_channel_and_the_check_below(rng):
    frames = _cells(rng, 20, channels=3)
    fig = figures.interpolation_strip(frames, NAMES)
    assert len(fig.axes) == 3 * 7                                        # red + 2 greens, 7 steps
    assert fig.axes[6].get_title() == "step 19"
    fig = figures.interpolation_strip(frames, NAMES, steps=[0, 10, 19], check=_check(20))
    tiles, (length_ax, central_ax) = fig.axes[:9], fig.axes[9:]
    assert len(fig.axes) == 3 * 3 + 2 and all(ax.images for ax in tiles)
    assert len(central_ax.get_legend_handles_labels()[1]) == 3          # 2 greens, the septum
    assert any(np.allclose(line.get_xdata(), 17) for line in length_ax.lines)
    with pytest.raises(ValueError, match="steps must lie"):
        figures.interpolation_strip(frames, NAMES, steps=[20])


# ---------------------------------------------------------------------- the paper's numbers

def test_paper_constants_hold_the_papers_numbers():
    table1 = paper.TABLE1                               # rows: test class, columns: train class
    assert table1.shape == (8, 8) and list(table1.index) == list(table1.columns)
    assert table1.loc["Arp3", "Fim1"] == 3.7 and table1.loc["Fim1", "Arp3"] == 2.8
    assert table1.loc["Tea1", "Tea4"] == 6.9 and table1.loc["Tea4", "Tea1"] == 5.9
    assert table1.loc["Sid2", "Fim1"] == 23.9 and table1.loc["Alp14", "Alp14"] == 0.1
    assert paper.TABLE1_STD.loc["Sid2", "Mkh1"] == 0.9
    assert list(paper.TABLE2.columns) == list(paper.TABLE2_MODELS)
    assert paper.TABLE2.loc["6 proteins", "star-shaped"] == 1.4
    assert paper.TABLE2.loc["Mkh1", "multi-channel sep."] == 6.6
    assert paper.TABLE2_STD.loc["6 proteins", "multi-channel"] == 0.1
    # The paper's real-images column is Table 1's diagonal (both: real test vs real train).
    assert np.allclose(paper.TABLE2["real images"].iloc[:6], np.diag(table1)[:6])
    table3 = paper.TABLE3.set_index(["task", "model"])
    assert table3.loc[("regular", "WGAN-GP-star"), "rmse_median"] == 0.041
    assert table3.loc[("separable", "GAN-star"), "nll_median"] == 142
    assert table3.loc[("-", "nearest neighbour"), "rmse_median"] == 0.079
    assert table3.loc[("-", "Gaussian noise"), "nll_mad"] == 5
    fig3 = paper.FIG3.set_index(["model", "iteration"])
    assert fig3.loc[("WGAN-GP", 50_000), "mean"] == 1.6
    assert fig3.loc[("GAN", 1_000), "mean"] == 11.0
    assert paper.FIG3_REAL == (-0.7, 0.6)


def test_the_paper_names_its_rows_as_the_reconstruction_study_does():
    # analysis.reconstruction_study's table: these columns, references on task "-".
    assert list(paper.TABLE3.columns) == ["task", "model", "rmse_median", "rmse_mad",
                                          "nll_median", "nll_mad"]
    references = paper.TABLE3[paper.TABLE3.task == "-"]
    assert list(references.model) == [paper.NEAREST, paper.GAUSSIAN]
    for task in (paper.REGULAR, paper.SEPARABLE):
        assert list(paper.TABLE3[paper.TABLE3.task == task].model) == [
            "GAN-sep", "WGAN-GP-sep", "GAN-star", paper.STAR]


# ----------------------------------------------------------------------------- explorers

def test_draw_cell_is_deterministic_and_z_green_moves_only_the_green(separable):
    generator, config = separable
    z_red, z_green = base_latent(config, seed=1)
    assert z_red.shape == (config.nz_red,) and z_green.shape == (config.nz_green,)
    generator.train()
    first = decode_cell(generator, config, z_red, z_green)
    assert generator.training                                            # the mode is restored
    assert np.array_equal(first, decode_cell(generator, config, z_red, z_green))
    moved_green = z_green.clone()
    moved_green[0] += 3.0
    moved = decode_cell(generator, config, z_red, moved_green)
    assert np.array_equal(moved[0], first[0])                            # the same red
    assert not np.allclose(moved[1], first[1])
    # The figure: the red alone, then (red, green); the same numbers the tiles show.
    fig = draw_cell(generator, config, z_red, moved_green)
    assert len(fig.axes) == 2
    assert np.allclose(fig.axes[1].images[0].get_array(), figures.cell_rgb(moved))
    again = draw_cell(generator, config, z_red, z_green)
    assert np.allclose(again.axes[0].images[0].get_array(), fig.axes[0].images[0].get_array())
    with pytest.raises(ValueError, match="takes 8"):
        decode_cell(generator, config, z_red, z_green[:2])


def test_draw_cell_of_a_star_generator_marks_the_picked_protein(star):
    generator, config = star
    z_red, z_green = base_latent(config)
    fig = draw_cell(generator, config, z_red, z_green, class_index=1, class_names=NAMES)
    assert [ax.get_title() for ax in fig.axes] == [figures.RED_LABEL, NAMES[0], f"[{NAMES[1]}]"]


def test_explore_live_draws_the_base_cell_headless(separable, star, monkeypatch):
    monkeypatch.setenv(HEADLESS_ENV, "1")
    generator, config = separable
    assert explore_live(generator, config, ["pooled"]) is None          # no protein picker
    (fig,) = (plt.figure(n) for n in plt.get_fignums())
    expected = decode_cell(generator, config, *base_latent(config))
    assert np.allclose(fig.axes[1].images[0].get_array(), figures.cell_rgb(expected))
    plt.close("all")
    generator, config = star
    assert explore_live(generator, config, NAMES, dims=2, seed=3) is None
    (fig,) = (plt.figure(n) for n in plt.get_fignums())
    assert fig.axes[1].get_title() == f"[{NAMES[0]}]"                    # the picker's default


def test_explore_walk_static_has_a_slider_step_per_frame(rng):
    frames = _cells(rng, 5, channels=3)
    figure = explore_walk_static(frames, NAMES)
    assert isinstance(figure, go.Figure) and len(figure.data) == 5
    slider = figure.layout.sliders[0]
    assert [s.label for s in slider.steps] == ["0", "1", "2", "3", "4"]
    assert figure.data[0].z.shape == (H, 3 * W + 2 * figures.GAP, 3)
    assert "TipDots, ActinLike" in figure.layout.title.text
    figure.to_html(include_plotlyjs=False, full_html=False)             # no kernel needed
    assert len(explore_walk_static(frames, NAMES, steps=[0, 4]).layout.sliders[0].steps) == 2
    with pytest.raises(ValueError, match="one green per class name"):
        explore_walk_static(frames, NAMES[:1])


def test_explore_walk_live_draws_the_first_step_headless(rng, monkeypatch):
    monkeypatch.setenv(HEADLESS_ENV, "1")
    frames = _cells(rng, 4, channels=3)
    assert explore_walk_live(frames, NAMES) is None
    (fig,) = (plt.figure(n) for n in plt.get_fignums())
    assert [ax.get_title() for ax in fig.axes] == [f"step 0: {figures.RED_LABEL}",
                                                   f"step 0: {NAMES[0]}"]
    assert np.allclose(fig.axes[1].images[0].get_array(), figures.cell_rgb(frames[0], 0))
