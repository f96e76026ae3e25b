"""Volumes from a cell's 2D layers: the toy integrated cells in (Z, Y, X).

A cell sits on the coverslip at z = 0, z increasing upwards. Its in-plane geometry is the 2D
cell's (the same outline, nucleus and distance maps); the volume adds heights:

* the cell body is a dome over its 2D outline, of local height
  ``top(y, x) = H * sqrt(1 - rho^2)``, with ``rho`` a normalised radial position that runs from
  0 over the nuclear centre (``rho = RHO_NUCLEUS * rho_n`` over the nucleus, ``rho_n`` the
  nucleus's own normalised radius) to 1 at the outline (in the cytoplasm
  ``rho = RHO_NUCLEUS + (1 - RHO_NUCLEUS) * d_n / (d_n + d_m)``, ``d_n`` and ``d_m`` the 2D
  distances to the nucleus and to the outline). The cell is tallest over its nucleus, as
  cells are, and its sides rise steeply from the outline;
* the nucleus is the ellipsoid whose equator is the 2D nuclear ellipse and whose height is
  ``nucleus_height``, its bottom ``NUCLEUS_LIFT`` of the free height above the coverslip;
  every voxel of it belongs to the cell.

Both masks keep every column of their 2D masks (the voxel nearest the coverslip of a cell
column, the one nearest the nuclear equator of a nucleus column, are always in), so their
maximum projections along z are the 2D masks exactly.

Lengths: distances are in in-plane pixels. One z step is ``z_step`` in-plane pixels,
min(Y, X) / (1.5 Z): the paper's 128 x 96 x 64 box, (64, 96, 128) here, and (16, 24, 32) have
cubic voxels. The microscope's axial PSF is ``AXIAL_PSF_RATIO`` times its lateral one, as in a
confocal microscope.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cached_property

import edt
import numpy as np
from scipy import ndimage

from .geometry import CellLayers, Shape
from .imaging import Acquisition, acquire

DEPTH_RATIO = 1.5          # a box of min(Y, X) / DEPTH_RATIO slices has cubic voxels
MIN_DEPTH, MIN_SIDE = 8, 24
RHO_NUCLEUS = 0.3          # the dome's normalised radius at the nuclear boundary
NUCLEUS_LIFT = 0.4         # the nucleus's bottom gap / (cell height - nucleus height)
HEIGHT_FRACTION = (0.5, 0.8)   # cell heights 6 and 16 reference pixels fill these parts of Z
HEIGHT_RANGE = (6.0, 16.0)
AXIAL_PSF_RATIO = 2.0


def z_step(shape) -> float:
    """One z step in in-plane pixels for a (Z, Y, X) volume."""
    depth, *plane = shape
    return min(plane) / (DEPTH_RATIO * depth)


def height_in_voxels(height: float, depth: int) -> float:
    """A cell height in reference pixels (6-10 interphase, 12-16 mitotic) as voxels of a
    ``depth``-slice volume: affinely onto HEIGHT_FRACTION of it, so that interphase cells fill
    half to 0.62 of the slices and the rounded mitotic cells 0.68-0.8 (the paper's hiPSCs fill
    most of their 64 slices)."""
    low, high = HEIGHT_RANGE
    t = min(max((height - low) / (high - low), 0.0), 1.0)
    return depth * (HEIGHT_FRACTION[0] + t * (HEIGHT_FRACTION[1] - HEIGHT_FRACTION[0]))


def lift(plane: np.ndarray) -> np.ndarray:
    """A (Y, X) map as a (1, Y, X) view: the same value through z."""
    return np.asarray(plane)[None]


@dataclass
class VolumeGeometry:
    """One cell's volume: masks, heights (voxels) and 3D distance maps (in-plane pixels).

    Heights are above the coverslip; voxel ``k`` spans heights [k, k + 1), so a height ``h``
    is the index coordinate ``h - 0.5`` (voxel centres at integers, as ``splat`` takes them).
    """

    depth: int
    z_step: float
    cell_height: float       # H, voxels
    nucleus_height: float    # voxels
    nucleus_z: float         # the nuclear centre's height, voxels
    top: np.ndarray          # (Y, X) the dome's height, voxels; 0 outside the cell
    nucleus_shape: Shape     # the 2D nuclear ellipse
    cell: np.ndarray         # (Z, Y, X) bool
    nucleus: np.ndarray      # (Z, Y, X) bool

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.cell.shape

    @cached_property
    def cytoplasm(self) -> np.ndarray:
        return self.cell & ~self.nucleus

    @property
    def nucleus_centre(self) -> np.ndarray:
        """The nuclear centre as index coordinates (z, y, x)."""
        cy, cx = self.nucleus_shape.center
        return np.array([self.nucleus_z - 0.5, cy, cx], np.float32)

    @cached_property
    def heights(self) -> np.ndarray:
        """Each slice's centre height, (Z, 1, 1)."""
        return (np.arange(self.depth, dtype=np.float32) + np.float32(0.5))[:, None, None]

    def _rotated(self):
        n = self.nucleus_shape
        yy = np.arange(self.shape[1], dtype=np.float32)[:, None] - np.float32(n.center[0])
        xx = np.arange(self.shape[2], dtype=np.float32)[None, :] - np.float32(n.center[1])
        c, s = np.float32(math.cos(n.angle)), np.float32(math.sin(n.angle))
        return xx * c + yy * s, yy * c - xx * s

    @cached_property
    def nuclear_distance(self) -> np.ndarray:
        """Signed distance to the nuclear ellipsoid's surface (pixels, positive inside).

        First order in the ellipsoid's normalised radius R: (1 - R) / |grad R|, exact for a
        sphere and on the surface, smooth everywhere (no voxel staircase).
        """
        n = self.nucleus_shape
        u, v = self._rotated()
        a2, b2 = np.float32(n.major ** 2), np.float32(n.minor ** 2)
        c2 = np.float32((0.5 * self.nucleus_height * self.z_step) ** 2)
        w = (self.heights - np.float32(self.nucleus_z)) * np.float32(self.z_step)
        plane = u * u / a2 + v * v / b2
        plane_gradient = u * u / (a2 * a2) + v * v / (b2 * b2)
        f = plane[None] + w * w / c2                                    # R^2
        g = np.sqrt(plane_gradient[None] + w * w / (c2 * c2))           # |grad R| * R
        radius = np.sqrt(f)
        smallest = np.float32(min(n.minor, n.major, math.sqrt(c2)))
        ratio = np.where(g > 1e-12, radius / np.maximum(g, np.float32(1e-12)), smallest)
        return ((1 - radius) * ratio).astype(np.float32)

    @cached_property
    def membrane_distance(self) -> np.ndarray:
        """Distance from a cell voxel to the nearest voxel outside the cell (pixels; the
        coverslip side is outside too), 0 outside the cell."""
        # Transform only the cell's box, with one empty slice below it for the coverslip and
        # one empty voxel on every other side: the same distances, at a third of the cost.
        cell = self.cell
        ends = [np.flatnonzero(cell.any(axis=tuple(b for b in range(3) if b != a)))[[0, -1]]
                for a in range(3)]
        box = (slice(0, min(ends[0][1] + 2, cell.shape[0])),) + tuple(
            slice(max(start - 1, 0), min(stop + 2, n))
            for (start, stop), n in zip(ends[1:], cell.shape[1:]))
        padded = np.zeros((box[0].stop + 1,) + tuple(b.stop - b.start for b in box[1:]), bool)
        padded[1:] = cell[box]
        distance = edt.edt(padded, anisotropy=(self.z_step, 1.0, 1.0), black_border=True,
                           parallel=1)
        out = np.zeros(cell.shape, np.float32)
        out[box] = distance[1:]
        return out


