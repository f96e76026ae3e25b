"""Toy integrated cells: single, aligned cells with membrane, structure and DNA channels whose
structure follows designed rules given the cell's shape, with designed randomness.

The Integrated Cell papers (Johnson, Donovan-Maiye & Maleckar, 2D: arXiv 1705.00092; 3D:
bioRxiv 238378) model p(x^r) p(x^s | x^r, y): a reference (cell membrane + DNA) and one labelled
structure of class y. Their data are single hiPSC cells, each channel background-subtracted (the
most populous intensity), clipped at 0 and rescaled to [0, 1], aligned by the cell's major axis,
centred on the nuclear centre of mass and flipped by skew (2D paper, Sec. 3.1; 3D paper,
Sec. 3.1). The cells here come out of that preprocessing already: the nucleus sits at the image
centre, the cell's long axis is horizontal and the cell body always extends further to the right
of the nucleus than to its left (the canonical sign of the nuclear offset). Channels are in the
2D paper's order, membrane, structure, DNA (its RGB PNGs).

Each structure class has a *designed* dependence on the reference and a *designed* amount of
randomness given it (see ``STRUCTURES``), so the quantities the papers can only estimate are
known here: :func:`resample_structure` draws fresh structures of any class in one fixed cell,
whose mean is the ground-truth conditional mean E[x^s | r, y] that Algorithm 3 (integration)
predicts and whose spread is the ground-truth variability that Algorithm 4 (-log det(corr) / n,
3D paper Sec. 2.5) estimates. A "mitosis-like" state (rounder cell, smaller and denser nucleus)
changes some rules in a designed direction, the analogue of the 3D paper's Figs. S7-S8: the
envelope and the puncta fragment and nucleoli disperse (more variable), while the fibres form a
spindle (more stereotyped), as lamin B1, fibrillarin and Tom20 vary more and alpha-tubulin less
in mitotic cells there. Class frequencies are imbalanced as in 3D Table S9, with a rare class
of about 3 % (the analogue of Myosin IIB's 157 of 21,967 cells).

Built from the atlas simulator's pieces: shapes and distance maps from ``geometry``, the
membrane, DNA and envelope densities from ``patterns``, points, spots and curves from
``drawing``, and the microscope from ``imaging``; volumes add ``volumes`` (heights, 3D masks
and distances, 3D spots and lines, the 3D PSF).

Determinism: classes and mitosis flags are dealt from one stream of ``seed`` (exact quotas, so
the frequencies hold to rounding); everything else about cell ``i`` comes from streams of
``(seed, i)``, so the data do not depend on batching or the number of worker processes.

Volumes (the 3D chapter): ``size=(Z, Y, X)`` renders each cell as a volume, images
(N, 3, Z, Y, X) and masks (N, 2, Z, Y, X). The in-plane rendering of a 3D config is the 2D
rendering at (Y, X): ``scale`` comes from min(Y, X) and the same streams are drawn in the same
order, so for one seed the volume set and the 2D set of size (Y, X) have the same classes,
mitosis flags, shape parameters, microscopes and 2D masks (every 2D metadata column is equal;
the volume set adds heights and volumes in voxels). The geometry (``volumes``): cells sit on the
coverslip at z = 0, z increasing upwards; the body is a dome over the 2D outline, tallest over
the nucleus, its height ``ToyCell.cell_height`` mapped to 0.5-0.8 of Z (mitotic cells the
tallest); the nucleus is the ellipsoid on the 2D nuclear ellipse with height
``nucleus_height``, inside the cell. The maximum projections of the 3D masks along z are the 2D
masks exactly. Each class has a 3D rule (``StructureClass.volume_rule``) that keeps its 2D
dependence on the reference, its randomness and its mitosis change, written in 3D distances to
the nuclear surface, points sampled in 3D masks and lines with an elevation; in-plane textures
are the 2D ones, constant through z. The microscope is the 2D one with a 3D PSF (axial std twice
the lateral). A volume's channels are drawn and imaged in 3D, so their maximum projections
resemble the 2D set's images but are not its pixels. Adding volumes changed no 2D pixel.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
import pandas as pd
from scipy import ndimage

from ..data.alignment import scale_to_unit_range, subtract_mode_background
from ..data.imageset import ImageSet
from .chunks import render_cells
from .drawing import random_curves, sample_points_in, smooth_noise, splat
from .geometry import Cell, CellLayers, FieldMaps, Shape, Tessellation, tessellate
from .imaging import Acquisition, acquire, sample_acquisition
from .patterns import render_pattern
from .volumes import (
    MIN_DEPTH,
    MIN_SIDE,
    VolumeGeometry,
    acquire_volume,
    build_volume,
    height_in_voxels,
    lift,
    line_peak_volume,
    random_curves_volume,
    sample_points_in_volume,
    spots_volume,
)

GENERATOR_VERSION = "1"   # bump whenever the same config would give other pixels
INTEGRATED_CHANNELS = ("membrane", "structure", "dna")
INTEGRATED_MASKS = ("cell", "nucleus")
REFERENCE_SIZE = 64       # lengths below are in pixels of a 64-pixel image, scaled with ``size``
PEAK_BRIGHTNESS = 0.6     # a density of 1 fills this fraction of the camera's range


# --- the cells --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ToyCell:
    """One aligned cell's shape parameters, in pixels of the rendered image.

    The cell is an ellipse with semi-axes ``cell_major`` (along x) and ``cell_minor`` (along y)
    whose radius is modulated by harmonics of orders 2, 3, 4 (``harmonics``: amplitude, phase);
    the nucleus is an ellipse tilted by ``nucleus_angle`` centred on the image centre, and the
    cell's centre lies ``-nucleus_offset`` pixels to its right (``nucleus_offset <= 0``: the
    canonical sign after flipping by skew). Heights are for the 3D rendering (unused in 2D),
    in in-plane pixels like the rest; a volume maps them to voxels
    (:func:`cellnb.sim.volumes.height_in_voxels`).
    """

    index: int
    structure: str
    mitotic: bool
    cell_major: float
    cell_minor: float
    cell_height: float
    nucleus_major: float
    nucleus_minor: float
    nucleus_height: float
    nucleus_offset: float
    nucleus_angle: float
    harmonics: tuple[tuple[float, float], ...]
    expression: float             # structure brightness (sets its signal-to-noise ratio only)

    @property
    def boundary_amplitude(self) -> float:
        """The root-sum-square of the outline harmonics' amplitudes (0: a perfect ellipse)."""
        return math.sqrt(sum(a * a for a, _ in self.harmonics))

    def shapes(self, centre) -> tuple[Shape, Shape]:
        """The cell body and the nucleus, with the nucleus centred at ``centre`` (y, x)."""
        cy, cx = centre
        body = Shape((cy, cx - self.nucleus_offset), self.cell_major, self.cell_minor, 0.0,
                     self.harmonics)
        nucleus = Shape((cy, cx), self.nucleus_major, self.nucleus_minor, self.nucleus_angle)
        return body, nucleus

    def parameters(self) -> dict:
        """The metadata row: identity, state and every shape parameter (for latent tests)."""
        row = dict(cell=self.index, structure=self.structure, mitotic=self.mitotic,
                   cell_major=self.cell_major, cell_minor=self.cell_minor,
                   cell_height=self.cell_height, nucleus_major=self.nucleus_major,
                   nucleus_minor=self.nucleus_minor, nucleus_height=self.nucleus_height,
                   nucleus_offset=self.nucleus_offset, nucleus_angle=self.nucleus_angle,
                   boundary_amplitude=self.boundary_amplitude, expression=self.expression)
        for order, (amplitude, phase) in enumerate(self.harmonics, start=2):
            row[f"harmonic{order}_amplitude"] = amplitude
            row[f"harmonic{order}_phase"] = phase
        return row


