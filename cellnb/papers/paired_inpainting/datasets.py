"""The chapter's data in one call: what the model trains on and which cells its features are scored on.

Lu, Kraus, Cooper & Moses, PLoS Comput Biol 2019, train on unlabelled single cells grouped by
image and score the features on other cells (Methods, "Datasets, preprocessing, and training";
Results, Table 1). :func:`load_chapter_data` gives the notebook both halves for each value of its
``dataset`` parameter:

``"synthetic"`` (default, offline)
    whole fields of the simulated atlas (:func:`cellnb.sim.generate_fields`, cached), cells found
    by segmentation (:func:`.data.pairs_from_fields`), split by field; scored on the test fields,
    whose cells carry their true class.
``"yeast"``
    the per-cell GFP + RFP TIFFs shipped with the paper's code (registry ``pci_toy_dataset``,
    folder ``yeast/``), split by image. Scored on the labelled cells of Chong et al. (2015),
    Table 1's evaluation set of 17 classes, when DeepLoc's ``Chong_*_set.hdf5`` files are present
    (registry ``yeast_deeploc_chong``); otherwise on the test images, unlabelled.
``"human"``
    Human Protein Atlas RGB composites (registry ``hpa_v18``), segmented and cropped as the paper
    describes, split by image. HPA labels exist only per image (Methods), so no single-cell label
    is available offline and the test cells are unlabelled.

Where each dataset's files are looked for, and what a reader is told when they are missing, comes
from the registry (``data/datasets.yml``, :mod:`cellnb.data.registry`). Reading the yeast TIFFs and
segmenting the HPA fields is cached (:func:`cellnb.data.cache.cached_imageset`, keyed by the
folder's file listing and the reader's settings); the Chong HDF5 files are already an indexed
format and are read directly, only the rows asked for.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from ...data import registry
from ...data.cache import cached_imageset
from ...data.imageset import ImageSet
from ...data.pci_readers import (
    CHONG_KEYS,
    YEAST_CHANNELS,
    read_chong_hdf5,
    read_hpa_composites,
    read_yeast_tiff_pairs,
)
from ...data.store import read_imageset
from ...data.validation import open_hdf5
from .data import EvaluationCells, InpaintingData, pairs_from_fields, resize_crops
from .pairs import cells_by_image, split_by_image

if TYPE_CHECKING:
    from ...sim import AtlasConfig

# The chapter's `dataset` values, with the one line the notebook shows for each.
CHAPTER_DATASETS = {
    "synthetic": "whole fields of the simulated atlas (offline)",
    "yeast": ("the paper's per-cell yeast TIFFs (registry 'pci_toy_dataset'), scored on the "
              "Chong et al. labelled cells (registry 'yeast_deeploc_chong') when present"),
    "human": "Human Protein Atlas v18 RGB composites (registry 'hpa_v18')",
}
# Methods, "Datasets, preprocessing, and training": "we remove any images with fewer than 5
# cells" (human), 30 for yeast. The atlas's fields are human-like, so they get the human rule.
PAPER_MIN_CELLS = {"synthetic": 5, "yeast": 30, "human": 5}
HPA_WINDOW = 512                     # Methods: a 512 x 512 crop around each nucleus (human)
YEAST_EVALUATIONS = ("auto", "chong", "test")
# (registry dataset, registry file) of each real source.
YEAST_TIFFS = ("pci_toy_dataset", "yeast")
HPA_IMAGES = ("hpa_v18", "images")
CHONG = "yeast_deeploc_chong"
CHONG_ZIP = "DeepLoc_full_datasets.zip"
CHONG_SPLIT_ORDER = ("train", "valid", "test")   # the paper's evaluation set concatenates all 3
READER_CACHE_VERSION = "1"          # bump when what the cached readers return changes


@dataclass
class ChapterData:
    """What the chapter trains on and what it scores, for one ``dataset`` value.

    ``fields_config`` is the atlas's :class:`~cellnb.sim.atlas.AtlasConfig` for synthetic data
    (the counterfactual repaints its fields; ``fields_path`` is the cached fields file) and None
    for real data. ``sources`` names the folders and files read.
    """

    name: str
    description: str
    train: InpaintingData
    evaluation: EvaluationCells
    fields_config: AtlasConfig | None = None
    fields_path: Path | None = None
    sources: dict = field(default_factory=dict)

    @property
    def labelled_evaluation(self) -> bool:
        """Whether any evaluation cell has a k-NN label (False: the notebook reports "n/a")."""
        return len(self.evaluation.labelled) > 0

    def __repr__(self) -> str:
        return f"ChapterData({self.name!r}: train {self.train!r}; evaluation {self.evaluation!r})"


def load_chapter_data(dataset: str = "synthetic", *, crop_size: int | None = None,
                      output_size: int | None = None, min_cells: int | None = None,
                      fractions=(0.8, 0.1, 0.1), max_cells: int | None = None,
                      max_evaluation_cells: int | None = None, data_dir=None,
                      fields_config=None, seed: int = 0, workers: int = 1,
                      yeast_image: str = "field", yeast_evaluation: str = "auto",
                      hpa_window: int = HPA_WINDOW, hpa_segmentation: dict | None = None,
                      progress: bool = True) -> ChapterData:
    """The chapter's training cells and evaluation cells for ``dataset``.

    dataset:
        ``"synthetic"``, ``"yeast"`` or ``"human"`` (see the module docstring).
    crop_size:
        synthetic only: the window cut around each nucleus, in field pixels (default the atlas's
        ``crop_size``). The yeast crops come pre-cut (64 px); the human window is ``hpa_window``.
    output_size:
        the side the model sees; every crop (training and evaluation) is resized to it by area
        averaging. None keeps the source's size (synthetic: ``crop_size``; yeast: the TIFFs';
        human: 64, the paper's).
    min_cells:
        images with fewer cells are dropped and counted (default :data:`PAPER_MIN_CELLS`).
    fractions, seed:
        the train / val / test split by image (``seed`` also draws the ``max_*`` subsets).
    max_cells:
        real data only: keep a random set of whole images with at most this many cells in all.
        The atlas's size is set by ``fields_config``.
    max_evaluation_cells:
        the Chong cells only: score a random subset of this many (the paper uses all 30,889).
    data_dir:
        your folder of real data, arranged as ``<data_dir>/<registry name>/...`` (see
        ``cellnb.data.registry.describe(name)``); the cache's ``real/`` folder is searched after.
    fields_config, workers, progress:
        synthetic only: the atlas (default ``AtlasConfig()``) and how to simulate it.
    yeast_image:
        what one yeast "image" is: ``"field"`` (default; the toy data has 20) or ``"protein"``,
        the paper's (4 fields of one well, i.e. one protein).
    yeast_evaluation:
        ``"auto"`` (the Chong cells if found, else the test images), ``"chong"`` (required) or
        ``"test"``.
    hpa_window, hpa_segmentation:
        human only: the window around each nucleus in composite pixels (the paper's 512) and
        overrides of the reader's nucleus segmentation (the paper's Otsu threshold, 400 px).
    """
    if dataset not in CHAPTER_DATASETS:
        known = "; ".join(f"{name!r}: {text}" for name, text in CHAPTER_DATASETS.items())
        raise ValueError(f"unknown dataset {dataset!r}; the paired-inpainting chapter reads "
                         f"one of {list(CHAPTER_DATASETS)} ({known})")
    min_cells = PAPER_MIN_CELLS[dataset] if min_cells is None else min_cells
    split = dict(fractions=fractions, seed=seed)
    if dataset == "synthetic":
        return _synthetic(fields_config, crop_size=crop_size, output_size=output_size,
                          min_cells=min_cells, workers=workers, progress=progress, **split)
    if dataset == "yeast":
        if yeast_evaluation not in YEAST_EVALUATIONS:
            raise ValueError(f"yeast_evaluation must be one of {YEAST_EVALUATIONS}, got "
                             f"{yeast_evaluation!r}")
        return _yeast(data_dir, output_size=output_size, min_cells=min_cells,
                      max_cells=max_cells, max_evaluation_cells=max_evaluation_cells,
                      image_id=yeast_image, evaluation=yeast_evaluation, **split)
    return _human(data_dir, window=hpa_window, segmentation=hpa_segmentation,
                  output_size=output_size, min_cells=min_cells, max_cells=max_cells, **split)


# ----------------------------------------------------------------------------------- synthetic

def _synthetic(fields_config, *, crop_size, output_size, min_cells, fractions, seed, workers,
               progress) -> ChapterData:
    """The atlas's fields, simulated once and then read from the cache (keyed by the atlas's
    config, so every run with the same atlas reads one file), segmented into pairs by field."""
    from ...sim import AtlasConfig, generate_fields

    config = AtlasConfig() if fields_config is None else fields_config
    path = cached_imageset("atlas-fields", config.cache_config(),
                           lambda: generate_fields(config, workers=workers, progress=progress))
    fields = read_imageset(path)
    crop_size = config.crop_size if crop_size is None else crop_size
    train = pairs_from_fields(fields, crop_size=crop_size, output_size=output_size,
                              min_cells=min_cells, fractions=fractions, split_seed=seed)
    evaluation = train.evaluation_cells("test")
    description = (f"synthetic: {len(fields)} simulated fields, {len(train.crops)} cells found "
                   f"by segmentation ({crop_size}-px windows{_resized(crop_size, output_size)}) "
                   f"in {train.metadata['image'].nunique()} fields, "
                   f"{train.n_dropped_images} fields with < {min_cells} cells dropped; scored on "
                   f"the {len(evaluation)} cells of the test fields "
                   f"({len(evaluation.labelled)} with a single-class label)")
    return ChapterData("synthetic", description, train, evaluation, fields_config=config,
                       fields_path=path, sources={"fields": str(path)})


# --------------------------------------------------------------------------------------- yeast

def _yeast(data_dir, *, output_size, min_cells, max_cells, max_evaluation_cells, image_id,
           evaluation, fractions, seed) -> ChapterData:
    """The authors' TIFF pairs for training; Chong et al.'s labelled cells for scoring if present."""
    root = registry_folder("yeast", *YEAST_TIFFS, data_dir)
    cells = cached_read("pci-yeast-tiffs", root, {"image_id": image_id},
                        lambda: read_yeast_tiff_pairs(root, image_id=image_id))
    source_size = cells.images.shape[-1]
    metadata = cells.metadata.rename(columns={"image_id": "image"})
    train = inpainting_data(cells.images, YEAST_CHANNELS, metadata, min_cells=min_cells,
                            output_size=output_size, max_cells=max_cells, fractions=fractions,
                            seed=seed)
    size = train.crops.shape[-1]
    chong = [] if evaluation == "test" else chong_files(data_dir)
    if evaluation == "chong" and not chong:
        raise registry.ManualDownloadRequired(_chong_missing(data_dir))
    sources = {"tiffs": str(root)}
    if chong:
        scored = chong_evaluation(chong, size=size, max_cells=max_evaluation_cells, seed=seed)
        sources["chong"] = [str(path) for path in chong]
        scored_text = (f"the {len(scored)} labelled cells of Chong et al. 2015 in "
                       f"{scored.metadata['label'].nunique()} classes (Table 1's evaluation set"
                       f"{'' if max_evaluation_cells is None else ', a random subset'}"
                       f"{_resized(64, size)})")
    else:
        scored = train.evaluation_cells("test")
        scored_text = (f"the {len(scored)} cells of the test images, unlabelled (no "
                       f"{CHONG}/Chong_*_set.hdf5 found)")
    description = (f"yeast: {len(train.crops)} cells of the paper's per-cell TIFFs "
                   f"({source_size} px{_resized(source_size, output_size)}), "
                   f"{metadata['protein'].nunique()} proteins, "
                   f"{train.metadata['image'].nunique()} images (image = {image_id}), "
                   f"{train.n_dropped_images} images with < {min_cells} cells dropped; "
                   f"scored on {scored_text}")
    return ChapterData("yeast", description, train, scored, sources=sources)


def chong_files(data_dir=None) -> list[Path]:
    """DeepLoc's ``Chong_*_set.hdf5`` files in the first registry folder holding any, in the
    paper's order (train, valid, test). A ``DeepLoc_full_datasets.zip`` found instead is unpacked
    (its Chong files only) into the cache. Other HDF5 files are ignored."""
    for folder in registry.candidate_dirs(CHONG, data_dir):
        found = sorted(folder.glob("Chong_*.hdf5"), key=_chong_order)
        if found:
            return found
    for folder in registry.candidate_dirs(CHONG, data_dir):
        if (folder / CHONG_ZIP).is_file():
            return _unpack_chong(folder / CHONG_ZIP, registry.dataset_cache_dir(CHONG))
    return []


def _chong_order(path: Path) -> tuple:
    split = path.stem.removeprefix("Chong_").removesuffix("_set")
    rank = CHONG_SPLIT_ORDER.index(split) if split in CHONG_SPLIT_ORDER else len(CHONG_SPLIT_ORDER)
    return rank, path.name


def _unpack_chong(archive: Path, target: Path) -> list[Path]:
    """The zip's ``Chong_*.hdf5`` members, copied flat into ``target`` (each written to a
    temporary name and renamed, so an interrupted copy never looks complete)."""
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as bundle:
        members = [m for m in bundle.infolist()
                   if Path(m.filename).name.startswith("Chong_") and m.filename.endswith(".hdf5")]
        for member in members:
            out = target / Path(member.filename).name
            if out.is_file() and out.stat().st_size == member.file_size:
                continue
            tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
            with bundle.open(member) as source, open(tmp, "wb") as sink:
                while chunk := source.read(1 << 24):
                    sink.write(chunk)
            os.replace(tmp, out)
    return sorted((target / Path(m.filename).name for m in members), key=_chong_order)


def chong_evaluation(paths, *, size: int, max_cells: int | None = None,
                     seed: int = 0) -> EvaluationCells:
    """Chong et al.'s labelled cells as evaluation cells at ``size`` px.

    The files record no image or protein per cell, so each cell is its own image
    (``chong-<position>``) and ``protein`` is None (unknown: analyses by protein say "n/a"
    rather than pool every cell into one made-up protein). ``label`` is the class name.
    """
    total = sum(_chong_rows(path) for path in paths)
    indices = None
    if max_cells is not None and max_cells < total:
        indices = np.sort(np.random.default_rng(seed).choice(total, max_cells, replace=False))
    cells = read_chong_hdf5(paths, indices=indices)
    metadata = cells.metadata.assign(
        image=[f"chong-{position}" for position in cells.metadata["position"]],
        protein=None, label=cells.metadata["label"].astype(str).to_numpy(dtype=object))
    metadata["file"] = metadata["file"].astype(str)
    return EvaluationCells(resize_crops(torch.from_numpy(cells.images), size), cells.channels,
                           metadata)


def _chong_rows(path: Path) -> int:
    with open_hdf5(path, required=CHONG_KEYS) as file:
        return int(file["data1"].shape[0])


def _chong_missing(data_dir) -> str:
    places = "\n".join(f"  {folder}" for folder in registry.candidate_dirs(CHONG, data_dir))
    entry = registry.get_dataset(CHONG)
    return (f"yeast_evaluation='chong' needs DeepLoc's Chong_train_set.hdf5, "
            f"Chong_valid_set.hdf5 and Chong_test_set.hdf5 (or {CHONG_ZIP}) in one of:\n"
            f"{places}\nGet {CHONG_ZIP} from {entry.file(CHONG_ZIP).url} and unpack it there. "
            f"Layout: {entry.layout}")


# --------------------------------------------------------------------------------------- human

def _human(data_dir, *, window, segmentation, output_size, min_cells, max_cells, fractions,
           seed) -> ChapterData:
    """HPA composites segmented into single cells (the reader follows the paper's Methods)."""
    root = hpa_root(data_dir)
    size = 64 if output_size is None else output_size   # Methods: 512-px crops resized to 64
    settings = {"window": window, "output_size": size, "segmentation": segmentation or {}}
    cells = cached_read("hpa-crops", root, settings,
                        lambda: read_hpa_composites(root, crop_size=window, output_size=size,
                                                    segmentation=segmentation))
    metadata = cells.metadata.rename(columns={"image_id": "image"})
    train = inpainting_data(cells.images, cells.channels, metadata, min_cells=min_cells,
                            output_size=None, max_cells=max_cells, fractions=fractions,
                            seed=seed)
    evaluation = train.evaluation_cells("test")
    empty = len(cells.attrs.get("fields_without_cells", []))
    description = (f"human: {len(train.crops)} cells cut from HPA composites ({window}-px "
                   f"windows resized to {size} px), {metadata['protein'].nunique()} proteins, "
                   f"{train.metadata['image'].nunique()} images, {empty} fields without a kept "
                   f"nucleus, {train.n_dropped_images} images with < {min_cells} cells dropped; "
                   f"scored on the {len(evaluation)} cells of the test images, unlabelled (HPA "
                   "labels are per image)")
    return ChapterData("human", description, train, evaluation, sources={"composites": str(root)})


def hpa_root(data_dir=None) -> Path:
    """The folder whose sub-folders are the Ensembl ids: ``<...>/hpa_v18/images`` as the registry
    suggests, else ``<data_dir>/hpa_v18`` itself when the ids sit directly in it."""
    try:
        return registry_folder("human", *HPA_IMAGES, data_dir)
    except registry.ManualDownloadRequired as error:
        flat = None if data_dir is None else Path(data_dir) / HPA_IMAGES[0]
        if flat is not None and flat.is_dir() and any(flat.iterdir()):
            return flat
        where = "<data_dir>/hpa_v18/" if flat is None else f"{flat}/"
        raise registry.ManualDownloadRequired(
            f"{error}\n(The <ENSG> folders may also sit directly in {where}.)") from None


# ------------------------------------------------------------------------------ shared helpers

def registry_folder(dataset: str, name: str, file_name: str, data_dir=None) -> Path:
    """The registry's folder ``file_name`` of dataset ``name``, found where :func:`registry.fetch`
    looks; missing, the error names the chapter's ``dataset``, the places searched and the
    registry's instructions. Only manual files are asked for, so nothing is ever downloaded."""
    if not registry.get_dataset(name).file(file_name).manual_download:
        raise AssertionError(f"{name}/{file_name} is downloadable; look it up without fetch")
    try:
        return registry.fetch(name, file_name, data_dir=data_dir, progress=False)[file_name]
    except registry.ManualDownloadRequired as error:
        raise registry.ManualDownloadRequired(
            f"dataset={dataset!r} reads registry entry {name!r}, folder {file_name!r}: "
            f"{error}") from None


def cached_read(kind: str, root: Path, settings: dict, read) -> ImageSet:
    """``read()``'s ImageSet, cached under ``kind`` and keyed by the folder, its file listing
    (names, sizes, modification times) and ``settings``: a changed file reads anew."""
    config = {"folder": str(root.resolve()), "listing": folder_fingerprint(root),
              "reader_version": READER_CACHE_VERSION, **settings}
    return read_imageset(cached_imageset(kind, config, read))


def folder_fingerprint(root: Path) -> str:
    """A hash of every file's relative path, size and modification time under ``root``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def inpainting_data(crops: np.ndarray, channels, metadata: pd.DataFrame, *, min_cells: int,
                    output_size: int | None, max_cells: int | None, fractions,
                    seed: int) -> InpaintingData:
    """Real crops grouped by ``metadata['image']``: sparse images dropped, optionally a random set
    of whole images kept, resized to ``output_size``, split by image.

    The split is stratified by protein only where proteins have images for every part; with one
    image per protein (the paper's yeast "image") stratifying would put every image in train.
    """
    metadata = metadata.reset_index(drop=True)
    kept, dropped = cells_by_image(metadata["image"].to_numpy(), min_cells)
    kept = _limit_images(metadata["image"].to_numpy(), kept, max_cells, seed)
    metadata = metadata.iloc[kept].reset_index(drop=True)
    images = metadata["image"].to_numpy()
    n_parts = sum(fraction > 0 for fraction in fractions)
    per_protein = metadata.groupby("protein")["image"].nunique()
    strata = metadata["protein"].to_numpy() if per_protein.median() >= n_parts else None
    parts = split_by_image(images, fractions, seed, strata)
    if any(len(positions) == 0 for positions in parts.values()):
        sizes = {name: len(positions) for name, positions in parts.items()}
        raise ValueError(f"{metadata['image'].nunique()} images with >= {min_cells} cells are "
                         f"too few to split by image with fractions {tuple(fractions)} (cells "
                         f"per part: {sizes}); lower min_cells, raise max_cells or add images")
    tensor = resize_crops(torch.from_numpy(np.asarray(crops)[kept]), output_size)
    return InpaintingData(tensor, tuple(channels), metadata, parts, np.asarray(dropped))


def _limit_images(image_ids: np.ndarray, kept: np.ndarray, max_cells: int | None,
                  seed: int) -> np.ndarray:
    """``kept`` reduced to whole images in a random order while their cells fit ``max_cells``
    (at least one image), so pairs stay within images."""
    if max_cells is None or len(kept) <= max_cells:
        return kept
    ids, counts = np.unique(image_ids[kept], return_counts=True)
    order = np.random.default_rng(seed).permutation(len(ids))
    fits = np.cumsum(counts[order]) <= max_cells
    fits[0] = True
    chosen = ids[order][fits]
    return kept[np.isin(image_ids[kept], chosen)]


def _resized(source: int, size: int | None) -> str:
    return "" if size is None or size == source else f", resized to {size} px"
