"""The 3D Integrated Cell chapter's library code: profiles, Algorithm 4 on every (cell, class),
the walk between the states' medoids, the EncD^s design check, the 3D figures it adds, and the
chapter on Allen-style OME-TIFF volumes (the claims needing the simulator then say "n/a")."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cellnb.book.pipeline import run_notebook
from cellnb.papers import integrated_cell as ic
from cellnb.papers.integrated_cell import analysis, figures
from cellnb.papers.integrated_cell.model import ConditionalOutput
from cellnb.papers.integrated_cell.profiles import CHAPTER_3D, volume_shape
from cellnb.record import read_metrics
from cellnb.sim import IntegratedCellConfig as ToyCells
from cellnb.sim import generate_integrated_cells

REPO = Path(__file__).resolve().parents[1]
SHAPE = (16, 24, 32)


@pytest.fixture(scope="module")
def trained():
    toy = ToyCells(n_cells=120, size=SHAPE, seed=0)
    data = ic.load_cells("synthetic", sim_config=toy, cache=False, dims=3, hold_out=0.3)
    config = ic.preset("smoke_3d", n_classes=data.n_classes, image_shape=data.image_shape)
    run = ic.train_integrated_cell(config, data, ic.TrainSettings(
        reference_epochs=1, conditional_epochs=1, batch_size=16), seed=0, verbose=False)
    held = analysis.held_out(run.reference, run.conditional, data)
    return toy, data, run, held


def crafted(n, *, mitotic=None, zs=None, log_probs=None, k=3):
    images = torch.zeros(n, 3, 2, 2, 2)
    metadata = pd.DataFrame(index=range(n)) if mitotic is None else pd.DataFrame(
        {"mitotic": mitotic, "cell": range(n)})
    output = ConditionalOutput(torch.zeros(n, k) if log_probs is None else log_probs,
                               torch.zeros(n, 4), torch.zeros(n, 4) if zs is None else zs,
                               images)
    return analysis.HeldOut(np.arange(n), images, np.arange(n) % k, metadata,
                            torch.zeros(n, 4), images[:, [0, 2]], output)


# --------------------------------------------------------------------------------- profiles

def test_volume_shape_keeps_the_papers_aspect_and_refuses_odd_widths():
    assert volume_shape(128) == (64, 96, 128)        # the paper's 128 x 96 x 64 (Sec. 3.1)
    assert volume_shape(32) == (16, 24, 32)
    for width in (30, 4):
        with pytest.raises(ValueError, match="multiple of 4"):
            volume_shape(width)


def test_3d_profiles_define_every_knob_and_the_papers_hold_out():
    assert set(CHAPTER_3D["smoke"]) == set(CHAPTER_3D["cpu"]) == set(CHAPTER_3D["gpu"])
    gpu = ic.chapter_3d_settings("gpu")
    assert gpu.model == "paper_3d" and volume_shape(gpu.width) == (64, 96, 128)
    assert gpu.batch_size == 30 and gpu.hold_out == 0.1            # Sec. 3.3; Table S9
    assert ic.chapter_3d_settings("cpu", cells=10).cells == 10
    assert ic.preset("smoke_3d").dims == 3 and ic.preset("smoke_3d").encd_s_mode == "k_plus_1"


# ------------------------------------------------------------------------------ Algorithm 4

def test_variation_cells_draw_up_to_n_of_each_state():
    held = crafted(10, mitotic=[True, False, False, True] + [False] * 6)
    chosen = analysis.variation_cells(held, 3, seed=1)
    states = analysis.cell_states(held.metadata)[chosen]
    assert list(chosen) == sorted(chosen)
    assert (states == "mitotic").sum() == 2 and (states == "interphase").sum() == 3
    assert len(analysis.variation_cells(crafted(10), 4)) == 4          # no states: any cells
    assert analysis.cell_states(crafted(3).metadata) is None


def test_variation_check_scores_every_cell_and_class_against_the_truth(trained):
    toy, data, run, held = trained
    chosen = analysis.variation_cells(held, 2, seed=0)
    result = analysis.variation_check(run.conditional, held, data.class_names, chosen, 8,
                                      sim_config=toy, seed=0)
    table, k = result["table"], data.n_classes
    assert len(table) == len(chosen) * k
    assert set(table.structure) == set(data.class_names)
    assert np.isfinite(table[["model", "truth"]].to_numpy()).all()
    assert list(result["by_class"].columns) == ["model", "truth"]
    assert -1 <= result["spearman"] <= 1 and result["n_classes"] == k
    # the simulator's envelope is fixed by the nucleus, its puncta land anywhere
    truth = result["by_class"].truth
    assert truth["envelope"] > truth["puncta"]
    assert result["most_stereotyped"]["truth"] != result["most_variable"]["truth"]
    states = set(table.state)
    assert (len(result["mitosis"]) == k) == (states == {"interphase", "mitotic"})
    assert result["mitosis_truth"].keys() == result["mitosis"].keys()
    again = analysis.variation_check(run.conditional, held, data.class_names, chosen, 8, seed=0)
    assert "truth" not in again["table"] and again["spearman"] is None
    assert again["mitosis_truth"] is None
    np.testing.assert_allclose(again["table"].model, table.model)      # seeded draws


def test_variation_check_without_states_has_no_mitosis(trained):
    toy, data, run, held = trained
    stateless = analysis.HeldOut(held.positions, held.images, held.labels,
                                 held.metadata.drop(columns="mitotic"), held.zr,
                                 held.reference_reconstruction, held.output)
    result = analysis.variation_check(run.conditional, stateless, data.class_names, [0, 1], 4)
    assert result["mitosis"] is None and result["mitosis_truth"] is None
    assert set(result["table"].state) == {"interphase"}


def test_state_walk_goes_from_the_interphase_medoid_to_the_mitotic_one(trained):
    _, data, run, held = trained
    walked = analysis.state_walk(run.conditional, held, 4)
    anchors = walked["anchors"]
    assert list(anchors) == ["interphase", "mitotic"]
    states = analysis.cell_states(held.metadata)
    assert all(states[position] == state for state, position in anchors.items())
    np.testing.assert_allclose(walked["path"][0], held.zr[anchors["interphase"]], atol=1e-5)
    np.testing.assert_allclose(walked["path"][-1], held.zr[anchors["mitotic"]], atol=1e-5)
    assert walked["frames"].shape == (4, data.n_classes, 3, *SHAPE)
    assert walked["states"] == {0: "interphase", 3: "mitotic"}
    one_state = analysis.HeldOut(held.positions, held.images, held.labels,
                                 held.metadata.assign(mitotic=False), held.zr,
                                 held.reference_reconstruction, held.output)
    with pytest.raises(ValueError, match="each state"):
        analysis.state_walk(run.conditional, one_state, 4)


# ------------------------------------------------------------------------- leakage designs

def test_encd_design_check_reads_a_class_written_into_z_s_and_not_noise():
    n, k = 90, 3
    labels = np.arange(n) % k
    rng = np.random.default_rng(0)
    noise = torch.as_tensor(rng.standard_normal((n, 4)), dtype=torch.float32)
    written = noise.clone()
    written[:, 0] += 4 * torch.as_tensor(labels, dtype=torch.float32)
    perfect = torch.log(torch.nn.functional.one_hot(torch.as_tensor(labels), k).float() + 1e-9)
    leaky = analysis.encd_design_check(crafted(n, zs=written, log_probs=perfect), list("abc"))
    clean = analysis.encd_design_check(crafted(n, zs=noise, log_probs=perfect), list("abc"))
    assert leaky["accuracy"] > 0.9 and clean["accuracy"] < 0.6
    assert clean["chance"] == pytest.approx(1 / 3)
    assert leaky["class_accuracy"] == clean["class_accuracy"] == 1.0
    assert clean["zs_mmd"] < leaky["zs_mmd"]          # the written code is off the prior


# ---------------------------------------------------------------------------------- figures

def test_correlation_distributions_draw_a_panel_per_class_with_two_cells():
    rng = np.random.default_rng(0)
    images = rng.random((9, 2, 3, 4))
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    ks = pd.DataFrame({"generated": [0.1, 0.2, 0.3]}, index=["a", "b", "c"])
    fig = figures.correlation_distributions({"data": images, "generated": images[::-1]},
                                            labels, ["a", "b", "c", "d"], ks=ks, ncols=2)
    drawn = [ax for ax in fig.axes if ax.axison]
    assert len(drawn) == 3                             # class d has no cells
    assert "KS generated 0.10" in drawn[0].get_title()


def test_leakage_bars_and_the_3d_preprocessing_figure():
    table = pd.DataFrame({"accuracy": [0.3, 0.8], "chance": [0.25, 0.25]},
                         index=["k_plus_1", "none"])
    fig = figures.leakage_bars(table)
    assert len(fig.axes[0].patches) == 2
    from cellnb.data import alignment

    rng = np.random.default_rng(0)
    raw = np.zeros((2, 12, 40, 60), np.float32)
    raw[0, 2:10, 8:32, 10:50] = 1 + rng.random((8, 24, 40))
    raw[1, 4:8, 15:25, 25:35] = 2
    aligned, record = alignment.preprocess_cell(raw, channels={"membrane": 0, "dna": 1},
                                                target_shape=(16, 24, 32),
                                                cell_mask=raw[0] > 0, nucleus_mask=raw[1] > 0)
    fig = figures.preprocessing(raw, aligned, record)
    assert "top, side" in fig.axes[0].get_title()


# ----------------------------------------------------------------- the chapter on real files

def write_allen_volumes(root: Path, n_cells: int = 60) -> Path:
    """Toy volumes as Allen single-cell OME-TIFFs (channels named as the Allen files do, DNA
    first) with a manifest of CellId, structure name and path."""
    tifffile = pytest.importorskip("tifffile")
    cells = generate_integrated_cells(ToyCells(n_cells=n_cells, size=SHAPE, seed=5),
                                      progress=False)
    names = {"envelope": "LMNB1", "nucleolus": "FBL", "cytoplasm": "SEC61B", "puncta": "TOMM20",
             "junction": "TJP1", "fibres": "TUBA1B", "perinuclear_cap": "MYH10"}
    rows = []
    root.mkdir(parents=True)
    for i, (volume, structure) in enumerate(zip(cells.images, cells.metadata.structure)):
        stored = (np.stack([volume[2], volume[0], volume[1]]) * 65535).astype(np.uint16)
        tifffile.imwrite(root / f"{i}.ome.tiff", stored, ome=True, photometric="minisblack",
                         metadata={"axes": "CZYX",
                                   "Channel": {"Name": ["dna", "membrane", "structure"]}})
        rows.append({"CellId": 500 + i, "StructureId/Name": names[structure],
                     "save_reg_path": f"{i}.ome.tiff"})
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    return root


@pytest.fixture(scope="module")
def allen_volumes(tmp_path_factory):
    return write_allen_volumes(tmp_path_factory.mktemp("allen") / "cells")


@pytest.mark.notebook
def test_the_3d_chapter_runs_on_allen_single_cell_volumes(tmp_path, allen_volumes):
    data_dir = allen_volumes
    executed = run_notebook(REPO / "notebooks" / "integrated_cell_3d.ipynb", profile="smoke",
                            parameters={"dataset": "allen_cells", "data_dir": str(data_dir)},
                            build_dir=tmp_path / "build")
    metrics = read_metrics(executed.with_suffix(".metrics.json"))
    assert metrics["n_cells"] == 60
    for key in ("classification", "inception_data", "inception_generated", "correlations",
                "leakage", "reconstruction"):
        assert metrics[f"claim_{key}"] in ("yes", "no"), key
    for key in ("variation", "mitosis"):
        assert metrics[f"claim_{key}"].startswith("n/a"), key


def test_variation_against_truth_labels_a_dot_per_class():
    by_class = pd.DataFrame({"model": [4.0, 3.0, 2.0], "truth": [2.5, 1.0, 0.1]},
                            index=["envelope", "nucleolus", "puncta"])
    fig = figures.variation_against_truth(by_class, 1.0)
    ax = fig.axes[0]
    assert [text.get_text() for text in ax.texts] == list(by_class.index)
    assert "Spearman +1.00" in ax.get_title()


@pytest.mark.notebook
def test_the_leakage_ablation_runs_on_allen_single_cell_volumes(tmp_path, allen_volumes):
    executed = run_notebook(
        REPO / "notebooks" / "integrated_cell_3d_leakage.ipynb", profile="smoke",
        parameters={"dataset": "allen_cells", "data_dir": str(allen_volumes)},
        build_dir=tmp_path / "build")
    metrics = read_metrics(executed.with_suffix(".metrics.json"))
    assert list(metrics["leakage"].index) == ["k_plus_1", "binary", "none"]
    assert metrics["claim_leakage"] in ("yes", "no")