@dataclass(frozen=True)
class ShapeRanges:
    """The shape distribution of one state, in pixels of a 64-pixel image.

    Ranges keep every cell inside the image: the far end of the cell lies at most
    offset + major * (1 + sum of harmonic amplitudes) < 31 pixels from the nucleus.
    """

    cell_major: tuple[float, float]
    cell_aspect: tuple[float, float]
    nucleus_fraction: tuple[float, float]   # nucleus minor semi-axis / cell minor semi-axis
    nucleus_aspect: tuple[float, float]
    offset_fraction: float                  # max |offset| / (cell major - nucleus major)
    harmonic_amplitude: float               # order-2 amplitude bound (order k: x 2 / k)
    cell_height: tuple[float, float]
    nucleus_height_fraction: tuple[float, float]


INTERPHASE = ShapeRanges((16.0, 22.0), (1.2, 1.8), (0.55, 0.75), (1.0, 1.35), 0.35, 0.06,
                         (6.0, 10.0), (0.6, 0.85))
# Mitotic cells round up: nearly circular, smooth, compact, with a small condensed nucleus.
MITOTIC = ShapeRanges((12.0, 15.0), (1.0, 1.12), (0.35, 0.5), (1.0, 1.2), 0.15, 0.025,
                      (12.0, 16.0), (0.4, 0.6))


def sample_toy_cell(index: int, structure: str, mitotic: bool, scale: float,
                    rng: np.random.Generator) -> ToyCell:
    """A random cell of the given state; every draw is made, in a fixed order, from ``rng``."""
    r = MITOTIC if mitotic else INTERPHASE
    major = rng.uniform(*r.cell_major)
    minor = major / rng.uniform(*r.cell_aspect)
    nucleus_minor = minor * rng.uniform(*r.nucleus_fraction)
    nucleus_major = min(nucleus_minor * rng.uniform(*r.nucleus_aspect), 0.7 * major)
    offset = -rng.uniform(0, r.offset_fraction) * (major - nucleus_major)
    amplitudes = rng.uniform(0, r.harmonic_amplitude, 3) * (2 / np.arange(2, 5))
    phases = rng.uniform(0, 2 * np.pi, 3)
    height = rng.uniform(*r.cell_height)
    nucleus_height = height * rng.uniform(*r.nucleus_height_fraction)
    nucleus_angle = rng.normal(0, 0.12)
    expression = rng.lognormal(0, 0.3)
    return ToyCell(index, structure, bool(mitotic), major * scale, minor * scale, height * scale,
                   nucleus_major * scale, nucleus_minor * scale, nucleus_height * scale,
                   offset * scale, float(nucleus_angle),
                   tuple(zip(amplitudes.tolist(), phases.tolist())), float(expression))


def _tessellation(cell: ToyCell, shape: tuple[int, int]):
    """The cell and its nucleus rasterised, the nucleus centred in the image."""
    centre = ((shape[0] - 1) / 2, (shape[1] - 1) / 2)
    body, nucleus = cell.shapes(centre)
    geometry = Cell(body, nucleus, "mitotic" if cell.mitotic else "interphase")
    return tessellate([geometry], shape), geometry


def _layers(tessellation, geometry: Cell, scale: float, texture_seed: int) -> CellLayers:
    """The layers (masks, distance maps, textures) of the one cell, the whole image its window.

    Textures come from ``texture_seed``, so the reference and each structure draw have textures
    of their own over the same masks.
    """
    shape = tessellation.cells.shape
    maps = FieldMaps(tessellation, texture_seed, texture_tile=max(shape))
    window = (slice(0, shape[0]), slice(0, shape[1]))
    return CellLayers(tessellation.cells == 1, tessellation.nuclei == 1, window, geometry, scale,
                      maps)


# --- the structure classes --------------------------------------------------------------------

