"""What the cytoself chapter records, read from its smoke run.

A smoke run trains for seconds, too little for a representation to form (the learned findings —
Γ and k-NN above the baselines, identification above chance, the orphan's localisation — are
measured by the `cpu` profile and reported in the chapter and the closing notes). What the smoke
run can and must show: every number the text cites is recorded and well-formed, the paper's
configuration has the paper's size, and the finding that needs no long training — split
quantisation uses the global codebook more (Fig. 1c) — already holds.
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
    assert metrics["perplexity2_split"] > metrics["perplexity2_no_split"]
    assert metrics["global_dim_no_split"] == metrics["split_factor"] * metrics["global_dim_split"]


def test_every_claim_has_a_verdict_computed_from_the_run(metrics):
    for claim in CLAIMS:
        assert metrics[claim] in ("yes", "no"), claim
    assert metrics["claim_split"] == "yes"


def test_scores_are_recorded_for_the_model_and_both_baselines(metrics):
    table = metrics["representations"]
    assert list(table.index) == ["cytoself (this run)", "raw pixels, PCA 50", "untrained cytoself"]
    for name in ("cytoself", "raw", "untrained"):
        assert 0 <= metrics[f"knn_accuracy_{name}"] <= 1
    assert math.isfinite(metrics["gamma_class_cytoself"]) and math.isfinite(metrics["gamma_class_raw"])
    assert 0 < metrics["id_chance_top1"] < metrics["id_chance_top5"] < 1
    assert 0 < metrics["codes_used_fraction"] <= 1
