"""Exploring a trained Integrated Cell: live in Jupyter, and in the static book.

Two questions a reader asks of the model (Johnson, Donovan-Maiye & Maleckar, arXiv 1705.00092,
2017: "the 2D paper"), each answered twice:

* *What does a direction of the latent space mean?* Walk one dimension of z^r from the prior's
  mode and decode: the cell grows, stretches, moves its nucleus (2D paper Fig. S4).
  :func:`reference_traversals` decodes the walks; :func:`explore_static` shows them as a plotly
  figure with a slider over the steps, every dimension at once (it works in the book offline),
  and :func:`.figures.traversal_grid` draws a plane of two dimensions (:func:`traversal_plane`).
* *Where would each structure be in this cell?* Pick a held-out cell's z^r, nudge its first
  dimensions and the structure code z^s, and see the cell decoded with every structure
  (Algorithm 3, Fig. 3). :func:`explore_live` redraws :func:`draw_cell` from sliders and a class
  picker on a live kernel.

* *How does every structure follow the cell through the cell cycle?* The 3D paper walks z^r from
  one state's medoid cell to the next (Sec. 3.4.6, Fig. S9; :func:`.variation.walk`) and decodes
  every structure along the way: :func:`walk_frames` decodes the walk (2D or 3D),
  :func:`explore_walk_static` puts a slider over its steps (offline) and
  :func:`explore_walk_live` adds a structure picker and, for volumes, a z-slice slider.

Codes are in units of the prior's standard deviation: both codes are pushed to N(0, I), so one
unit is one SD. Headless (the built book), the live version draws the static figure of its
default choices.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from ...data.transforms import minmax_normalize
from ...plotting import image_grid, montage
from .figures import (
    cell_rgb,
    integrated_cells,
    overlay_structure,
    projections,
    structure_overlays,
    walk_columns,
)
from .model import REFERENCE_INDEX, STRUCTURE_INDEX, integrate

STEPS = np.linspace(-3, 3, 9)   # the 2D paper's Fig. S4 walks -3 ... 3 SD


def _module_of(decode) -> nn.Module | None:
    """The network behind ``decode``: itself if a module, or the module of a bound method."""
    if isinstance(decode, nn.Module):
        return decode
    owner = getattr(decode, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


@contextmanager
def _evaluating(module: nn.Module | None):
    """Eval mode (batch norm's running statistics) for the block, the old mode restored after."""
    if module is None:
        yield
        return
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def _decoded(decode: Callable, codes: torch.Tensor) -> np.ndarray:
    with torch.no_grad(), _evaluating(_module_of(decode)):
        return decode(codes).float().cpu().numpy()


def _centre(centre) -> torch.Tensor:
    centre = torch.as_tensor(centre, dtype=torch.float32)
    return centre.reshape(-1)


def traversal_frames(decode: Callable[[torch.Tensor], torch.Tensor], centre, axis: int,
                     steps=STEPS) -> np.ndarray:
    """Decode codes moving along one latent axis: ``centre + step * e_axis`` for each step.

    Why: a traversal shows what one direction of the latent space encodes (2D paper Fig. S4).
    ``decode`` maps a (len(steps), D) code batch to images, e.g. ``reference_model.decode`` or
    ``lambda z: cond.decode(code, z, zs)``, so one function serves both models; a module or a
    module's bound method is switched to eval mode for the call (a lambda is the caller's to set).
    ``centre`` is a (D,) code (tensor or array), ``steps`` in prior SDs. Without gradients;
    returns (len(steps), C, H, W) numpy frames.
    """
    centre = _centre(centre)
    steps = torch.as_tensor(np.asarray(steps, dtype=np.float32), device=centre.device)
    codes = centre.repeat(len(steps), 1)
    codes[:, axis] += steps
    return _decoded(decode, codes)


def traversal_plane(decode: Callable[[torch.Tensor], torch.Tensor], centre,
                    axes: tuple[int, int] = (0, 1), steps=STEPS) -> np.ndarray:
    """Decode a grid over two latent axes: ``frames[i, j]`` at ``centre + steps[i] e_a +
    steps[j] e_b``; (S, S, C, H, W), for :func:`.figures.traversal_grid` (2D paper Fig. S4b)."""
    centre = _centre(centre)
    steps = torch.as_tensor(np.asarray(steps, dtype=np.float32), device=centre.device)
    n = len(steps)
    codes = centre.repeat(n * n, 1)
    codes[:, axes[0]] += steps.repeat_interleave(n)
    codes[:, axes[1]] += steps.repeat(n)
    frames = _decoded(decode, codes)
    return frames.reshape(n, n, *frames.shape[1:])


def reference_traversals(reference_model, *, axes: Sequence[int] | None = None,
                         steps=STEPS) -> dict[int, np.ndarray]:
    """Walks of each z^r dimension from the prior's mode (0), decoded by Dec^r: 2D paper Fig. S4.

    ``axes`` are 0-based dimensions (all of z^r by default). Returns ``{axis: frames}``, frames
    (len(steps), 2, H, W): membrane and DNA, ready for :func:`explore_static`.
    """
    size = reference_model.config.latent_reference
    axes = range(size) if axes is None else axes
    device = next(reference_model.parameters()).device
    centre = torch.zeros(size, device=device)
    return {int(axis): traversal_frames(reference_model.decode, centre, int(axis), steps)
            for axis in axes}


@torch.no_grad()
def decode_cell(conditional_model, zr, zs=None) -> np.ndarray:
    """One cell decoded with every structure, (K, 3, H, W): Algorithm 3 for one (z^r, z^s).

    ``zr`` (|z^r|,), ``zs`` (|z^s|,) or None for the prior's mode 0, as the paper integrates.
    """
    device = next(conditional_model.parameters()).device
    zr = _centre(zr).to(device)[None]
    zs = None if zs is None else _centre(zs).to(device)[None]
    return integrate(conditional_model, zr, zs=zs)[0].float().cpu().numpy()


def draw_cell(conditional_model, zr, zs, class_names: Sequence[str], *,
              chosen: str | None = None):
    """One cell decoded with every structure: a row of the 2D paper's Fig. 3.

    The first tile is the decoded reference (membrane red, DNA blue; averaged over the classes,
    which should barely change it), then each class's structure in green over it. Why: the same
    z^r places every structure in the same cell, so the reader sees how each one is arranged
    in that particular shape. ``chosen`` (a class name) marks that class's title. Returns the
    figure.
    """
    cells = decode_cell(conditional_model, zr, zs)
    reference = cells[:, list(REFERENCE_INDEX)].mean(axis=0)
    structures = cells[:, STRUCTURE_INDEX]
    names = [f"[{name}]" if str(name) == chosen else str(name) for name in class_names]
    return integrated_cells(reference[None], structures[None], None, names, n=1)


def _offset_slider(limit: float = 3.0, step: float = 0.25) -> tuple:
    """A slider over -limit ... limit SD that starts at 0, the prior's mode."""
    return (-float(limit), float(limit), float(step), 0.0)


def explore_live(conditional_model, zr_codes, class_names: Sequence[str], *, dims: int = 4,
                 structure_dims: int = 2):
    """Sliders and pickers over the conditional model's inputs, redrawing the decoded cell.

    A cell picker (an index into ``zr_codes``, e.g. the held-out cells' z^r = Enc^r(x^r)),
    sliders adding -3 ... 3 SD to the first ``dims`` z^r dimensions and setting the first
    ``structure_dims`` z^s dimensions (the rest stay at the prior's mode 0), and a structure
    picker. Drawn: the chosen structure's cell large, then :func:`draw_cell` (every structure
    in that cell). Why: the reader moves the cell's shape and sees every structure follow it
    (Algorithm 3), and moves z^s to see one structure's variation in a fixed cell. Headless it
    draws the first cell with no offsets and returns None.
    """
    from ...display import interactive

    codes = torch.as_tensor(zr_codes, dtype=torch.float32)
    dims = min(dims, codes.shape[1])
    structure_dims = min(structure_dims, conditional_model.config.latent_structure)
    names = [str(name) for name in class_names]

    def draw(cell, structure, **offsets):
        zr = codes[int(cell)].clone()
        for d in range(dims):
            zr[d] += offsets[f"zr_{d + 1}"]
        zs = torch.zeros(conditional_model.config.latent_structure)
        for d in range(structure_dims):
            zs[d] = offsets[f"zs_{d + 1}"]
        chosen = decode_cell(conditional_model, zr, zs)[names.index(structure)]
        image_grid([cell_rgb(chosen)], ncols=1, size=3.0,
                   titles=[f"cell {int(cell)}, {structure}"])
        draw_cell(conditional_model, zr, zs, names, chosen=structure)

    controls = dict(cell=(0, len(codes) - 1), structure=names)
    controls |= {f"zr_{d + 1}": _offset_slider() for d in range(dims)}
    controls |= {f"zs_{d + 1}": _offset_slider() for d in range(structure_dims)}
    return interactive(draw, **controls)


def explore_static(frames_by_axis: dict[int, np.ndarray], *, steps=STEPS,
                   title_prefix: str = "z^r", height: int | None = None):
    """A plotly figure with a slider over the traversal steps (2D paper Fig. S4); works offline.

    ``frames_by_axis`` maps 0-based axes to (len(steps), C, H, W) frames
    (:func:`reference_traversals`); each slider position shows every axis at that step, one row
    per axis top to bottom as the title lists them, so one slider walks them all at once. Why:
    dragging the slider animates each dimension's effect on the cell, side by side.
    """
    from ...plotting import image_selector

    axes = list(frames_by_axis)
    steps = [float(s) for s in steps]
    lengths = {len(frames_by_axis[axis]) for axis in axes}
    if lengths != {len(steps)}:
        raise ValueError(f"every axis needs one frame per step ({len(steps)}), got {lengths}")
    rgb = {axis: cell_rgb(frames_by_axis[axis]) for axis in axes}
    rows = ", ".join(f"{title_prefix}_{axis + 1}" for axis in axes)
    panels, titles = {}, {}
    for i, step in enumerate(steps):
        label = f"{step:+.3g} SD"
        panels[label] = montage([rgb[axis][i] for axis in axes], ncols=1, gap=2)
        titles[label] = f"{title_prefix} at {step:+.3g} SD (rows: {rows})"
    if len(panels) != len(steps):
        raise ValueError(f"steps {steps} do not give distinct slider labels")
    return image_selector(panels, titles=titles, control="slider",
                          height=height or min(900, 200 + 110 * len(axes)))


# ----------------------------------------------------- the walk between cell states (3D Fig. S9)

def walk_frames(conditional_model, path, *, batch_size: int = 32) -> np.ndarray:
    """Every structure decoded at each point of a walk through the reference space.

    ``path`` (steps, |z^r|) is a sequence of reference codes, e.g. :func:`.variation.walk`
    through the state medoids' codes (3D paper Sec. 3.4.6); at each point Algorithm 3
    (:func:`.model.integrate`) decodes every class with z^s = 0, the prior's mode, as the paper's
    Fig. S9 does. In eval mode, without gradients, ``batch_size`` points at a time. Returns numpy
    (steps, K, 3, *image_shape): (steps, K, 3, H, W) for a 2D model, (steps, K, 3, Z, Y, X) for
    a 3D one.
    """
    path = torch.as_tensor(np.asarray(path, dtype=np.float32))
    size = conditional_model.config.latent_reference
    if path.ndim != 2 or path.shape[1] != size:
        raise ValueError(f"path must be (steps, {size}) reference codes, got {tuple(path.shape)}")
    device = next(conditional_model.parameters()).device
    return np.concatenate([integrate(conditional_model, chunk.to(device)).float().cpu().numpy()
                           for chunk in path.split(batch_size)])


def _step_title(step: int, n_steps: int, states: dict | None) -> str:
    name = walk_columns(n_steps, states=states)[step]
    return f"step {step} of {n_steps - 1}" + (f" ({name})" if name else "")


def explore_walk_live(frames, class_names: Sequence[str], *, states: dict[int, str] | None = None,
                      reference_weight: float = 0.5):
    """A slider over a walk's steps, a structure picker and, for volumes, a z-slice slider.

    ``frames`` (steps, K, 3, Z, Y, X) or (steps, K, 3, H, W) from :func:`walk_frames`;
    ``states`` maps anchor columns to state names (they appear in the title). Drawn: the chosen
    structure (green, min-max scaled) over the cell's dimmed reference at that step; a volume as
    its top view over its side view (:func:`.figures.projections`; a line marks the slice) beside
    the chosen z slice. Why: the reader scrubs through the cell cycle watching one structure, and
    looks inside the volume where a projection hides the structure behind itself. Starts at the
    first step, the first structure and the slice with the most membrane and DNA. Headless it
    draws that default and returns None.
    """
    from ...display import interactive

    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim not in (5, 6):
        raise ValueError(f"frames must be (steps, K, 3, Z, Y, X) or (steps, K, 3, H, W), got "
                         f"{frames.shape}")
    names = [str(name) for name in class_names]
    if len(names) != frames.shape[1]:
        raise ValueError(f"{frames.shape[1]} structures in frames but {len(names)} names")
    n_steps, volumes = len(frames), frames.ndim == 6

    def cell(step: int, structure: str) -> np.ndarray:
        decoded = frames[int(step), names.index(structure)]
        return overlay_structure(decoded[list(REFERENCE_INDEX)],
                               minmax_normalize(decoded[STRUCTURE_INDEX]), reference_weight)

    def draw(step, structure, z=None):
        title = f"{_step_title(int(step), n_steps, states)}: {structure}"
        shown = cell(step, structure)
        if not volumes:
            image_grid([cell_rgb(shown)], ncols=1, size=3.2, titles=[title])
            return
        depth, rows = shown.shape[1:3]
        fig = image_grid([projections(shown), cell_rgb(shown[:, int(z)])], ncols=2, size=3.2,
                         titles=[f"{title}\ntop and side views", f"slice z = {int(z)}"])
        # The side view's rows run from z = depth - 1 (top) to 0 (bottom), below the top view.
        fig.axes[0].axhline(rows + 1 + depth - 1 - int(z), color="white", lw=0.8, ls="--")

    controls = dict(step=(0, n_steps - 1, 1, 0), structure=names)
    if volumes:
        reference = frames[:, :, list(REFERENCE_INDEX)]
        profile = reference.sum(axis=(0, 1, 2, 4, 5))    # signal per z slice
        controls["z"] = (0, frames.shape[3] - 1, 1, int(np.argmax(profile)))
    return interactive(draw, **controls)


def explore_walk_static(frames, class_names: Sequence[str], *,
                        states: dict[int, str] | None = None, ncols: int | None = None,
                        height: int | None = None):
    """A plotly figure with a slider over a walk's steps (3D paper Fig. S9); works offline.

    ``frames`` (steps, K, 3, Z, Y, X) or 2D from :func:`walk_frames`. Each slider position shows
    every structure's top view at that step, green over the dimmed reference
    (:func:`.figures.structure_overlays`), in a montage of ``ncols`` tiles a row (at most 6 by
    default) in the order the title lists them; ``states`` names the anchor steps, in the slider's
    labels and the title. Why: dragging the slider animates the walk, the cell changing shape and
    every structure moving with it, without a kernel.
    """
    from ...plotting import image_selector

    _, overlays = structure_overlays(frames)
    n_steps, n_classes = overlays.shape[:2]
    if len(class_names) != n_classes:
        raise ValueError(f"{n_classes} structures in frames but {len(class_names)} names")
    ncols = ncols or min(n_classes, 6)
    listed = ", ".join(str(name) for name in class_names)
    names = walk_columns(n_steps, states=states)
    panels, titles = {}, {}
    for step in range(n_steps):
        label = f"{step}" + (f" {names[step]}" if names[step] else "")
        panels[label] = montage(list(overlays[step]), ncols=ncols, gap=2)
        titles[label] = f"walk {_step_title(step, n_steps, states)} (tiles: {listed})"
    rows = -(-n_classes // ncols)
    return image_selector(panels, titles=titles, control="slider",
                          height=height or min(900, 220 + 130 * rows))
