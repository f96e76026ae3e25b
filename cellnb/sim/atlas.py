"""The synthetic cell atlas: fields of view of cells expressing one protein each, and the
single-cell crops cut from them, every pixel with its ground truth.

One field is the unit of generation, as one field of view is the unit of acquisition in a screen:
its cells share the protein, the morphology regime ("cell line") and the imaging nuisance. Crops
are cut from rendered fields around each nucleus, so neighbours, partial cells at the crop border
and the nuclear distance map arise exactly as in a real preprocessing pipeline.

Every field draws from its own random stream, derived from ``(seed, field index)``, so the data
are identical whatever the number of worker processes.
"""
from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, fields
from functools import cached_property, partial

import numpy as np
import pandas as pd
from scipy import ndimage

from ..data.imageset import ImageSet
from ..data.segmentation import crop_windows
from ..progress import progress
from .catalogue import MIXED, VARIABLE, Catalogue, Protein, build_catalogue
from .geometry import (
    MORPHOLOGIES,
    CellLayers,
    FieldMaps,
    Tessellation,
    cell_layers,
    place_cells,
    tessellate,
)
from .imaging import Acquisition, acquire, sample_acquisition
from .patterns import render_pattern

GENERATOR_VERSION = "2"   # bump whenever the same config would give other pixels
CROP_CHANNELS = ("protein", "nucleus", "nuclear_distance")
FIELD_CHANNELS = ("protein", "nucleus", "cell_marker")
CROP_MASKS = ("cell", "nucleus", "pattern", "cells")
FIELD_MASKS = ("cells", "nuclei", "pattern")
REFERENCE_CROP = 64