def build_volume(layers: CellLayers, depth: int, cell_height: float,
                 nucleus_height: float) -> VolumeGeometry:
    """The volume of the cell whose 2D layers are ``layers``; heights in voxels."""
    step = z_step((depth,) + layers.shape)
    nucleus_shape = layers.geometry.nucleus
    yy = np.arange(layers.shape[0], dtype=np.float32)[:, None]
    xx = np.arange(layers.shape[1], dtype=np.float32)[None, :]
    rho_n = nucleus_shape.normalised_radius(yy, xx)
    to_nucleus = np.maximum(-layers.nuclear_distance, 0)
    to_outline = np.maximum(layers.membrane_distance, 1)
    rho = np.where(layers.nucleus, RHO_NUCLEUS * np.minimum(rho_n, 1),
                   RHO_NUCLEUS + (1 - RHO_NUCLEUS) * to_nucleus / (to_nucleus + to_outline))
    top = np.where(layers.cell, cell_height * np.sqrt(np.clip(1 - rho * rho, 0, 1)), 0)
    top = top.astype(np.float32)
    nucleus_z = NUCLEUS_LIFT * (cell_height - nucleus_height) + 0.5 * nucleus_height
    heights = (np.arange(depth, dtype=np.float32) + np.float32(0.5))[:, None, None]
    half = 0.5 * nucleus_height * np.sqrt(np.clip(1 - rho_n * rho_n, 0, 1))
    equator = np.arange(depth)[:, None, None] == min(int(nucleus_z), depth - 1)
    nucleus = lift(layers.nucleus) & ((np.abs(heights - np.float32(nucleus_z)) <= half[None])
                                      | equator)
    bottom = np.arange(depth)[:, None, None] == 0
    cell = (lift(layers.cell) & ((heights < top[None]) | bottom)) | nucleus
    return VolumeGeometry(depth, step, float(cell_height), float(nucleus_height),
                          float(nucleus_z), top, nucleus_shape, cell, nucleus)


