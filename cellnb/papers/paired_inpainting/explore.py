"""Exploring a trained paired-cell-inpainting model: live in Jupyter, and in the static book.

Two questions a reader asks of the model, each answered twice:

* *What does it paint?* Pick a source cell and a target cell: the source's protein and markers,
  the target's markers, the predicted target protein and the target's real protein (and, on the
  synthetic atlas, the counterfactual: the target cell rendered with the source's protein).
  :func:`explore_inpainting_live` runs the model on any pair picked with two dropdowns;
  :func:`explore_inpainting_static` switches between precomputed pairs in a plotly dropdown.
* *Which layer knows what?* Pick a source-encoder layer: the 2-D map of its features coloured by
  class, and the layer's k-NN accuracy (the paper's Table 1). :func:`explore_layers_live` and
  :func:`explore_layers_static` (a plotly slider over the layers).

Headless (the built book), the live versions draw the static figure of their first choice; the
plotly figures work in the book offline.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ...data.transforms import minmax_normalize
from ...plotting import category_colours, image_grid, montage
from ...sim.catalogue import MULTI_CLASS_KINDS

PANELS = ("source protein", "source nucleus", "target marker", "prediction", "target protein")


@dataclass
class InpaintingExample:
    """One (source, target) pair and what the model paints for it; images in [0, 1]."""

    label: str                         # e.g. "NPL1 -> CYT2"
    source: np.ndarray                 # (C, S, S) normalised source crop, protein first
    target: np.ndarray                 # (C, S, S) normalised target crop
    prediction: np.ndarray             # (S, S) predicted target protein, clipped to [0, 1]
    counterfactual: np.ndarray | None = None   # (S, S) the target cell with the source's protein

    def panels(self) -> list[np.ndarray]:
        tiles = [self.source[0], self.source[1], self.target[1], self.prediction, self.target[0]]
        return tiles + ([] if self.counterfactual is None else [self.counterfactual])

    def panel_names(self) -> list[str]:
        return list(PANELS) + ([] if self.counterfactual is None else ["counterfactual"])


def cell_name(metadata: pd.DataFrame, position: int) -> str:
    """How a cell is named in pickers and titles: "#12 NPL1 (nucleoplasm)"."""
    row = metadata.iloc[position]
    kind = row.get("true_localization") or row.get("localization") or row.get("label")
    return f"#{position} {row['protein']}" + (f" ({kind})" if isinstance(kind, str) else "")


def same_image_pairs(cells, n: int, *, seed: int = 0) -> np.ndarray:
    """``n`` (source, target) pairs of different cells of one image, as training draws them
    (positions into ``cells``; images of single-class proteins first, for readable pictures)."""
    rng = np.random.default_rng(seed)
    meta = cells.metadata
    labelled = meta["label"].notna() if "label" in meta else pd.Series(True, index=meta.index)
    counts = meta["image"].map(meta["image"].value_counts())
    candidates = np.flatnonzero(((counts >= 2) & labelled).to_numpy())
    if len(candidates) == 0:
        candidates = np.flatnonzero((counts >= 2).to_numpy())
    sources = rng.choice(candidates, size=min(n, len(candidates)), replace=False)
    targets = [rng.choice(np.flatnonzero((meta["image"] == meta["image"].iloc[s]).to_numpy()
                                         & (np.arange(len(meta)) != s))) for s in sources]
    return np.stack([sources, targets], axis=1)


def different_image_pairs(cells, n: int, *, seed: int = 0) -> np.ndarray:
    """``n`` (source, target) pairs of cells of different images and, where the cells have
    labels, different classes: what the network never trained on."""
    rng = np.random.default_rng(seed)
    meta = cells.metadata
    key = meta["label"] if "label" in meta and meta["label"].notna().any() else meta["image"]
    usable = np.flatnonzero(key.notna().to_numpy())
    pairs = []
    for _ in range(100 * n):
        source, target = rng.choice(usable, size=2, replace=False)
        if key.iloc[source] != key.iloc[target] \
                and meta["image"].iloc[source] != meta["image"].iloc[target]:
            pairs.append((source, target))
        if len(pairs) == n:
            break
    return np.asarray(pairs, dtype=int).reshape(-1, 2)


@torch.no_grad()
def paint(model, crops, sources, targets) -> np.ndarray:
    """The model's predicted target proteins (n, S, S) for cells ``sources`` -> ``targets`` of
    ``crops`` (raw (N, C, S, S)), normalised as in training, in eval mode."""
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        source = minmax_normalize(torch.as_tensor(crops[list(sources)]).float()).to(device)
        target = minmax_normalize(torch.as_tensor(crops[list(targets)]).float()).to(device)
        prediction = model(source, target[:, 1:]).float().clamp(0, 1)
    finally:
        model.train(was_training)
    return prediction[:, 0].cpu().numpy()


def inpainting_examples(model, cells, pairs, counterfactual=None) -> list[InpaintingExample]:
    """One :class:`InpaintingExample` per (source, target) row of ``pairs`` (positions into
    ``cells``, an :class:`~cellnb.papers.paired_inpainting.data.EvaluationCells`).

    ``counterfactual`` (n, S, S), if given, holds each pair's counterfactual target protein.
    """
    pairs = np.asarray(pairs, dtype=int).reshape(-1, 2)
    predictions = paint(model, cells.crops, pairs[:, 0], pairs[:, 1])
    normalised = minmax_normalize(cells.crops[np.unique(pairs)].float()).numpy()
    index = {position: i for i, position in enumerate(np.unique(pairs))}
    examples = []
    for k, (source, target) in enumerate(pairs):
        label = (f"{cells.metadata.protein.iloc[source]} -> "
                 f"{cells.metadata.protein.iloc[target]} (#{source} -> #{target})")
        twin = None if counterfactual is None else np.clip(np.asarray(counterfactual[k]), 0, 1)
        examples.append(InpaintingExample(label, normalised[index[source]],
                                          normalised[index[target]], predictions[k], twin))
    return examples


def draw_inpainting(examples: list[InpaintingExample], *, size: float = 1.3):
    """Rows of pairs, columns: source protein, source nucleus, target marker, prediction,
    target protein (and counterfactual)."""
    names = examples[0].panel_names()
    tiles = [tile for example in examples for tile in example.panels()]
    return image_grid(tiles, ncols=len(names), titles=names + [""] * (len(tiles) - len(names)),
                      row_labels=[e.label.split(" (")[0] for e in examples], size=size)


def explore_inpainting_live(model, cells, *, choices: int = 40, seed: int = 0):
    """Two dropdowns, source cell and target cell, over ``choices`` cells of ``cells``; the model
    paints the picked pair on the fly (headless: the first pair's static figure)."""
    from ...display import interactive

    rng = np.random.default_rng(seed)
    positions = np.sort(rng.choice(len(cells), size=min(choices, len(cells)), replace=False))
    names = {cell_name(cells.metadata, p): int(p) for p in positions}
    options = list(names)

    def draw(source, target):
        draw_inpainting(inpainting_examples(model, cells, [[names[source], names[target]]]))

    return interactive(draw, source=options, target=options[1:] + options[:1])


def explore_inpainting_static(examples: list[InpaintingExample]):
    """A plotly figure with a dropdown over precomputed pairs (works offline in the book)."""
    from ...plotting import image_selector

    names = examples[0].panel_names()
    panels = {e.label: montage(e.panels(), gap=2) for e in examples}
    titles = {e.label: f"{e.label}: " + " | ".join(names) for e in examples}
    return image_selector(panels, titles=titles, height=300)


def _class_colours(labels) -> dict[str, str]:
    classes = sorted({str(c) for c in labels if str(c) not in MULTI_CLASS_KINDS})
    colours = dict(zip(classes, category_colours(len(classes))))
    return colours | {kind: "#b0b0b0" for kind in MULTI_CLASS_KINDS}


def draw_layer(layer: str, maps: dict[str, np.ndarray], classes, accuracy: pd.Series):
    """One layer's 2-D map coloured by class, beside every layer's k-NN accuracy."""
    import matplotlib.pyplot as plt

    classes = np.asarray(classes).astype(str)
    colours = _class_colours(classes)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4),
                                      gridspec_kw=dict(width_ratios=[1.6, 1]))
    points = maps[layer]
    for name, colour in colours.items():
        chosen = classes == name
        if chosen.any():
            left.scatter(*points[chosen].T, s=5, color=colour, label=name, alpha=0.8)
    left.set(title=f"{layer}: cells of held-out images", xticks=[], yticks=[])
    left.legend(fontsize=6, markerscale=2, loc="center left", bbox_to_anchor=(1, 0.5))
    bars = right.bar(accuracy.index, accuracy.to_numpy(), color="#999")
    bars[list(accuracy.index).index(layer)].set_color("#d62728")
    right.set(ylim=(0, 1), ylabel="k-NN balanced accuracy", title="every layer (Table 1)")
    fig.tight_layout()
    return fig


