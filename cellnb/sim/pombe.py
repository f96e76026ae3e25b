"""SynthPombe: toy fission-yeast cells of known cell-cycle phase, the stand-in for the LIN data
of Osokin, Chessel, Carazo Salas & Vaggi, "GANs for Biological Image Synthesis" (ICCV 2017,
arXiv 1708.04692).

Why a simulator: the paper's cells (the LIN dataset, Sec. 3.3) are single fission-yeast cells
centred in 48 x 80 images, red always Bgs4, green one of 41 polarity proteins, each protein
imaged in a strain of its own. No image shows two greens, so nothing can say whether the
star-shaped generator's greens (Sec. 4.2) are right for the red they share. Here every cell
is drawn from a known phase ``t``, and :func:`render_all_greens` paints every protein class in
that very cell: the ground truth the paper does not have (Sec. 5.3 validates its cell cycle
by eye, through Arp3 moving from the tips to the middle).

The biology the design follows (Sec. 3.2): cells are rods with hemispherical caps, born 7 um
long and 4 um wide, growing to 14 um at constant width, first at the old end only (monopolar),
then at both ends (bipolar), until growth stops and a medial ring forms before division;
Bgs4 sits where the cell grows, so the red channel gives the stage.

* Phase ``t ~ U(0, 1)``; length ``7 + 7 t`` um; stage monopolar (t < 0.3), bipolar
  (0.3 <= t < 0.8) or dividing (t >= 0.8), so 30 / 50 / 20 % of cells.
* Red (Bgs4-like): a weak cytoplasm (so the outline, hence the length, is visible) plus a cap
  of signal at the old end (monopolar), at both ends (bipolar) or a medial band with dim tips
  (dividing).
* Green: one of ``POMBE_CLASSES``, each with a rule per stage (``pombe_class_table``): TipDots
  (Tea1-like, dots at both tips at every stage), ActinLike (Arp3-like, patches at the growing
  tips that move to the middle when dividing), RingOnly (diffuse, plus a medial ring only when
  dividing), Diffuse (cytoplasm plus one nucleus, two when dividing), and the designed near-twins
  ActinLike2 and TipDots2: the same rules with other parameters, as Fim1 and Tea4 resemble Arp3
  and Tea1 in the paper's Table 1 (Sec. 5.1).
* Imaging: ``imaging.acquire`` (PSF blur, gain, shot and read noise), then the cell mask (the
  background is exactly 0, a masked cell), each channel divided by its maximum and scaled to
  [-1, 1], the range of the networks' tanh output. Random horizontal and vertical flips put the
  old end on either side.
* Variability: width, curvature, tilt, centring, blob positions, intensities and texture change
  from cell to cell (``variability`` scales them all), so a finite training set holds no
  near-duplicates and a nearest neighbour is not an unrealistically good reconstruction.

Pixels: the canvas spans 9.6 x 16 um, i.e. 0.2 um per pixel at the paper's 48 x 80 and 0.4 um
at the CPU size 24 x 40, so a dividing cell fills most of its width.

Determinism: everything about cell ``i`` comes from streams of ``(seed, i)``, its class is
``classes[i % len(classes)]`` and each class's green has a stream of its own (keyed by the
class, not its position in ``classes``), so adding cells changes no earlier cell, the number of
worker processes changes no pixel, and a cell's own green is exactly the one
:func:`render_all_greens` paints for its class.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import partial

import numpy as np
import pandas as pd
from scipy import ndimage

from ..data.imageset import ImageSet
from .chunks import render_cells
from .drawing import sample_points_in, smooth_noise, splat
from .imaging import Acquisition, acquire, sample_acquisition

GENERATOR_VERSION = "1"      # bump whenever the same config would give other pixels
POMBE_CHANNELS = ("red", "green")   # red: Bgs4-like growth marker; green: the class's protein
POMBE_MASKS = ("cell",)
PAPER_SIZE, CPU_SIZE = (48, 80), (24, 40)
FIELD_OF_VIEW_UM = (9.6, 16.0)       # the canvas (height, width) at every size
BIRTH_LENGTH_UM, DIVISION_LENGTH_UM, WIDTH_UM = 7.0, 14.0, 4.0   # Sec. 3.2
POMBE_STAGES = ("monopolar", "bipolar", "dividing")
STAGE_STARTS = (0.0, 0.3, 0.8)       # the phase t at which each stage begins
PEAK_BRIGHTNESS = 0.6                # a density of 1 fills this fraction of the camera's range
MIN_SIZE = (16, 24)


def pixel_size_um(shape) -> float:
    """Micrometres per pixel of an (H, W) image: the canvas spans ``FIELD_OF_VIEW_UM``."""
    height, width = shape[-2:]
    return max(FIELD_OF_VIEW_UM[0] / height, FIELD_OF_VIEW_UM[1] / width)


def stage_of_phase(t) -> np.ndarray:
    """The stage index (into ``POMBE_STAGES``) of phases ``t``."""
    return np.searchsorted(STAGE_STARTS, np.asarray(t), side="right") - 1


# --- the cells --------------------------------------------------------------------------------

@dataclass(frozen=True)
class PombeCell:
    """One cell's phase, shape and red pattern, in micrometres, before the random flips.

    Canonically the long axis is horizontal and the old end on the right (+u); ``u`` runs
    along the axis from the cell centre, ``v`` across it. Red tip strengths are relative to
    the monopolar or bipolar old end's 1.
    """

    index: int
    t: float
    length_um: float
    width_um: float
    bow_um: float              # the mid-line's offset at the centre relative to the ends
    tilt_rad: float
    centre_um: tuple[float, float]   # (y, x) offset of the cell centre from the canvas centre
    flip_horizontal: bool
    flip_vertical: bool
    old_end_strength: float
    new_end_strength: float
    tip_offsets_um: tuple[float, float]   # the (old, new) red caps' offsets across the axis
    tip_sigma_um: float
    septum_offset_um: float    # the medial band's (and ring's) offset along the axis
    septum_strength: float
    red_cytoplasm: float
    expression: float          # overall brightness (sets the signal-to-noise ratio only)

    @property
    def stage(self) -> str:
        return POMBE_STAGES[int(stage_of_phase(self.t))]

    def parameters(self) -> dict:
        """The metadata row: phase, stage, shape and the red pattern's parameters."""
        row = asdict(self)
        index, centre, tips = row.pop("index"), row.pop("centre_um"), row.pop("tip_offsets_um")
        return dict(cell=index, stage=self.stage) | row | dict(
            centre_y_um=centre[0], centre_x_um=centre[1], old_tip_offset_um=tips[0],
            new_tip_offset_um=tips[1], old_end="left" if self.flip_horizontal else "right")