# --- drawing in volumes -----------------------------------------------------------------------

def splat_volume(points: np.ndarray, shape, weights=None) -> np.ndarray:
    """Point masses at sub-voxel ``points`` (n, 3: z, y, x index coordinates), trilinearly."""
    if len(points) == 0:
        return np.zeros(shape, np.float32)
    weights = (np.ones(len(points), np.float32) if weights is None
               else np.asarray(weights, np.float32))
    base = np.floor(points).astype(np.intp)
    frac = (points - base).astype(np.float32)
    flat, mass = [], []
    for corner in range(8):
        offset = np.array([(corner >> 2) & 1, (corner >> 1) & 1, corner & 1])
        index = base + offset
        weight = np.prod(np.where(offset, frac, 1 - frac), axis=1) * weights
        inside = np.all((index >= 0) & (index < np.array(shape)), axis=1)
        flat.append(np.ravel_multi_index(tuple(index[inside].T), shape))
        mass.append(weight[inside])
    image = np.bincount(np.concatenate(flat), np.concatenate(mass), minlength=math.prod(shape))
    return image.reshape(shape).astype(np.float32)


def spot_sigma(sigma: float, step: float) -> tuple[float, float, float]:
    """A round spot's std of ``sigma`` pixels as (z, y, x) voxels."""
    return (sigma / step, sigma, sigma)


def blur(density: np.ndarray, sigma, truncate: float = 3.0) -> np.ndarray:
    """``ndimage.gaussian_filter(density, sigma, truncate=truncate)``, filtering only the box
    around the nonzero values grown by the kernel's radius (the rest stays 0): the same
    values, at a fraction of the cost where a cell fills a small part of its volume."""
    density = np.asarray(density, np.float32)
    box = []
    for axis, s in enumerate(sigma):
        others = tuple(a for a in range(density.ndim) if a != axis)
        nonzero = np.flatnonzero(np.any(density != 0, axis=others))
        if nonzero.size == 0:
            return np.zeros_like(density)
        radius = int(truncate * float(s) + 0.5) if s > 0 else 0
        box.append(slice(max(nonzero[0] - radius, 0),
                         min(nonzero[-1] + radius + 1, density.shape[axis])))
    out = np.zeros_like(density)
    box = tuple(box)
    out[box] = ndimage.gaussian_filter(density[box], sigma, truncate=truncate)
    return out