Renderer = Callable[[CellLayers, ToyCell, np.random.Generator], np.ndarray]
VolumeRenderer = Callable[[CellLayers, VolumeGeometry, ToyCell, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class StructureClass:
    """One designed structure: its rule given the reference, its randomness and its analogue;
    ``render`` draws it in 2D, ``render_volume`` in 3D following ``volume_rule``."""

    name: str
    rule: str
    randomness: str
    mitosis: str
    analogue: str
    render: Renderer
    volume_rule: str = ""
    render_volume: VolumeRenderer | None = None


def _peak_one(density: np.ndarray) -> np.ndarray:
    peak = float(density.max())
    return (density / peak if peak > 0 else density).astype(np.float32)


def _spots(points: np.ndarray, shape, sigma: float, weights=None) -> np.ndarray:
    """Gaussian spots of std ``sigma`` pixels at sub-pixel ``points`` (y, x)."""
    return ndimage.gaussian_filter(splat(points, shape, weights), sigma, truncate=3.0)


def _nucleus_centre(layers: CellLayers) -> np.ndarray:
    return np.array(layers.geometry.nucleus.center, np.float32)


def _envelope(layers, cell, rng):
    """A thin ring on the nuclear boundary; in mitosis broken into arcs and scattered pieces."""
    ring = render_pattern("nuclear_envelope", layers,
                          dict(width=0.9, pores=0.1, nucleoplasm=0.04), rng)
    if not cell.mitotic:
        return ring
    gate = np.clip(3 * (layers.smooth_noise(2.5 * layers.scale) - 0.2), 0, 1)
    near = (layers.nuclear_distance < 1) & (layers.nuclear_distance > -5 * layers.scale)
    pieces = sample_points_in(near & layers.cell, int(rng.integers(6, 13)), rng)
    return _peak_one(ring * gate + _peak_one(_spots(pieces, layers.shape, 0.8 * layers.scale)))


def _nucleolus(layers, cell, rng):
    """1-3 round blobs at random places inside the nucleus over a dim nucleoplasm; in mitosis
    4-8 small dispersed pieces around the condensed nucleus."""
    s = layers.scale
    if cell.mitotic:
        around = (layers.nuclear_distance > -3 * s) & layers.cell
        points = sample_points_in(around, int(rng.integers(4, 9)), rng)
        return _peak_one(_spots(points, layers.shape, 0.8 * s, rng.uniform(0.5, 1.0, len(points))))
    size = rng.uniform(1.5, 2.2) * s
    interior = layers.nuclear_distance > size + s
    points = sample_points_in(interior if interior.any() else layers.nucleus,
                              int(rng.integers(1, 4)), rng)
    blobs = _peak_one(_spots(points, layers.shape, size, rng.uniform(0.7, 1.0, len(points))))
    return blobs + 0.08 * layers.nucleus


def _cytoplasm(layers, cell, rng):
    """The cytoplasm filled, decaying with the distance from the nucleus (length 7 px), with a
    faint texture: almost entirely fixed by the reference."""
    s = layers.scale
    decay = np.exp(np.minimum(layers.nuclear_distance, 0) / (7 * s))
    texture = 1 + 0.05 * layers.smooth_noise(3 * s)
    return _peak_one(layers.cytoplasm * decay * texture)


def _puncta(layers, cell, rng):
    """10-30 small dots anywhere in the cytoplasm; in mitosis 2-4 clumps of 3-5 fragments each,
    anywhere in the cell (fewer, larger units: more variable by correlation and by
    -log det alike)."""
    s = layers.scale
    if cell.mitotic:
        centres = sample_points_in(layers.cell, int(rng.integers(2, 5)), rng)
        sizes = rng.integers(3, 6, len(centres))
        points = (np.repeat(centres, sizes, axis=0)
                  + rng.normal(0, 0.8 * s, (int(sizes.sum()), 2)).astype(np.float32))
        return _peak_one(_spots(points, layers.shape, 0.5 * s))
    points = sample_points_in(layers.cytoplasm, int(rng.integers(10, 31)), rng)
    return _peak_one(_spots(points, layers.shape, 0.7 * s, rng.lognormal(0, 0.3, len(points))))


def _pole_bias(layers: CellLayers, strength: float = 1.5) -> np.ndarray:
    """exp(strength * cos(2 theta)), theta the angle about the cell centre: highest at the two
    ends of the long axis (the poles)."""
    cy, cx = layers.geometry.cell.center
    dy = np.arange(layers.shape[0], dtype=np.float32)[:, None] - np.float32(cy)
    dx = np.arange(layers.shape[1], dtype=np.float32)[None, :] - np.float32(cx)
    radius_squared = np.maximum(dx * dx + dy * dy, np.float32(1e-6))
    return np.exp(strength * (dx * dx - dy * dy) / radius_squared)


def _junction(layers, cell, rng):
    """8-16 dots on the cell boundary, concentrated towards the poles, over a dim band there."""
    s = layers.scale
    band = layers.cell & (layers.membrane_distance <= 2 * s)
    bias = _pole_bias(layers)
    points = sample_points_in(band, int(rng.integers(8, 17)), rng, bias)
    dots = _peak_one(_spots(points, layers.shape, 0.8 * s))
    edge = np.exp(-0.5 * ((layers.membrane_distance - 1) / (0.8 * s)) ** 2) * layers.cell
    return _peak_one(dots + 0.15 * edge * bias / bias.max())


def _line_peak(sigma: float, step: float = 0.5) -> float:
    """The peak of one straight line of unit point masses ``step`` apart blurred by ``sigma``."""
    return 1 / (step * math.sqrt(2 * math.pi) * sigma)


def _fibre_image(points: np.ndarray, shape, sigma: float) -> np.ndarray:
    """Lines drawn as spots that saturate at one line's brightness, so that where many cross
    (at a shared start) they do not outshine single lines."""
    return -np.expm1(-_spots(points, shape, sigma) / np.float32(_line_peak(sigma)))


def _radial_lines(anchor: np.ndarray, directions: np.ndarray, lengths, skip: float,
                  rng: np.random.Generator, persistence: float = 0.03) -> np.ndarray:
    """Points along nearly straight lines leaving ``anchor``, from ``skip`` pixels out (so the
    shared start does not outshine the lines)."""
    lengths = np.broadcast_to(np.asarray(lengths, np.float64), directions.shape)
    starts = anchor[None] + skip * np.stack([np.sin(directions), np.cos(directions)], 1)
    return random_curves(starts.astype(np.float32), lengths, rng, persistence=persistence,
                         directions=directions)


def _fibres(layers, cell, rng):
    """8-14 straight fibres radiating from a centre just beside the nucleus, on the cell-body
    side; in mitosis a spindle: two poles either side of the nucleus, joined by fibres."""
    s = layers.scale
    centre = _nucleus_centre(layers)
    if cell.mitotic:
        return _spindle(layers, cell, centre, rng)
    jitter = rng.normal(0, 0.8 * s, 2)
    anchor = centre + np.array([jitter[0], cell.nucleus_major + 1.5 * s + jitter[1]], np.float32)
    directions = rng.uniform(0, 2 * np.pi, int(rng.integers(8, 15)))
    points = _radial_lines(anchor, directions, 2 * cell.cell_major, 1.0 * s, rng)
    lines = _fibre_image(points, layers.shape, 0.5 * s)
    hub = _spots(anchor[None], layers.shape, 0.9 * s)
    return _peak_one((lines + 0.6 * hub / hub.max()) * layers.cell)


def _spindle(layers, cell, centre, rng):
    s = layers.scale
    half = cell.nucleus_major + 1.0 * s
    lines = np.zeros(layers.shape, np.float32)
    for side in (-1, 1):
        pole = centre + np.array([rng.normal(0, 0.3 * s), side * half], np.float32)
        towards = np.pi * (side > 0)      # the heading from this pole towards the other
        inward = towards + rng.normal(0, 0.3, 12)
        astral = towards + np.pi + rng.normal(0, 0.6, 4)
        lines += _fibre_image(_radial_lines(pole, inward, 2 * half, 0.5 * s, rng), layers.shape,
                              0.5 * s)
        lines += _fibre_image(_radial_lines(pole, astral, 3 * s, 0.5 * s, rng), layers.shape,
                              0.5 * s)
    return _peak_one(lines * layers.cell)


def _perinuclear_cap(layers, cell, rng):
    """3-6 straight parallel fibres along the long axis, lying over the nucleus and reaching a
    little past it on both sides: an actin-cap-like structure, the rare class."""
    points = _cap_fibres(layers, cell, rng)
    return _peak_one(_fibre_image(points, layers.shape, 0.5 * layers.scale) * layers.cell)


def _cap_fibres(layers, cell, rng) -> np.ndarray:
    """The cap's in-plane fibres: 3-6 nearly straight curves along the long axis, spread over
    the nucleus's width and reaching past it on both sides; points (y, x)."""
    centre = _nucleus_centre(layers)
    n = int(rng.integers(3, 7))
    offsets = rng.uniform(-0.8, 0.8, n) * cell.nucleus_minor
    reach = cell.nucleus_major + 3 * layers.scale
    starts = np.stack([centre[0] + offsets, np.full(n, centre[1] - reach)], 1)
    directions = rng.normal(0, 0.06, n)
    return random_curves(starts.astype(np.float32), np.full(n, 2 * reach), rng,
                         persistence=0.01, directions=directions)


# --- the structure classes in 3D ----------------------------------------------------------------
#
# Each 3D renderer keeps its 2D rule, randomness and mitosis change, written in the volume's
# terms: distances to the nuclear ellipsoid's surface, points sampled inside 3D masks, lines
# with an elevation. In-plane textures (pores, patches, grain) are the 2D ones, constant
# through z. Sizes are in in-plane pixels; a round spot of std sigma is sigma / z_step slices
# deep.

def _shell_width(layers: CellLayers, volume: VolumeGeometry, width: float) -> float:
    """A shell's std in pixels: ``width`` (scaled), but at least half a voxel, so that a coarse
    z step still samples the shell's top and bottom."""
    return max(width * layers.scale, 0.5 * max(volume.z_step, 1.0))


def _envelope_volume(layers, volume, cell, rng):
    """The nuclear ellipsoid's surface (std 0.9 px) with pores, over a dim nucleoplasm; in
    mitosis gated into patches by 3D noise, plus 6-12 pieces scattered near the surface."""
    s = layers.scale
    w = _shell_width(layers, volume, 0.9)
    pores = np.clip(1 + 0.1 * layers.bandpass_noise(1.5 * s), 0, None)
    shell = np.exp(-0.5 * (volume.nuclear_distance / np.float32(w)) ** 2) * lift(pores)
    shell = _peak_one((shell + 0.04 * volume.nucleus) * volume.cell)
    if not cell.mitotic:
        return shell
    gate = np.clip(3 * (smooth_noise(volume.shape, 2.5 * s, rng) - 0.2), 0, 1)
    distance = volume.nuclear_distance
    near = (distance < 1) & (distance > -5 * s) & volume.cell
    pieces = sample_points_in_volume(near, int(rng.integers(6, 13)), rng)
    return _peak_one(shell * gate + _peak_one(spots_volume(pieces, volume.shape, 0.8 * s,
                                                           volume.z_step)))


def _nucleolus_volume(layers, volume, cell, rng):
    """1-3 round blobs at random places inside the nuclear ellipsoid (at least their size plus
    1 px from its surface) over a dim nucleoplasm; in mitosis 4-8 small pieces within 3 px of
    the condensed nucleus or inside it."""
    s = layers.scale
    if cell.mitotic:
        around = (volume.nuclear_distance > -3 * s) & volume.cell
        points = sample_points_in_volume(around, int(rng.integers(4, 9)), rng)
        return _peak_one(spots_volume(points, volume.shape, 0.8 * s, volume.z_step,
                                      rng.uniform(0.5, 1.0, len(points))))
    size = rng.uniform(1.5, 2.2) * s
    interior = volume.nuclear_distance > size + s
    points = sample_points_in_volume(interior if interior.any() else volume.nucleus,
                                     int(rng.integers(1, 4)), rng)
    blobs = _peak_one(spots_volume(points, volume.shape, size, volume.z_step,
                                   rng.uniform(0.7, 1.0, len(points))))
    return blobs + 0.08 * volume.nucleus


def _cytoplasm_volume(layers, volume, cell, rng):
    """The cell volume minus the nucleus, decaying with the 3D distance from the nuclear
    surface (length 7 px), with a faint texture."""
    s = layers.scale
    decay = np.exp(np.minimum(volume.nuclear_distance, 0) / np.float32(7 * s))
    texture = lift(1 + 0.05 * layers.smooth_noise(3 * s))
    return _peak_one(volume.cytoplasm * decay * texture)


def _puncta_volume(layers, volume, cell, rng):
    """10-30 small dots uniform in the cytoplasm volume; in mitosis 2-4 clumps of 3-5
    fragments each, anywhere in the cell volume."""
    s, step = layers.scale, volume.z_step
    if cell.mitotic:
        centres = sample_points_in_volume(volume.cell, int(rng.integers(2, 5)), rng)
        sizes = rng.integers(3, 6, len(centres))
        scatter = rng.normal(0, 0.8 * s, (int(sizes.sum()), 3)) / np.array([step, 1, 1])
        points = np.repeat(centres, sizes, axis=0) + scatter.astype(np.float32)
        return _peak_one(spots_volume(points, volume.shape, 0.5 * s, step))
    points = sample_points_in_volume(volume.cytoplasm, int(rng.integers(10, 31)), rng)
    return _peak_one(spots_volume(points, volume.shape, 0.7 * s, step,
                                  rng.lognormal(0, 0.3, len(points))))


def _junction_volume(layers, volume, cell, rng):
    """8-16 dots on the cell's lateral boundary (the columns within 2 px of the outline, at a
    uniform height up to the dome there), concentrated towards the poles, over a dim band on
    that lateral wall."""
    s = layers.scale
    band = layers.cell & (layers.membrane_distance <= 2 * s)
    bias = _pole_bias(layers)
    points = sample_points_in(band, int(rng.integers(8, 17)), rng, bias)
    rows = np.clip(points[:, 0].astype(np.intp), 0, layers.shape[0] - 1)
    cols = np.clip(points[:, 1].astype(np.intp), 0, layers.shape[1] - 1)
    heights = rng.uniform(0, 1, len(points)).astype(np.float32) * volume.top[rows, cols]
    points = np.concatenate([np.maximum(heights - 0.5, 0)[:, None], points], 1)
    dots = _peak_one(spots_volume(points, volume.shape, 0.8 * s, volume.z_step))
    edge = np.exp(-0.5 * ((layers.membrane_distance - 1) / (0.8 * s)) ** 2) * layers.cell
    return _peak_one(dots + 0.15 * volume.cell * lift(edge * bias / bias.max()))


def _fibre_volume(points: np.ndarray, volume: VolumeGeometry, sigma: float) -> np.ndarray:
    """``_fibre_image`` in 3D: lines as round spots, saturating at one line's brightness."""
    spots = spots_volume(points, volume.shape, sigma, volume.z_step)
    return -np.expm1(-spots / np.float32(line_peak_volume(sigma, volume.z_step)))


def _radial_lines_volume(anchor, azimuths, elevations, lengths, skip, volume, rng,
                         persistence: float = 0.03):
    """3D lines leaving ``anchor`` (z, y, x) from ``skip`` pixels out."""
    step = volume.z_step
    offsets = skip * np.stack([np.sin(elevations) / step, np.cos(elevations) * np.sin(azimuths),
                               np.cos(elevations) * np.cos(azimuths)], 1)
    return random_curves_volume(anchor[None] + offsets, lengths, rng, azimuths=azimuths,
                                elevations=elevations, step=step, persistence=persistence)


def _fibres_volume(layers, volume, cell, rng):
    """8-14 straight fibres radiating in 3D (elevations of std 0.3 rad about the plane) from a
    centre beside the nucleus, on the cell-body side, at the nucleus's mid-height, cut by the
    cell's volume; in mitosis a 3D spindle between two poles either side of the nucleus."""
    s, step = layers.scale, volume.z_step
    centre = volume.nucleus_centre
    if cell.mitotic:
        return _spindle_volume(layers, volume, cell, centre, rng)
    jitter = rng.normal(0, 0.8 * s, 3) / np.array([step, 1, 1])
    anchor = centre + np.array([jitter[0], jitter[1], cell.nucleus_major + 1.5 * s + jitter[2]],
                               np.float32)
    n = int(rng.integers(8, 15))
    azimuths, elevations = rng.uniform(0, 2 * np.pi, n), rng.normal(0, 0.3, n)
    points = _radial_lines_volume(anchor, azimuths, elevations, 2 * cell.cell_major, 1.0 * s,
                                  volume, rng)
    lines = _fibre_volume(points, volume, 0.5 * s)
    hub = spots_volume(anchor[None], volume.shape, 0.9 * s, step)
    return _peak_one((lines + 0.6 * hub / hub.max()) * volume.cell)


def _spindle_volume(layers, volume, cell, centre, rng):
    s = layers.scale
    half = cell.nucleus_major + 1.0 * s
    lines = np.zeros(volume.shape, np.float32)
    for side in (-1, 1):
        pole = centre + np.array([0.0, rng.normal(0, 0.3 * s), side * half], np.float32)
        towards = np.pi * (side > 0)
        inward, inward_up = towards + rng.normal(0, 0.3, 12), rng.normal(0, 0.3, 12)
        astral, astral_up = towards + np.pi + rng.normal(0, 0.6, 4), rng.normal(0, 0.6, 4)
        lines += _fibre_volume(_radial_lines_volume(pole, inward, inward_up, 2 * half, 0.5 * s,
                                                    volume, rng), volume, 0.5 * s)
        lines += _fibre_volume(_radial_lines_volume(pole, astral, astral_up, 3 * s, 0.5 * s,
                                                    volume, rng), volume, 0.5 * s)
    return _peak_one(lines * volume.cell)


def _perinuclear_cap_volume(layers, volume, cell, rng):
    """The 2D cap's 3-6 parallel fibres draped over the top of the nucleus: a fibre runs on the
    top of the nuclear ellipsoid grown by a gap (0.3 of the cell's height above the nucleus) in
    every direction, and past it at the nucleus's mid-height."""
    plane = _cap_fibres(layers, cell, rng)
    # The nucleus grown by the gap in every direction: the fibres lie on its top surface.
    gap = 0.3 * (volume.cell_height - volume.nucleus_height)             # voxels
    nucleus = volume.nucleus_shape
    grown = Shape(nucleus.center, nucleus.major + gap * volume.z_step,
                  nucleus.minor + gap * volume.z_step, nucleus.angle)
    rho = grown.normalised_radius(plane[:, 0], plane[:, 1])
    rise = 0.5 * volume.nucleus_height + gap
    heights = volume.nucleus_z + rise * np.sqrt(np.clip(1 - rho * rho, 0, 1))
    points = np.concatenate([(heights - 0.5)[:, None].astype(np.float32), plane], 1)
    return _peak_one(_fibre_volume(points, volume, 0.5 * layers.scale) * volume.cell)


STRUCTURES: dict[str, StructureClass] = {c.name: c for c in [
    StructureClass("envelope", "a ring on the nuclear boundary", "almost none",
                   "fragmented into arcs and scattered pieces", "lamin B1", _envelope,
                   "the nuclear ellipsoid's surface", _envelope_volume),
    StructureClass("nucleolus", "1-3 blobs inside the nucleus", "positions",
                   "dispersed into 4-8 small pieces", "fibrillarin", _nucleolus,
                   "1-3 blobs inside the nuclear ellipsoid", _nucleolus_volume),
    StructureClass("cytoplasm", "cytoplasm fill decaying away from the nucleus", "almost none",
                   "unchanged", "Sec61b (ER)", _cytoplasm,
                   "the cell volume minus the nucleus, decaying away from the nuclear surface",
                   _cytoplasm_volume),
    StructureClass("puncta", "10-30 dots anywhere in the cytoplasm", "high",
                   "clumped into 2-4 clusters of fragments", "Tom20", _puncta,
                   "10-30 dots uniform in the cytoplasm volume", _puncta_volume),
    StructureClass("junction", "dots on the cell boundary, biased to the poles", "medium",
                   "unchanged", "ZO1 / desmoplakin", _junction,
                   "dots on the cell's lateral wall at random heights, biased to the poles",
                   _junction_volume),
    StructureClass("fibres", "straight fibres radiating from a point beside the nucleus",
                   "medium", "a stereotyped spindle (less variable)", "alpha-tubulin", _fibres,
                   "3D fibres radiating from a point beside the nucleus at its mid-height",
                   _fibres_volume),
    StructureClass("perinuclear_cap", "parallel fibres along the long axis over the nucleus",
                   "medium", "unchanged", "Myosin IIB (the rare class)", _perinuclear_cap,
                   "parallel fibres draped over the top of the nucleus",
                   _perinuclear_cap_volume),
]}
STRUCTURE_CLASSES = tuple(STRUCTURES)
RARE_STRUCTURE = "perinuclear_cap"
# Imbalanced as the 3D paper's Table S9 (Tom20 and lamin B1 most common, Myosin IIB rarest).
CLASS_FREQUENCIES = (0.22, 0.08, 0.14, 0.22, 0.14, 0.17, 0.03)


def structure_table(config: IntegratedCellConfig | None = None) -> pd.DataFrame:
    """The designed classes as a table: rule, randomness, mitosis change, analogue, frequency;
    for a volume config also each class's ``volume_rule`` (its rule in 3D)."""
    config = config or IntegratedCellConfig()
    frequency = dict(zip(config.classes, config.frequencies))
    volume = config.depth is not None
    return pd.DataFrame([dict(structure=c.name, rule=c.rule, randomness=c.randomness,
                              mitosis=c.mitosis, analogue=c.analogue,
                              frequency=frequency.get(c.name, 0.0))
                         | (dict(volume_rule=c.volume_rule) if volume else {})
                         for c in STRUCTURES.values() if c.name in frequency])


# --- the configuration ------------------------------------------------------------------------

@dataclass(frozen=True)
class IntegratedCellConfig:
    """Everything that determines a set of toy integrated cells; equal configs, equal data."""

    seed: int = 0
    n_cells: int = 2000
    size: int | tuple[int, ...] = 64          # side, (H, W), or (Z, Y, X) for volumes
    classes: tuple[str, ...] = STRUCTURE_CLASSES
    frequencies: tuple[float, ...] = CLASS_FREQUENCIES
    mitosis_fraction: float = 0.1
    nuisance: float = 0.5                     # microscope nuisance: 0 clean, 1 the atlas's

    def __post_init__(self):
        # Lists (from JSON, or typed by hand) become tuples, so equal configs compare equal.
        for name in ("classes", "frequencies") + (() if isinstance(self.size, int) else ("size",)):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.size, self.size) if isinstance(self.size, int) else tuple(self.size)

    @property
    def plane(self) -> tuple[int, int]:
        """The in-plane size (H, W) or (Y, X): a volume's cells are the 2D cells of this size."""
        return self.shape[-2:]

    @property
    def depth(self) -> int | None:
        """The number of z slices Z of a volume config; None in 2D."""
        return self.shape[0] if len(self.shape) == 3 else None

    @property
    def scale(self) -> float:
        """In-plane pixels per reference pixel (of a 64-pixel image), from the in-plane size."""
        return min(self.plane) / REFERENCE_SIZE

    def as_dict(self) -> dict:
        return asdict(self)

    def cache_config(self) -> dict:
        """The config plus the generator's version: what cached data are keyed by."""
        return self.as_dict() | {"generator": "cellnb.sim.integrated",
                                 "generator_version": GENERATOR_VERSION}

    def validate(self) -> None:
        if len(self.shape) == 3:
            if self.shape[0] < MIN_DEPTH or min(self.plane) < MIN_SIDE:
                raise ValueError(f"a volume size (Z, Y, X) needs Z >= {MIN_DEPTH} and Y, X >= "
                                 f"{MIN_SIDE}, got {self.size}")
        elif len(self.shape) != 2 or min(self.shape) < MIN_SIDE:
            raise ValueError(f"size must be a side, (H, W) of at least {MIN_SIDE}, or "
                             f"(Z, Y, X), got {self.size}")
        unknown = [c for c in self.classes if c not in STRUCTURES]
        if unknown:
            raise KeyError(f"unknown structure classes {unknown}; known: {STRUCTURE_CLASSES}")
        if len(self.frequencies) != len(self.classes):
            raise ValueError(f"{len(self.frequencies)} frequencies for {len(self.classes)} classes")
        if min(self.frequencies) < 0 or abs(sum(self.frequencies) - 1) > 1e-6:
            raise ValueError(f"frequencies must be >= 0 and sum to 1, got {self.frequencies}")
        if self.n_cells < 1 or not 0 <= self.mitosis_fraction <= 1 or self.nuisance < 0:
            raise ValueError("need n_cells >= 1, 0 <= mitosis_fraction <= 1 and nuisance >= 0")

    def class_index(self, k: int | str) -> int:
        """The position of class ``k`` (an index or a name) in ``classes``."""
        if isinstance(k, str):
            if k not in self.classes:
                raise KeyError(f"no class {k!r} in this config; it has {self.classes}")
            return self.classes.index(k)
        if not 0 <= k < len(self.classes):
            raise IndexError(f"class index {k} outside 0..{len(self.classes) - 1}")
        return int(k)


# --- random streams ---------------------------------------------------------------------------

_LABELS, _CELLS = 0, 1
_GEOMETRY, _REFERENCE_NOISE, _STRUCTURE, _RESAMPLE = 0, 1, 2, 3


def _stream(config: IntegratedCellConfig, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=key))


