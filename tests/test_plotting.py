"""The atlas map: one distinct colour per class, grey for the "others", hover names the protein."""
import itertools

import numpy as np
import pandas as pd

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
