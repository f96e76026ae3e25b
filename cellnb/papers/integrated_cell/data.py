"""The Integrated Cell chapter's data: single-cell images -> tensors, class labels and a split.

The 2D paper (Section 3.1) models single, aligned cells whose channels are the cell membrane, a
labelled structure and the DNA, each scaled to [0, 1]; the class y is the labelled structure. It
holds out about 5 % of the cells as a test set (Table S8: 304 of 6,077). Here the split is the
salted hash of each cell's id (:func:`cellnb.data.ic_readers.salted_hash_split`), so a cell's side
depends on its id only: adding or reordering cells never moves another cell between the parts.

Sources: the toy integrated cells of :mod:`cellnb.sim.integrated` (simulated once, then read from
the cache) or the 2D paper's released PNGs (:func:`cellnb.data.ic_readers.read_ic2d_pngs`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ...data.ic_readers import DEFAULT_SALT, HOLD_OUT_2D, salted_hash_split
from ...data.imageset import ImageSet

CELL_CHANNELS = ("membrane", "structure", "dna")
DATASETS = ("synthetic", "allen_2d", "allen_cells")
MANIFEST_NAMES = ("metadata.csv", "data_jobs_out.csv")   # the successor data's, the 3D paper's


@dataclass
class IntegratedCellData:
    """Cells as model inputs: images (N, 3, H, W) or (N, 3, Z, Y, X) float32 in [0, 1], channels
    membrane, structure, DNA; labels (N,) int64 indexing ``class_names``; one metadata row per cell; and
    the positions of each part (``train``, ``test``, ``val`` when asked for)."""

    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    metadata: pd.DataFrame
    cell_ids: np.ndarray
    parts: dict[str, np.ndarray]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[2:])

    def __len__(self) -> int:
        return len(self.images)

    def part(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, labels) of part ``name``, in the part's order."""
        positions = torch.from_numpy(self.parts[name])
        return self.images[positions], self.labels[positions]

    def part_metadata(self, name: str) -> pd.DataFrame:
        return self.metadata.iloc[self.parts[name]].reset_index(drop=True)

    def class_counts(self) -> pd.DataFrame:
        """Cells per class and part, as the papers' Tables S8 (2D) and S9 (3D) list them."""
        counts = {name: np.bincount(self.labels[positions].numpy(), minlength=self.n_classes)
                  for name, positions in self.parts.items()}
        return pd.DataFrame(counts, index=pd.Index(self.class_names, name="structure"))

    def fingerprint(self) -> str:
        """A hash of the images, labels, class names and split: what a checkpoint must match."""
        digest = hashlib.sha256()
        for array in (self.images.numpy(), self.labels.numpy(),
                      *(self.parts[name] for name in sorted(self.parts))):
            digest.update(np.ascontiguousarray(array).data)
        digest.update(repr((list(self.class_names), sorted(self.parts))).encode())
        return digest.hexdigest()[:16]


def integrated_cell_data(cells: ImageSet, *, hold_out: float = HOLD_OUT_2D,
                         validate: float = 0.0, salt: str = DEFAULT_SALT) -> IntegratedCellData:
    """Tensors, labels and the salted-hash split of an ImageSet of cells.

    Understands the simulator's metadata (``cell``, ``structure``, ``structure_id`` and the
    ``structures`` table) and the PNG reader's (``cell_id``, ``class``, ``class_index``).
    ``hold_out`` is the expected test fraction (5 % as the 2D paper); ``validate`` carves a
    validation part from just above it (the papers have none).
    """
    if tuple(cells.channels) != CELL_CHANNELS:
        raise ValueError(f"expected channels {CELL_CHANNELS}, got {tuple(cells.channels)}")
    metadata = cells.metadata.reset_index(drop=True)
    labels, class_names = _labels(cells, metadata)
    cell_ids = _cell_ids(metadata)
    split = salted_hash_split(cell_ids, hold_out=hold_out, validate=validate, salt=salt)
    parts = {"train": split.train, "test": split.test}
    if validate > 0:
        parts["val"] = split.val
    images = torch.from_numpy(np.require(cells.images, np.float32, ["C", "W"]))
    return IntegratedCellData(images, torch.from_numpy(np.array(labels)), class_names, metadata,
                              cell_ids, parts)