def _quota(n: int, fractions) -> np.ndarray:
    """Counts summing to ``n`` closest to ``n * fractions`` (largest remainders)."""
    exact = n * np.asarray(fractions, float)
    counts = np.floor(exact).astype(int)
    rest = np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]
    counts[rest] += 1
    return counts


def assign_labels(config: IntegratedCellConfig) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's class (index into ``config.classes``) and mitosis flag.

    Dealt by exact quotas in a random order, so the class frequencies and the mitotic fraction
    hold to rounding, the mitotic cells independent of class.
    """
    rng = _stream(config, _LABELS)
    classes = np.repeat(np.arange(len(config.classes)), _quota(config.n_cells, config.frequencies))
    classes = rng.permutation(classes)
    mitotic = np.zeros(config.n_cells, bool)
    mitotic[: int(round(config.mitosis_fraction * config.n_cells))] = True
    return classes, rng.permutation(mitotic)


def _draw_cell(config: IntegratedCellConfig, index: int, labels=None):
    """Cell ``index`` and its geometry stream, positioned after the shape draws."""
    if not 0 <= index < config.n_cells:
        raise IndexError(f"cell {index} outside 0..{config.n_cells - 1}")
    classes, mitotic = labels if labels is not None else assign_labels(config)
    rng = _stream(config, _CELLS, index, _GEOMETRY)
    cell = sample_toy_cell(index, config.classes[classes[index]], bool(mitotic[index]),
                           config.scale, rng)
    return cell, rng


def toy_cell(config: IntegratedCellConfig, index: int) -> ToyCell:
    """The class, state and shape parameters of cell ``index`` of ``config``'s set."""
    return _draw_cell(config, index)[0]