@dataclass(frozen=True)
class AtlasConfig:
    """Everything that determines a synthetic atlas; equal configs give identical data."""

    seed: int = 0                   # randomness of fields, cells and noise
    catalogue_seed: int = 0         # which proteins exist (kept fixed across data seeds)
    n_proteins: int = 40
    fields_per_protein: int = 6
    rare_fields: int = 2            # fields of the rare-class protein
    cells_per_field: int = 32       # target number of cells in a field
    cell_spacing: float = 1.25      # min centre distance / sum of mean radii (< 1: crowded)
    crops_per_field: int = 30       # at most this many crops cut from one field
    crop_size: int = 64             # pixels; cells scale with it (64 = reference)
    field_size: int = 320           # field side in reference pixels (scaled like cells)
    cell_lines: int = 2             # morphology regimes used: 1 = round only, 2 = round + elongated
    nuisance: float = 1.0           # 0 = clean microscope, 1 = default nuisance, >1 harder
    cell_expression_spread: float = 0.5   # log-normal std of expression between cells
    crop_jitter: float = 2.0        # max offset of the nucleus from the crop centre, reference px

    def as_dict(self) -> dict:
        return asdict(self)

    def cache_config(self) -> dict:
        """The config plus the generator's version: what cached data are keyed by, so that a
        changed simulator never serves data an older one made."""
        return self.as_dict() | {"generator_version": GENERATOR_VERSION}

    @property
    def scale(self) -> float:
        return self.crop_size / REFERENCE_CROP

    @property
    def field_pixels(self) -> int:
        return int(round(self.field_size * self.scale))

    def catalogue(self) -> Catalogue:
        return build_catalogue(self.n_proteins, self.catalogue_seed)

    def validate(self) -> None:
        if self.crop_size < 24:
            raise ValueError(f"crop_size must be >= 24 pixels, got {self.crop_size}")
        if self.field_pixels < self.crop_size + 8:
            raise ValueError(f"field_size ({self.field_pixels} px at this scale) must exceed the "
                             f"crop size ({self.crop_size}) to cut crops from fields")
        if not 1 <= self.cell_lines <= len(MORPHOLOGIES):
            raise ValueError(f"cell_lines must be 1..{len(MORPHOLOGIES)}, got {self.cell_lines}")
        for name in ("fields_per_protein", "cells_per_field", "crops_per_field"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class FieldSpec:
    index: int
    protein_id: int
    cell_line: str


def field_specs(config: AtlasConfig, catalogue: Catalogue) -> list[FieldSpec]:
    """Which protein and cell line each field shows; cell lines alternate within a protein."""
    lines = list(MORPHOLOGIES)[: config.cell_lines]
    specs = []
    for protein_id, protein in enumerate(catalogue.proteins):
        n = config.rare_fields if protein.rare else config.fields_per_protein
        for k in range(n):
            specs.append(FieldSpec(len(specs), protein_id, lines[k % len(lines)]))
    return specs


@dataclass
class FieldLayout:
    """A field's geometry and imaging conditions, before anything is painted."""

    spec: FieldSpec
    shape: tuple[int, int]
    cells: list
    tessellation: Tessellation
    acquisition: Acquisition
    texture_seed: int
    crop_size: int          # textures repeat every two crop sides, unseen within any crop

    @cached_property
    def maps(self) -> FieldMaps:
        return FieldMaps(self.tessellation, self.texture_seed, texture_tile=2 * self.crop_size)


@dataclass
class RenderedField:
    images: np.ndarray            # (C, H, W), channels as requested
    channels: tuple[str, ...]
    cells: np.ndarray             # (H, W) int32 cell labels
    nuclei: np.ndarray            # (H, W) int32 nucleus labels
    pattern: np.ndarray           # (H, W) int32: label of the cell whose pattern covers the pixel
    cell_rows: list[dict]         # one row per painted cell (see CELL_COLUMNS)
    acquisition: Acquisition

    @property
    def cell_table(self) -> pd.DataFrame:
        return pd.DataFrame(self.cell_rows, columns=CELL_COLUMNS)


CELL_COLUMNS = ["cell", "centroid_y", "centroid_x", "area", "nucleus_area", "cell_localization",
                "alpha", "subpopulation", "expression"]


def layout_field(spec: FieldSpec, config: AtlasConfig, rng: np.random.Generator) -> FieldLayout:
    shape = (config.field_pixels,) * 2
    acquisition = sample_acquisition(rng, scale=config.scale, strength=config.nuisance)
    cells = place_cells(shape, config.cells_per_field, MORPHOLOGIES[spec.cell_line], config.scale,
                        rng, spacing=config.cell_spacing)
    return FieldLayout(spec, shape, cells, tessellate(cells, shape), acquisition,
                       int(rng.integers(2**63)), config.crop_size)


def _cell_density(protein: Protein, layers: CellLayers, rng: np.random.Generator, alpha_jitter: float):
    """The protein's density in one cell, with what the cell shows (class, alpha, subpopulation)."""
    if protein.localization == MIXED:
        alpha = float(np.clip(protein.alpha + rng.normal(0, alpha_jitter), 0.02, 0.98))
        parts = [render_pattern(name, layers, params, rng) for name, params in protein.components]
        totals = [max(float(part.sum()), 1e-6) for part in parts]
        density = alpha * parts[0] / totals[0] + (1 - alpha) * parts[1] / totals[1]
        density *= layers.cell.sum() * 0.5   # back to a concentration of order 1
        return density, MIXED, alpha, -1
    if protein.localization == VARIABLE:
        sub = int(rng.integers(2))
        name, params = protein.components[sub]
        return render_pattern(name, layers, params, rng), name, math.nan, sub
    name, params = protein.components[0]
    return render_pattern(name, layers, params, rng), name, math.nan, -1


def paint_field(layout: FieldLayout, config: AtlasConfig, catalogue: Catalogue,
                rng: np.random.Generator, *, channels=FIELD_CHANNELS, only=None,
                region=None, observed=None, protein_id: int | None = None) -> RenderedField:
    """Paint the protein into the cells (all, or the indices in ``only``) and image the field.

    ``protein_id`` paints another catalogue protein than the field's own into the same cells
    (:func:`repaint_field`).

    With ``region`` (a pair of slices), only that part of the field is imaged; pixels outside
    it stay 0, and ``observed`` (a mask of the region) limits noise to the pixels that will be
    looked at. Crop generation uses both to skip the parts of a field no crop sees.
    """
    scale, shape, tessellation = config.scale, layout.shape, layout.tessellation
    protein = catalogue.proteins[layout.spec.protein_id if protein_id is None else protein_id]
    protein_density = np.zeros(shape, np.float32)
    pattern_density = np.zeros(shape, np.float32)   # the same, before expression: for the masks
    spread = config.cell_expression_spread * min(config.nuisance, 1.0)
    rows = []
    for index in (range(len(layout.cells)) if only is None else sorted(only)):
        layers = cell_layers(tessellation, index, layout.cells, scale, layout.maps)
        if not layers.nucleus.any():
            continue   # the nucleus lies outside the field: nothing of it to see or crop
        window = tessellation.windows[index]
        density, shows, alpha, sub = _cell_density(protein, layers, rng, alpha_jitter=0.05)
        expression = protein.expression * float(rng.lognormal(0, spread))
        protein_density[window] += 0.3 * expression * density
        pattern_density[window] += density
        nucleus = layout.cells[index].nucleus
        rows.append(dict(cell=index + 1, centroid_y=nucleus.center[0], centroid_x=nucleus.center[1],
                         area=int(layers.cell.sum()), nucleus_area=int(layers.nucleus.sum()),
                         cell_localization=shows, alpha=alpha, subpopulation=sub,
                         expression=expression))

    # Ground-truth pattern masks: where each painted cell's (slightly smoothed) pattern is bright.
    region = region or (slice(0, shape[0]), slice(0, shape[1]))
    support = ndimage.gaussian_filter(pattern_density[region], 0.6 * scale) > 0.2
    pattern = np.zeros(shape, np.int32)
    pattern[region] = np.where(support, tessellation.cells[region], 0)
    painters = {
        "protein": lambda: protein_density[region],
        "nucleus": lambda: _dna_density(tessellation.nuclei, layout.maps, scale, rng, region),
        "cell_marker": lambda: _marker_density(tessellation.cells, layout.maps.membrane, scale, rng,
                                               region),
    }
    origin = (region[0].start, region[1].start)
    images = np.zeros((len(channels),) + shape, np.float32)
    densities = np.stack([painters[name]() for name in channels])
    images[(slice(None),) + region] = acquire(densities, layout.acquisition, rng, origin=origin,
                                              field_shape=shape, observed=observed)
    return RenderedField(images, tuple(channels), tessellation.cells, tessellation.nuclei, pattern,
                         rows, layout.acquisition)


def _per_label(labels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values[label - 1]`` at every labelled pixel, 0 on background."""
    return np.concatenate([[0.0], values]).astype(np.float32)[labels]


def _dna_density(nuclei: np.ndarray, maps: FieldMaps, scale: float, rng, region) -> np.ndarray:
    """A Hoechst-like stain in ``region``: nuclei with chromatin texture and varying DNA content."""
    content = rng.lognormal(-0.4, 0.2, nuclei.max())
    chromatin = 1 + 0.25 * maps.texture("smooth", 1.2 * scale)[region]
    return _per_label(nuclei[region], content) * chromatin


def _marker_density(cells: np.ndarray, membrane_distance: np.ndarray, scale: float, rng,
                    region) -> np.ndarray:
    """A cell-body marker in ``region``: dim cytoplasm, brighter towards the cell outline."""
    level = rng.lognormal(-0.5, 0.25, cells.max())
    rim = np.exp(-(membrane_distance[region] - 1) / (2.5 * scale))
    return _per_label(cells[region], level) * (0.25 + 0.35 * rim)


def render_field(spec: FieldSpec, config: AtlasConfig, catalogue: Catalogue,
                 rng: np.random.Generator, channels=FIELD_CHANNELS) -> RenderedField:
    """Lay out and paint a whole field of view."""
    return paint_field(layout_field(spec, config, rng), config, catalogue, rng, channels=channels)


def repaint_field(config: AtlasConfig, field: int, protein: str, *, cells=None, seed: int = 0,
                  channels=("protein",)) -> RenderedField:
    """Field ``field`` of the atlas of ``config`` with its cells painted with ``protein``'s pattern.

    The cells (shapes, positions, nuclei), the structural markers' geometry and the microscope
    are those of the field as :func:`generate_fields` made it; only the protein differs. This is
    the counterfactual target of paired cell inpainting: what a target cell would look like if
    it showed the source cell's protein. ``cells`` (1-based labels, as in the field's ``cells``
    mask) paints only those; ``seed`` draws the pattern's per-cell randomness and the noise.
    """
    catalogue = config.catalogue()
    names = [p.name for p in catalogue.proteins]
    if protein not in names:
        raise KeyError(f"unknown protein {protein!r}; the catalogue has {', '.join(names)}")
    specs = field_specs(config, catalogue)
    if not 0 <= field < len(specs):
        raise IndexError(f"field {field} is not in this atlas (it has {len(specs)} fields)")
    layout = layout_field(specs[field], config, _field_rng(config, field))
    only = None if cells is None else {int(label) - 1 for label in cells}
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(field, names.index(protein))))
    return paint_field(layout, config, catalogue, rng, channels=channels, only=only,
                       protein_id=names.index(protein))


def _field_rng(config: AtlasConfig, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(index,)))


def _protein_columns(catalogue: Catalogue, spec: FieldSpec) -> dict:
    protein = catalogue.proteins[spec.protein_id]
    return dict(field=spec.index, protein=protein.name, protein_id=spec.protein_id,
                localization=protein.localization, complex=protein.complex, cell_line=spec.cell_line,
                protein_alpha=protein.alpha, rare=protein.rare, orphan=protein.orphan)


def _plan_crops(layout: FieldLayout, config: AtlasConfig, rng) -> list[tuple[int, int, int]]:
    """(cell index, top, left) of up to ``crops_per_field`` crops that fit inside the field."""
    size, half = config.crop_size, config.crop_size // 2
    jitter = config.crop_jitter * config.scale
    plans = []
    for index in rng.permutation(len(layout.cells)):
        if len(plans) == config.crops_per_field:
            break
        cy, cx = layout.cells[index].nucleus.center
        top = int(round(cy + rng.uniform(-jitter, jitter))) - half
        left = int(round(cx + rng.uniform(-jitter, jitter))) - half
        if top < 0 or left < 0 or top + size > layout.shape[0] or left + size > layout.shape[1]:
            continue   # as in the papers' pipelines, cells too close to the field edge are skipped
        centre = layout.tessellation.nuclei[top + half - 2: top + half + 3,
                                            left + half - 2: left + half + 3]
        if not (centre == index + 1).any():
            continue   # the nucleus was taken over by a neighbour's: no centred nucleus to crop
        plans.append((int(index), top, left))
    return plans


def _crops_of_field(spec: FieldSpec, config: AtlasConfig, catalogue: Catalogue):
    rng = _field_rng(config, spec.index)
    layout = layout_field(spec, config, rng)
    plans = _plan_crops(layout, config, rng)
    size = config.crop_size
    if not plans:
        return (np.zeros((0, 3, size, size), np.float32), np.zeros((0, 4, size, size), np.uint8), [])
    # Image only the bounding box of the crops, plus a margin for the PSF and distance map.
    margin = int(4 * layout.acquisition.psf_sigma) + 2
    tops = [top for _, top, _ in plans]
    lefts = [left for _, _, left in plans]
    region = (slice(max(min(tops) - margin, 0), min(max(tops) + size + margin, layout.shape[0])),
              slice(max(min(lefts) - margin, 0), min(max(lefts) + size + margin, layout.shape[1])))
    observed = np.zeros(layout.shape, bool)
    for _, top, left in plans:
        observed[top:top + size, left:left + size] = True
    # Only cells that show up in some crop are painted: the rest of the field is never seen.
    seen = np.bincount(layout.tessellation.cells[observed], minlength=len(layout.cells) + 1)
    needed = set(np.flatnonzero(seen[1:]).tolist())
    field = paint_field(layout, config, catalogue, rng, channels=("protein", "nucleus"),
                        only=needed, region=region, observed=observed[region])
    windows = pd.DataFrame({"crop_top": [top for _, top, _ in plans],
                            "crop_left": [left for _, _, left in plans]})
    own = np.array([index + 1 for index, _, _ in plans])[:, None, None]
    light = crop_windows(field.images, windows, size)
    distance = crop_windows(layout.maps.nuclear, windows, size) / np.float32(size)
    cells = crop_windows(field.cells, windows, size)
    masks = np.stack([cells == own, crop_windows(field.nuclei, windows, size) == own,
                      crop_windows(field.pattern, windows, size) == own,
                      np.stack([_relabel(c) for c in cells])], axis=1).astype(np.uint8)
    cells_by_label = {row["cell"]: row for row in field.cell_rows}
    field_columns = _protein_columns(catalogue, spec) | dict(
        psf_sigma=field.acquisition.psf_sigma, photons=field.acquisition.photons)
    rows = []
    for (index, top, left), crop_labels in zip(plans, masks[:, 3]):
        row = cells_by_label[index + 1]
        rows.append(field_columns | dict(
            cell=index + 1, crop_top=top, crop_left=left, cell_localization=row["cell_localization"],
            alpha=row["alpha"], subpopulation=row["subpopulation"], expression=row["expression"],
            n_cells_in_crop=int(crop_labels.max())))
    return np.concatenate([light, distance[:, None]], axis=1), masks, rows


def _relabel(labels: np.ndarray) -> np.ndarray:
    """The cells of one crop renumbered 1..k (background stays 0), through a lookup table."""
    present = np.flatnonzero(np.bincount(labels.ravel()))
    lookup = np.zeros(present[-1] + 1, np.uint8)
    foreground = present[present > 0]
    lookup[foreground] = np.arange(1, len(foreground) + 1)
    return lookup[labels]


def _field_record(spec: FieldSpec, config: AtlasConfig, catalogue: Catalogue):
    rng = _field_rng(config, spec.index)
    field = render_field(spec, config, catalogue, rng)
    masks = np.stack([field.cells, field.nuclei, field.pattern]).astype(np.int32)
    row = _protein_columns(catalogue, spec) | dict(n_cells=len(field.cell_rows)) | {
        f"acquisition_{k}": v for k, v in field.acquisition.as_dict().items()}
    cells = field.cell_table.assign(field=spec.index)
    return field.images, masks, row, cells


def _map_fields(function, specs, workers: int, desc: str, show_progress: bool):
    """Apply ``function`` to every field spec, in order, over ``workers`` processes."""
    bar = progress(total=len(specs), desc=desc, unit="fields", disable=not show_progress)
    results = []
    if workers <= 1:
        for spec in specs:
            results.append(function(spec))
            bar.update()
    else:
        with ProcessPoolExecutor(workers) as pool:
            for result in pool.map(function, specs, chunksize=max(1, len(specs) // (8 * workers))):
                results.append(result)
                bar.update()
    bar.close()
    return results


def _attrs(config: AtlasConfig, kind: str) -> dict:
    return dict(generator="cellnb.sim.atlas", generator_version=GENERATOR_VERSION, kind=kind,
                config=config.as_dict())


def _prepare(config: AtlasConfig | None, proteins) -> tuple[AtlasConfig, Catalogue, list[FieldSpec]]:
    """The validated config, its catalogue and the fields to generate (all, or some proteins')."""
    config = config or AtlasConfig()
    config.validate()
    catalogue = config.catalogue()
    specs = field_specs(config, catalogue)
    if proteins is not None:
        specs = _only_proteins(specs, catalogue, proteins)
    if not specs:
        raise ValueError("no fields to generate")
    return config, catalogue, specs


def _only_proteins(specs: list[FieldSpec], catalogue: Catalogue, proteins) -> list[FieldSpec]:
    names = [p.name for p in catalogue.proteins]
    unknown = sorted(set(proteins) - set(names))
    if unknown:
        raise KeyError(f"unknown proteins {unknown}; the catalogue has {', '.join(names)}")
    wanted = {names.index(p) for p in proteins}
    # Field indices (and so their random streams) stay those of the whole atlas.
    return [spec for spec in specs if spec.protein_id in wanted]


def generate_crops(config: AtlasConfig | None = None, *, workers: int = 1, progress: bool = True,
                   proteins=None) -> ImageSet:
    """Single-cell crops (protein, nucleus, signed nuclear distance) with ground truth.

    Masks: ``cell`` and ``nucleus`` of the centred cell, ``pattern`` (where that cell's protein
    pattern lies) and ``cells`` (all cells in the crop, relabelled 1..k). ``proteins`` (names)
    restricts generation to those proteins' fields, which are the same as in the full atlas.
    """
    config, catalogue, specs = _prepare(config, proteins)
    parts = _map_fields(partial(_crops_of_field, config=config, catalogue=catalogue), specs,
                        workers, "simulating crops", progress)
    images = np.concatenate([p[0] for p in parts])
    masks = np.concatenate([p[1] for p in parts])
    metadata = pd.DataFrame([row for p in parts for row in p[2]])
    return ImageSet(images, CROP_CHANNELS, metadata, masks, CROP_MASKS,
                    tables={"proteins": catalogue.table()}, attrs=_attrs(config, "crops"))


def generate_fields(config: AtlasConfig | None = None, *, workers: int = 1,
                    progress: bool = True, proteins=None) -> ImageSet:
    """Whole fields of view (protein, nucleus, cell-body marker), one protein per field.

    Masks: instance labels of ``cells`` and ``nuclei`` and the ``pattern`` support; the table
    ``cells`` has one row per cell with its ground truth (class shown, alpha, sub-population).
    """
    config, catalogue, specs = _prepare(config, proteins)
    parts = _map_fields(partial(_field_record, config=config, catalogue=catalogue), specs,
                        workers, "simulating fields", progress)
    return ImageSet(np.stack([p[0] for p in parts]), FIELD_CHANNELS,
                    pd.DataFrame([p[2] for p in parts]), np.stack([p[1] for p in parts]),
                    FIELD_MASKS,
                    tables={"cells": pd.concat([p[3] for p in parts], ignore_index=True),
                            "proteins": catalogue.table()},
                    attrs=_attrs(config, "fields"))


def config_fields() -> list[str]:
    return [f.name for f in fields(AtlasConfig)]


def measure_throughput(config: AtlasConfig | None = None, *, n_fields: int = 40,
                       repeats: int = 3) -> dict:
    """Crops per second of one process generating ``n_fields`` fields: wall and CPU time.

    The fields are generated ``repeats`` times and the median pass is reported, since a shared
    machine's speed drifts between passes; CPU time is the fairer figure there. With the
    default config this is the issue's figure of merit: 64x64 crops per second per core.
    """
    import time

    config = config or AtlasConfig()
    catalogue = config.catalogue()
    specs = field_specs(config, catalogue)
    # Fields spread evenly over the catalogue, since patterns differ in cost.
    specs = [specs[i] for i in np.linspace(0, len(specs) - 1, min(n_fields, len(specs))).astype(int)]
    walls, cpus = [], []
    for _ in range(max(1, repeats)):
        wall, cpu = time.perf_counter(), time.process_time()
        n = sum(len(_crops_of_field(spec, config, catalogue)[2]) for spec in specs)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    wall, cpu = float(np.median(walls)), float(np.median(cpus))
    return dict(crops=n, fields=len(specs), repeats=len(walls), seconds=wall,
                crops_per_second=n / wall, crops_per_cpu_second=n / cpu)
