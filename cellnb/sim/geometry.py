"""Cell and nucleus geometry: smooth random shapes, their placement in a field, and the per-cell
layers (masks and distance maps) that localisation patterns are drawn from.

A shape is an ellipse whose radius is modulated by a few low-order angular harmonics, which gives
smooth, irregular outlines. Cells in a field are tessellated: where two cells' shapes overlap, a
pixel belongs to the cell in whose normalised radius it lies deeper, so neighbours abut like
cells in a confluent culture instead of overlapping. All lengths are in "reference pixels" (a
64-pixel crop) multiplied by a scale factor, so a 100-pixel crop shows the same cells, larger.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from skimage.segmentation import find_boundaries

from ..data.segmentation import distance_to_background, signed_distance_map
from .drawing import bandpass_noise, smooth_noise


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

    @property
    def half_extents(self) -> tuple[float, float]:
        """Half-height and half-width of a box that encloses the shape.

        The outline lies within the ellipse grown by the harmonics' largest total swing; that
        ellipse's bounding box is much tighter than a circle of radius ``extent`` for elongated
        shapes, and every per-cell array is the size of this box.
        """
        grow = 1 + sum(abs(a) for a, _ in self.harmonics)
        c, s = math.cos(self.angle), math.sin(self.angle)
        return (grow * math.hypot(self.major * s, self.minor * c) + 1,
                grow * math.hypot(self.major * c, self.minor * s) + 1)

    def normalised_radius(self, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        """< 1 inside the shape, 1 on its outline, growing outside.

        ``yy`` is a column and ``xx`` a row of coordinates (or arrays that broadcast): the
        rotation is applied to them before broadcasting, so few operations touch every pixel.
        """
        dy = np.asarray(yy, np.float32) - np.float32(self.center[0])
        dx = np.asarray(xx, np.float32) - np.float32(self.center[1])
        c, s = math.cos(self.angle), math.sin(self.angle)
        u = dx * np.float32(c / self.major) + dy * np.float32(s / self.major)
        v = dy * np.float32(c / self.minor) - dx * np.float32(s / self.minor)
        rho = np.sqrt(u * u + v * v)
        if self.harmonics:
            # cos(k*theta + phase) from cos(theta) = u / rho and sin(theta) = v / rho by the
            # angle-addition recurrence: far cheaper than arctan2 and cos on every pixel.
            inverse = 1 / np.maximum(rho, np.float32(1e-9))
            cos1, sin1 = u * inverse, v * inverse
            cos_k, sin_k = cos1, sin1
            outline = np.ones_like(rho)
            for amplitude, phase in self.harmonics:
                cos_k, sin_k = cos_k * cos1 - sin_k * sin1, sin_k * cos1 + cos_k * sin1
                outline += np.float32(amplitude * math.cos(phase)) * cos_k
                outline -= np.float32(amplitude * math.sin(phase)) * sin_k
            rho /= outline
        return rho


@dataclass(frozen=True)
class Cell:
    cell: Shape
    nucleus: Shape
    morphology: str


def sample_cells(centres: np.ndarray, morphology: Morphology, scale: float,
                 rng: np.random.Generator) -> list[Cell]:
    """Random cells of the given morphology, one centred (by its nucleus) on each of ``centres``.

    All shape parameters are drawn in one go per parameter, in a fixed order, so the result
    depends only on the generator's state and the number of cells.
    """
    n = len(centres)
    major = rng.uniform(*morphology.cell_major, n) * scale
    minor = major / rng.uniform(*morphology.cell_aspect, n)
    angle = rng.uniform(0, np.pi, n)
    # Outline harmonics of orders 2, 3, 4 with amplitudes falling as 2/order: strong low orders
    # bend the outline, weak high ones only roughen it (equal amplitudes give square cells).
    amplitudes = rng.normal(0, morphology.irregularity, (n, 3)) * (2 / np.arange(2, 5))
    phases = rng.uniform(0, 2 * np.pi, (n, 3))
    n_minor = minor * rng.uniform(*morphology.nucleus_fraction, n)
    n_major = np.minimum(n_minor * rng.uniform(1.0, 1.3, n), 0.8 * major)
    # The nucleus sits off-centre along the long axis; the cell body is placed around it so
    # that crops centred on nuclei see cells extending to one side, as in real cultures.
    offset = rng.uniform(-1, 1, n) * morphology.nucleus_offset * np.maximum(major - n_major, 0.0)
    n_angle = angle + rng.normal(0, 0.2, n)
    cells = []
    for i, centre in enumerate(np.asarray(centres, float)):
        cell_centre = (centre[0] - offset[i] * np.sin(angle[i]), centre[1] - offset[i] * np.cos(angle[i]))
        body = Shape(cell_centre, major[i], minor[i], angle[i],
                     tuple(zip(amplitudes[i].tolist(), phases[i].tolist())))
        # Nuclei are smooth ellipses: their irregularity is below what a crop resolves.
        nucleus = Shape((float(centre[0]), float(centre[1])), n_major[i], n_minor[i], n_angle[i])
        cells.append(Cell(body, nucleus, morphology.name))
    return cells


def sample_cell(center, morphology: Morphology, scale: float, rng: np.random.Generator) -> Cell:
    """A random cell of the given morphology centred (by its nucleus) at ``center``."""
    return sample_cells(np.array([center], float), morphology, scale, rng)[0]


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
    return sample_cells(accepted[:count], morphology, scale, rng)


class FieldMaps:
    """Distance maps and noise textures of a whole field, made once and shared by its cells.

    Inside a cell, the nearest cell boundary is always the cell's own, so one field-wide
    transform gives every cell its exact distance to its membrane; likewise inside a nucleus.
    Outside nuclei, the distance is to the nearest nucleus, which within a cell is its own
    except near a close neighbour. Textures (random fields of a given feature size) are drawn
    once per field and size as a periodic tile of twice the crop size, repeated over the field:
    no cell and no crop is large enough to see the repeat, and cells occupy different windows of
    it, so their textures differ. Making these per field rather than per cell is most of the
    simulator's speed.
    """

    def __init__(self, tessellation: Tessellation, texture_seed: int = 0, texture_tile: int = 128):
        self._tessellation = tessellation
        self._texture_rng = np.random.default_rng(texture_seed)
        self._texture_tile = texture_tile
        self._textures: dict = {}

    def texture(self, kind: str, scale: float) -> np.ndarray:
        """A field-sized ``smooth`` or ``bandpass`` noise with features of ``scale`` pixels."""
        key = (kind, round(float(scale), 3))
        if key not in self._textures:
            make = {"smooth": smooth_noise, "bandpass": bandpass_noise}[kind]
            shape = self._tessellation.cells.shape
            tile = make(tuple(min(n, self._texture_tile) for n in shape), scale, self._texture_rng)
            repeats = tuple(-(-n // t) for n, t in zip(shape, tile.shape))
            self._textures[key] = np.tile(tile, repeats)[: shape[0], : shape[1]]
        return self._textures[key]

    @cached_property
    def nuclear(self) -> np.ndarray:
        """Signed distance to the nearest nuclear boundary, positive inside nuclei (pixels)."""
        nuclei = self._tessellation.nuclei > 0
        if not nuclei.any():   # every nucleus lies outside the field: all pixels are far away
            return np.full(nuclei.shape, -float(max(nuclei.shape)), np.float32)
        return signed_distance_map(nuclei)

    @cached_property
    def membrane(self) -> np.ndarray:
        """Distance from a cell's pixels to its outline (1 on the outline), 0 outside cells."""
        cells = self._tessellation.cells
        outline = find_boundaries(cells, mode="inner") | (cells == 0)
        return np.where(cells > 0, distance_to_background(~outline) + 1, np.float32(0))