# --- rendering --------------------------------------------------------------------------------

def normalise_channel(image: np.ndarray) -> np.ndarray:
    """The papers' per-channel intensity preprocessing (2D paper, Sec. 3.1): subtract the most
    populous intensity, clip at 0, rescale the maximum to 1 (:mod:`cellnb.data.alignment`)."""
    shifted, _ = subtract_mode_background(image[None])
    return scale_to_unit_range(shifted)[0][0]


@dataclass
class _Reference:
    """A cell's fixed part: geometry, layers, microscope and imaged reference channels (and,
    for a volume config, its volume)."""

    cell: ToyCell
    tessellation: Tessellation
    layers: CellLayers
    acquisition: Acquisition
    membrane: np.ndarray
    dna: np.ndarray
    volume: VolumeGeometry | None = None


def _reference(config: IntegratedCellConfig, index: int, labels=None) -> _Reference:
    """Cell ``index`` with its membrane and DNA imaged: everything a structure draw keeps."""
    cell, rng = _draw_cell(config, index, labels)
    acquisition = sample_acquisition(rng, scale=config.scale, strength=config.nuisance)
    tessellation, geometry = _tessellation(cell, config.plane)
    layers = _layers(tessellation, geometry, config.scale, int(rng.integers(2**63)))
    if config.depth is not None:
        return _volume_reference(config, index, cell, tessellation, layers, acquisition)
    membrane = render_pattern("plasma_membrane", layers,
                              dict(width=0.9, patchiness=0.3, interior=0.15), rng)
    # Condensed mitotic chromatin: stronger, finer texture.
    chromatin = (dict(texture=0.5, grain=1.0) if cell.mitotic
                 else dict(texture=0.25, grain=1.5))
    dna = render_pattern("nucleoplasm", layers,
                         chromatin | dict(nucleolar_holes=0, cytoplasmic_leak=0.0), rng)
    noise = _stream(config, _CELLS, index, _REFERENCE_NOISE)
    imaged = acquire(np.stack([membrane, dna]), acquisition, noise, PEAK_BRIGHTNESS)
    return _Reference(cell, tessellation, layers, acquisition, normalise_channel(imaged[0]),
                      normalise_channel(imaged[1]))


