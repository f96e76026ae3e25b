"""Exploring a paired-inpainting model: the pairs it paints and the per-layer maps, live and static."""
import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

from cellnb.papers.paired_inpainting.data import EvaluationCells
from cellnb.papers.paired_inpainting.explore import (
    explore_inpainting_live,
    explore_inpainting_static,
    explore_layers_live,
    explore_layers_static,
    inpainting_examples,
    paint,
)
from cellnb.papers.paired_inpainting.model import PairedInpainting, preset

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return PairedInpainting(preset("smoke", source_channels=3, target_marker_channels=2))


@pytest.fixture(scope="module")
def cells():
    rng = np.random.default_rng(0)
    crops = torch.from_numpy(rng.gamma(2.0, 50.0, size=(12, 3, 16, 16)).astype(np.float32))
    metadata = pd.DataFrame(dict(image=np.repeat([0, 1, 2], 4), protein=np.repeat(
        ["NPL1", "CYT1", "MIX1"], 4), label=np.repeat(["nucleoplasm", "cytoplasm", None], 4),
        localization=np.repeat(["nucleoplasm", "cytoplasm", "mixed"], 4)))
    return EvaluationCells(crops, ("protein", "nucleus", "cell_marker"), metadata)


def test_examples_show_the_models_prediction_for_each_pair(model, cells):
    pairs = [[0, 5], [4, 1]]
    twins = np.full((2, 16, 16), 0.5, np.float32)
    examples = inpainting_examples(model, cells, pairs, counterfactual=twins)
    assert [e.label.split(" (")[0] for e in examples] == ["NPL1 -> CYT1", "CYT1 -> NPL1"]
    predicted = paint(model, cells.crops, [0, 4], [5, 1])
    for example, prediction in zip(examples, predicted):
        assert np.allclose(example.prediction, prediction)
        assert len(example.panels()) == len(example.panel_names()) == 6
        assert all(0 <= tile.min() and tile.max() <= 1 for tile in example.panels())
    # The target marker panel is the target's nucleus, the last panel its real protein.
    normalised = cells.crops[5] - cells.crops[5].amin((1, 2), keepdim=True)
    normalised /= normalised.amax((1, 2), keepdim=True)
    assert np.allclose(examples[0].panels()[2], normalised[1].numpy(), atol=1e-6)
    assert np.allclose(examples[0].panels()[4], normalised[0].numpy(), atol=1e-6)
    # Painting a pair alone or in a batch gives the same picture (eval-mode batch norm).
    alone = paint(model, cells.crops, [4], [1])
    assert np.allclose(alone[0], predicted[1], atol=1e-5)


def test_static_inpainting_figure_switches_between_pairs(model, cells):
    figure = explore_inpainting_static(inpainting_examples(model, cells, [[0, 5], [4, 1], [8, 9]]))
    assert len(figure.data) == 3
    buttons = figure.layout.updatemenus[0].buttons
    assert [b.args[0]["visible"] for b in buttons] == [[True, False, False],
                                                       [False, True, False],
                                                       [False, False, True]]


def test_layer_maps_slider_shows_one_layer_at_a_time(cells):
    rng = np.random.default_rng(1)
    maps = {layer: rng.normal(size=(len(cells), 2)) for layer in ("conv1", "conv2", "conv3")}
    accuracy = pd.Series([0.4, 0.7, 0.6], index=list(maps))
    figure = explore_layers_static(maps, cells.metadata, accuracy)
    classes = 3    # nucleoplasm, cytoplasm and the grey "mixed"
    assert len(figure.data) == classes * len(maps)
    steps = figure.layout.sliders[0].steps
    assert [s.label for s in steps] == list(maps)
    for i, step in enumerate(steps):
        shown = np.flatnonzero(step.args[0]["visible"])
        assert list(shown) == list(range(i * classes, (i + 1) * classes))
        assert f"{accuracy.iloc[i]:.2f}" in step.args[1]["title.text"]
    # The points of a layer are that layer's map.
    first = figure.data[0]
    chosen = (cells.metadata.localization == first.name).to_numpy()
    assert np.allclose(first.x, maps["conv1"][chosen, 0])


def test_live_explorers_draw_a_static_figure_headless(model, cells, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.setenv("CELLNB_HEADLESS", "1")
    plt.close("all")
    assert explore_inpainting_live(model, cells, choices=6) is None
    maps = {layer: np.zeros((len(cells), 2)) for layer in ("conv1", "conv2")}
    assert explore_layers_live(maps, cells.metadata.localization,
                               pd.Series([0.3, 0.5], index=list(maps))) is None
    assert len(plt.get_fignums()) == 2
    plt.close("all")


def test_display_pairs_are_of_one_image_or_of_different_classes(cells):
    from cellnb.papers.paired_inpainting.explore import different_image_pairs, same_image_pairs

    meta = cells.metadata
    same = same_image_pairs(cells, 4, seed=0)
    assert same.shape == (4, 2) and (same[:, 0] != same[:, 1]).all()
    assert (meta.image.to_numpy()[same[:, 0]] == meta.image.to_numpy()[same[:, 1]]).all()
    assert meta.label.notna().to_numpy()[same[:, 0]].all()      # single-class images first
    other = different_image_pairs(cells, 5, seed=0)
    assert other.shape == (5, 2)
    labels = meta.label.to_numpy()
    assert (labels[other[:, 0]] != labels[other[:, 1]]).all()
    assert (meta.image.to_numpy()[other[:, 0]] != meta.image.to_numpy()[other[:, 1]]).all()