def sample_pombe_cell(index: int, rng: np.random.Generator, variability: float = 1.0,
                      flips: bool = True) -> PombeCell:
    """A random cell; every draw is made, in a fixed order, from ``rng`` whatever the stage,
    so one stream gives one cell at every setting of ``variability`` and ``flips``."""
    j = variability
    t = float(rng.uniform())
    stage = POMBE_STAGES[int(stage_of_phase(t))]
    normal = np.clip(rng.standard_normal(8), -2.5, 2.5)
    growth = BIRTH_LENGTH_UM + (DIVISION_LENGTH_UM - BIRTH_LENGTH_UM) * t
    flip_h, flip_v = (rng.random(2) < 0.5) & flips
    # The new end is off while monopolar, on (0.55-1 of the old end) once bipolar; dividing
    # cells stop growing: both ends dim, the band in the middle takes over (Sec. 3.2).
    ramp, dim_old, dim_new, band = rng.uniform(size=4)
    old_end = 0.15 + 0.15 * dim_old if stage == "dividing" else 1.0
    new_end = {"monopolar": 0.12 * ramp, "bipolar": 0.55 + 0.45 * ramp,
               "dividing": 0.15 + 0.15 * dim_new}[stage]
    return PombeCell(
        index=index, t=t,
        length_um=float(growth * (1 + 0.02 * j * normal[0])),
        width_um=float(WIDTH_UM * (1 + 0.04 * j * normal[1])),
        bow_um=float(0.15 * j * normal[2]),
        tilt_rad=float(np.deg2rad(1.5) * j * normal[3]),
        centre_um=(float(0.15 * j * normal[4]), float(0.15 * j * normal[5])),
        flip_horizontal=bool(flip_h), flip_vertical=bool(flip_v),
        old_end_strength=float(old_end), new_end_strength=float(new_end),
        tip_offsets_um=tuple(float(x) for x in 0.25 * j * rng.standard_normal(2)),
        tip_sigma_um=float(0.8 * (1 + 0.1 * j * normal[6])),
        septum_offset_um=float(0.12 * j * normal[7]),
        septum_strength=float(0.9 + 0.3 * band),
        red_cytoplasm=float(0.15 * (1 + 0.15 * j * np.clip(rng.standard_normal(), -2, 2))),
        expression=float(rng.lognormal(0, 0.25 * j)),
    )


