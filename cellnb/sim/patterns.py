"""Localisation patterns: how a protein of each class distributes inside one cell.

Each pattern has a sampler of *protein-specific* parameters (drawn once per protein, so proteins
of one class differ in fine detail: puncta count and size, ring width, texture scale, nuclear
leakage) and a renderer that turns a cell's layers and those parameters into a density map,
with fresh per-cell randomness. The density is the protein's concentration before imaging
(no blur, no noise), scaled so that its bright parts are about 1.

The classes follow the organelle-level ground truth of cytoself's Fig. 2 and the protein classes
of the paired-cell-inpainting benchmark (Lu et al. 2019, Table 1), plus plasma membrane,
centrosome, cytoskeleton and a rare nucleolar-rim class (an analogue of the rare MKI67-like
pattern paired cell inpainting finds in its Fig. 4).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..data.segmentation import distance_to_background
from .drawing import random_curves, sample_points_in, splat
from .geometry import CellLayers

Params = dict


@dataclass(frozen=True)
class Pattern:
    name: str
    compartment: str                   # where it lives: nucleus, cytoplasm or boundary
    description: str
    sample_params: Callable[[np.random.Generator], Params]
    render: Callable[[CellLayers, Params, np.random.Generator], np.ndarray]


def _bright(density: np.ndarray) -> np.ndarray:
    """Scale so the bright part (99.5th percentile of positive values) is 1."""
    positive = density[density > 0]
    if positive.size == 0:
        return density.astype(np.float32)
    k = int(0.995 * (positive.size - 1))
    return (density / (np.partition(positive, k)[k] + 1e-6)).astype(np.float32)


def _spots(layers: CellLayers, points: np.ndarray, sigma: float, weights=None) -> np.ndarray:
    return ndimage.gaussian_filter(splat(points, layers.shape, weights), sigma * layers.scale,
                                   truncate=3.0)


def _texture(layers, scale, amplitude, rng):
    return np.clip(1 + amplitude * layers.smooth_noise(scale * layers.scale), 0, None)


# --- nucleus ---------------------------------------------------------------------------------

def _nucleoplasm_params(rng):
    return dict(texture=rng.uniform(0.1, 0.35), grain=rng.uniform(1.0, 2.5),
                nucleolar_holes=int(rng.integers(0, 4)), cytoplasmic_leak=rng.uniform(0.0, 0.12))


def _nucleoplasm(layers, p, rng):
    density = layers.nucleus * _texture(layers, p["grain"], p["texture"], rng)
    if p["nucleolar_holes"]:
        interior = layers.nuclear_distance > 3 * layers.scale
        holes = _spots(layers, sample_points_in(interior, p["nucleolar_holes"], rng), 2.0)
        density = density * (1 - np.clip(holes / (holes.max() + 1e-6), 0, 0.85))
    return _bright(density + p["cytoplasmic_leak"] * layers.cytoplasm)


def _nucleolus_params(rng):
    return dict(count=rng.uniform(1.0, 3.5), size=rng.uniform(1.3, 2.8),
                nucleoplasm=rng.uniform(0.0, 0.15))


def _nucleolus(layers, p, rng):
    n = 1 + rng.poisson(p["count"] - 1)
    interior = layers.nuclear_distance > (p["size"] + 1.5) * layers.scale
    points = sample_points_in(interior if interior.any() else layers.nucleus, n, rng)
    blobs = _spots(layers, points, p["size"], rng.uniform(0.6, 1.4, n))
    return _bright(_bright(blobs) + p["nucleoplasm"] * layers.nucleus)


def _envelope_params(rng):
    return dict(width=rng.uniform(0.6, 1.4), pores=rng.uniform(0.0, 0.6),
                nucleoplasm=rng.uniform(0.0, 0.1))


def _envelope(layers, p, rng):
    w = p["width"] * layers.scale
    ring = np.exp(-0.5 * (layers.nuclear_distance / w) ** 2) * layers.cell
    pores = 1 + p["pores"] * layers.bandpass_noise(1.5 * layers.scale)
    return _bright(ring * np.clip(pores, 0, None) + p["nucleoplasm"] * layers.nucleus)


def _speckles_params(rng):
    return dict(scale=rng.uniform(0.8, 1.8), threshold=rng.uniform(0.3, 1.0),
                diffuse=rng.uniform(0.05, 0.3))


def _speckles(layers, p, rng):
    texture = layers.bandpass_noise(p["scale"] * 2 * layers.scale)
    speckle = np.clip(texture - p["threshold"], 0, None)
    return _bright(layers.nucleus * (speckle + p["diffuse"]))


def _nucleolar_rim_params(rng):
    return dict(count=rng.uniform(1.5, 3.0), size=rng.uniform(2.0, 3.0), width=rng.uniform(0.5, 0.9))


def _nucleolar_rim(layers, p, rng):
    n = 1 + rng.poisson(p["count"] - 1)
    interior = layers.nuclear_distance > (p["size"] + 2) * layers.scale
    points = sample_points_in(interior if interior.any() else layers.nucleus, n, rng)
    seeds = splat(points, layers.shape) > 0
    if not seeds.any():
        return np.zeros(layers.shape, np.float32)
    distance = distance_to_background(~seeds) - p["size"] * layers.scale
    rim = np.exp(-0.5 * (distance / (p["width"] * layers.scale)) ** 2)
    return _bright(rim * layers.nucleus + 0.05 * layers.nucleus)


# --- cytoplasm --------------------------------------------------------------------------------

def _cytoplasm_params(rng):
    return dict(texture=rng.uniform(0.05, 0.3), grain=rng.uniform(2.0, 5.0),
                nuclear_leak=rng.uniform(0.0, 0.2))


def _cytoplasm(layers, p, rng):
    density = layers.cytoplasm * _texture(layers, p["grain"], p["texture"], rng)
    return _bright(density + p["nuclear_leak"] * layers.nucleus)


def _er_params(rng):
    return dict(mesh=rng.uniform(1.2, 2.4), line_width=rng.uniform(0.2, 0.45),
                perinuclear_decay=rng.uniform(4.0, 12.0), envelope=rng.uniform(0.2, 0.6))


def _er(layers, p, rng):
    noise = layers.bandpass_noise(p["mesh"] * layers.scale)
    network = np.exp(-0.5 * (noise / p["line_width"]) ** 2)
    decay = np.exp(np.minimum(layers.nuclear_distance, 0) / (p["perinuclear_decay"] * layers.scale))
    envelope = np.exp(-0.5 * (layers.nuclear_distance / layers.scale) ** 2)
    return _bright(layers.cytoplasm * network * decay + p["envelope"] * envelope * layers.cell)


def _mitochondria_params(rng):
    return dict(count=rng.uniform(12, 35), length=rng.uniform(3.0, 8.0),
                tortuosity=rng.uniform(0.15, 0.5), width=rng.uniform(0.5, 0.9))


def _mitochondria(layers, p, rng):
    n = rng.poisson(p["count"] * layers.scale)
    # Mitochondria crowd around the nucleus and thin out towards the cell edge.
    weight = np.exp(np.minimum(layers.nuclear_distance, 0) / (8 * layers.scale))
    starts = sample_points_in(layers.cytoplasm, n, rng, weight)
    lengths = rng.gamma(4.0, p["length"] / 4.0, len(starts)) * layers.scale
    points = random_curves(starts, lengths, rng, persistence=p["tortuosity"])
    return _bright(_spots(layers, points, p["width"]) * layers.cytoplasm)


def _vesicles_params(rng):
    return dict(count=rng.uniform(15, 70), size=rng.uniform(0.5, 1.2),
                brightness_spread=rng.uniform(0.2, 0.8), diffuse=rng.uniform(0.0, 0.1))


def _vesicles(layers, p, rng):
    n = rng.poisson(p["count"] * layers.scale)
    points = sample_points_in(layers.cytoplasm, n, rng)
    weights = rng.lognormal(0, p["brightness_spread"], len(points))
    return _bright(_bright(_spots(layers, points, p["size"], weights)) + p["diffuse"] * layers.cytoplasm)


def _golgi_params(rng):
    return dict(spread=rng.uniform(2.5, 5.0), elements=rng.uniform(6, 16), size=rng.uniform(0.7, 1.3))


def _golgi(layers, p, rng):
    # A compact ribbon hugging one side of the nucleus.
    side = rng.uniform(0, 2 * np.pi)
    shell = (layers.nuclear_distance < 0) & (layers.nuclear_distance > -p["spread"] * 1.2 * layers.scale)
    angle = np.arctan2(layers.yy, layers.xx)
    facing = np.cos(angle - side) > 0.55
    region = shell & facing & layers.cell
    if not region.any():
        region = layers.cytoplasm
    points = sample_points_in(region, 1 + rng.poisson(p["elements"] * layers.scale), rng)
    return _bright(_spots(layers, points, p["size"]) * layers.cell)


def _centrosome_params(rng):
    return dict(distance=rng.uniform(1.5, 4.0), size=rng.uniform(0.5, 0.9), diffuse=rng.uniform(0.0, 0.12))


def _centrosome(layers, p, rng):
    near = ((layers.nuclear_distance < -0.5 * layers.scale)
            & (layers.nuclear_distance > -p["distance"] * layers.scale) & layers.cell)
    anchor = sample_points_in(near if near.any() else layers.cytoplasm, 1, rng)
    n = int(rng.integers(1, 3))
    points = anchor + rng.normal(0, 0.8 * layers.scale, (n, 2)).astype(np.float32) if len(anchor) else anchor
    dots = _bright(_spots(layers, points, p["size"]))
    return _bright(dots + p["diffuse"] * layers.cytoplasm)


# --- boundary and cytoskeleton -----------------------------------------------------------------

def _membrane_params(rng):
    return dict(width=rng.uniform(0.6, 1.5), patchiness=rng.uniform(0.0, 0.6), interior=rng.uniform(0.0, 0.1))


def _membrane(layers, p, rng):
    ring = np.exp(-0.5 * ((layers.membrane_distance - 0.5) / (p["width"] * layers.scale)) ** 2)
    patches = np.clip(1 + p["patchiness"] * layers.smooth_noise(3 * layers.scale), 0, None)
    return _bright(ring * patches * layers.cell + p["interior"] * layers.cytoplasm)


def _fibres_params(rng):
    return dict(count=rng.uniform(6, 18), alignment=rng.uniform(0.1, 0.8), width=rng.uniform(0.4, 0.7),
                waviness=rng.uniform(0.01, 0.08))


def _fibres(layers, p, rng):
    n = max(1, rng.poisson(p["count"]))
    # Stress-fibre-like bundles run along the cell's long axis, with a protein-specific spread.
    axis = layers.geometry.cell.angle
    directions = axis + rng.normal(0, p["alignment"], n) + np.pi * rng.integers(0, 2, n)
    starts = sample_points_in(layers.cell, n, rng)
    lengths = rng.uniform(0.8, 1.8, n) * layers.geometry.cell.major
    heading = np.arctan2(np.sin(directions), np.cos(directions))
    points = np.concatenate([
        random_curves(starts, lengths, rng, persistence=p["waviness"], directions=heading),
        random_curves(starts, lengths, rng, persistence=p["waviness"], directions=heading + np.pi)])
    return _bright(_spots(layers, points, p["width"]) * layers.cell)


PATTERNS: dict[str, Pattern] = {p.name: p for p in [
    Pattern("nucleoplasm", "nucleus", "diffuse inside the nucleus, sparing nucleoli",
            _nucleoplasm_params, _nucleoplasm),
    Pattern("nucleolus", "nucleus", "1-3 bright blobs inside the nucleus", _nucleolus_params, _nucleolus),
    Pattern("nuclear_envelope", "nucleus", "a thin ring on the nuclear boundary",
            _envelope_params, _envelope),
    Pattern("nuclear_speckles", "nucleus", "high-frequency speckles / chromatin texture in the nucleus",
            _speckles_params, _speckles),
    Pattern("cytoplasm", "cytoplasm", "diffuse in the cell outside the nucleus",
            _cytoplasm_params, _cytoplasm),
    Pattern("er", "cytoplasm", "a reticular network, densest around the nucleus", _er_params, _er),
    Pattern("mitochondria", "cytoplasm", "short tubules, crowded near the nucleus",
            _mitochondria_params, _mitochondria),
    Pattern("vesicles", "cytoplasm", "many small puncta of varying brightness", _vesicles_params, _vesicles),
    Pattern("golgi", "cytoplasm", "a compact perinuclear cluster on one side", _golgi_params, _golgi),
    Pattern("centrosome", "cytoplasm", "one or two tiny dots next to the nucleus",
            _centrosome_params, _centrosome),
    Pattern("plasma_membrane", "boundary", "the cell periphery", _membrane_params, _membrane),
    Pattern("cytoskeleton", "boundary", "fibres running along the cell's long axis", _fibres_params, _fibres),
    Pattern("nucleolar_rim", "nucleus", "rings around nucleoli (the rare class)",
            _nucleolar_rim_params, _nucleolar_rim),
]}

BASE_CLASSES = tuple(name for name in PATTERNS if name != "nucleolar_rim")
RARE_CLASS = "nucleolar_rim"


def render_pattern(name: str, layers: CellLayers, params: Params, rng: np.random.Generator) -> np.ndarray:
    try:
        pattern = PATTERNS[name]
    except KeyError:
        raise KeyError(f"unknown localisation pattern {name!r}; known: {', '.join(PATTERNS)}") from None
    # Blurred spots may spill past the outline; a protein never leaves its cell.
    return pattern.render(layers, params, rng) * layers.cell
