"""Exploring a trained BioGAN: live in Jupyter, and in the static book.

Osokin, Chessel, Carazo Salas & Vaggi, "GANs for Biological Image Synthesis" (ICCV 2017). Two
questions a reader asks of the generators, each answered live and offline:

* *What do z_red and z_green do?* The separable and star generators (Section 4.2, Fig. 2
  right) split the noise: z_red alone makes the red, and the greens read it. :func:`draw_cell`
  decodes one cell from the two parts; :func:`explore_live` puts sliders on the first
  coordinates of each and a protein picker (the star model's green towers): moving z_green
  changes the protein's pattern in a cell whose red stays put, moving z_red changes the cell.
* *How does every protein follow the cell through its cycle?* Section 5.3 and Fig. 7 walk the
  latent space from a small cell to a dividing one (:mod:`.interpolation`).
  :func:`explore_walk_static` puts a slider over the walk's frames (a plotly figure that works
  offline in the book), :func:`explore_walk_live` a step slider and a protein picker.

Latent offsets are in units of the prior's standard deviation (z ~ N(0, I)). Headless (the
built book), the live versions draw the static figure of their default choices.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ...plotting import image_grid, image_selector
from .figures import RED_LABEL, cell_rgb, cell_tiles, greens_row
from .model import BioGanConfig, latent_size, split_latent
from .reconstruction import evaluation_mode

OFFSET_LIMIT = 3.0      # sliders move a coordinate -3 ... 3 SD from the base latent
OFFSET_STEP = 0.25


# ------------------------------------------------------------------------------ one cell

def base_latent(config: BioGanConfig, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded draw of z ~ N(0, I) as (z_red, z_green): z_red (nz_red,), z_green (nz_green,)
    or, for a star generator with per-tower green noise, (K, nz_green).

    For the DCGAN, whose z is not split, the two are the first nz_red and the other
    coordinates of z: the same draws the separable generator would take.
    """
    z = torch.randn(1, latent_size(config), generator=torch.Generator().manual_seed(seed))
    z_red, z_green = z[0, :config.nz_red], z[0, config.nz_red:]
    if config.generator_kind == "star" and config.green_noise == "per_tower":
        z_green = z_green.reshape(config.n_classes, config.nz_green)
    return z_red, z_green


def decode_cell(generator: nn.Module, config: BioGanConfig, z_red, z_green) -> np.ndarray:
    """G(z_red, z_green) for one cell, in evaluation mode (BatchNorm's running statistics, as
    :func:`.train.sample` draws), without gradients: (C, H, W) in [-1, 1], red first, then
    every green (K + 1 channels for a star generator)."""
    flat = torch.cat([torch.as_tensor(z_red, dtype=torch.float32).reshape(-1),
                      torch.as_tensor(z_green, dtype=torch.float32).reshape(-1)])
    if len(flat) != latent_size(config):
        raise ValueError(f"z_red and z_green hold {len(flat)} numbers together; this "
                         f"{config.generator_kind} generator takes {latent_size(config)} "
                         f"({config.nz_red} red, the rest green)")
    device = next(generator.parameters()).device
    with evaluation_mode(generator), torch.no_grad():
        cell = generator(**split_latent(config, flat[None].to(device)))
    return cell[0].float().cpu().numpy()


def _titles(greens: int, class_names: Sequence[str] | None, chosen: int | None) -> list[str]:
    names = [str(n) for n in class_names] if class_names is not None and \
        len(class_names) == greens else [f"green {k + 1}" for k in range(greens)]
    if greens > 1 and chosen is not None:
        names[chosen] = f"[{names[chosen]}]"
    return [RED_LABEL, *names]


def draw_cell(generator: nn.Module, config: BioGanConfig, z_red, z_green, class_index: int = 0,
              *, class_names: Sequence[str] | None = None):
    """One generated cell from the split latent: its red alone, then red + each green.

    A two-channel generator (separable, one-class, DCGAN) gives two tiles; a star generator
    (Section 4.2) the red and its K greens, ``class_index``'s title in brackets (the green the
    explorer's picker chose). ``class_names`` titles the greens. What the reader sees: for the
    separable and star generators the red is a function of z_red alone, so changing z_green
    redraws the protein in the same cell. Returns the figure.
    """
    cell = decode_cell(generator, config, z_red, z_green)
    greens = cell.shape[0] - 1
    if not 0 <= class_index < greens:
        raise ValueError(f"class_index is in 0..{greens - 1} for this generator's {greens} "
                         f"green(s), got {class_index}")
    return image_grid(cell_tiles(cell), ncols=greens + 1, size=2.2,
                      titles=_titles(greens, class_names, class_index))


