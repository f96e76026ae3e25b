"""What the data chapter must show, read from the metrics its smoke run recorded.

These are properties of the atlas, not golden numbers: the hardness bar is below ceiling, the
nuisance is what makes it hard, segmentation finds the simulated nuclei, the mixed proteins'
pixels follow their ground-truth alpha.
"""
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "notebooks" / "data.ipynb"
pytestmark = [pytest.mark.notebook, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def metrics(smoke_runs):
    return smoke_runs.metrics(DATA)


def test_no_training_free_representation_is_near_ceiling(metrics):
    assert metrics["hardness_random_cnn"] < 0.8
    assert metrics["hardness_raw"] < 0.8 and metrics["hardness_handcrafted"] < 0.9
    table = metrics["hardness"]
    assert list(table.representation.str.split().str[0]) == ["raw", "hand-crafted", "random"]


def test_every_baseline_beats_chance_so_the_classes_carry_signal(metrics):
    for name in ("hardness_raw", "hardness_handcrafted", "hardness_random_cnn"):
        assert metrics[name] > 1.5 * metrics["hardness_chance"], name


def test_nuisance_is_what_makes_the_atlas_hard(metrics):
    assert metrics["easy_random_cnn"] > metrics["hardness_random_cnn"] + 0.1


def test_segmentation_finds_simulated_and_real_nuclei(metrics):
    assert metrics["segmentation_recall_sim"] >= 0.9
    assert metrics["dsb2018_f1"] >= 0.85


def test_mixed_proteins_pixels_follow_their_alpha(metrics):
    assert metrics["mixed_alpha_spearman"] > 0.5


def test_throughput_is_measured_and_recorded(metrics):
    assert metrics["sim_crops_per_second"] > 20
    assert metrics["n_crops"] > 300 and metrics["n_fields"] > 40
