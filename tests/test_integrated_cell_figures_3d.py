"""The 3D Integrated Cell chapter's figures and walk explorers render on tiny volumes and models."""
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from cellnb.papers import integrated_cell as ic
from cellnb.papers.integrated_cell import figures
from cellnb.papers.integrated_cell.explore import (
    explore_walk_live,
    explore_walk_static,
    walk_frames,
)
from cellnb.papers.integrated_cell.variation import walk
from cellnb.progress import HEADLESS_ENV

matplotlib.use("Agg")

K = 3
NAMES = ("nucleoli", "membrane protein", "mitochondria")
SHAPE = (4, 6, 8)   # (Z, Y, X)


@pytest.fixture(scope="module")
def model_2d():
    torch.manual_seed(0)
    return ic.ConditionalModel(ic.preset("smoke", n_classes=K))


@pytest.fixture(scope="module")
def model_3d():
    torch.manual_seed(0)
    config = ic.preset("cpu_3d", image_shape=(8, 24, 32), channels=(8, 16, 32),
                       reference_encoder_levels=2, decd_channels=(8, 16), latent_reference=4,
                       latent_structure=4, n_classes=K, encd_widths=(16, 16, 8))
    return ic.ConditionalModel(config)


def _volumes(rng, n, channels=3, shape=SHAPE):
    return rng.random((n, channels) + shape).astype(np.float32)


def _frames(rng, steps=5, shape=SHAPE):
    return rng.random((steps, K, 3) + shape).astype(np.float32)


def _shown_images(fig) -> int:
    return sum(len(ax.images) for ax in fig.axes)


# ------------------------------------------------------------------------------- projections

def test_projections_put_a_voxel_in_the_top_and_side_views():
    depth, rows, cols = SHAPE
    volume = np.zeros((3, depth, rows, cols), np.float32)
    volume[1, 0, 2, 5] = 1.0                       # structure, on the coverslip (z = 0)
    picture = figures.projections(volume)
    assert picture.shape == (rows + 1 + depth, cols, 3)
    top, gap, side = picture[:rows], picture[rows], picture[rows + 1:]
    assert np.allclose(gap, 1.0)                   # a white separator
    assert np.argwhere(top[..., 1] > 0).tolist() == [[2, 5]]               # (y, x)
    assert np.argwhere(side[..., 1] > 0).tolist() == [[depth - 1, 5]]      # z = 0: bottom row
    assert np.allclose(picture[..., [0, 2]][:rows], 0)                     # green only
    # z points up: the top slice is the side view's first row.
    volume[:] = 0
    volume[0, depth - 1, 0, 0] = 1.0
    side = figures.projections(volume)[rows + 1:]
    assert np.argwhere(side[..., 0] > 0).tolist() == [[0, 0]]


def test_projections_of_references_single_channels_and_stretched_z():
    depth, rows, cols = SHAPE
    reference = np.zeros((2, depth, rows, cols), np.float32)
    reference[1, 1, 3, 4] = 0.5                    # DNA: blue
    picture = figures.projections(reference)
    assert np.argwhere(picture[:rows, :, 2] > 0).tolist() == [[3, 4]]
    assert np.allclose(picture[:rows, :, :2], 0)
    single = np.zeros((depth, rows, cols), np.float32)
    single[0, 0, 0] = 2.0                           # clipped to white
    picture = figures.projections(single, z_step=2)
    assert picture.shape == (rows + 1 + 2 * depth, cols, 3)
    assert np.allclose(picture[-2:, 0], 1.0) and np.allclose(picture[-3, 0], 0.0)
    with pytest.raises(ValueError):
        figures.projections(np.zeros((4, 4)))


def test_volume_cells_draw_a_tile_per_cell(rng):
    fig = figures.volume_cells(_volumes(rng, 5), titles=list("abcde"), n=3)
    assert len(fig.axes) == 3 and _shown_images(fig) == 3
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c"]
    assert fig.axes[0].images[0].get_array().shape == (SHAPE[1] + 1 + SHAPE[0], SHAPE[2], 3)
    # 2D cells are drawn as they are.
    assert len(figures.volume_cells(rng.random((2, 3, 8, 8))).axes) == 2


# -------------------------------------------------------------------------------- isosurface