class CellMaps:
    """A cell's per-pixel coordinates and masks on the canvas, canonical orientation (no flips).

    ``u`` (along the axis, old end positive) and ``v`` (across it, measured from the bowed
    mid-line) are in micrometres; ``depth`` is the distance inside the outline.
    """

    def __init__(self, cell: PombeCell, shape: tuple[int, int]):
        self.cell, self.shape = cell, shape
        self.pixel = pixel_size_um(shape)
        y = (np.arange(shape[0], dtype=np.float32) - (shape[0] - 1) / 2) * self.pixel
        x = (np.arange(shape[1], dtype=np.float32) - (shape[1] - 1) / 2) * self.pixel
        dy, dx = y[:, None] - cell.centre_um[0], x[None, :] - cell.centre_um[1]
        cos, sin = np.float32(np.cos(cell.tilt_rad)), np.float32(np.sin(cell.tilt_rad))
        self.u = dx * cos + dy * sin
        self.v = dy * cos - dx * sin - self.bow(self.u)
        half_length, radius = cell.length_um / 2, cell.width_um / 2
        beyond_cylinder = np.maximum(np.abs(self.u) - (half_length - radius), 0)
        # The capsule's signed distance: negative inside, in micrometres.
        signed = np.sqrt(beyond_cylinder ** 2 + self.v ** 2) - radius
        self.depth = np.maximum(-signed, 0)
        # Anti-aliased outline: a pixel's coverage, 1 inside, 0 outside.
        self.mask = np.clip(0.5 - signed / self.pixel, 0, 1).astype(np.float32)
        self.inside = self.mask >= 0.5       # where spots may sit
        self.outline = self.mask > 0         # every pixel the cell lights, edges included

    def bow(self, u):
        """The mid-line's offset across the axis at ``u``: a parabola, 0 at the ends."""
        along = np.clip(2 * np.asarray(u) / self.cell.length_um, -1, 1)
        return np.float32(self.cell.bow_um) * (1 - along * along)

    def cortex(self, thickness_um: float = 0.35) -> np.ndarray:
        """1 on the outline, decaying inwards: where cortical proteins sit."""
        return np.exp(-self.depth / np.float32(thickness_um)) * self.mask

    def gaussian(self, u0: float, v0: float, sigma_um: float) -> np.ndarray:
        """A round Gaussian (peak 1) centred at (u0, v0), in the cell's coordinates."""
        r2 = (self.u - np.float32(u0)) ** 2 + (self.v - np.float32(v0)) ** 2
        return np.exp(-r2 / np.float32(2 * sigma_um ** 2))

    def band(self, u0: float, sigma_um: float) -> np.ndarray:
        """A band across the cell at ``u0`` (peak 1): a septum or ring seen side-on."""
        return np.exp(-((self.u - np.float32(u0)) ** 2) / np.float32(2 * sigma_um ** 2))

    def texture(self, correlation_um: float, rng: np.random.Generator) -> np.ndarray:
        return smooth_noise(self.shape, correlation_um / self.pixel, rng)

    def zone(self, low_um: float, high_um: float) -> np.ndarray:
        """The cell's pixels with ``low <= u <= high``."""
        return self.inside & (self.u >= low_um) & (self.u <= high_um)

    def points_in(self, region: np.ndarray, n: int, rng: np.random.Generator,
                  weight=None) -> np.ndarray:
        """``n`` random sub-pixel points (y, x) in ``region``, more often where ``weight`` is
        high (pixel centres at integers, as ``splat`` takes them)."""
        return sample_points_in(region, n, rng, weight) - np.float32(0.5)

    def spots(self, points: np.ndarray, sigma_um: float, brightness) -> np.ndarray:
        """Round spots of std ``sigma_um`` at ``points``, each peaking at about its
        ``brightness``: one splat and one blur for all of them."""
        sigma = sigma_um / self.pixel
        mass = np.asarray(brightness, np.float32) * np.float32(2 * np.pi * sigma * sigma)
        return ndimage.gaussian_filter(splat(points, self.shape, mass), sigma, truncate=3.0)

    @property
    def half_length(self) -> float:
        return self.cell.length_um / 2


