"""The cytoself chapters' knobs per run profile: what ``smoke``, ``cpu`` and ``gpu`` mean here.

The atlas each profile reads is defined once for the whole book (``cellnb.sim.ATLAS_SIZES``). The
notebooks' parameters cells name every knob below with the default None, meaning "the profile's
value"; a reader overrides one with ``-p epochs=30`` or by editing that cell.
"""
from __future__ import annotations

from ...profiles import Settings, select

CHAPTER = {
    # model: a preset of model.PRESETS; epochs: the training budget (early stopping may end it
    # sooner); split_epochs: how long the with/without split comparison of Fig. 1c trains;
    # embedding: the 2-D map Γ is computed on; n_clusters: feature clusters of the spectrum
    # (the paper cut 11 by hand).
    "smoke": dict(model="smoke", epochs=3, split_epochs=2, learning_rate=1e-3, batch_size=64,
                  embedding="pca", n_clusters=6),
    "cpu": dict(model="cpu", epochs=12, split_epochs=3, learning_rate=1e-3, batch_size=64,
                embedding="umap", n_clusters=8),
    # The paper's architecture at its crop size and learning rate (Methods, "Training protocol").
    "gpu": dict(model="paper", epochs=40, split_epochs=15, learning_rate=4e-4, batch_size=64,
                embedding="umap", n_clusters=11),
}

ABLATION = {
    # n_seeds models per variant, n_maps UMAPs per model (the paper: 5 and 10, Supp. Table 1).
    "smoke": dict(model="smoke", epochs=1, learning_rate=1e-3, batch_size=64, n_seeds=1,
                  n_maps=1, embedding="pca"),
    "cpu": dict(model="smoke", epochs=5, learning_rate=2e-3, batch_size=64, n_seeds=2, n_maps=2,
                embedding="umap"),
    "gpu": dict(model="paper", epochs=30, learning_rate=4e-4, batch_size=64, n_seeds=5,
                n_maps=10, embedding="umap"),
}


def chapter_settings(profile: str, **overrides) -> Settings:
    """The cytoself chapter's settings for ``profile``; None overrides keep the profile's value."""
    return select(CHAPTER, profile, **overrides)


def ablation_settings(profile: str, **overrides) -> Settings:
    """The ablation chapter's settings for ``profile``; None overrides keep the profile's value."""
    return select(ABLATION, profile, **overrides)
