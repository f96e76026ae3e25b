"""A cell cycle by walking the latent space (Section 5.3, Fig. 7).

Osokin, Chessel, Carazo Salas & Vaggi, "GANs for Biological Image Synthesis" (ICCV 2017). The
paper samples latents from the star-shaped generator, chooses by eye a small cell, a middle one
and a dividing one, and joins them by spherical linear interpolation (slerp, White [47]) on the
whole z, red and green parts together; every frame shows the red and all the greens, which the
star generator keeps consistent with that red. Its validation is visual: Arp3 leaves the tips
for the middle of the cell as it divides.

Here the same walk with two changes a reader can check:

* :func:`pick_cell_cycle_anchors` chooses the three cells from measurements of their red
  (:func:`cellnb.sim.pombe_measure.measure_pombe`): the shortest non-dividing cell, the cell
  whose length is closest to halfway, and the longest dividing cell;
* :func:`interpolation_check` turns the visual validation into numbers: the Spearman
  correlation of the measured length with the step, the first step where the red shows a septum,
  whether an ActinLike-like green moves to the middle from that step on, and whether a
  TipDots-like green stays at the tips throughout.

Read top to bottom: slerp and paths, the anchors, the frames, the check.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from ...sim.pombe_measure import measure_pombe, rule_consistency
from .model import BioGanConfig, latent_size, split_latent
from .reconstruction import evaluation_mode, output_channels

STEPS_PER_SEGMENT = 64                   # Fig. 7: 64 frames a segment, 127 for three anchors
ANCHOR_NAMES = ("start", "middle", "end")
ACTIN_LIKE = ("ActinLike", "ActinLike2", "Arp3", "Fim1")    # patches: tips, then the middle
TIP_LIKE = ("TipDots", "TipDots2", "Tea1", "Tea4")          # dots at the tips at every stage
MIDDLE_SHARE = 0.4       # green in the central sixth: "the middle" (measure_pombe's actin rule)
TIPS_CENTRAL_MAX = 0.25  # ... and at most this before the septum (an even fill gives ~1/6-1/5)
STAYS_AT_TIPS = 0.8      # share of frames a tip-like green must follow its rule in


# ---------------------------------------------------------------------------- slerp and paths

def slerp(a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` points from ``a`` to ``b`` (both included) along the great circle: (steps,
    *a.shape). Works on the last axis, so a and b may be batches (B, d).

    Between vectors of equal norm every point keeps that norm; the path bends the way the
    angle between them says. Nearly parallel vectors fall back to the straight line.
    """
    if a.shape != b.shape:
        raise ValueError(f"slerp needs endpoints of one shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    if steps < 2:
        raise ValueError(f"steps counts both endpoints: at least 2, got {steps}")
    a, b = a.float(), b.float()
    t = torch.linspace(0, 1, steps).reshape(steps, *([1] * a.dim()))
    cosine = (torch.nn.functional.normalize(a, dim=-1)
              * torch.nn.functional.normalize(b, dim=-1)).sum(-1, keepdim=True)
    angle = torch.arccos(cosine.clamp(-1, 1))
    sine = torch.sin(angle)
    parallel = sine < 1e-6
    safe_sine = torch.where(parallel, torch.ones_like(sine), sine)
    weight_a = torch.where(parallel, 1 - t, torch.sin((1 - t) * angle) / safe_sine)
    weight_b = torch.where(parallel, t, torch.sin(t * angle) / safe_sine)
    return weight_a * a + weight_b * b


def slerp_path(anchors: torch.Tensor, steps_per_segment: int = STEPS_PER_SEGMENT) -> torch.Tensor:
    """Slerp through the rows of ``anchors`` (A, d) in order: (1 + (A - 1)(steps - 1), d), each
    anchor once (Fig. 7: 3 anchors, 64 steps a segment, 127 frames)."""
    if anchors.dim() != 2 or len(anchors) < 2:
        raise ValueError(f"expected at least two anchors as (A, d), got {tuple(anchors.shape)}")
    segments = [slerp(a, b, steps_per_segment) for a, b in zip(anchors[:-1], anchors[1:])]
    return torch.cat([segments[0]] + [segment[1:] for segment in segments[1:]])


# ------------------------------------------------------------------------------ the anchors

@dataclass
class CellCycleAnchors:
    """The chosen latents (3, d), in the order start, middle, end; their ``indices`` among the
    candidates; and every candidate's ``readings`` (measure_pombe's, plus ``candidate``)."""

    latents: torch.Tensor
    indices: list[int]
    readings: pd.DataFrame

    @property
    def chosen(self) -> pd.DataFrame:
        """The three chosen candidates' readings, named start, middle and end."""
        return self.readings.iloc[self.indices].set_axis(list(ANCHOR_NAMES))


def generate(generator: nn.Module, config: BioGanConfig, latents: torch.Tensor, *,
             batch: int = 256) -> torch.Tensor:
    """G(z) for flat latents (N, latent_size), in evaluation mode, batch by batch: (N, C, H, W)
    with every output channel (red, then every green), on the CPU."""
    device = next(generator.parameters()).device
    with evaluation_mode(generator), torch.no_grad():
        return torch.cat([generator(**split_latent(config, latents[i:i + batch].to(device))).cpu()
                          for i in range(0, len(latents), batch)])


def pick_cell_cycle_anchors(generator: nn.Module, config: BioGanConfig, n_candidates: int = 64,
                            seed: int = 42, *, green_class: int | None = None,
                            pixel_size: float | None = None,
                            require_dividing: bool = True) -> CellCycleAnchors:
    """Draw ``n_candidates`` latents and choose start, middle and end of a cell cycle by
    measuring the generated cells (Section 5.3 picks them by hand; Fig. 7 from 64 draws):

    * start: the shortest cell whose red shows no septum;
    * end: the longest cell whose red shows one (measured "dividing");
    * middle: of the other non-dividing cells, the one whose length is closest to halfway.

    ``green_class`` picks the green measured alongside (star and multi-channel generators; the
    choice uses the red only). Raises if no candidate is dividing, or none is not; with
    ``require_dividing=False`` such a generator (an undertrained one) gets the walk from its
    shortest to its longest cell instead (the first three candidates if fewer than three cells
    are found), so that a chapter can show, and check, what it draws.
    """
    if n_candidates < 3:
        raise ValueError(f"a cycle has three anchors: draw at least 3 candidates, got {n_candidates}")
    latents = torch.randn(n_candidates, latent_size(config),
                          generator=torch.Generator().manual_seed(seed))
    channels = output_channels(config, green_class or 0)
    images = generate(generator, config, latents)[:, channels].numpy()
    readings = measure_pombe(images, pixel_size=pixel_size)
    readings.insert(0, "candidate", np.arange(n_candidates))
    length = readings.length_um.to_numpy()
    found = np.isfinite(length)
    dividing = found & (readings.stage == "dividing").to_numpy()
    growing = found & ~dividing
    if not dividing.any() or growing.sum() < 2:
        if not require_dividing:
            indices = _shortest_middle_longest(length, found)
            return CellCycleAnchors(latents=latents[indices], indices=indices, readings=readings)
        raise ValueError(f"{n_candidates} candidates hold {dividing.sum()} dividing and "
                         f"{growing.sum()} non-dividing cells; a cycle needs at least one and "
                         "two: draw more candidates, or train the generator longer")
    start = _extreme(length, growing, np.argmin)
    end = _extreme(length, dividing, np.argmax)
    halfway = (length[start] + length[end]) / 2
    others = growing.copy()
    others[start] = False
    middle = _extreme(np.abs(length - halfway), others, np.argmin)
    indices = [start, middle, end]
    return CellCycleAnchors(latents=latents[indices], indices=indices, readings=readings)


def _shortest_middle_longest(length: np.ndarray, found: np.ndarray) -> list[int]:
    """The shortest cell found, the one nearest halfway and the longest ([0, 1, 2] if fewer
    than three were found)."""
    if found.sum() < 3:
        return [0, 1, 2]
    start, end = _extreme(length, found, np.argmin), _extreme(length, found, np.argmax)
    others = found.copy()
    others[[start, end]] = False
    middle = _extreme(np.abs(length - (length[start] + length[end]) / 2), others, np.argmin)
    return [start, middle, end]


def _extreme(values: np.ndarray, allowed: np.ndarray, choose) -> int:
    """The index ``choose`` (np.argmin / np.argmax) finds among the ``allowed`` values."""
    candidates = np.flatnonzero(allowed)
    return int(candidates[choose(values[candidates])])


# ------------------------------------------------------------------------------- the frames

def interpolation_frames(generator: nn.Module, config: BioGanConfig,
                         path: torch.Tensor) -> torch.Tensor:
    """The cells along a latent ``path`` (S, latent_size): (S, C, H, W), red then every green
    (K + 1 channels for the star generator), in evaluation mode, in [-1, 1]."""
    if path.dim() != 2 or path.shape[1] != latent_size(config):
        raise ValueError(f"expected a path (S, {latent_size(config)}) of flat latents, got "
                         f"{tuple(path.shape)}; slerp_path makes one")
    return generate(generator, config, path)


# -------------------------------------------------------------------------------- the check

@dataclass
class InterpolationCheck:
    """Section 5.3's validation as numbers (see :func:`interpolation_check`).

    ``readings``: measure_pombe's readings, one row per (step, class); ``length_spearman``: of
    the measured length with the step; ``septum_step``: the first step measured dividing (None
    if none); ``actin``: per ActinLike-like class, the green's median central share before the
    septum and over the dividing frames, the first step it reaches the middle, the lag behind the
    septum and whether it switched; ``tips``: per TipDots-like class, the share of frames where
    the green follows its rule (at the tips, not in the middle) and whether it stays there.
    """

    readings: pd.DataFrame
    length_spearman: float
    septum_step: int | None
    actin: pd.DataFrame
    tips: pd.DataFrame

    @property
    def actin_switched(self) -> bool:
        """Every ActinLike-like green switched to the middle with the septum (False if none)."""
        return bool(len(self.actin)) and bool(self.actin.switched.all())

    @property
    def tips_stay(self) -> bool:
        """Every TipDots-like green stayed at the tips (False if there is none)."""
        return bool(len(self.tips)) and bool(self.tips.stays_at_tips.all())

    def summary(self) -> dict:
        return dict(length_spearman=self.length_spearman, septum_step=self.septum_step,
                    actin_switched=self.actin_switched, tips_stay=self.tips_stay)


def _as_array(frames) -> np.ndarray:
    if torch.is_tensor(frames):
        frames = frames.detach().cpu().numpy()
    return np.asarray(frames, np.float32)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3:
        return float("nan")
    return float(spearmanr(x[keep], y[keep]).statistic)


def _actin_row(readings: pd.DataFrame, septum_step: int | None) -> dict:
    central = readings.green_central_fraction.to_numpy()
    dividing = (readings.stage == "dividing").to_numpy()
    if septum_step is None:
        before, during = central, np.array([])
    else:
        before, during = central[:septum_step], central[dividing]
    middle = np.flatnonzero(central >= MIDDLE_SHARE)
    switch_step = int(middle[0]) if len(middle) else None
    central_before = float(np.nanmedian(before)) if len(before) else float("nan")
    central_dividing = float(np.nanmedian(during)) if len(during) else float("nan")
    switched = bool(central_before < TIPS_CENTRAL_MAX and central_dividing >= MIDDLE_SHARE)
    lag = None if switch_step is None or septum_step is None else switch_step - septum_step
    return dict(central_before=central_before, central_dividing=central_dividing,
                switch_step=switch_step, lag=lag, switched=switched)


def interpolation_check(frames, class_names, *, pixel_size: float | None = None,
                        actin_like=ACTIN_LIKE, tip_like=TIP_LIKE) -> InterpolationCheck:
    """Measure frames (S, 1 + K, H, W) in [-1, 1] (red, then the greens of ``class_names``,
    K names) along a walk, and check Section 5.3's story:

    * the measured length rises with the step (``length_spearman`` near 1);
    * a class named in ``actin_like`` has its green at the tips (central share below
      ``TIPS_CENTRAL_MAX``) before the first frame whose red shows a septum, and in the middle
      (central share at least ``MIDDLE_SHARE``) in the dividing frames;
    * a class named in ``tip_like`` follows its rule (tips, not the middle) in at least
      ``STAYS_AT_TIPS`` of the frames.

    On a walk run backwards, the Spearman correlation is negative and there is nothing before the
    septum to switch from.
    """
    frames = _as_array(frames)
    class_names = list(class_names)
    if frames.ndim != 4 or frames.shape[1] != len(class_names) + 1:
        raise ValueError(f"expected frames (S, 1 + {len(class_names)}, H, W): the red, then one "
                         f"green per class name, got {frames.shape}")
    steps = np.arange(len(frames))
    per_class = []
    for k, name in enumerate(class_names):
        readings = measure_pombe(frames[:, [0, k + 1]], pixel_size=pixel_size)
        readings.insert(0, "class_name", name)
        readings.insert(0, "step", steps)
        per_class.append(readings)
    readings = pd.concat(per_class, ignore_index=True)
    red = per_class[0]                     # the red, hence length and stage, is shared
    dividing = np.flatnonzero((red.stage == "dividing").to_numpy())
    septum_step = int(dividing[0]) if len(dividing) else None
    actin = pd.DataFrame([dict(class_name=name) | _actin_row(table, septum_step)
                          for name, table in zip(class_names, per_class) if name in actin_like])
    tips = pd.DataFrame([_tips_row(name, table) for name, table in zip(class_names, per_class)
                         if name in tip_like])
    return InterpolationCheck(readings=readings,
                              length_spearman=_spearman(steps.astype(float),
                                                        red.length_um.to_numpy()),
                              septum_step=septum_step, actin=actin, tips=tips)


def _tips_row(name: str, readings: pd.DataFrame) -> dict:
    # A tip-like green follows the TipDots rule of measure_pombe whatever the protein's name.
    share = float(rule_consistency(readings, "TipDots").mean())
    return dict(class_name=name, at_tips_share=share, stays_at_tips=share >= STAYS_AT_TIPS)