def render_red(maps: CellMaps, rng: np.random.Generator, texture: float = 1.0) -> np.ndarray:
    """The Bgs4-like density: weak cytoplasm (its texture scaled by ``texture``), the growing
    ends' caps and, when dividing, the medial band (the septum seen side-on)."""
    cell = maps.cell
    cytoplasm = cell.red_cytoplasm * (1 + 0.15 * texture * maps.texture(1.0, rng))
    density = cytoplasm * maps.mask
    cortical = 0.4 + 0.6 * maps.cortex()
    cap_centre = maps.half_length - 0.3
    for side, strength, offset in ((1, cell.old_end_strength, cell.tip_offsets_um[0]),
                                   (-1, cell.new_end_strength, cell.tip_offsets_um[1])):
        density += (strength * maps.gaussian(side * cap_centre, offset, cell.tip_sigma_um)
                    * cortical)
    if cell.stage == "dividing":
        density += cell.septum_strength * maps.band(cell.septum_offset_um, 0.35) * maps.mask
    return density * maps.mask


# --- the protein classes ----------------------------------------------------------------------

GreenRenderer = Callable[[CellMaps, dict, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class ProteinClass:
    """One designed green: its rule per stage, its analogue in the paper and how it draws."""

    name: str
    analogue: str
    monopolar: str
    bipolar: str
    dividing: str
    render: GreenRenderer
    params: dict
    twin_of: str = ""
    difference: str = ""


def _cytoplasm(maps: CellMaps, level: float, rng, texture: float = 0.2) -> np.ndarray:
    return level * (1 + texture * maps.texture(1.0, rng)) * maps.mask


def _tip_dots(maps: CellMaps, p: dict, rng) -> np.ndarray:
    """Dots on the cortex of both caps, at every stage (Tea1 marks the cell ends)."""
    density = _cytoplasm(maps, p["cytoplasm"] * rng.uniform(0.8, 1.2), rng)
    reach = maps.half_length - p["zone_um"]
    weight = maps.cortex(0.3)
    caps = (maps.zone(reach, np.inf), maps.zone(-np.inf, -reach))
    points = np.concatenate([maps.points_in(cap, int(rng.integers(*p["dots"])), rng, weight)
                             for cap in caps])
    brightness = rng.uniform(0.6, 1.0, len(points)) * rng.uniform(0.7, 1.0)
    return (density + maps.spots(points, p["sigma_um"], brightness)) * maps.mask


def _actin_patches(maps: CellMaps, p: dict, rng) -> np.ndarray:
    """Cortical patches where the cell grows: the old end (monopolar), both ends (bipolar,
    shared as the red's caps are), around the middle when dividing; a few stray patches."""
    cell = maps.cell
    density = _cytoplasm(maps, p["cytoplasm"] * rng.uniform(0.8, 1.2), rng)
    n = int(rng.integers(*p["patches"]))
    if cell.stage == "dividing":
        u0, half = cell.septum_offset_um, p["ring_zone_um"]
        regions = [(maps.zone(u0 - half, u0 + half), n)]
    else:
        reach = maps.half_length - p["zone_um"]
        share = cell.new_end_strength / (cell.old_end_strength + cell.new_end_strength)
        n_new = int(rng.binomial(n, share))
        regions = [(maps.zone(reach, np.inf), n - n_new), (maps.zone(-np.inf, -reach), n_new)]
    regions.append((maps.inside, int(rng.integers(0, p["strays"] + 1))))
    weight = maps.cortex(0.4)
    points = np.concatenate([maps.points_in(region, count, rng, weight)
                             for region, count in regions])
    brightness = rng.lognormal(0, 0.25, len(points))
    return (density + maps.spots(points, p["sigma_um"], brightness)) * maps.mask


def _ring(maps: CellMaps, p: dict, rng) -> np.ndarray:
    """Diffuse cytoplasm; when dividing, a medial ring (a band, brighter at the cortex)."""
    cell = maps.cell
    density = _cytoplasm(maps, p["cytoplasm"] * rng.uniform(0.8, 1.2), rng, 0.25)
    if cell.stage == "dividing":
        u0 = cell.septum_offset_um + rng.normal(0, 0.05)
        ring = maps.band(u0, p["sigma_um"]) * (0.5 + 0.5 * maps.cortex(0.5))
        density += rng.uniform(0.9, 1.2) * ring
    return density * maps.mask


def _nuclei(maps: CellMaps, p: dict, rng) -> np.ndarray:
    """Bright cytoplasm plus one nucleus near the middle; two, pulled apart towards the ends,
    once the cell divides."""
    cell = maps.cell
    density = _cytoplasm(maps, p["cytoplasm"] * rng.uniform(0.8, 1.2), rng, 0.3)
    radius = p["nucleus_um"] * rng.uniform(0.9, 1.1)
    if cell.stage == "dividing":
        apart = maps.half_length * rng.uniform(0.45, 0.6)
        centres = [cell.septum_offset_um - apart, cell.septum_offset_um + apart]
        radius *= 0.8
    else:
        centres = [rng.normal(0, 0.3)]
    for u0 in centres:
        density += p["nucleus"] * maps.gaussian(u0, rng.normal(0, 0.15), radius)
    return density * maps.mask


PROTEINS: dict[str, ProteinClass] = {c.name: c for c in [
    ProteinClass("TipDots", "Tea1", "dots at both tips", "dots at both tips",
                 "dots at both tips", _tip_dots,
                 dict(cytoplasm=0.03, dots=(3, 7), sigma_um=0.25, zone_um=1.0)),
    ProteinClass("ActinLike", "Arp3", "patches at the old (growing) end",
                 "patches at both ends", "patches around the middle", _actin_patches,
                 dict(cytoplasm=0.03, patches=(8, 15), sigma_um=0.25, zone_um=2.0,
                      ring_zone_um=0.7, strays=1)),
    ProteinClass("RingOnly", "Sid2", "diffuse", "diffuse", "diffuse plus a medial ring",
                 _ring, dict(cytoplasm=0.12, sigma_um=0.3)),
    ProteinClass("Diffuse", "a cytoplasmic and nuclear protein",
                 "cytoplasm plus a central nucleus", "cytoplasm plus a central nucleus",
                 "cytoplasm plus two nuclei towards the ends", _nuclei,
                 dict(cytoplasm=0.25, nucleus=0.8, nucleus_um=0.8)),
    ProteinClass("ActinLike2", "Fim1", "patches at the old (growing) end",
                 "patches at both ends", "patches around the middle", _actin_patches,
                 dict(cytoplasm=0.05, patches=(12, 20), sigma_um=0.2, zone_um=2.4,
                      ring_zone_um=0.9, strays=2),
                 twin_of="ActinLike",
                 difference="more, smaller patches over a wider zone; brighter cytoplasm"),
    ProteinClass("TipDots2", "Tea4", "dots at both tips", "dots at both tips",
                 "dots at both tips", _tip_dots,
                 dict(cytoplasm=0.05, dots=(2, 5), sigma_um=0.32, zone_um=1.3),
                 twin_of="TipDots",
                 difference="fewer, larger dots over a wider cap; brighter cytoplasm"),
]}
POMBE_CLASSES = tuple(PROTEINS)
POMBE_TWINS = {c.name: c.twin_of for c in PROTEINS.values() if c.twin_of}


def pombe_class_table(config: PombeConfig | None = None) -> pd.DataFrame:
    """The config's classes and their rules: what the green does at each stage, the paper's
    protein it stands for, and (for the designed twins) how it differs from its twin."""
    config = config or PombeConfig()
    rows = []
    for k, name in enumerate(config.classes):
        c = PROTEINS[name]
        rows.append(dict(class_name=name, class_id=k, analogue=c.analogue,
                         monopolar=c.monopolar, bipolar=c.bipolar, dividing=c.dividing,
                         twin_of=c.twin_of, difference=c.difference))
    return pd.DataFrame(rows)


def pombe_stage_table() -> pd.DataFrame:
    """The stages: the phases they span and what the red (Bgs4-like) channel shows."""
    ends = STAGE_STARTS[1:] + (1.0,)
    red = ("a cap at the old end only", "caps at both ends (new end 0.55-1 of the old)",
           "a medial band, both ends dim")
    return pd.DataFrame([dict(stage=s, t_from=a, t_to=b, frequency=b - a, red=r)
                         for s, a, b, r in zip(POMBE_STAGES, STAGE_STARTS, ends, red)])


# --- the configuration ------------------------------------------------------------------------

@dataclass(frozen=True)
class PombeConfig:
    """Everything that determines a SynthPombe set; equal configs, equal data.

    ``n_cells`` in all, cell ``i`` of class ``classes[i % len(classes)]`` (so the classes are
    balanced to one cell). ``size`` is (H, W): the paper's (48, 80) or the CPU preset's
    (24, 40). ``psf_sigma_um`` is the PSF's std before the per-cell nuisance (``imaging``);
    ``nuisance`` scales the microscope's variation (0: clean, 1: the atlas's); ``variability``
    scales every per-cell jitter of shape and pattern (0: cells of one phase differ only by
    noise).
    """

    seed: int = 0
    n_cells: int = 1200
    size: tuple[int, int] = PAPER_SIZE
    classes: tuple[str, ...] = POMBE_CLASSES
    psf_sigma_um: float = 0.25
    nuisance: float = 0.5
    variability: float = 1.0
    flips: bool = True

    def __post_init__(self):
        # Lists (from JSON, or typed by hand) become tuples, so equal configs compare equal.
        for name in ("size", "classes"):
            value = getattr(self, name)
            if not isinstance(value, str | int):
                object.__setattr__(self, name, tuple(value))

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.size)

    @property
    def pixel_size_um(self) -> float:
        return pixel_size_um(self.shape)

    def as_dict(self) -> dict:
        return asdict(self)

    def cache_config(self) -> dict:
        """The config plus the generator's version: what cached data are keyed by."""
        return self.as_dict() | {"generator": "cellnb.sim.pombe",
                                 "generator_version": GENERATOR_VERSION}

    def class_of(self, index: int) -> str:
        return self.classes[index % len(self.classes)]

    def validate(self) -> None:
        size = self.size
        if (isinstance(size, str | int) or len(size) != 2
                or not all(isinstance(s, int | np.integer) for s in size)):
            raise ValueError(f"size must be (H, W) in pixels, e.g. {PAPER_SIZE} (the paper's) or "
                             f"{CPU_SIZE} (the CPU preset), got {size!r}")
        if size[0] < MIN_SIZE[0] or size[1] < MIN_SIZE[1]:
            raise ValueError(f"size {tuple(size)} is too small to draw a cell: use H >= "
                             f"{MIN_SIZE[0]} and W >= {MIN_SIZE[1]}, e.g. {CPU_SIZE}")
        if not 0.3 <= size[0] / size[1] <= 1.2:
            raise ValueError(f"size {tuple(size)} is far from the paper's aspect 48 x 80: keep "
                             "H / W between 0.3 and 1.2 (the cell lies along the width)")
        if isinstance(self.classes, str) or not self.classes:
            raise ValueError("classes must be a non-empty sequence of class names, e.g. "
                             f"{POMBE_CLASSES[:3]}, got {self.classes!r}")
        unknown = [c for c in self.classes if c not in PROTEINS]
        if unknown:
            raise ValueError(f"unknown protein classes {unknown}; choose from {POMBE_CLASSES}")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes {self.classes} name a class twice; list each once")
        if self.n_cells < 1:
            raise ValueError(f"n_cells must be >= 1, got {self.n_cells}")
        if not 0 <= self.nuisance <= 1:
            raise ValueError(f"nuisance must be in [0, 1] (0: a clean microscope), got "
                             f"{self.nuisance}")
        if not 0 <= self.variability <= 2:
            raise ValueError(f"variability must be in [0, 2] (1: the designed jitter), got "
                             f"{self.variability}")
        if not 0 < self.psf_sigma_um <= 1:
            raise ValueError(f"psf_sigma_um must be in (0, 1] micrometres (default 0.25), got "
                             f"{self.psf_sigma_um}")


POMBE_PRESETS = {"paper": PombeConfig(), "cpu": PombeConfig(size=CPU_SIZE),
                 "smoke": PombeConfig(size=CPU_SIZE, n_cells=120)}


# --- random streams ---------------------------------------------------------------------------

_GEOMETRY, _RED, _GREEN = 0, 1, 2


def _stream(config: PombeConfig, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=key))