def _volume_reference(config: IntegratedCellConfig, index: int, cell: ToyCell,
                      tessellation: Tessellation, layers: CellLayers,
                      acquisition: Acquisition) -> _Reference:
    """The volume of a cell and its membrane and DNA imaged in 3D.

    The membrane is a shell on the cell's whole surface (the basal side on the coverslip
    included) with the 2D patches, over a dim cytoplasm; the DNA fills the nuclear ellipsoid
    with the 2D chromatin texture (finer and stronger in mitosis).
    """
    depth = config.depth
    reference = cell.cell_height / config.scale           # the height in reference pixels
    cell_height = height_in_voxels(reference, depth)
    volume = build_volume(layers, depth, cell_height,
                          cell_height * cell.nucleus_height / cell.cell_height)
    s = layers.scale
    w = _shell_width(layers, volume, 0.9)
    patches = np.clip(1 + 0.3 * layers.smooth_noise(3 * s), 0, None)
    shell = np.exp(-0.5 * ((volume.membrane_distance - 1) / np.float32(w)) ** 2)
    membrane = _peak_one(shell * volume.cell * lift(patches) + 0.15 * volume.cytoplasm)
    texture, grain = (0.5, 1.0) if cell.mitotic else (0.25, 1.5)
    chromatin = np.clip(1 + texture * layers.smooth_noise(grain * s), 0, None)
    dna = _peak_one(volume.nucleus * lift(chromatin))
    noise = _stream(config, _CELLS, index, _REFERENCE_NOISE)
    imaged = acquire_volume(np.stack([membrane, dna]), acquisition, noise, PEAK_BRIGHTNESS,
                            step=volume.z_step)
    return _Reference(cell, tessellation, layers, acquisition, normalise_channel(imaged[0]),
                      normalise_channel(imaged[1]), volume)


