"""The Integrated Cell chapter's figures and explorers render on tiny arrays and smoke models."""
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch

from cellnb.papers.integrated_cell import evaluate, figures
from cellnb.papers.integrated_cell.explore import (
    decode_cell,
    draw_cell,
    explore_live,
    explore_static,
    reference_traversals,
    traversal_frames,
    traversal_plane,
)
from cellnb.papers.integrated_cell.model import ConditionalModel, ReferenceModel, preset
from cellnb.progress import HEADLESS_ENV

matplotlib.use("Agg")

K, SIZE = 3, 8
NAMES = ("nucleoli", "membrane protein", "mitochondria")


@pytest.fixture(scope="module")
def reference_model():
    torch.manual_seed(0)
    return ReferenceModel(preset("smoke"))


@pytest.fixture(scope="module")
def conditional_model():
    torch.manual_seed(0)
    return ConditionalModel(preset("smoke", n_classes=K))


def _images(rng, n, channels=3):
    return rng.random((n, channels, SIZE, SIZE)).astype(np.float32)


def _shown_images(fig) -> int:
    return sum(len(ax.images) for ax in fig.axes)


def test_cell_rgb_maps_membrane_structure_dna_to_red_green_blue():
    for channel in range(3):
        image = np.zeros((3, 4, 5), np.float32)
        image[channel] = 0.7
        rgb = figures.cell_rgb(image)
        assert rgb.shape == (4, 5, 3)
        assert np.allclose(rgb[..., channel], 0.7)
        assert np.allclose(np.delete(rgb, channel, axis=-1), 0)
    # A reference image (membrane, DNA) has no green; a batch and a tensor work too.
    reference = torch.zeros(2, 2, 4, 4)
    reference[:, 1] = 2.0
    rgb = figures.cell_rgb(reference)
    assert rgb.shape == (2, 4, 4, 3)
    assert np.allclose(rgb[..., 2], 1.0) and np.allclose(rgb[..., :2], 0)   # clipped to 1
    with pytest.raises(ValueError):
        figures.cell_rgb(np.zeros((4, 4, 4)))


def test_cells_by_class_draws_a_row_per_class(rng):
    labels = np.array([0, 0, 1, 1, 1, 2])   # class 0 and 2 are short of cells: blank tiles
    fig = figures.cells_by_class(_images(rng, 6), labels, NAMES, per_class=3)
    assert len(fig.axes) == 9 and _shown_images(fig) == 9


def test_loss_curves_draw_a_panel_per_term_for_each_stage():
    epochs = pd.RangeIndex(1, 4, name="epoch")
    reference = pd.DataFrame(dict(train_encd=[1.4, 1.3, 1.2], train_reconstruction=[0.7, 0.6, 0.5],
                                  val_reconstruction=[0.7, 0.65, 0.6], lr_encoder=[2e-4] * 3,
                                  seconds=[1.0] * 3), index=epochs)
    conditional = reference.assign(train_class_nll=[1.0, 0.8, 0.6], val_accuracy=[0.3, 0.5, 0.7])
    fig = figures.loss_curves(reference, conditional, ncols=2)
    assert len(fig.subfigs) == 2
    titles = [[ax.get_title() for ax in sub.axes] for sub in fig.subfigs]
    assert titles == [["encd", "reconstruction"],
                      ["encd", "reconstruction", "class nll", "accuracy"]]
    assert len(fig.subfigs[0].axes[1].lines) == 2   # train and val share a panel
    assert len(figures.loss_curves(reference, None).axes) == 2


def test_reconstructions_show_inputs_over_outputs(rng):
    fig = figures.reconstructions(_images(rng, 5, 2), _images(rng, 5, 2), n=4)
    assert len(fig.axes) == 8 and _shown_images(fig) == 8


def test_prior_histograms_overlay_the_ablation(rng):
    codes = rng.standard_normal((50, 6))
    fig = figures.prior_histograms(codes, codes_without=3 * codes, dims=3)
    assert len(fig.axes) == 3
    assert len(fig.axes[0].lines) == 1 and len(fig.axes[0].patches) > 32   # density + 2 hists


def test_shape_semantics_titles_carry_r2(rng):
    true = pd.DataFrame(rng.random((20, 2)), columns=["area", "elongation"])
    fig = figures.shape_semantics(true + 0.1, true, pd.Series(dict(area=0.91, elongation=0.2)))
    assert [ax.get_title() for ax in fig.axes] == ["area\nR² = 0.91", "elongation\nR² = 0.20"]


def test_traversal_grid_lays_out_the_plane(rng, reference_model):
    steps = [-3, 0, 3]
    frames = traversal_plane(reference_model.decode, torch.zeros(8), (0, 1), steps)
    assert frames.shape == (3, 3, 2, 32, 32)
    fig = figures.traversal_grid(frames, steps)
    assert len(fig.axes) == 9 and _shown_images(fig) == 9
    assert fig.axes[0].get_title() == "z_2 -3 SD" and fig.axes[0].get_ylabel() == "z_1 -3 SD"
    with pytest.raises(ValueError):
        figures.traversal_grid(frames[:2], steps)