def _cell_and_microscope(config: PombeConfig, index: int) -> tuple[PombeCell, Acquisition]:
    if index < 0:
        raise IndexError(f"cell index must be >= 0, got {index}")
    rng = _stream(config, index, _GEOMETRY)
    cell = sample_pombe_cell(index, rng, config.variability, config.flips)
    psf_pixels = config.psf_sigma_um / config.pixel_size_um
    acquisition = sample_acquisition(rng, scale=psf_pixels, strength=config.nuisance)
    # The camera's offset is subtracted, as in a background-corrected, masked cell: the
    # cytoplasm's level is the pattern's own, not the microscope's.
    return cell, replace(acquisition, background=0.0)


def pombe_cell(config: PombeConfig, index: int) -> PombeCell:
    """Cell ``index``'s phase, shape and red pattern (its class is ``config.class_of(index)``).
    Any index >= 0 works: cells do not depend on ``n_cells``."""
    return _cell_and_microscope(config, index)[0]


# --- rendering --------------------------------------------------------------------------------

def _imaged(density: np.ndarray, maps: CellMaps, acquisition: Acquisition,
            rng: np.random.Generator, brightness: float) -> np.ndarray:
    """Through the microscope, masked (background exactly 0), peak 1, then to [-1, 1]."""
    # Noise only where the mask keeps it: the background is cut to 0 anyway.
    image = acquire(density, acquisition, rng, brightness, observed=maps.outline) * maps.mask
    peak = float(image.max())
    image = image / peak if peak > 0 else image
    return (2 * image - 1).astype(np.float32)