def _structure_density(reference: _Reference, structure: str,
                       rng: np.random.Generator) -> np.ndarray:
    """One draw of ``structure`` in the reference's cell, with textures of its own."""
    layers = _layers(reference.tessellation, reference.layers.geometry, reference.layers.scale,
                     int(rng.integers(2**63)))
    if reference.volume is not None:
        volume = reference.volume
        return (STRUCTURES[structure].render_volume(layers, volume, reference.cell, rng)
                * volume.cell)
    return STRUCTURES[structure].render(layers, reference.cell, rng) * layers.cell


def _structure_image(reference: _Reference, structure: str, rng: np.random.Generator,
                     imaging: bool = True) -> np.ndarray:
    density = _structure_density(reference, structure, rng)
    if not imaging:
        return _peak_one(density)
    brightness = PEAK_BRIGHTNESS * reference.cell.expression
    if reference.volume is not None:
        imaged = acquire_volume(density, reference.acquisition, rng, brightness,
                                step=reference.volume.z_step)
    else:
        imaged = acquire(density, reference.acquisition, rng, brightness)
    return normalise_channel(imaged)


def _render_cell(config: IntegratedCellConfig, index: int, labels):
    reference = _reference(config, index, labels)
    cell = reference.cell
    structure = _structure_image(reference, cell.structure,
                                 _stream(config, _CELLS, index, _STRUCTURE))
    image = np.stack([reference.membrane, structure, reference.dna])
    layers, volume = reference.layers, reference.volume
    row = cell.parameters() | dict(
        structure_id=config.class_index(cell.structure), cell_area=int(layers.cell.sum()),
        nucleus_area=int(layers.nucleus.sum()), psf_sigma=reference.acquisition.psf_sigma,
        photons=reference.acquisition.photons)
    if volume is None:
        masks = np.stack([layers.cell, layers.nucleus]).astype(np.uint8)
    else:
        masks = np.stack([volume.cell, volume.nucleus]).astype(np.uint8)
        row |= dict(cell_height_voxels=volume.cell_height,
                    nucleus_height_voxels=volume.nucleus_height, nucleus_z=volume.nucleus_z,
                    z_step=volume.z_step, cell_volume=int(volume.cell.sum()),
                    nucleus_volume=int(volume.nucleus.sum()))
    return image, masks, row


