"""Both BioGANs notebooks on the paper's own data layout: a tiny LIN release written as PNGs.

The release (Osokin et al., ICCV 2017, Section 3.3) is ``LIN_Normalized_WT_size-48-80_{train,
test}/<protein>/*.png``, RGB with red = Bgs4 and green = the protein. The fake release holds
SynthPombe cells rendered at the paper's 48 x 80 under the paper's protein names, so the
notebooks read real files through the real reader; the claims that need the simulator's rules
must then say why they cannot be tested, and the others must still compute.
"""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cellnb.book.pipeline import run_notebook
from cellnb.data.lin_readers import PAPER_SIZE, TABLE1_PROTEINS
from cellnb.record import read_metrics
from cellnb.sim.pombe import PombeConfig, generate_pombe_cells

REPO = Path(__file__).resolve().parents[1]
RELEASE = "LIN_Normalized_WT_size-48-80"
TRAIN, TEST = 14, 8                      # cells per protein and split
TOY_CLASSES = ("TipDots", "ActinLike", "RingOnly", "Diffuse", "ActinLike2", "TipDots2",
               "TipDots", "ActinLike")  # a toy rule behind each of Table 1's 8 proteins
GROUND_TRUTH_CLAIMS = ("lengths", "mode_coverage", "rules", "star_consistency", "walk_grows",
                       "actin_moves")


def write_lin_release(root: Path) -> Path:
    """Table 1's eight proteins, TRAIN + TEST toy cells each, as the release's RGB PNGs."""
    per_protein = TRAIN + TEST
    cells = generate_pombe_cells(PombeConfig(seed=3, n_cells=per_protein * len(TOY_CLASSES),
                                             size=PAPER_SIZE, classes=tuple(set(TOY_CLASSES))),
                                 progress=False)
    by_class = {name: np.flatnonzero(cells.metadata.class_name.to_numpy() == name)
                for name in set(TOY_CLASSES)}
    used = {name: 0 for name in by_class}
    for protein, toy in zip(TABLE1_PROTEINS, TOY_CLASSES):
        for number in range(per_protein):
            index = by_class[toy][used[toy] % len(by_class[toy])]
            used[toy] += 1
            split = "train" if number < TRAIN else "test"
            rgb = np.zeros((*PAPER_SIZE, 3), np.uint8)
            rgb[..., :2] = np.round((cells.images[index].transpose(1, 2, 0) + 1) * 127.5)
            path = root / f"{RELEASE}_{split}" / protein / f"cell{number}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rgb, mode="RGB").save(path)
    return root


@pytest.fixture(scope="module")
def lin_release(tmp_path_factory):
    return write_lin_release(tmp_path_factory.mktemp("lin"))


@pytest.mark.notebook
def test_the_chapter_runs_on_the_lin_release(tmp_path, lin_release):
    executed = run_notebook(REPO / "notebooks" / "biogans.ipynb", profile="smoke",
                            parameters={"dataset": "lin", "data_dir": str(lin_release)},
                            build_dir=tmp_path / "build")
    metrics = read_metrics(executed.with_suffix(".metrics.json"))
    assert metrics["n_cells"] == 6 * (TRAIN + TEST)          # the paper's six proteins
    for key in ("separable", "c2st_falls", "wgan_below_gan", "diversity", "reconstruction_nn",
                "separable_harder", "latent_likelihood"):
        assert metrics[f"claim_{key}"] in ("yes", "no"), key
    for key in GROUND_TRUTH_CLAIMS:
        assert metrics[f"claim_{key}"].startswith("n/a"), key


@pytest.mark.notebook
def test_the_model_comparison_runs_on_the_lin_release(tmp_path, lin_release):
    executed = run_notebook(REPO / "notebooks" / "biogans_comparison.ipynb", profile="smoke",
                            parameters={"dataset": "lin", "data_dir": str(lin_release),
                                        "c2st_steps": 2, "iterations": 10},
                            build_dir=tmp_path / "build")
    metrics = read_metrics(executed.with_suffix(".metrics.json"))
    assert sorted(metrics["table1"].index) == sorted(TABLE1_PROTEINS)
    assert "6 proteins" in metrics["table2"].index
    for key in ("diagonal", "twins", "real_lowest", "one_class_best", "star_beats_multichannel"):
        assert metrics[f"claim_{key}"] in ("yes", "no"), key
    assert metrics["claim_composite_inconsistent"].startswith("n/a")