def _flipped(image: np.ndarray, cell: PombeCell) -> np.ndarray:
    if cell.flip_horizontal:
        image = image[..., ::-1]
    if cell.flip_vertical:
        image = image[..., ::-1, :]
    return np.ascontiguousarray(image)


def _red_channel(config: PombeConfig, cell: PombeCell, maps: CellMaps,
                 acquisition: Acquisition) -> np.ndarray:
    rng = _stream(config, cell.index, _RED)
    density = render_red(maps, rng, config.variability)
    return _imaged(density, maps, acquisition, rng, PEAK_BRIGHTNESS * cell.expression)


def _green_channel(config: PombeConfig, cell: PombeCell, maps: CellMaps,
                   acquisition: Acquisition, name: str) -> np.ndarray:
    rng = _stream(config, cell.index, _GREEN, POMBE_CLASSES.index(name))
    protein = PROTEINS[name]
    density = protein.render(maps, protein.params, rng)
    return _imaged(density, maps, acquisition, rng, PEAK_BRIGHTNESS * cell.expression)


def _render_cell(config: PombeConfig, index: int):
    cell, acquisition = _cell_and_microscope(config, index)
    maps = CellMaps(cell, config.shape)
    name = config.class_of(index)
    image = np.stack([_red_channel(config, cell, maps, acquisition),
                      _green_channel(config, cell, maps, acquisition, name)])
    row = cell.parameters() | dict(
        class_name=name, class_id=config.classes.index(name),
        length_px=cell.length_um / maps.pixel, psf_sigma_px=acquisition.psf_sigma,
        photons=acquisition.photons)
    return _flipped(image, cell), _flipped(maps.outline[None], cell).astype(np.uint8), row