def test_isosurface_has_a_trace_per_channel_with_cubic_voxels(rng):
    volume = _volumes(rng, 1)[0]
    figure = figures.isosurface(volume)
    assert isinstance(figure, go.Figure)
    assert len(figure.data) == 3 and all(isinstance(t, go.Isosurface) for t in figure.data)
    assert [t.name.split()[0] for t in figure.data] == list(ic.CHANNELS)
    assert [t.colorscale[0][1] for t in figure.data] == list(figures.CHANNEL_COLOURS.values())
    depth, rows, cols = SHAPE
    assert len(figure.data[0].value) == depth * rows * cols
    assert np.isclose(figure.data[1].isomin, figures.ISO_FRACTION * volume[1].max())
    assert int(np.max(figure.data[0].z)) == depth - 1 and int(np.max(figure.data[0].x)) == cols - 1
    ratio = figure.layout.scene.aspectratio
    assert np.allclose([ratio.x, ratio.y, ratio.z], np.array([cols, rows, depth]) / cols)
    figure.to_html(include_plotlyjs=False, full_html=False)   # serialisable without a kernel
    # Picked channels, explicit levels, and a (Z, Y, X) volume.
    figure = figures.isosurface(volume, channels=["dna"], levels=[0.3])
    assert len(figure.data) == 1 and figure.data[0].isomin == 0.3
    assert len(figures.isosurface(volume[1]).data) == 1
    with pytest.raises(ValueError):
        figures.isosurface(volume, levels=[0.1])


def test_isosurface_downsamples_a_big_volume():
    volume = np.zeros((3, 32, 48, 64), np.float32)   # 98k voxels
    volume[0, 5, 10, 20] = 1.0
    figure = figures.isosurface(volume, max_voxels=40_000)
    voxels = len(figure.data[0].value)
    assert 0 < voxels <= 40_000
    assert voxels == 16 * 24 * 32                     # pooled by 2
    assert float(np.max(figure.data[0].value)) == 1.0  # max pooling keeps a single bright voxel
    assert "max-pooled 2x" in figure.layout.title.text
    assert int(np.max(figure.data[0].z)) < 32


# ------------------------------------------------------------------ Algorithm 4 (Figs. S7-S8)

def test_variation_distributions_box_each_class_by_state(rng):
    labels = np.repeat(np.arange(K), 6)
    states = np.tile([False, False, False, True, True, True], K)
    values = rng.normal(size=len(labels))
    values[0] = np.inf                               # left out
    fig = figures.variation_distributions(values, labels, states, NAMES)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.patches) == 2 * K                  # a box per class and state
    assert [t.get_text() for t in ax.get_xticklabels()] == list(NAMES)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["interphase (8 cells)", "mitotic (9 cells)"]
    # No state: one box per class, no legend.
    fig = figures.variation_distributions(values, labels, None, NAMES)
    assert len(fig.axes[0].patches) == K and fig.axes[0].get_legend() is None


def test_extreme_cells_show_the_most_and_least_variable(rng):
    values = np.array([0.5, -2.0, 3.0, 1.0, np.nan, -1.0, 2.0])
    states = np.array([0, 1, 0, 0, 0, 1, 0], bool)
    fig = figures.extreme_cells(_volumes(rng, 7), values, n=3, states=states)
    assert len(fig.axes) == 6 and _shown_images(fig) == 6
    assert [ax.get_title() for ax in fig.axes] == ["-2 M", "-1 M", "0.5", "3", "2", "1"]
    assert len(figures.extreme_cells(_volumes(rng, 3), values[:3], n=4).axes) == 2   # capped


# ------------------------------------------------------------------------- the walk (Fig. S9)

def test_walk_strip_has_a_row_per_structure_and_a_column_per_step(rng):
    frames = _frames(rng, steps=5)
    fig = figures.walk_strip(frames, NAMES, states={0: "interphase", -1: "metaphase"})
    assert len(fig.axes) == (K + 1) * 5 and _shown_images(fig) == (K + 1) * 5
    assert [ax.get_title() for ax in fig.axes[:5]] == ["interphase", "", "", "", "metaphase"]
    assert [fig.axes[5 * r].get_ylabel() for r in range(K + 1)] == ["cell", *NAMES]
    assert fig.axes[0].images[0].get_array().shape == SHAPE[1:] + (3,)   # top views
    fig = figures.walk_strip(frames, NAMES, steps=np.linspace(0, 1, 5), show_reference=False)
    assert len(fig.axes) == K * 5 and fig.axes[1].get_title() == "0.25"
    fig = figures.walk_strip(rng.random((4, K, 3, 8, 8)), NAMES)           # 2D frames
    assert len(fig.axes) == (K + 1) * 4
    with pytest.raises(ValueError):
        figures.walk_strip(frames, NAMES[:2])