def _labels(cells: ImageSet, metadata: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    if "structure_id" in metadata:   # the simulator: ids index its ``structures`` table
        names = list(cells.tables["structures"]["structure"])
        return metadata["structure_id"].to_numpy(np.int64), names
    if "structure_index" in metadata:   # Allen single cells from a manifest
        names = metadata.drop_duplicates("structure_index").sort_values("structure_index")
        return (metadata["structure_index"].to_numpy(np.int64),
                [str(name) for name in names["structure"]])
    if "class_index" in metadata:    # the 2D paper's PNG folders
        names = list(cells.attrs.get("class_names") or
                     metadata.drop_duplicates("class_index").sort_values("class_index")["class"])
        return metadata["class_index"].to_numpy(np.int64), [str(name) for name in names]
    raise KeyError("the cells' metadata has neither 'structure_id' (simulator), "
                   "'structure_index' (manifest reader) nor 'class_index' (PNG reader): no "
                   "class labels")


def _cell_ids(metadata: pd.DataFrame) -> np.ndarray:
    """Ids that stay with a cell across copies and reorderings: the reader's ``cell_id``, or the
    simulator's cell index (a function of the config's seed and the cell's position)."""
    column = "cell_id" if "cell_id" in metadata else "cell" if "cell" in metadata else None
    if column is None:
        raise KeyError("the cells' metadata has no 'cell_id' or 'cell' column to hash for the split")
    return metadata[column].astype(str).to_numpy()


def load_cell_images(dataset: str = "synthetic", *, sim_config=None, data_dir=None,
                     cache: bool = True, workers: int = 1, pad_to=None,
                     dims: int = 2) -> ImageSet:
    """The chapter's cells as an ImageSet: simulated (cached unless ``cache=False``) or read.

    ``"synthetic"``: the toy integrated cells of ``sim_config``
    (:class:`cellnb.sim.IntegratedCellConfig`). ``"allen_2d"``: the 2D paper's PNG folders under
    ``data_dir``, zero-padded to ``pad_to`` (height, width) as the paper padded to 256x256.
    ``"allen_cells"``: the Allen Cell single-cell (OME-)TIFFs of a manifest, volumes for
    ``dims=3`` (the 3D paper) or maximum-projected along z for ``dims=2``, as the 2D paper made
    its images (Sec. 3.1); ``data_dir`` is the manifest CSV or a folder holding one
    (:data:`MANIFEST_NAMES`); ``pad_to`` is then (Y, X) or (Z, Y, X). Synthetic cells take their
    dimension from ``sim_config.size``.
    """
    if dataset == "synthetic":
        return _synthetic_cells(sim_config, cache=cache, workers=workers)
    if dataset in ("allen_2d", "allen_cells") and data_dir is None:
        raise ValueError(f"dataset={dataset!r} reads files: pass data_dir (see "
                         "data/datasets.yml for where to get them)")
    if dataset == "allen_2d":
        from ...data.ic_readers import read_ic2d_pngs

        return read_ic2d_pngs(data_dir, pad_to=pad_to)
    if dataset == "allen_cells":
        from ...data.ic_readers import read_allen_single_cells

        return read_allen_single_cells(_manifest(data_dir), dims=dims, projection="max",
                                       pad_to=pad_to)
    raise ValueError(f"unknown dataset {dataset!r}; choose from {DATASETS}")


def _manifest(data_dir) -> Path:
    """The manifest CSV that ``data_dir`` is or holds."""
    path = Path(data_dir)
    if path.is_file():
        return path
    found = [path / name for name in MANIFEST_NAMES if (path / name).is_file()]
    if not found:
        raise FileNotFoundError(f"no manifest in {path}: expected one of {MANIFEST_NAMES}, or "
                                "pass the manifest CSV itself as data_dir")
    return found[0]


def load_cells(dataset: str = "synthetic", *, sim_config=None, data_dir=None, cache: bool = True,
               workers: int = 1, pad_to=None, dims: int = 2, hold_out: float = HOLD_OUT_2D,
               validate: float = 0.0, salt: str = DEFAULT_SALT) -> IntegratedCellData:
    """:func:`load_cell_images` then :func:`integrated_cell_data`: the chapter's data in one call.
    The 3D chapter passes ``dims=3`` and the 3D paper's ``hold_out`` (``HOLD_OUT_3D``, 10 %)."""
    cells = load_cell_images(dataset, sim_config=sim_config, data_dir=data_dir, cache=cache,
                             workers=workers, pad_to=pad_to, dims=dims)
    return integrated_cell_data(cells, hold_out=hold_out, validate=validate, salt=salt)


def _synthetic_cells(sim_config, *, cache: bool, workers: int) -> ImageSet:
    from ...sim import IntegratedCellConfig as SimConfig
    from ...sim import generate_integrated_cells

    sim_config = sim_config or SimConfig()

    def build():
        return generate_integrated_cells(sim_config, workers=workers, progress=cache)

    if not cache:
        return build()
    from ...data.cache import cached_imageset
    from ...data.store import read_imageset

    return read_imageset(cached_imageset("integrated-cells", sim_config.cache_config(), build))