def _offset_slider() -> tuple[float, float, float, float]:
    """-3 ... 3 SD in quarter steps, starting at 0: the base latent itself."""
    return (-OFFSET_LIMIT, OFFSET_LIMIT, OFFSET_STEP, 0.0)


def _output_greens(config: BioGanConfig) -> int:
    return config.n_classes if config.generator_kind == "star" else config.image_channels - 1


def explore_live(generator: nn.Module, config: BioGanConfig, class_names: Sequence[str],
                 dims: int = 4, seed: int = 0):
    """Sliders over z_red and z_green and a protein picker, redrawing :func:`draw_cell`.

    Starts from the latent seeded by ``seed`` (:func:`base_latent`); ``dims`` sliders add -3
    ... 3 SD to the first coordinates of z_red (``zr_1`` ...) and as many to z_green
    (``zg_1`` ...; with per-tower green noise, to the picked tower's). The protein picker
    appears for generators with several greens (the star's towers, a multi-channel model's
    channels) and chooses the green the title marks. Why: the reader sees what Section 4.2's
    split buys: z_green moves the protein while the cell (the red) stays, z_red moves the cell
    and every green follows it. Headless it draws the base latent's cell and returns None.
    """
    from ...display import interactive

    z_red, z_green = base_latent(config, seed)
    greens = _output_greens(config)
    red_dims, green_dims = min(dims, z_red.shape[-1]), min(dims, z_green.shape[-1])
    names = [str(n) for n in class_names]
    pick = greens > 1
    if pick and len(names) != greens:
        raise ValueError(f"the generator makes {greens} greens but {len(names)} class names "
                         f"were given: {names}")

    def draw(protein=None, **offsets):
        k = names.index(protein) if pick else 0
        red, green = z_red.clone(), z_green.clone()
        for d in range(red_dims):
            red[d] += offsets[f"zr_{d + 1}"]
        tower = green[k] if green.dim() == 2 else green
        for d in range(green_dims):
            tower[d] += offsets[f"zg_{d + 1}"]
        draw_cell(generator, config, red, green, class_index=k, class_names=names)

    controls = dict(protein=names) if pick else {}
    controls |= {f"zr_{d + 1}": _offset_slider() for d in range(red_dims)}
    controls |= {f"zg_{d + 1}": _offset_slider() for d in range(green_dims)}
    return interactive(draw, **controls)


# ---------------------------------------------------------------- the walk through a cycle

def _walk(frames, class_names: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    if hasattr(frames, "detach"):
        frames = frames.detach().float().cpu().numpy()
    frames = np.asarray(frames, np.float32)
    names = [str(n) for n in class_names]
    if frames.ndim != 4 or frames.shape[1] != len(names) + 1:
        raise ValueError(f"expected frames (S, 1 + {len(names)}, H, W): the red, then one green "
                         f"per class name, got {frames.shape}")
    return frames, names


def explore_walk_static(frames, class_names: Sequence[str], steps: Sequence[int] | None = None,
                        height: int | None = None):
    """A plotly figure with a slider over a walk's frames (Fig. 7); works offline.

    ``frames`` (S, 1 + K, H, W) from :func:`.interpolation.interpolation_frames`; ``steps``
    the frames offered (all by default), one slider position each. Each shows the red alone,
    then red + green_k for every class, in the order the title lists them. Why: dragging the
    slider plays the cell cycle, the cell growing and dividing and every protein moving with it,
    without a kernel (:func:`cellnb.display.show_plotly` embeds it in the book).
    """
    frames, names = _walk(frames, class_names)
    steps = range(len(frames)) if steps is None else [int(s) for s in steps]
    listed = ", ".join([RED_LABEL, *names])
    panels, titles = {}, {}
    for step in steps:
        label = str(step)
        panels[label] = greens_row(frames[step])
        titles[label] = f"step {step} of {len(frames) - 1} (tiles: {listed})"
    return image_selector(panels, titles=titles, control="slider", height=height or 320)


def explore_walk_live(frames, class_names: Sequence[str]):
    """A step slider and a protein picker over a walk's frames (Fig. 7).

    Drawn large: the red alone and the picked protein's (red, green) at that step. Why: the
    reader scrubs through the cycle watching one protein, e.g. Arp3 leaving the tips for the
    septum. Headless it draws the first step and the first protein and returns None.
    """
    from ...display import interactive

    frames, names = _walk(frames, class_names)

    def draw(step, protein):
        frame, k = frames[int(step)], names.index(protein)
        image_grid([cell_rgb(frame, None), cell_rgb(frame, k)], ncols=2, size=3.0,
                   titles=[f"step {int(step)}: {RED_LABEL}", f"step {int(step)}: {protein}"])

    return interactive(draw, step=(0, len(frames) - 1, 1, 0), protein=names)