def test_structure_overlays_put_green_over_the_dimmed_reference():
    frames = np.zeros((2, K, 3) + SHAPE, np.float32)
    frames[:, :, 0] = 0.8                            # membrane everywhere
    frames[1, 2, 1, 3, 4, 5] = 0.2                   # one structure voxel, step 1, class 2
    references, overlays = figures.structure_overlays(frames, reference_weight=0.5)
    assert references.shape == (2,) + SHAPE[1:] + (3,)
    assert overlays.shape == (2, K) + SHAPE[1:] + (3,)
    assert np.allclose(overlays[..., 0], 0.4)        # the reference, dimmed
    assert overlays[1, 2, 4, 5, 1] == 1.0            # min-max scaled structure
    assert np.count_nonzero(overlays[..., 1]) == 1


def test_walk_frames_decode_every_structure_at_each_step_2d(model_2d):
    anchors = np.random.default_rng(0).standard_normal((3, 8))
    path = walk(anchors, 3)
    frames = walk_frames(model_2d, path, batch_size=2)
    assert frames.shape == (5, K, 3, 32, 32)
    expected = ic.integrate(model_2d, torch.as_tensor(path[:1], dtype=torch.float32)).numpy()
    assert np.allclose(frames[0], expected[0], atol=1e-5)   # batching changes nothing
    with pytest.raises(ValueError):
        walk_frames(model_2d, path[:, :4])


def test_walk_frames_of_a_3d_model(model_3d):
    path = walk(np.random.default_rng(1).standard_normal((2, 4)), 3)
    frames = walk_frames(model_3d, path)
    assert frames.shape == (3, K, 3, 8, 24, 32)
    assert np.isfinite(frames).all() and frames.min() >= 0 and frames.max() <= 1
    fig = figures.walk_strip(frames, NAMES, states={0: "interphase", 2: "prophase"})
    assert len(fig.axes) == (K + 1) * 3


def test_explore_walk_static_has_a_slider_step_per_walk_step(rng):
    frames = _frames(rng, steps=4)
    figure = explore_walk_static(frames, NAMES, states={0: "interphase", 3: "mitotic"})
    assert isinstance(figure, go.Figure)
    assert len(figure.data) == 4
    slider = figure.layout.sliders[0]
    assert [s.label for s in slider.steps] == ["0 interphase", "1", "2", "3 mitotic"]
    rows, cols = SHAPE[1:]
    assert figure.data[0].z.shape == (rows, K * cols + 2 * (K - 1), 3)   # one row of K tiles
    assert "nucleoli, membrane protein, mitochondria" in figure.layout.title.text
    figure.to_html(include_plotlyjs=False, full_html=False)
    assert len(explore_walk_static(frames, NAMES, ncols=2).data[0].z) == 2 * rows + 2
    assert len(explore_walk_static(rng.random((3, K, 3, 8, 8)), NAMES).data) == 3   # 2D


def test_explore_walk_live_draws_the_default_headless(rng, monkeypatch):
    monkeypatch.setenv(HEADLESS_ENV, "1")
    frames = _frames(rng, steps=3)
    frames[:, :, [0, 2], 2] += 5.0                   # the brightest reference slice: z = 2
    assert explore_walk_live(frames, NAMES, states={0: "interphase"}) is None
    (fig,) = (plt.figure(n) for n in plt.get_fignums())
    assert len(fig.axes) == 2
    assert fig.axes[0].get_title().startswith(f"step 0 of 2 (interphase): {NAMES[0]}")
    assert fig.axes[1].get_title() == "slice z = 2"
    plt.close("all")
    assert explore_walk_live(rng.random((3, K, 3, 8, 8)), NAMES) is None   # 2D: no z slider
    (fig,) = (plt.figure(n) for n in plt.get_fignums())
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == f"step 0 of 2: {NAMES[0]}"
