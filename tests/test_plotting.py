"""The atlas map: one distinct colour per class, grey for the "others", hover names the protein;
the montage and the image selector that stand in for live widgets in the static book."""
import itertools

import numpy as np
import pandas as pd
import pytest

from cellnb.plotting import category_colours, embedding_map


def rgb(colour):
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])


def test_category_colours_are_distinct_and_never_grey():
    colours = category_colours(18)
    assert len(set(colours)) == 18
    for colour in colours:
        assert np.ptp(rgb(colour)) > 20, f"{colour} is close to grey"
    # The atlas's dozen classes stay apart (plotly's Dark24 has two magentas 61 apart).
    closest = min(np.linalg.norm(rgb(a) - rgb(b)) for a, b in itertools.combinations(colours[:12], 2))
    assert closest > 70


def test_embedding_map_colours_classes_apart_and_greys_the_others():
    classes = [f"class{i}" for i in range(12)] + ["mixed", "variable"]
    meta = pd.DataFrame({"localization": classes * 3, "protein": [f"p{i}" for i in range(42)],
                         "field": 0})
    figure = embedding_map(np.random.default_rng(0).normal(size=(42, 2)), meta)
    colour_of = {trace.name: trace.marker.color for trace in figure.data}
    assert colour_of["mixed"] == colour_of["variable"] == "#b0b0b0"
    named = [colour_of[c] for c in classes[:12]]
    assert len(set(named)) == 12 and "#b0b0b0" not in named
    assert all("protein" in trace.hovertemplate for trace in figure.data)


def test_montage_tiles_images_with_gaps():
    from cellnb.plotting import montage

    tiles = [np.full((4, 5), value, np.float32) for value in (0.1, 0.2, 0.3)]
    canvas = montage(tiles, ncols=2, gap=1, fill=1.0)
    assert canvas.shape == (9, 11)
    assert canvas[0, 0] == np.float32(0.1) and canvas[0, 6] == np.float32(0.2)
    assert canvas[5, 0] == np.float32(0.3) and canvas[4, 0] == 1.0 and canvas[5, 6] == 1.0


@pytest.mark.parametrize("control", ["dropdown", "slider"])
def test_image_selector_shows_one_choice_at_a_time(control):
    from cellnb.plotting import image_selector

    panels = {name: np.random.default_rng(i).random((6, 6)) for i, name in enumerate("abc")}
    bars = {name: pd.Series([1.0, 2.0, 3.0]) for name in panels}
    figure = image_selector(panels, bars=bars, control=control, titles={"b": "the b panel"})
    assert len(figure.data) == 6 and [t.visible for t in figure.data] == [True, True] + [False] * 4
    steps = (figure.layout.updatemenus[0].buttons if control == "dropdown"
             else figure.layout.sliders[0].steps)
    assert [step.label for step in steps] == ["a", "b", "c"]
    visible, layout = steps[1].args
    assert visible["visible"] == [False, False, True, True, False, False]
    assert layout["title.text"] == "the b panel"
    with pytest.raises(ValueError, match="one series per panel"):
        image_selector(panels, bars={"a": bars["a"]})
