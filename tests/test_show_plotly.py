"""A plotly figure in the book takes the width of the text column, whatever width it was drawn
with: a fixed width wider than the column (about 750 px) would scroll sideways."""
from __future__ import annotations

import re

import IPython.display
import plotly.graph_objects as go
import pytest

from cellnb.display import show_plotly


@pytest.fixture
def shown(monkeypatch):
    """The HTML fragments ``show_plotly`` displays, as the headless book run produces them."""
    monkeypatch.setenv("CELLNB_HEADLESS", "1")
    fragments = []
    monkeypatch.setattr(IPython.display, "display",
                        lambda obj, **kwargs: fragments.append(obj.data))
    return fragments


def test_a_wide_figure_becomes_as_wide_as_the_column_and_follows_it(shown):
    figure = go.Figure(go.Scatter(x=[0, 1], y=[0, 1])).update_layout(width=1400, height=520)
    show_plotly(figure)
    (html,) = shown
    outer = re.match(r'<div style="([^"]*)"', html.strip()).group(1)
    assert "width:100%" in outer.replace(" ", "") and "height:520px" in outer.replace(" ", "")
    assert "1400" not in html, "the fixed width survived"
    assert re.search(r'"width":\s*\d{3,}', html) is None, "a width in pixels"
    assert '"responsive": true' in html, "the figure would not follow a resized column"
    assert figure.layout.width == 1400, "the caller's figure was modified"


def test_the_atlas_map_is_shown_column_wide(shown):
    import numpy as np
    import pandas as pd

    from cellnb import plotting

    metadata = pd.DataFrame({"protein": ["a", "b", "c"], "localization": ["er", "golgi", "mixed"],
                             "field": [0, 1, 2]})
    show_plotly(plotting.embedding_map(np.zeros((3, 2)), metadata, title="atlas"))
    (html,) = shown
    assert re.search(r'"width":\s*\d{3,}', html) is None, "a width in pixels"
    assert '"autosize":true' in html.replace(" ", "") and '"responsive": true' in html
