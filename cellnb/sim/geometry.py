"""Cell and nucleus geometry: smooth random shapes, their placement in a field, and the per-cell
layers (masks and distance maps) that localisation patterns are drawn from.

A shape is an ellipse whose radius is modulated by a few low-order angular harmonics, which gives
smooth, irregular outlines. Cells in a field are tessellated: where two cells' shapes overlap, a
pixel belongs to the cell in whose normalised radius it lies deeper, so neighbours abut like
cells in a confluent culture instead of overlapping. All lengths are in "reference pixels" (a
64-pixel crop) multiplied by a scale factor, so a 100-pixel crop shows the same cells, larger.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Morphology:
    """The shape distribution of one "cell line" (a morphology regime), in reference pixels."""

    name: str
    cell_major: tuple[float, float]       # semi-major axis range of the cell body
    cell_aspect: tuple[float, float]      # major/minor axis ratio range
    nucleus_fraction: tuple[float, float]  # nucleus minor radius / cell minor radius
    nucleus_offset: float                 # max offset of the nucleus along the major axis (fraction)
    irregularity: float                   # amplitude of the angular harmonics


MORPHOLOGIES = {
    "round": Morphology("round", (14.0, 18.0), (1.0, 1.35), (0.5, 0.66), 0.25, 0.06),
    "elongated": Morphology("elongated", (19.0, 25.0), (1.6, 2.3), (0.62, 0.8), 0.35, 0.08),
}


@dataclass(frozen=True)
class Shape:
    """A smooth closed 2D shape: centre (y, x), semi-axes, orientation, angular harmonics."""

    center: tuple[float, float]
    major: float
    minor: float
    angle: float
    harmonics: tuple[tuple[float, float], ...] = ()   # (amplitude, phase) for orders 2, 3, ...

    @property
    def extent(self) -> float:
        """A radius that encloses the shape."""
        return self.major * (1 + sum(abs(a) for a, _ in self.harmonics)) + 1

    def normalised_radius(self, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        """< 1 inside the shape, 1 on its outline, growing outside."""
        dy, dx = yy - self.center[0], xx - self.center[1]
        c, s = np.cos(self.angle), np.sin(self.angle)
        u, v = (dx * c + dy * s) / self.major, (-dx * s + dy * c) / self.minor
        rho = np.sqrt(u * u + v * v)
        if self.harmonics:
            # cos(k*theta + phase) = Re(z**k * exp(i*phase)) with z = exp(i*theta): powers of a
            # unit complex number are much cheaper than arctan2 and cos on every pixel.
            z = (u + 1j * v) / np.maximum(rho, 1e-9)
            power, outline = z, 1.0
            for amplitude, phase in self.harmonics:
                power = power * z
                outline = outline + amplitude * (power * np.exp(1j * phase)).real
            rho = rho / outline
        return rho


@dataclass(frozen=True)
class Cell:
    cell: Shape
    nucleus: Shape
    morphology: str


def sample_cell(center, morphology: Morphology, scale: float, rng: np.random.Generator) -> Cell:
    """A random cell of the given morphology centred (by its nucleus) at ``center``."""
    major = rng.uniform(*morphology.cell_major) * scale
    minor = major / rng.uniform(*morphology.cell_aspect)
    angle = rng.uniform(0, np.pi)
    harmonics = tuple((rng.normal(0, morphology.irregularity), rng.uniform(0, 2 * np.pi))
                      for _ in range(3))
    n_minor = minor * rng.uniform(*morphology.nucleus_fraction)
    n_major = min(n_minor * rng.uniform(1.0, 1.3), 0.8 * major)
    # The nucleus sits off-centre along the long axis; the cell body is placed around it so
    # that crops centred on nuclei see cells extending to one side, as in real cultures.
    room = max(major - n_major, 0.0)
    offset = rng.uniform(-1, 1) * morphology.nucleus_offset * room
    c, s = np.cos(angle), np.sin(angle)
    cell_center = (center[0] - offset * s, center[1] - offset * c)
    nucleus = Shape(tuple(center), n_major, n_minor, angle + rng.normal(0, 0.2),
                    tuple((rng.normal(0, 0.03), rng.uniform(0, 2 * np.pi)) for _ in range(2)))
    return Cell(Shape(cell_center, major, minor, angle, harmonics), nucleus, morphology.name)


def place_cells(field_shape, n_cells: int, morphology: Morphology, scale: float,
                rng: np.random.Generator, *, spacing: float = 1.0, candidates: int = 30) -> list[Cell]:
    """Up to ``n_cells`` cells scattered over a field, keeping neighbours apart.

    Candidate centres are accepted in random order when they lie at least ``spacing`` times two
    nominal cell radii from every accepted centre (1.0: cells may touch; below 1 they crowd and
    abut). Centres may lie slightly outside the field, so border cells are cut as in a real image.
    """
    nominal = 0.5 * (1 + 1 / np.mean(morphology.cell_aspect)) * np.mean(morphology.cell_major) * scale
    margin = 0.3 * morphology.cell_major[0] * scale
    proposals = rng.uniform(-margin, np.array(field_shape, float) + margin, (n_cells * candidates, 2))
    too_close_squared = (2 * spacing * nominal) ** 2
    accepted = np.empty((n_cells, 2))
    count = 0
    for proposal in proposals:
        if count and (((accepted[:count] - proposal) ** 2).sum(1) < too_close_squared).any():
            continue
        accepted[count] = proposal
        count += 1
        if count == n_cells:
            break
    return [sample_cell(centre, morphology, scale, rng) for centre in accepted[:count]]


class CellLayers:
    """Everything a pattern renderer may use about one cell, inside the cell's window.

    Distances are in pixels and computed on first use (a cytoplasmic pattern never pays for the
    nuclear distance transform); ``nuclear_distance`` is signed, positive inside the nucleus.
    Coordinates ``yy, xx`` are relative to the nucleus centre.
    """

    def __init__(self, cell: np.ndarray, nucleus: np.ndarray, origin, geometry: Cell, scale: float):
        self.cell, self.nucleus, self.geometry, self.scale = cell, nucleus, geometry, scale
        self._origin = origin

    @property
    def shape(self):
        return self.cell.shape

    @cached_property
    def cytoplasm(self) -> np.ndarray:
        return self.cell & ~self.nucleus

    @cached_property
    def nuclear_distance(self) -> np.ndarray:
        return signed_distance(self.nucleus)

    @cached_property
    def membrane_distance(self) -> np.ndarray:
        return ndimage.distance_transform_edt(self.cell).astype(np.float32)

    @cached_property
    def yy(self) -> np.ndarray:
        y = np.arange(self.shape[0], dtype=np.float32) + self._origin[0] - self.geometry.nucleus.center[0]
        return np.broadcast_to(y[:, None], self.shape)

    @cached_property
    def xx(self) -> np.ndarray:
        x = np.arange(self.shape[1], dtype=np.float32) + self._origin[1] - self.geometry.nucleus.center[1]
        return np.broadcast_to(x[None, :], self.shape)


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance to the mask's boundary, positive inside and negative outside."""
    if not mask.any():
        return -np.full(mask.shape, np.hypot(*mask.shape), np.float32)
    inside = ndimage.distance_transform_edt(mask)
    outside = ndimage.distance_transform_edt(~mask)
    return (inside - outside).astype(np.float32)


