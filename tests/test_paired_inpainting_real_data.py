"""The paired-inpainting chapter runs on the paper's yeast data formats: per-cell TIFF pairs to
train on, DeepLoc's labelled HDF5 to score on. Tiny files written here; nothing is fetched."""
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

from cellnb.book.pipeline import run_notebook
from cellnb.record import read_metrics

REPO = Path(__file__).resolve().parents[1]
CLASSES = ["CYTOPLASM", "NUCLEUS", "PUNCTATE"]


def _cell(kind: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """A 64-px yeast-like cell: GFP (cytoplasm, nucleus or puncta) and RFP (the cell body)."""
    yy, xx = np.mgrid[:64, :64]
    radius, (cy, cx) = rng.uniform(10, 16), 32 + rng.normal(0, 2, 2)
    distance = (yy - cy) ** 2 + (xx - cx) ** 2
    body, nucleus = np.exp(-distance / (2 * radius ** 2)), np.exp(-distance / (radius ** 2 / 4.5))
    gfp = (body, nucleus, body * (rng.random((64, 64)) > 0.9))[kind]
    noise = 0.05 * rng.random((2, 64, 64))
    return (gfp + noise[0]).astype(np.float32), (body + noise[1]).astype(np.float32)


def write_yeast_data(root: Path, seed: int = 0) -> Path:
    """6 proteins x 4 fields x 12 cells as the authors' TIFF pairs, and 60 labelled cells as
    a DeepLoc HDF5 (``data1`` rows of GFP then RFP, one-hot ``Index1`` and its column names)."""
    rng = np.random.default_rng(seed)
    for p, protein in enumerate(["AAC1", "NUP2", "ERG3", "CYC1", "NOP1", "PEX3"]):
        folder = root / "pci_toy_dataset" / "yeast" / protein
        folder.mkdir(parents=True)
        for field in range(1, 5):
            for cell in range(12):
                gfp, rfp = _cell(p % 3, rng)
                tifffile.imwrite(folder / f"{protein}_{field}_rfp_{cell}_gfp.tif", gfp)
                tifffile.imwrite(folder / f"{protein}_{field}_rfp_{cell}_rfp.tif", rfp)
    labels = np.repeat(np.arange(len(CLASSES)), 20)
    cells = np.stack([np.stack(_cell(k, rng)) for k in labels])
    chong = root / "yeast_deeploc_chong"
    chong.mkdir()
    with h5py.File(chong / "Chong_test_set.hdf5", "w") as file:
        file["data1"] = cells.reshape(len(cells), -1)
        file["Index1"] = np.eye(len(CLASSES), dtype=np.float32)[labels]
        file["Index1_columns"] = np.array(CLASSES, dtype="S")
    return root


@pytest.mark.notebook
@pytest.mark.timeout(240)
def test_the_chapter_trains_on_yeast_tiffs_and_scores_the_labelled_cells(tmp_path):
    data_dir = write_yeast_data(tmp_path / "data")
    executed = run_notebook(REPO / "notebooks" / "paired_inpainting.ipynb", profile="smoke",
                            parameters={"dataset": "yeast", "data_dir": str(data_dir)},
                            build_dir=tmp_path / "build")
    metrics = read_metrics(executed.with_suffix(".metrics.json"))
    table1 = metrics["table1"]
    assert list(table1.index) == ["paired cell inpainting", "random init", "hand-crafted",
                                  "raw pixels"]
    values = table1.to_numpy(dtype=float)
    assert np.nanmin(values) >= 0 and np.nanmax(values) <= 1 and np.isfinite(values).sum() == 12
    # Verdicts the labels allow are computed; those needing the simulator say why not.
    for key in ("layers", "random", "baselines", "distances"):
        assert metrics[f"claim_{key}"] in ("yes", "no")
    for key in ("counterfactual", "alpha", "variable", "subpopulations", "rare"):
        assert metrics[f"claim_{key}"].startswith("n/a ("), key
    assert metrics["counterfactual"] == "n/a"
