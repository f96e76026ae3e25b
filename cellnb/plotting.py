"""Figures the chapters share: image grids, fluorescence composites, galleries, field overviews
and an interactive embedding map.

Matplotlib draws the static figures (they render everywhere, including the PDF-less book);
plotly draws the interactive map, whose hover text names each cell's protein and class.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .data.transforms import minmax_normalize
from .sim.catalogue import MULTI_CLASS_KINDS

PROTEIN_COLOUR = np.array([0.1, 1.0, 0.2])   # a GFP-like green
NUCLEUS_COLOUR = np.array([0.9, 0.2, 0.9])   # Hoechst shown in magenta, readable for most eyes


def composite(protein: np.ndarray, nucleus: np.ndarray | None = None) -> np.ndarray:
    """An RGB image (H, W, 3): protein in green over the nucleus in magenta, each min-max scaled."""
    rgb = minmax_normalize(np.asarray(protein, np.float32))[..., None] * PROTEIN_COLOUR
    if nucleus is not None:
        rgb = rgb + 0.6 * minmax_normalize(np.asarray(nucleus, np.float32))[..., None] * NUCLEUS_COLOUR
    return np.clip(rgb, 0, 1)


def image_grid(images, *, titles=None, ncols: int = 8, size: float = 1.4, cmap: str = "gray",
               row_labels=None, suptitle: str | None = None):
    """Show a list of 2D (grey) or (H, W, 3) (colour) images in a grid; returns the figure."""
    import matplotlib.pyplot as plt

    images = list(images)
    nrows = max(1, int(np.ceil(len(images) / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    for i, image in enumerate(images):
        ax = axes.ravel()[i]
        ax.imshow(image, cmap=None if np.ndim(image) == 3 else cmap, interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[i], fontsize=7)
    if row_labels is not None:
        for r, label in enumerate(row_labels):
            axes[r, 0].set_ylabel(label, fontsize=11, rotation=0, ha="right", va="center")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def gallery(imageset, *, by: str = "localization", per_group: int = 6, groups=None,
            seed: int = 0, channels=("protein", "nucleus")):
    """Random examples of each group (class, protein, ...) as composites, one row per group."""
    rng = np.random.default_rng(seed)
    values = imageset.metadata[by].to_numpy()
    groups = list(dict.fromkeys(values)) if groups is None else list(groups)
    protein = imageset.channel(channels[0])
    nucleus = imageset.channel(channels[1]) if len(channels) > 1 else None
    tiles, labels = [], []
    for group in groups:
        members = np.flatnonzero(values == group)
        chosen = rng.choice(members, size=min(per_group, len(members)), replace=False) if len(members) else []
        row = [composite(protein[i], None if nucleus is None else nucleus[i]) for i in chosen]
        row += [np.zeros(protein.shape[1:] + (3,))] * (per_group - len(row))
        tiles += row
        labels.append(str(group))
    return image_grid(tiles, ncols=per_group, row_labels=labels)


def field_overview(fields, index: int, *, outline: bool = True):
    """One field of view: each channel, and a composite with the true cell and nucleus outlines."""
    import matplotlib.pyplot as plt
    from skimage.segmentation import find_boundaries

    images = fields.images[index]
    fig, axes = plt.subplots(1, len(fields.channels) + 1, figsize=(3.2 * (len(fields.channels) + 1), 3.4))
    for ax, name, image in zip(axes, fields.channels, images):
        ax.imshow(image, cmap="gray")
        ax.set_title(name)
    rgb = composite(fields.channel("protein")[index], fields.channel("nucleus")[index])
    if outline and fields.masks is not None:
        rgb[find_boundaries(fields.mask("cells")[index])] = (1.0, 1.0, 1.0)
        rgb[find_boundaries(fields.mask("nuclei")[index])] = (0.3, 0.6, 1.0)
    axes[-1].imshow(rgb)
    axes[-1].set_title("ground truth: cells, nuclei")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    row = fields.metadata.iloc[index]
    fig.suptitle(f"field {row.field}: {row.protein} ({row.localization}), cell line {row.cell_line}")
    fig.tight_layout()
    return fig


def category_colours(n: int) -> list[str]:
    """``n`` distinct hex colours, none grey (grey marks "others"): tab10's nine saturated hues,
    then tab20's light ones. Plotly's 24-colour palettes hold near-identical pairs (two magentas)
    that merge classes on a map of a dozen."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    dark, light = colormaps["tab20"].colors[0::2], colormaps["tab20"].colors[1::2]
    grey = 7   # tab10's grey
    hues = [c for i, c in enumerate(dark) if i != grey] + [c for i, c in enumerate(light) if i != grey]
    return [to_hex(hues[i % len(hues)]) for i in range(n)]