def _render_chunk(indices, config: PombeConfig):
    return [_render_cell(config, int(i)) for i in indices]


def generate_pombe_cells(config: PombeConfig | None = None, *, workers: int = 1,
                         progress: bool = True) -> ImageSet:
    """SynthPombe cells: images (N, 2, H, W) float32 in [-1, 1], channels red (Bgs4-like) and
    green (the cell's protein class), background exactly -1.

    The mask ``cell`` marks every pixel the cell covers (its anti-aliased edge included).
    Metadata has one row per cell: ``cell`` (its index), ``class_name``, ``class_id`` (into
    ``config.classes``), ``t``, ``stage``, ``length_um``, ``width_um``, ``length_px``, the
    flips (``flip_horizontal``, ``flip_vertical``) and ``old_end`` (the side it lies on after
    them), and the rest of :class:`PombeCell` and the microscope. Tables: ``classes``
    (:func:`pombe_class_table`) and ``stages`` (:func:`pombe_stage_table`). ``workers``
    processes share the cells without changing a pixel.
    """
    config = config or PombeConfig()
    config.validate()
    images, masks, rows = render_cells(
        partial(_render_chunk, config=config), config.n_cells,
        (len(POMBE_CHANNELS), *config.shape), (len(POMBE_MASKS), *config.shape),
        workers=workers, chunk_size=200, chunks_per_worker=4,
        desc="simulating fission-yeast cells", progress=progress)
    return ImageSet(images, POMBE_CHANNELS, pd.DataFrame(rows), masks, POMBE_MASKS,
                    tables={"classes": pombe_class_table(config), "stages": pombe_stage_table()},
                    attrs=dict(generator="cellnb.sim.pombe", generator_version=GENERATOR_VERSION,
                               kind="pombe_cells", config=config.as_dict(),
                               pixel_size_um=config.pixel_size_um))


def render_all_greens(config: PombeConfig, index: int, *, with_red: bool = False) -> np.ndarray:
    """Every class's green in cell ``index`` (same geometry, phase, microscope and flips):
    (K, H, W) in [-1, 1], K = ``len(config.classes)`` in that order; with ``with_red``,
    (K, 2, H, W) (red, green_k) pairs sharing one red, the star-shaped generator's output form.

    The ground truth of "what would protein k look like in this very cell": the cell's own
    class's green is exactly its green in :func:`generate_pombe_cells`.
    """
    config.validate()
    cell, acquisition = _cell_and_microscope(config, index)
    maps = CellMaps(cell, config.shape)
    greens = np.stack([_green_channel(config, cell, maps, acquisition, name)
                       for name in config.classes])
    greens = _flipped(greens, cell)
    if not with_red:
        return greens
    red = _flipped(_red_channel(config, cell, maps, acquisition), cell)
    return np.stack([np.broadcast_to(red, greens.shape), greens], axis=1)