def _render_chunk(indices, config: IntegratedCellConfig, labels):
    return [_render_cell(config, int(i), labels) for i in indices]


def generate_integrated_cells(config: IntegratedCellConfig | None = None, *,
                              progress: bool = True, workers: int = 1) -> ImageSet:
    """Toy integrated cells: images (N, 3, H, W) in [0, 1], channels membrane, structure, DNA;
    for a volume config (``size=(Z, Y, X)``) images (N, 3, Z, Y, X).

    Masks ``cell`` and ``nucleus`` come from the generator's geometry; metadata has one row per
    cell with its class (``structure``, ``structure_id``), ``mitotic`` flag and shape parameters
    (``ToyCell.parameters``), in volumes also ``cell_height_voxels``,
    ``nucleus_height_voxels``, ``nucleus_z`` (the nuclear centre's height), ``z_step`` (in-plane
    pixels per z step), ``cell_volume`` and ``nucleus_volume`` (voxels); ``cell_area`` and
    ``nucleus_area`` are always the 2D (projected) areas. The table ``structures`` describes the
    classes (in volumes with their ``volume_rule``). ``workers`` processes share the cells,
    which does not change any pixel. The arrays are filled in place: a volume set needs
    N x (3 x 4 + 2) bytes per voxel, e.g. 66 GB for 6,000 cells of (64, 96, 128).
    """
    config = config or IntegratedCellConfig()
    config.validate()
    labels = assign_labels(config)
    images, masks, rows = render_cells(
        partial(_render_chunk, config=config, labels=labels), config.n_cells,
        (len(INTEGRATED_CHANNELS), *config.shape), (len(INTEGRATED_MASKS), *config.shape),
        workers=workers, desc="simulating integrated cells", progress=progress)
    return ImageSet(images, INTEGRATED_CHANNELS, pd.DataFrame(rows), masks,
                    INTEGRATED_MASKS, tables={"structures": structure_table(config)},
                    attrs=dict(generator="cellnb.sim.integrated",
                               generator_version=GENERATOR_VERSION, kind="integrated_cells",
                               config=config.as_dict()))


def resample_structure(config: IntegratedCellConfig, cell: int, k: int | str, n: int, *,
                       seed: int = 0, imaging: bool = True,
                       with_reference: bool = False) -> np.ndarray:
    """``n`` fresh draws of class ``k``'s structure channel in cell ``cell``: (n, H, W), or
    (n, Z, Y, X) for a volume config.

    The cell's geometry, reference channels and microscope are those of the generated set; only
    the structure's randomness (and, with ``imaging``, the camera noise) is new in each draw,
    and ``k`` need not be the cell's own class. The mean over draws is the ground-truth
    conditional mean E[x^s | r, y = k] (the target of Algorithm 3, integration); their spread is
    the ground-truth variability (Algorithm 4's -log det(corr) / n on true resamples).
    ``imaging=False`` gives the noise-free densities (peak 1) instead of microscope images.
    ``with_reference`` returns whole images (n, 3, H, W) or (n, 3, Z, Y, X) with the fixed
    membrane and DNA.
    """
    config.validate()
    k = config.class_index(k)
    reference = _reference(config, cell)
    draws = np.stack([
        _structure_image(reference, config.classes[k],
                         _stream(config, _CELLS, cell, _RESAMPLE, seed, j), imaging)
        for j in range(n)])
    if not with_reference:
        return draws
    fixed = np.broadcast_to(np.stack([reference.membrane, reference.dna]), (n, 2) + draws.shape[1:])
    return np.stack([fixed[:, 0], draws, fixed[:, 1]], axis=1)
