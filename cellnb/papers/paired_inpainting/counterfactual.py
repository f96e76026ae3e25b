"""The counterfactual check of paired cell inpainting: does the model paint the *source's* protein?

Lu, Kraus, Cooper & Moses, PLoS Comput Biol 2019, Methods ("Architecture", last paragraph)
and S1 Fig: the trained model is run on pairs whose source and target come from different
images with different localisations, and its predictions are "agreeing with the protein
localization of the source cell", not with the target's own protein. The paper shows this on four
examples, by eye. It argues that the model neither memorises target cells nor reads the protein
off the marker channels (bleed-through).

On simulated fields we know what the right answer is. :func:`cellnb.sim.repaint_field` renders
the target's field again, with the same cells, markers and microscope, but painted with the
*source's* protein. Cut at the target crop's window, that is the counterfactual target. So the
check is quantitative:

    corr(prediction, counterfactual)  >  corr(prediction, real target protein)   on average,

with Pearson correlation over the pixels of the model's crop. Pearson correlation ignores any
affine rescaling of either image, so it gives the same value on raw crops and on min-max
normalised ones (the training target's scale, Methods, "Datasets, preprocessing, and training").
The images :func:`counterfactual_examples` returns are min-max normalised for display.

Read top to bottom: the windows and the counterfactual crops, the mismatched pairs, the check and
its summary, the examples for a figure.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy import stats

from ...data.segmentation import crop_windows, window_origins
from ...data.transforms import minmax_normalize
from ...sim.atlas import GENERATOR_VERSION, AtlasConfig, config_fields, repaint_field
from ...sim.catalogue import MULTI_CLASS_KINDS
from .data import EvaluationCells, InpaintingData, resize_crops
from .pairs import PairDataset

PROTEIN = "protein"
NUCLEUS = "nucleus"
# What each metadata row needs: the image (the atlas's field index), the nucleus centroid the
# crop was centred on, the image's protein and the true cell under the crop centre.
REQUIRED_COLUMNS = ("image", "centroid_y", "centroid_x", "protein", "true_cell")


# ------------------------------------------------------------ windows and counterfactual crops

def crop_window_table(metadata: pd.DataFrame, crop_size: int) -> pd.DataFrame:
    """The ``crop_top`` / ``crop_left`` of each crop, from the nucleus centroids the data recorded,
    placed as :func:`cellnb.data.segmentation.extract_crops` placed them (the tests check that
    cutting the fields at these windows gives the data's crops exactly)."""
    top, left = window_origins(metadata["centroid_y"], metadata["centroid_x"], crop_size)
    return pd.DataFrame({"crop_top": top, "crop_left": left})


def cut_like_data(field: np.ndarray, windows: pd.DataFrame, crop_size: int,
                  output_size: int | None = None) -> torch.Tensor:
    """Crops of ``field`` (C, H, W) at ``windows``, resized as
    :func:`.data.pairs_from_fields` resizes them. Returns float32 (n, C, S, S)."""
    crops = torch.from_numpy(crop_windows(np.asarray(field, np.float32), windows, crop_size))
    return resize_crops(crops, output_size)


def atlas_config_of(fields_config) -> AtlasConfig:
    """The atlas that made the fields, from an :class:`AtlasConfig`, its ``as_dict()``, or the
    fields themselves (``fields.attrs["config"]``, from :func:`cellnb.sim.generate_fields`).

    Fields made by another simulator version would not be repainted the same way, so those are
    refused."""
    if isinstance(fields_config, AtlasConfig):
        return fields_config
    attrs = getattr(fields_config, "attrs", None)
    if attrs is not None:
        version = attrs.get("generator_version")
        if version is not None and str(version) != GENERATOR_VERSION:
            raise ValueError(f"these fields were made by simulator version {version}, this one "
                             f"is {GENERATOR_VERSION}; regenerate them so that the repainted "
                             "fields match")
        fields_config = attrs.get("config")
    if not isinstance(fields_config, dict):
        raise TypeError("fields_config must be an AtlasConfig, its as_dict(), or fields from "
                        f"cellnb.sim.generate_fields (with attrs['config']); got "
                        f"{type(fields_config).__name__}")
    known = set(config_fields())
    return AtlasConfig(**{k: v for k, v in fields_config.items() if k in known})


def counterfactual_crops(fields_config, metadata_rows: pd.DataFrame, source_proteins, *,
                         crop_size: int, output_size: int | None = None, seed: int = 0,
                         channels=(PROTEIN,), paint_neighbours: bool = True) -> torch.Tensor:
    """Each target crop as it would look if its field showed ``source_proteins[i]``.

    For row ``i`` of ``metadata_rows`` (crops from :func:`.data.pairs_from_fields` on atlas
    fields), the row's field is repainted with ``source_proteins[i]`` by
    :func:`cellnb.sim.repaint_field`. The crop is then cut at the same window as the original
    (:func:`crop_window_table`) and resized the same way. The result is raw intensities,
    float32 (N, len(channels), S, S), like ``InpaintingData.crops``. Adding ``"nucleus"`` to
    ``channels`` lets a caller check the alignment: the repainted nucleus crop should match the
    original one up to noise and DNA content, which are drawn again.

    paint_neighbours:
        True (the default) paints every cell of the field with the source's protein, so the
        neighbours in the window show it too. False paints only the target cell
        (``cells=[true_cell]``) and leaves the neighbours dark. The default is the fair one:
        in the real crop every cell shows the target's protein, since one image holds one
        protein, so with the default the two references differ *only* in which protein the
        cells express. With dark neighbours the counterfactual also differs in layout, with
        one bright cell in the middle. Any prediction that is merely brighter in the middle
        then scores better against it, whatever pattern it paints. The tests check this with
        a fixed Gaussian blob: it wins with dark neighbours and ties with the default.
    """
    config = atlas_config_of(fields_config)
    metadata_rows = _require_columns(metadata_rows.reset_index(drop=True))
    source_proteins = list(source_proteins)
    if len(source_proteins) != len(metadata_rows):
        raise ValueError(f"{len(metadata_rows)} metadata rows but {len(source_proteins)} "
                         "source proteins; give one protein per target crop")
    channels = tuple(channels)
    size = crop_size if output_size is None else output_size
    out = torch.zeros((len(metadata_rows), len(channels), size, size), dtype=torch.float32)
    windows = crop_window_table(metadata_rows, crop_size)
    cells = metadata_rows["true_cell"].to_numpy(int)
    fields = metadata_rows["image"].to_numpy()
    if not paint_neighbours and (cells <= 0).any():
        raise ValueError("paint_neighbours=False paints the true cell under each crop centre, "
                         "but some rows have true_cell 0 (no cell there); drop them first")
    # One repaint serves every row with the same field, protein (and cell, if only it is painted).
    rows_of = defaultdict(list)
    for i, (field, protein, cell) in enumerate(zip(fields, source_proteins, cells)):
        rows_of[int(field), str(protein), 0 if paint_neighbours else int(cell)].append(i)
    for (field, protein, cell), rows in rows_of.items():
        painted = repaint_field(config, field, protein, cells=[cell] if cell else None,
                                seed=seed, channels=channels)
        out[rows] = cut_like_data(painted.images, windows.iloc[rows], crop_size, output_size)
    return out


def _require_columns(metadata: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in metadata]
    if missing:
        raise ValueError(f"the cells' metadata lacks {missing}: the counterfactual needs crops of "
                         "atlas fields from pairs_from_fields, which records the image (field "
                         "index), the nucleus centroid and the true cell under the crop centre")
    return metadata


# ------------------------------------------------------------------------ mismatched pairs

def single_classes(metadata: pd.DataFrame) -> np.ndarray:
    """Each cell's class, as the k-NN benchmark labels it: ``label`` where present (None for the
    proteins that show more than one class), else the image's ``localization`` with the
    mixed and variable proteins set to None."""
    if "label" in metadata:
        classes = metadata["label"]
    elif "localization" in metadata:
        classes = metadata["localization"].where(~metadata["localization"].isin(MULTI_CLASS_KINDS))
    else:
        raise ValueError("the cells need a 'label' or 'localization' column to pair "
                         "different classes")
    return classes.astype(object).where(classes.notna(), None).to_numpy()


def sample_mismatched_pairs(cells_metadata: pd.DataFrame, n: int, *, seed: int = 0) -> np.ndarray:
    """``n`` (source, target) positions into ``cells_metadata`` whose classes differ.

    Both cells must have a single class (:func:`single_classes`), and the target must have a
    true cell under its crop centre (``true_cell > 0``), since that is the cell repainted. A
    single-class protein fills a whole image, so different classes also means different images.
    That matches the paper's mismatched pairs (S1 Fig). Pass the held-out cells
    (``data.evaluation_cells("test")``): the model then never saw these images, let alone
    these pairs.

    Targets are drawn uniformly without replacement, or with replacement when ``n`` exceeds the
    number of eligible targets. Each target's source is drawn uniformly from the cells of the
    other classes. Returns int64 (n, 2).
    """
    classes = single_classes(cells_metadata)
    labelled = np.array([c is not None for c in classes])
    has_cell = (cells_metadata["true_cell"].to_numpy(int) > 0 if "true_cell" in cells_metadata
                else np.ones(len(classes), bool))
    targets = np.flatnonzero(labelled & has_cell)
    sources = np.flatnonzero(labelled)
    if len(targets) == 0 or len({classes[i] for i in sources}) < 2:
        raise ValueError(f"need cells of at least two single classes (and targets on a true cell) "
                         f"to pair different classes; these {len(classes)} cells have classes "
                         f"{sorted({c for c in classes if c is not None})}")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(targets, size=n, replace=n > len(targets))
    source_classes = classes[sources]
    pairs = np.empty((n, 2), dtype=np.int64)
    for k, target in enumerate(chosen):
        candidates = sources[source_classes != classes[target]]
        pairs[k] = rng.choice(candidates), target
    return pairs


# ---------------------------------------------------------------------------- the check

def evaluation_cells_of(data_or_cells) -> EvaluationCells:
    """The held-out cells: an :class:`EvaluationCells` as is, or an :class:`InpaintingData`'s
    test part."""
    if isinstance(data_or_cells, InpaintingData):
        return data_or_cells.evaluation_cells("test")
    if isinstance(data_or_cells, EvaluationCells):
        return data_or_cells
    raise TypeError(f"expected InpaintingData or EvaluationCells, got "
                    f"{type(data_or_cells).__name__}")


def pearson_rows(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Pearson correlation of each pair of images ``a[i]``, ``b[i]`` over their pixels.

    The result is NaN where either image is constant, since the correlation is then undefined.
    """
    a = a.reshape(len(a), -1).double()
    b = b.reshape(len(b), -1).double()
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    denominator = a.norm(dim=1) * b.norm(dim=1)
    corr = (a * b).sum(1) / denominator
    return torch.where(denominator > 0, corr, torch.nan).numpy()


@torch.no_grad()
def predict_pairs(model, cells: EvaluationCells, pairs: np.ndarray, *,
                  batch_size: int = 256) -> torch.Tensor:
    """``model(source, target_marker)`` for each (source, target) pair, on the model's device.

    The inputs are built as in training (:class:`.pairs.PairDataset`: protein first, each crop
    and channel min-max normalised), without flips. The model runs in eval mode, so batch norm
    uses its running statistics, and its previous mode is restored afterwards. Returns float32
    (n, 1, S, S) on the CPU.
    """
    dataset = PairDataset(cells.crops, cells.channels, flip=False)
    parameter = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    device = parameter.device if parameter is not None else torch.device("cpu")
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        outputs = []
        for batch in torch.as_tensor(pairs, dtype=torch.int64).split(batch_size):
            source, target_marker, _ = dataset.batch(batch)
            outputs.append(model(source.to(device), target_marker.to(device)).float().cpu())
    finally:
        if was_training:
            model.train()
    size = cells.crops.shape[-1]
    return torch.cat(outputs) if outputs else torch.zeros((0, 1, size, size))


@dataclass
class PairImages:
    """The images one check compares, for (source, target) ``pairs`` of held-out cells: raw
    intensities, (n, S, S) each (``nucleus``: the repainted one, or None without that channel)."""

    pairs: np.ndarray
    prediction: torch.Tensor
    counterfactual: torch.Tensor
    counterfactual_nucleus: torch.Tensor | None
    real: torch.Tensor
    source: torch.Tensor


def pair_images(model, cells: EvaluationCells, pairs: np.ndarray, fields_config, *,
                crop_size: int, seed: int = 0, paint_neighbours: bool = True) -> PairImages:
    """Predict every pair and cut its counterfactual (with the nucleus, to check the windows)."""
    metadata = _require_columns(cells.metadata)
    sources, targets = pairs[:, 0], pairs[:, 1]
    channels = (PROTEIN, NUCLEUS) if NUCLEUS in cells.channels else (PROTEIN,)
    counterfactual = counterfactual_crops(
        fields_config, metadata.iloc[targets], metadata["protein"].to_numpy()[sources],
        crop_size=crop_size, output_size=cells.crops.shape[-1], seed=seed, channels=channels,
        paint_neighbours=paint_neighbours)
    protein = cells.channels.index(PROTEIN)
    return PairImages(pairs, predict_pairs(model, cells, pairs)[:, 0], counterfactual[:, 0],
                      counterfactual[:, 1] if NUCLEUS in channels else None,
                      cells.crops[targets, protein], cells.crops[sources, protein])


def counterfactual_check(model, data_or_cells, fields_config, *, crop_size: int,
                         n_pairs: int = 200, seed: int = 0, pairs: np.ndarray | None = None,
                         paint_neighbours: bool = True) -> pd.DataFrame:
    """The quantitative S1 Fig: one row per mismatched pair of held-out cells.

    data_or_cells:
        an :class:`InpaintingData` (its test part is used) or :class:`EvaluationCells`;
        positions in the table index these cells.
    fields_config:
        the atlas that made the fields (see :func:`atlas_config_of`).
    crop_size:
        the window ``pairs_from_fields`` cut, in field pixels. The data record only the resized
        crop, so the caller must pass it.
    pairs:
        (n, 2) (source, target) positions. The default is :func:`sample_mismatched_pairs` of
        ``n_pairs`` with ``seed``, which also seeds the repainting.

    Columns: ``source``, ``target`` (positions), their proteins and classes, and the correlations
    of the prediction with the counterfactual (``corr_counterfactual``), with the target's real
    protein crop (``corr_real``) and with the source's own protein crop (``corr_source``, which
    is not aligned to the target: a reference for "copies the source"). ``corr_references``
    correlates the counterfactual with the real crop: near 1, the two references cannot be told
    apart. ``corr_copy`` correlates the source's own crop with the counterfactual: what a model
    that copies its source, ignoring the target's shape, would score. A source-class pattern
    centred on a nucleus resembles the counterfactual, so a copier passes the main test too;
    painting the source's pattern *into the target's shape* is ``corr_counterfactual >
    corr_copy``. ``alignment`` correlates the repainted nucleus crop with the data's nucleus
    crop: it is high unless the windows (or ``crop_size``) are wrong.
    """
    cells = evaluation_cells_of(data_or_cells)
    pairs = (sample_mismatched_pairs(_require_columns(cells.metadata), n_pairs, seed=seed)
             if pairs is None else np.asarray(pairs, dtype=np.int64).reshape(-1, 2))
    images = pair_images(model, cells, pairs, fields_config, crop_size=crop_size, seed=seed,
                         paint_neighbours=paint_neighbours)
    return _table(cells, images)


def _table(cells: EvaluationCells, images: PairImages) -> pd.DataFrame:
    sources, targets = images.pairs[:, 0], images.pairs[:, 1]
    proteins, classes = cells.metadata["protein"].to_numpy(), single_classes(cells.metadata)
    alignment = np.full(len(sources), np.nan)
    if images.counterfactual_nucleus is not None:
        nucleus = cells.crops[targets, cells.channels.index(NUCLEUS)]
        alignment = pearson_rows(images.counterfactual_nucleus, nucleus)
    return pd.DataFrame({
        "source": sources, "target": targets,
        "source_protein": proteins[sources], "target_protein": proteins[targets],
        "source_class": classes[sources], "target_class": classes[targets],
        "corr_counterfactual": pearson_rows(images.prediction, images.counterfactual),
        "corr_real": pearson_rows(images.prediction, images.real),
        "corr_source": pearson_rows(images.prediction, images.source),
        "corr_references": pearson_rows(images.counterfactual, images.real),
        "corr_copy": pearson_rows(images.source, images.counterfactual),
        "alignment": alignment})


def summarise(table: pd.DataFrame) -> dict:
    """The check in numbers: mean correlations, the share of pairs where the counterfactual wins,
    and a paired one-sided Wilcoxon signed-rank test of ``corr_counterfactual > corr_real``.

    ``holds`` is the acceptance test: the mean correlation with the counterfactual exceeds the
    mean correlation with the real target. ``fraction_beats_copy`` is the share of pairs whose
    prediction matches the counterfactual better than the source's own crop does (see
    :func:`counterfactual_check`). Pairs with an undefined correlation (a constant
    image) are left out and counted in ``n_undefined``.
    """
    both = table[["corr_counterfactual", "corr_real"]].dropna()
    difference = both["corr_counterfactual"] - both["corr_real"]
    p_value = (float(stats.wilcoxon(difference, alternative="greater").pvalue)
               if (difference != 0).any() else float("nan"))
    mean_cf, mean_real = float(both["corr_counterfactual"].mean()), float(both["corr_real"].mean())
    return {"n_pairs": int(len(both)), "n_undefined": int(len(table) - len(both)),
            "mean_corr_counterfactual": mean_cf, "mean_corr_real": mean_real,
            "mean_corr_source": float(table["corr_source"].mean()),
            "mean_corr_references": float(table["corr_references"].mean()),
            "mean_alignment": float(table["alignment"].mean()),
            "mean_corr_copy": float(table["corr_copy"].mean()),
            "fraction_beats_copy": float((table["corr_counterfactual"]
                                          > table["corr_copy"]).mean()),
            "mean_difference": float(difference.mean()),
            "fraction_counterfactual_wins": float((difference > 0).mean()),
            "wilcoxon_p_greater": p_value, "holds": bool(mean_cf > mean_real)}


# --------------------------------------------------------------------- examples for a figure

@dataclass
class CounterfactualExamples:
    """A few mismatched pairs as images for a montage, one row per pair, in S1 Fig's column
    order: the source cell's protein, the target's markers, the prediction, the counterfactual
    and the target's real protein. Every image is min-max normalised to [0, 1]."""

    source: np.ndarray           # (n, S, S) the source cell's protein
    target_marker: np.ndarray    # (n, M, S, S) the target's markers, in the data's order
    prediction: np.ndarray       # (n, S, S)
    counterfactual: np.ndarray   # (n, S, S) the target repainted with the source's protein
    real: np.ndarray             # (n, S, S) the target's real protein
    markers: tuple[str, ...]
    table: pd.DataFrame          # the pairs' rows of counterfactual_check

    def columns(self) -> dict[str, np.ndarray]:
        """The single-channel columns of the montage, by title (markers: the first one)."""
        return {"source protein": self.source, f"target {self.markers[0]}":
                self.target_marker[:, 0], "prediction": self.prediction,
                "counterfactual": self.counterfactual, "real target": self.real}