class CellLayers:
    """Everything a pattern renderer may use about one cell, inside the cell's window.

    Distances are in pixels, sliced from the field's shared maps on first use;
    ``nuclear_distance`` is signed, positive inside the nucleus. Coordinates ``yy, xx`` are
    relative to the nucleus centre.
    """

    def __init__(self, cell: np.ndarray, nucleus: np.ndarray, window, geometry: Cell, scale: float,
                 maps: FieldMaps):
        self.cell, self.nucleus, self.geometry, self.scale = cell, nucleus, geometry, scale
        self._window, self._maps = window, maps

    def smooth_noise(self, scale: float) -> np.ndarray:
        """Smooth noise (zero mean, unit std over the field) with correlation length ``scale``."""
        return self._maps.texture("smooth", scale)[self._window]

    def bandpass_noise(self, scale: float) -> np.ndarray:
        """Band-pass noise with features of about ``scale`` pixels (see ``drawing``)."""
        return self._maps.texture("bandpass", scale)[self._window]

    @property
    def shape(self):
        return self.cell.shape

    @cached_property
    def cytoplasm(self) -> np.ndarray:
        return self.cell & ~self.nucleus

    @cached_property
    def nuclear_distance(self) -> np.ndarray:
        return self._maps.nuclear[self._window]

    @cached_property
    def membrane_distance(self) -> np.ndarray:
        return self._maps.membrane[self._window] * self.cell

    @cached_property
    def yy(self) -> np.ndarray:
        y = np.arange(self.shape[0], dtype=np.float32) + (self._window[0].start
                                                          - self.geometry.nucleus.center[0])
        return np.broadcast_to(y[:, None], self.shape)

    @cached_property
    def xx(self) -> np.ndarray:
        x = np.arange(self.shape[1], dtype=np.float32) + (self._window[1].start
                                                          - self.geometry.nucleus.center[1])
        return np.broadcast_to(x[None, :], self.shape)