def embedding_map(coordinates: np.ndarray, metadata: pd.DataFrame, *, color: str = "localization",
                  hover=("protein", "localization", "field"), grey=MULTI_CLASS_KINDS,
                  title: str = ""):
    """An interactive scatter of a 2D embedding, coloured by ``color``; ``grey`` values in grey."""
    import plotly.express as px

    frame = metadata.reset_index(drop=True).copy()
    frame["x"], frame["y"] = coordinates[:, 0], coordinates[:, 1]
    categories = [c for c in dict.fromkeys(frame[color].astype(str)) if c not in grey]
    palette = category_colours(len(categories))
    colours = {c: palette[i % len(palette)] for i, c in enumerate(sorted(categories))}
    colours.update({g: "#b0b0b0" for g in grey})
    figure = px.scatter(frame, x="x", y="y", color=frame[color].astype(str),
                        color_discrete_map=colours, hover_data=list(hover), title=title,
                        render_mode="webgl" if len(frame) > 5000 else "auto")
    figure.update_traces(marker=dict(size=4, opacity=0.8))
    figure.update_layout(legend_title_text=color, xaxis_title="", yaxis_title="",
                         height=520, margin=dict(l=10, r=10, t=40, b=10))
    return figure


def montage(images, *, ncols: int | None = None, gap: int = 1, fill: float = 1.0) -> np.ndarray:
    """Tile equally sized 2-D (or RGB) images into one array, ``ncols`` per row, ``gap`` pixels
    of ``fill`` between them: one picture for a plotly trace, which draws one image each."""
    images = [np.asarray(image, dtype=np.float32) for image in images]
    if not images:
        raise ValueError("montage needs at least one image")
    ncols = ncols or len(images)
    nrows = -(-len(images) // ncols)
    height, width = images[0].shape[:2]
    canvas = np.full((nrows * (height + gap) - gap, ncols * (width + gap) - gap,
                      *images[0].shape[2:]), fill, np.float32)
    for index, image in enumerate(images):
        row, col = divmod(index, ncols)
        canvas[row * (height + gap):row * (height + gap) + height,
               col * (width + gap):col * (width + gap) + width] = image
    return canvas


def image_selector(panels: dict, *, bars: dict | None = None, control: str = "dropdown",
                   titles: dict | None = None, bar_title: str = "", height: int = 420):
    """A plotly figure that switches between precomputed pictures with a dropdown or a slider.

    ``panels`` maps each choice's label to one image (2-D grey, or RGB in [0, 1]); ``bars``, if
    given, maps the same labels to a ``pd.Series`` drawn as a bar chart beside it; ``titles`` to
    the figure title shown for that choice. Every choice is a trace made visible by the control,
    so the figure works in the static book, offline, with no kernel: the book's stand-in for a
    live widget (latent traversals use ``control="slider"``).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if control not in ("dropdown", "slider"):
        raise ValueError(f"control must be 'dropdown' or 'slider', got {control!r}")
    labels = list(panels)
    if bars is not None and set(bars) != set(labels):
        raise ValueError("bars must have one series per panel label")
    columns = 2 if bars is not None else 1
    figure = make_subplots(rows=1, cols=columns, column_widths=[0.55, 0.45][:columns],
                           horizontal_spacing=0.08)
    for index, label in enumerate(labels):
        image = np.clip(np.asarray(panels[label], dtype=np.float32), 0, 1)
        if image.ndim == 2:
            trace = go.Heatmap(z=image[::-1], colorscale="gray", showscale=False, zmin=0, zmax=1,
                               hoverinfo="skip", visible=index == 0)
        else:
            trace = go.Image(z=(image * 255).astype(np.uint8), hoverinfo="skip", visible=index == 0)
        figure.add_trace(trace, row=1, col=1)
        if bars is not None:
            series = bars[label]
            figure.add_trace(go.Bar(x=[str(i) for i in series.index], y=series.to_numpy(),
                                    marker_color="#444", visible=index == 0,
                                    hovertemplate="%{x}: %{y:.3g}<extra></extra>"), row=1, col=2)
    per_choice = columns
    titles = titles or {}

    def visibility(index):
        shown = [False] * (len(labels) * per_choice)
        shown[index * per_choice:(index + 1) * per_choice] = [True] * per_choice
        return [{"visible": shown}, {"title.text": titles.get(labels[index], str(labels[index]))}]

    if control == "dropdown":
        figure.update_layout(updatemenus=[dict(
            buttons=[dict(label=str(label), method="update", args=visibility(i))
                     for i, label in enumerate(labels)],
            direction="down", x=0, xanchor="left", y=1.18, yanchor="top")])
    else:
        figure.update_layout(sliders=[dict(
            active=0, pad=dict(t=30), currentvalue=dict(prefix=""),
            steps=[dict(label=str(label), method="update", args=visibility(i))
                   for i, label in enumerate(labels)])])
    figure.update_xaxes(visible=False, row=1, col=1)
    figure.update_yaxes(visible=False, scaleanchor="x", row=1, col=1)
    if bars is not None:
        figure.update_xaxes(title_text=bar_title, showticklabels=False, row=1, col=2)
    # The title starts right of the dropdown, so the two never overlap.
    figure.update_layout(title=dict(text=titles.get(labels[0], str(labels[0])), font_size=13,
                                    x=0.15 if control == "dropdown" else 0.01, xanchor="left"),
                         height=height, margin=dict(l=10, r=10, t=90, b=10), showlegend=False)
    return figure