@dataclass
class Tessellation:
    """Instance labels of cells and nuclei in a field (0 = background, i + 1 = cell i)."""

    cells: np.ndarray
    nuclei: np.ndarray
    windows: list[tuple[slice, slice]]


def window_of(shape: Shape, field_shape, pad: float = 2.0) -> tuple[slice, slice]:
    r = shape.extent + pad
    y0, x0 = (int(np.floor(c - r)) for c in shape.center)
    y1, x1 = (int(np.ceil(c + r)) + 1 for c in shape.center)
    return (slice(max(y0, 0), min(y1, field_shape[0])), slice(max(x0, 0), min(x1, field_shape[1])))


def tessellate(cells: list[Cell], field_shape) -> Tessellation:
    """Rasterise cells into label images; overlaps go to the cell a pixel is deepest in.

    A cell's own nucleus always belongs to it (its depth there is set to 0).
    """
    depth = np.full(field_shape, np.inf, np.float32)
    cell_labels = np.zeros(field_shape, np.int32)
    nucleus_labels = np.zeros(field_shape, np.int32)
    windows = []
    for label, cell in enumerate(cells, start=1):
        window = window_of(cell.cell, field_shape)
        windows.append(window)
        yy, xx = np.ogrid[window]
        rho = cell.cell.normalised_radius(yy, xx)
        in_nucleus = cell.nucleus.normalised_radius(yy, xx) < 1
        rho = np.where(in_nucleus, 0.0, rho)
        claim = (rho < 1) & (rho < depth[window])
        depth[window][claim] = rho[claim]
        cell_labels[window][claim] = label
        nucleus_labels[window][claim & in_nucleus] = label
    # A nucleus pixel taken over by a neighbour's nucleus stays with that neighbour.
    nucleus_labels[nucleus_labels != cell_labels] = 0
    return Tessellation(cell_labels, nucleus_labels, windows)


def cell_layers(tessellation: Tessellation, index: int, cells: list[Cell], scale: float) -> CellLayers:
    label = index + 1
    window = tessellation.windows[index]
    return CellLayers(tessellation.cells[window] == label, tessellation.nuclei[window] == label,
                      (window[0].start, window[1].start), cells[index], scale)