@dataclass
class Tessellation:
    """Instance labels of cells and nuclei in a field (0 = background, i + 1 = cell i)."""

    cells: np.ndarray
    nuclei: np.ndarray
    windows: list[tuple[slice, slice]]


def window_of(shape: Shape, field_shape, pad: float = 2.0) -> tuple[slice, slice]:
    """The slices of the field that enclose ``shape``, with ``pad`` pixels to spare."""
    radii = [r + pad for r in shape.half_extents]
    y0, x0 = (math.floor(c - r) for c, r in zip(shape.center, radii))
    y1, x1 = (math.ceil(c + r) + 1 for c, r in zip(shape.center, radii))
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
        yy = np.arange(window[0].start, window[0].stop, dtype=np.float32)[:, None]
        xx = np.arange(window[1].start, window[1].stop, dtype=np.float32)[None, :]
        rho = cell.cell.normalised_radius(yy, xx)
        # The nucleus is evaluated only in its own, smaller window.
        inner = window_of(cell.nucleus, field_shape, pad=1.0)
        inner = tuple(slice(max(i.start, o.start), min(i.stop, o.stop)) for i, o in zip(inner, window))
        local = tuple(slice(i.start - o.start, i.stop - o.start) for i, o in zip(inner, window))
        in_nucleus = np.zeros(rho.shape, bool)
        in_nucleus[local] = cell.nucleus.normalised_radius(yy[local[0]], xx[:, local[1]]) < 1
        rho = np.where(in_nucleus, 0.0, rho)
        claim = (rho < 1) & (rho < depth[window])
        depth[window][claim] = rho[claim]
        cell_labels[window][claim] = label
        nucleus_labels[window][claim & in_nucleus] = label
    # A nucleus pixel taken over by a neighbour's nucleus stays with that neighbour.
    nucleus_labels[nucleus_labels != cell_labels] = 0
    return Tessellation(cell_labels, nucleus_labels, windows)


def cell_layers(tessellation: Tessellation, index: int, cells: list[Cell], scale: float,
                maps: FieldMaps | None = None) -> CellLayers:
    """The layers of cell ``index``; pass the field's ``maps`` to share transforms and textures."""
    label = index + 1
    window = tessellation.windows[index]
    return CellLayers(tessellation.cells[window] == label, tessellation.nuclei[window] == label,
                      window, cells[index], scale, maps or FieldMaps(tessellation))
