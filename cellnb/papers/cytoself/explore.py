"""Exploring a trained cytoself model protein by protein: live in Jupyter, and in the static book.

For each protein: some of its test crops, what the model reconstructs from their codes, the
proteins whose global representations lie nearest (cosine similarity of the per-protein means,
the same representation the atlas maps), and its feature spectrum (Fig. 4). :func:`explore_live`
shows them with a protein picker (ipywidgets; in the built book, the static figure of the first
protein), :func:`explore_static` as a plotly figure with a dropdown, which works in the static
book offline.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...nn import infer
from ...plotting import image_grid, montage


@dataclass
class ProteinView:
    protein: str
    localization: str
    crops: np.ndarray                 # (n, S, S) protein channel of some test crops
    reconstructions: np.ndarray | None  # (n, S, S) decoder 1's output, None without decoders
    nearest: pd.Series                # most similar other proteins -> cosine similarity
    spectrum: pd.Series               # the protein's feature spectrum (codes in dendrogram order)


def protein_views(model, images, metadata: pd.DataFrame, spectra: pd.DataFrame, *,
                  n_crops: int = 6, n_nearest: int = 5) -> dict[str, ProteinView]:
    """One :class:`ProteinView` per protein of ``metadata`` that has a spectrum.

    ``images`` and ``metadata`` are the crops to show (the test crops, say), aligned; ``spectra``
    is :func:`~cellnb.papers.cytoself.evaluate.spectrum_analysis`'s ``spectra``.
    """
    metadata = metadata.reset_index(drop=True)
    proteins = [p for p in sorted(metadata.protein.unique()) if p in spectra.index]
    features = infer(model, images, output_layer="vqvec2").reshape(len(images), -1)
    means = np.stack([features[(metadata.protein == p).to_numpy()].mean(0) for p in proteins])
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    similarity = pd.DataFrame(means @ means.T, index=proteins, columns=proteins)
    members = {p: np.flatnonzero((metadata.protein == p).to_numpy())[:n_crops] for p in proteins}
    shown = np.concatenate(list(members.values()))
    # One pass over every crop shown: a batch per protein would cost a pass each.
    reconstructed = (infer(model, images[shown], output_layer="decoder1")[:, 0]
                     if model.config.decoders else None)
    views, start = {}, 0
    for protein, rows in members.items():
        own = slice(start, start + len(rows))
        start += len(rows)
        views[protein] = ProteinView(
            protein, str(metadata.localization[rows[0]]), np.asarray(images[rows])[:, 0],
            None if reconstructed is None else reconstructed[own],
            similarity[protein].drop(index=protein).nlargest(n_nearest), spectra.loc[protein])
    return views


def _title(view: ProteinView) -> str:
    nearest = ", ".join(f"{name} {value:.2f}" for name, value in view.nearest.items())
    return f"{view.protein} ({view.localization}); nearest: {nearest}"


def draw_protein(view: ProteinView):
    """The matplotlib figure of one protein: crops over reconstructions, spectrum, neighbours."""
    import matplotlib.pyplot as plt

    tiles = list(view.crops) + (list(view.reconstructions) if view.reconstructions is not None
                                else [])
    labels = ["crops"] + (["reconstructed"] if view.reconstructions is not None else [])
    image_grid(tiles, ncols=len(view.crops), row_labels=labels, size=1.1, suptitle=_title(view))
    fig, ax = plt.subplots(figsize=(7, 1.8))
    ax.bar(np.arange(len(view.spectrum)), view.spectrum.to_numpy(), width=1.0, color="#444")
    ax.set(xlabel="local codes in dendrogram order", ylabel="share", title="feature spectrum")
    fig.tight_layout()


def explore_live(views: dict[str, ProteinView]):
    """A protein picker redrawing :func:`draw_protein` (the first protein's figure when headless)."""
    from ...display import interactive

    return interactive(lambda protein: draw_protein(views[protein]), protein=list(views))


def explore_static(views: dict[str, ProteinView]):
    """The plotly figure with a protein dropdown: crops over reconstructions, and the spectrum."""
    from ...plotting import image_selector

    def picture(view):
        rows = list(view.crops) + (list(view.reconstructions) if view.reconstructions is not None
                                   else [])
        return montage([np.clip(tile, 0, 1) for tile in rows], ncols=len(view.crops))

    return image_selector({p: picture(v) for p, v in views.items()},
                          bars={p: v.spectrum for p, v in views.items()},
                          titles={p: _title(v) for p, v in views.items()},
                          bar_title="feature spectrum (codes in dendrogram order)")
