"""Exploring a model protein by protein: the views, the live picker, the offline plotly figure."""
import numpy as np
import pandas as pd
import torch

from cellnb.papers.cytoself import Cytoself, preset
from cellnb.papers.cytoself.explore import explore_live, explore_static, protein_views


def test_views_hold_crops_reconstructions_neighbours_and_spectrum(monkeypatch):
    torch.manual_seed(0)
    model = Cytoself(preset("smoke", n_classes=3)).eval()
    images = torch.rand(9, 2, 32, 32)
    metadata = pd.DataFrame({"protein": ["A", "A", "A", "B", "B", "B", "C", "C", "C"],
                             "localization": ["er"] * 3 + ["golgi"] * 3 + ["er"] * 3})
    # C's crops are A's: its nearest protein must be A, with similarity 1.
    images[6:] = images[:3]
    spectra = pd.DataFrame(np.random.default_rng(0).random((3, 5)), index=["A", "B", "C"])
    views = protein_views(model, images, metadata, spectra, n_crops=2, n_nearest=2)
    assert list(views) == ["A", "B", "C"]
    view = views["C"]
    assert view.crops.shape == (2, 32, 32) and view.reconstructions.shape == (2, 32, 32)
    assert view.nearest.index[0] == "A" and view.nearest.iloc[0] > 0.999
    pd.testing.assert_series_equal(view.spectrum, spectra.loc["C"])

    figure = explore_static(views)
    labels = [button.label for button in figure.layout.updatemenus[0].buttons]
    assert labels == ["A", "B", "C"] and len(figure.data) == 6
    assert "nearest: A 1.00" in figure.layout.updatemenus[0].buttons[2].args[1]["title.text"]

    monkeypatch.setenv("CELLNB_HEADLESS", "1")           # the book: one static figure, no widget
    import matplotlib.pyplot as plt

    plt.close("all")
    assert explore_live(views) is None                  # no widget was created
    assert len(plt.get_fignums()) == 2                  # the first protein: crops, spectrum
    plt.close("all")