def explore_layers_live(maps: dict[str, np.ndarray], classes, accuracy: pd.Series):
    """A layer picker redrawing :func:`draw_layer` (headless: the best layer's figure)."""
    from ...display import interactive

    layers = list(maps)
    best = str(accuracy.astype(float).idxmax())
    order = [best] + [layer for layer in layers if layer != best]
    return interactive(lambda layer: draw_layer(layer, maps, classes, accuracy), layer=order)


def explore_layers_static(maps: dict[str, np.ndarray], metadata: pd.DataFrame,
                          accuracy: pd.Series, *, color: str = "localization"):
    """A plotly scatter of each layer's map with a slider over the layers, coloured by class;
    the slider's labels carry the layer's k-NN accuracy. Works offline in the book."""
    import plotly.graph_objects as go

    classes = metadata[color].astype(str).to_numpy()
    colours = _class_colours(classes)
    hover = metadata.get("protein", pd.Series([""] * len(metadata))).astype(str).to_numpy()
    layers = list(maps)
    present = [name for name in colours if (classes == name).any()]
    figure = go.Figure()
    for i, layer in enumerate(layers):
        for name in present:
            chosen = classes == name
            figure.add_trace(go.Scattergl(
                x=maps[layer][chosen, 0], y=maps[layer][chosen, 1], mode="markers",
                name=name, legendgroup=name, showlegend=i == 0, visible=i == 0,
                marker=dict(size=4, color=colours[name], opacity=0.8),
                text=hover[chosen], hovertemplate="%{text}<extra>" + name + "</extra>"))
    per_layer = len(present)

    def step(i, layer):
        shown = [False] * (len(layers) * per_layer)
        shown[i * per_layer:(i + 1) * per_layer] = [True] * per_layer
        title = f"{layer}: k-NN balanced accuracy {float(accuracy[layer]):.2f}"
        return dict(label=layer, method="update", args=[{"visible": shown}, {"title.text": title}])

    first = f"{layers[0]}: k-NN balanced accuracy {float(accuracy[layers[0]]):.2f}"
    figure.update_layout(
        title=dict(text=first, font_size=13), height=520, xaxis=dict(visible=False),
        yaxis=dict(visible=False), margin=dict(l=10, r=10, t=50, b=10),
        sliders=[dict(active=0, currentvalue=dict(prefix="layer: "), pad=dict(t=20),
                      steps=[step(i, layer) for i, layer in enumerate(layers)])])
    return figure
