"""The Integrated Cell chapter on the 2D paper's data layout: per-structure folders of RGB PNGs
(membrane, structure, DNA), written here from toy cells with the paper's structure names. The
claims that need the simulator's ground truth say why they cannot be tested; the rest are
computed."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cellnb.book.pipeline import run_notebook
from cellnb.record import read_metrics
from cellnb.sim import IntegratedCellConfig, generate_integrated_cells

REPO = Path(__file__).resolve().parents[1]
PAPER_NAMES = {"envelope": "Lamin B1", "nucleolus": "Fibrillarin", "cytoplasm": "Sec61 beta",
               "puncta": "Tom20", "junction": "ZO1", "fibres": "Alpha tubulin",
               "perinuclear_cap": "Myosin IIB"}


def write_ic2d_pngs(root: Path, n_cells: int = 96, size: int = 32) -> Path:
    cells = generate_integrated_cells(IntegratedCellConfig(n_cells=n_cells, size=size, seed=3),
                                      progress=False)
    for i, (image, structure) in enumerate(zip(cells.images, cells.metadata.structure)):
        folder = root / PAPER_NAMES[structure]
        folder.mkdir(parents=True, exist_ok=True)
        rgb = np.clip(np.moveaxis(image, 0, -1) * 255, 0, 255).astype(np.uint8)
        Image.fromarray(rgb, mode="RGB").save(folder / f"cell{i}.png")
    return root


@pytest.mark.notebook
def test_the_chapter_trains_on_the_papers_png_folders(tmp_path):
    data_dir = write_ic2d_pngs(tmp_path / "ic2d")
    executed = run_notebook(REPO / "notebooks" / "integrated_cell.ipynb", profile="smoke",
                            parameters={"dataset": "allen_2d", "data_dir": str(data_dir)},
                            build_dir=tmp_path / "build")
    metrics = read_metrics(executed.with_suffix(".metrics.json"))
    assert metrics["n_cells"] == 96
    assert set(metrics["confusion"].index) <= set(PAPER_NAMES.values())
    for key in ("reconstruction", "prior", "encd", "traversal", "classification",
                "zr_regression", "invariance"):
        assert metrics[f"claim_{key}"] in ("yes", "no"), key
    for key in ("semantics", "integration", "placement"):
        assert metrics[f"claim_{key}"].startswith("n/a ("), key