def test_confusion_matrices_show_ours_beside_the_paper():
    ours = evaluate.confusion_table([0, 0, 1, 2, 2], [0, 1, 1, 2, 0], NAMES)
    fig = figures.confusion_matrices(ours, evaluate.PAPER_CONFUSION_2D)
    heatmaps = [ax for ax in fig.axes if ax.images]
    assert len(heatmaps) == 2 and len(fig.axes) == 3   # and one colour bar
    assert "accuracy 0.60 (3/5)" in heatmaps[0].get_title()
    assert "accuracy 0.87 (263/304)" in heatmaps[1].get_title()
    shares = heatmaps[0].images[0].get_array()
    assert np.allclose(np.asarray(shares).sum(axis=1), 1)
    assert len(figures.confusion_matrices(ours, None).axes) == 2


def test_integrated_cells_rows_of_predictions_and_truths(rng):
    references = _images(rng, 4, 3)
    predictions, truths = rng.random((4, K, SIZE, SIZE)), rng.random((4, K, SIZE, SIZE))
    fig = figures.integrated_cells(references, predictions, truths, NAMES, n=2)
    assert len(fig.axes) == 4 * (K + 1) and _shown_images(fig) == 4 * (K + 1)
    assert [ax.get_title() for ax in fig.axes[:K + 1]] == ["reference", *NAMES]
    fig = figures.integrated_cells(references, predictions, None, NAMES, n=3)
    assert len(fig.axes) == 3 * (K + 1)


def test_integration_scores_scatter_per_class(rng):
    scores = pd.DataFrame(dict(label=[0, 0, 1, 2, 2], model_r=rng.random(5),
                               template_r=rng.random(5)))
    fig = figures.integration_scores(scores, NAMES)
    assert len(fig.axes) == 1 and len(fig.axes[0].collections) == K


def test_traversal_frames_walk_linearly_from_the_centre():
    centre = torch.tensor([0.5, -1.0, 2.0])
    steps = np.linspace(-3, 3, 5)
    frames = traversal_frames(lambda z: z.view(len(z), 1, 1, -1), centre, 1, steps)
    assert frames.shape == (5, 1, 1, 3)
    codes = frames[:, 0, 0]
    assert np.allclose(codes[0], [0.5, -4.0, 2.0]) and np.allclose(codes[-1], [0.5, 2.0, 2.0])
    assert np.allclose(codes[2], centre.numpy())                  # the middle step is the centre
    assert np.allclose(np.diff(codes[:, 1]), 1.5)                 # evenly spaced
    assert np.allclose(codes[:, [0, 2]], [[0.5, 2.0]] * 5)        # the other axes stay put


def test_reference_traversals_decode_every_axis_in_eval_mode(reference_model):
    reference_model.train()
    walks = reference_traversals(reference_model, axes=[0, 3], steps=[-1, 0, 1])
    assert list(walks) == [0, 3]
    assert all(frames.shape == (3, 2, 32, 32) for frames in walks.values())
    assert reference_model.training   # the mode is restored
    # Eval-mode batch norm: the centre frame is the decoded prior mode, walk or no walk.
    reference_model.eval()
    with torch.no_grad():
        mode = reference_model.decode(torch.zeros(1, 8)).numpy()
    assert np.allclose(walks[0][1], mode[0], atol=1e-5)
    assert len(reference_traversals(reference_model, steps=[0.0])) == 8


def test_explore_static_has_a_slider_step_per_traversal_step(reference_model):
    steps = [-2, 0, 2]
    walks = reference_traversals(reference_model, axes=[0, 1], steps=steps)
    figure = explore_static(walks, steps=steps)
    assert isinstance(figure, go.Figure)
    assert len(figure.data) == 3
    slider = figure.layout.sliders[0]
    assert [s.label for s in slider.steps] == ["-2 SD", "+0 SD", "+2 SD"]
    assert figure.data[0].z.shape == (2 * 32 + 2, 32, 3)   # the two axes stacked
    assert "z^r_1, z^r_2" in figure.layout.title.text
    figure.to_html(include_plotlyjs=False, full_html=False)   # serialisable without a kernel
    with pytest.raises(ValueError):
        explore_static(walks, steps=[0, 1])


def test_draw_cell_shows_every_structure(conditional_model):
    zr, zs = torch.zeros(8), torch.zeros(8)
    cells = decode_cell(conditional_model, zr, zs)
    assert cells.shape == (K, 3, 32, 32)
    fig = draw_cell(conditional_model, zr, zs, NAMES, chosen=NAMES[1])
    assert len(fig.axes) == K + 1
    assert fig.axes[2].get_title() == f"[{NAMES[1]}]"


def test_explore_live_draws_the_default_figure_headless(conditional_model, monkeypatch):
    monkeypatch.setenv(HEADLESS_ENV, "1")
    codes = torch.randn(5, 8, generator=torch.Generator().manual_seed(0))
    assert explore_live(conditional_model, codes, NAMES) is None
    big, row = (plt.figure(n) for n in plt.get_fignums())
    assert big.axes[0].get_title() == f"cell 0, {NAMES[0]}"
    assert len(row.axes) == K + 1
    # The default is the first cell unmoved: its decoded cell, not one 3 SD away.
    expected = decode_cell(conditional_model, codes[0])[0]
    assert np.allclose(big.axes[0].images[0].get_array(), figures.cell_rgb(expected))