def counterfactual_examples(model, data_or_cells, fields_config, *, crop_size: int, n: int = 4,
                            seed: int = 0, paint_neighbours: bool = True) -> CounterfactualExamples:
    """``n`` mismatched pairs whose sources show different classes, as S1 Fig's four sources
    do. Pairs are taken in :func:`sample_mismatched_pairs` order, skipping a source class
    already shown, and repeating classes only when fewer than ``n`` exist."""
    cells = evaluation_cells_of(data_or_cells)
    candidates = sample_mismatched_pairs(_require_columns(cells.metadata), max(20 * n, 100),
                                         seed=seed)
    pairs = _one_per_source_class(candidates, single_classes(cells.metadata), n)
    images = pair_images(model, cells, pairs, fields_config, crop_size=crop_size, seed=seed,
                         paint_neighbours=paint_neighbours)
    dataset = PairDataset(cells.crops, cells.channels, flip=False)
    _, target_marker, _ = dataset.batch(torch.as_tensor(pairs))
    normalised = lambda x: minmax_normalize(x).numpy()   # noqa: E731
    return CounterfactualExamples(normalised(images.source), target_marker.numpy(),
                                  normalised(images.prediction), normalised(images.counterfactual),
                                  normalised(images.real), tuple(dataset.markers),
                                  _table(cells, images))


def _one_per_source_class(pairs: np.ndarray, classes: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` pairs with distinct source classes, topped up in order if too few."""
    chosen, seen = [], set()
    for k, (source, _) in enumerate(pairs):
        if classes[source] not in seen:
            seen.add(classes[source])
            chosen.append(k)
        if len(chosen) == n:
            break
    rest = [k for k in range(len(pairs)) if k not in chosen]
    chosen += rest[: n - len(chosen)]
    return pairs[chosen]
