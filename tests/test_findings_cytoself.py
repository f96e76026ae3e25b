"""What the cytoself chapter records, read from its smoke run.

A smoke run trains for seconds, too little for a representation to form (the learned findings —
Γ and k-NN above the baselines, identification above chance, the orphan's localisation — are
measured by the `cpu` profile and reported in the chapter and the closing notes). What the smoke
run can and must show: every number the text cites is recorded and well-formed, the paper's
configuration has the paper's size, every claim has a verdict in the paper-vs-book table, and
the per-batch perplexity (Fig. 1c as the paper plots it) is higher with split quantisation.
"""
import math
from pathlib import Path

import pytest

CYTOSELF = Path(__file__).resolve().parents[1] / "notebooks" / "cytoself.ipynb"
pytestmark = [pytest.mark.notebook, pytest.mark.timeout(300)]
CLAIMS = ("claim_split", "claim_gamma", "claim_complex", "claim_knn", "claim_id", "claim_orphan",
          "claim_zeroing")


@pytest.fixture(scope="module")
def metrics(smoke_runs):
    return smoke_runs.metrics(CYTOSELF)


def test_the_paper_configuration_has_the_papers_size(metrics):
    # fc1 (40,000 -> 1000 -> 1311) and fc2 (9,216 -> 1000 -> 1311) dominate: ~41 M + ~10.5 M.
    assert 55 < metrics["paper_parameters_millions"] < 60


def test_split_quantisation_uses_the_global_codebook_more(metrics):
    perplexity = metrics["perplexity"]
    assert perplexity["batch_split"] > perplexity["batch_no_split"]
    assert perplexity["equal_split"] <= perplexity["all_split"]
    assert metrics["global_dim_no_split"] == metrics["split_factor"] * metrics["global_dim_split"]


def test_every_claim_has_a_verdict_computed_from_the_run(metrics):
    table = metrics["findings"]
    assert list(table.index) == [claim.removeprefix("claim_") for claim in CLAIMS]
    for claim in CLAIMS:
        assert metrics[claim] in ("yes", "no"), claim
        assert table.loc[claim.removeprefix("claim_"), "reproduced"] == metrics[claim]


def test_scores_are_recorded_for_the_model_and_both_baselines(metrics):
    table = metrics["representations"]
    assert list(table.index) == ["cytoself (this run)", "raw pixels, PCA 50", "untrained cytoself"]
    assert table.knn_accuracy.between(0, 1).all()
    assert math.isfinite(table.gamma_class.iloc[0]) and math.isfinite(table.gamma_class.iloc[1])
    identification = metrics["identification"]
    assert 0 < identification["chance_top1"] < identification["chance_top5"] < 1
    assert 0 < identification["chance_wrong_same_complex"] < 1
    assert 0 < metrics["codes_used_fraction"] <= 1


@pytest.mark.timeout(240)
def test_the_chapter_runs_on_files_in_opencells_published_format(tmp_path):
    """dataset="opencell": shards written in the published layout (simulated pixels, 32x32)."""
    import numpy as np
    import pandas as pd

    from cellnb.book.pipeline import run_notebook
    from cellnb.record import read_metrics
    from cellnb.sim import AtlasConfig, generate_crops

    crops = generate_crops(AtlasConfig(crop_size=32, n_proteins=32, fields_per_protein=3,
                                       crops_per_field=6, cells_per_field=12, field_size=160),
                           progress=False)
    folder = tmp_path / "opencell_cytoself"
    folder.mkdir()
    meta = crops.metadata
    images = np.stack([crops.channel("protein"), crops.channel("nucleus"),
                       crops.channel("nuclear_distance") * 100,    # the reader multiplies by 0.01
                       crops.mask("nucleus")], axis=-1).astype(np.float32)
    np.save(folder / "Image_data00.npy", images)
    pd.DataFrame({"ensg": "ENSG" + meta.protein_id.astype(str), "name": meta.protein,
                  "loc_grade1": meta.localization, "loc_grade2": "", "loc_grade3": "",
                  "protein_id": meta.protein_id, "FOV_id": meta.field}).to_csv(
        folder / "Label_data00.csv", index=False)
    executed = run_notebook(CYTOSELF, profile="smoke", build_dir=tmp_path / "build",
                            parameters={"dataset": "opencell", "data_dir": str(tmp_path)})
    metrics = read_metrics(executed.with_name("cytoself.metrics.json"))
    assert metrics["n_crops"] == len(crops)
    for claim in ("claim_complex", "claim_id", "claim_orphan", "claim_zeroing"):
        assert metrics[claim].startswith("n/a"), claim
    assert metrics["claim_split"] in ("yes", "no") and metrics["claim_gamma"] in ("yes", "no")