def spots_volume(points: np.ndarray, shape, sigma: float, step: float,
                 weights=None) -> np.ndarray:
    """Round Gaussian spots of std ``sigma`` in-plane pixels at ``points`` (z, y, x)."""
    return blur(splat_volume(points, shape, weights), spot_sigma(sigma, step))


def line_peak_volume(sigma: float, step: float, spacing: float = 0.5) -> float:
    """The peak of a straight in-plane line of unit masses ``spacing`` pixels apart blurred
    into round spots of std ``sigma`` pixels."""
    return 1 / (spacing * 2 * math.pi * sigma * (sigma / step))


def sample_points_in_volume(mask: np.ndarray, n: int, rng: np.random.Generator,
                            weight: np.ndarray | None = None) -> np.ndarray:
    """``n`` sub-voxel points (z, y, x) inside ``mask``, with probability proportional to
    ``weight`` (broadcast to the mask); each within half a voxel of its voxel's centre."""
    candidates = np.flatnonzero(mask)
    if n <= 0 or candidates.size == 0:
        return np.zeros((0, mask.ndim), np.float32)
    if weight is None:
        chosen = candidates[rng.integers(candidates.size, size=n)]
    else:
        cumulative = np.cumsum(np.broadcast_to(weight, mask.shape).ravel()[candidates],
                               dtype=np.float64)
        if cumulative[-1] <= 0:
            chosen = candidates[rng.integers(candidates.size, size=n)]
        else:
            picks = np.searchsorted(cumulative, rng.random(n) * cumulative[-1], side="right")
            chosen = candidates[np.minimum(picks, candidates.size - 1)]
    index = np.stack(np.unravel_index(chosen, mask.shape), 1).astype(np.float32)
    return index + rng.uniform(-0.5, 0.5, index.shape).astype(np.float32)


def random_curves_volume(starts: np.ndarray, lengths, rng: np.random.Generator, *,
                         azimuths: np.ndarray, elevations: np.ndarray, step: float,
                         persistence: float = 0.03, spacing: float = 0.5) -> np.ndarray:
    """Points along nearly straight 3D lines from ``starts`` (n, 3: z, y, x index
    coordinates): each keeps its ``elevations`` (radians above the plane) while its in-plane
    heading starts at ``azimuths`` (the 2D convention: y = sin, x = cos) and turns by
    ``persistence`` radians (std) per ``spacing``-pixel step; ``lengths`` in pixels."""
    n = len(starts)
    if n == 0:
        return np.zeros((0, 3), np.float32)
    lengths = np.broadcast_to(np.asarray(lengths, np.float64), (n,))
    steps = int(np.ceil(lengths.max() / spacing))
    turns = rng.normal(0, persistence, (steps, n)).cumsum(0) + np.asarray(azimuths, float)
    flat = spacing * np.cos(np.asarray(elevations, float))
    rise = spacing * np.sin(np.asarray(elevations, float)) / step
    increments = np.stack([np.broadcast_to(rise, (steps, n)), flat * np.sin(turns),
                           flat * np.cos(turns)], -1)
    paths = np.asarray(starts, np.float64)[None] + np.cumsum(increments, 0)
    keep = (np.arange(1, steps + 1)[:, None] * spacing) <= lengths[None]
    return paths[keep].astype(np.float32)


# --- the microscope ---------------------------------------------------------------------------

def acquire_volume(density: np.ndarray, acquisition: Acquisition, rng: np.random.Generator,
                   brightness: float = 1.0, *, step: float) -> np.ndarray:
    """``imaging.acquire`` for (Z, Y, X) or (C, Z, Y, X) densities: a 3D Gaussian PSF (axial
    std ``AXIAL_PSF_RATIO`` times the lateral one, in pixels; ``step`` pixels per z step), then
    the same gain, illumination, background and camera noise as in 2D."""
    density = np.asarray(density, np.float32)
    sigma = acquisition.psf_sigma
    blurred = blur(density,
                   (0.0,) * (density.ndim - 3) + (AXIAL_PSF_RATIO * sigma / step, sigma, sigma))
    return acquire(blurred, dataclasses.replace(acquisition, psf_sigma=0.0), rng, brightness)
