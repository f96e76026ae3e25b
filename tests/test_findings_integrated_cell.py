"""The Integrated Cell (2D) chapter's paper-vs-book verdicts, on crafted measurements where each
claim holds, where it fails, and where it was not measured."""
import numpy as np
import pandas as pd
import pytest

from cellnb.papers.integrated_cell.evaluate import (
    PAPER_CONFUSION_2D,
    PAPER_TEST_COUNTS_2D,
    classification_report,
)
from cellnb.papers.integrated_cell.findings import CLAIMS, PAPER_RARE, findings

RECALL = pd.Series([1.0, 0.95, 0.5], index=["a", "b", "rare"])


def good() -> dict:
    return dict(
        reconstruction=dict(test_mse=0.0041, mean_image_mse=0.0123, train_bce=0.098,
                            test_bce=0.101),
        prior=dict(max_abs_mean=0.1, min_std=0.8, max_std=1.1, mmd=0.004,
                   mmd_without_encd=0.05, mmd_noise=0.004),
        semantics=dict(r2=0.85, per_parameter=pd.Series({"radius": 0.95, "aspect": 0.7})),
        traversal=dict(axis=3, spearman=0.98, monotone=True, n_monotone=5, n_axes=16),
        classification=dict(accuracy=0.977, macro_recall=0.8, recall=RECALL, chance=1 / 7,
                            common_accuracy=0.988, rare_recall=0.5, n=86),
        zr_r2=0.9,
        integration=dict(determined_r=0.78, model_r=0.85, template_r=0.8, wilcoxon_p=0.001),
        placement=dict(nucleolus_inside=0.9, nucleolus_inside_truth=0.95, envelope_rim=0.7,
                       envelope_rim_truth=0.8),
        invariance=dict(median_min_r=0.99, worst_r=0.9))


# The claims each input feeds (the others are named after their input).
FEEDS = {"prior": ["prior", "encd"], "classification": ["classification", "rare"],
         "zr_r2": ["zr_regression"]}


def verdicts(**changes) -> pd.Series:
    return findings(**(good() | changes))["reproduced"]


def changed(name: str, **values) -> dict:
    """The good measurement ``name`` with ``values`` replaced."""
    return {name: good()[name] | values}


def test_every_claim_holds_on_measurements_that_show_it():
    result = verdicts()
    assert (result == "yes").all(), result[result != "yes"]


def test_one_row_per_claim_in_order_with_the_shared_columns():
    table = findings(**good())
    assert list(table.index) == list(CLAIMS)
    assert list(table.columns) == ["claim", "paper", "this book", "reproduced"]
    assert table.index.name == "key"


def test_the_papers_numbers_come_from_table_s9():
    paper = findings()["paper"]
    assert paper["classification"] == "86.5 % (263/304) (Sec. 3.4.3, Table S9)"
    assert paper["rare"].startswith("Myosin IIB 0 %, ZO1 20 % vs 86.5 % overall")
    # The two rare classes are Table S9's two rows with the fewest test cells.
    assert set(PAPER_CONFUSION_2D.sum(axis=1).nsmallest(2).index) == set(PAPER_RARE)
    assert (PAPER_CONFUSION_2D.sum(axis=1) == PAPER_TEST_COUNTS_2D).all()


@pytest.mark.parametrize("key, change", [
    ("reconstruction", changed("reconstruction", test_mse=0.007)),         # 0.57x the mean image
    ("reconstruction", changed("reconstruction", test_bce=0.12)),          # +22 % over train
    ("prior", changed("prior", max_abs_mean=0.4)),
    ("prior", changed("prior", min_std=0.3)),                              # collapsed dimension
    ("prior", changed("prior", max_std=1.6)),
    ("encd", changed("prior", mmd_without_encd=0.006)),                    # within the noise
    ("encd", changed("prior", mmd_without_encd=0.002, mmd_noise=0.0)),     # better without
    ("semantics", changed("semantics", r2=0.4)),
    ("traversal", changed("traversal", monotone=False, n_monotone=0, spearman=0.5)),
    ("classification", changed("classification", common_accuracy=0.85)),
    ("rare", changed("classification", rare_recall=1.0)),
    ("zr_regression", dict(zr_r2=0.5)),
    ("integration", changed("integration", determined_r=0.4)),
    ("integration", changed("integration", wilcoxon_p=0.97)),             # template as good
    ("placement", changed("placement", nucleolus_inside=0.5)),
    ("placement", changed("placement", envelope_rim=0.3)),
    ("invariance", changed("invariance", median_min_r=0.9)),
])
def test_each_claim_fails_when_its_measurement_does_not_show_it(key, change):
    result = verdicts(**change)
    assert result[key] == "no"
    assert (result.drop(key) == "yes").all(), result


@pytest.mark.parametrize("key, change, why", [
    ("reconstruction", dict(reconstruction=None), "not measured"),
    ("prior", dict(prior=None), "not measured"),
    ("encd", dict(prior=None), "not measured"),
    ("encd", changed("prior", mmd_without_encd=None), "no ablation run"),
    ("semantics", dict(semantics=None), "not measured"),
    ("traversal", dict(traversal=None), "not measured"),
    ("classification", dict(classification=None), "not measured"),
    ("rare", dict(classification=None), "not measured"),
    ("rare", changed("classification", rare_recall=float("nan")), "no rare cells held out"),
    ("rare", changed("classification", rare_recall=None), "no rare cells held out"),
    ("zr_regression", dict(zr_r2=None), "not measured"),
    ("integration", dict(integration=None), "not measured"),
    ("integration", changed("integration", ground_truth=False),
     "real cells have no ground-truth conditional mean"),
    ("placement", dict(placement=None), "not measured"),
    ("invariance", dict(invariance=None), "not measured"),
])
def test_a_missing_measurement_leaves_its_claim_open(key, change, why):
    result = verdicts(**change)
    assert result[key] == f"n/a ({why})"
    fed = [claim for name in change for claim in FEEDS.get(name, [name])]
    assert (result.drop(fed) == "yes").all(), result


def test_nothing_measured_leaves_every_claim_open():
    assert findings()["reproduced"].str.startswith("n/a (").all()


@pytest.mark.parametrize("key, change, expected", [
    # Thresholds are inclusive where the rule says ">=" / "<=" ...
    ("reconstruction", changed("reconstruction", test_mse=0.005, mean_image_mse=0.01), "yes"),
    ("reconstruction", changed("reconstruction", test_bce=1.15, train_bce=1.0), "yes"),
    ("prior", changed("prior", max_abs_mean=0.25, min_std=0.6, max_std=1.4), "yes"),
    ("classification", changed("classification", common_accuracy=0.9), "yes"),
    ("zr_regression", dict(zr_r2=0.8), "yes"),
    ("invariance", changed("invariance", median_min_r=0.95), "yes"),
    ("placement", changed("placement", nucleolus_inside=0.8, nucleolus_inside_truth=1.0), "yes"),
    # ... and strict where it says "<" or "more than".
    ("integration", changed("integration", wilcoxon_p=0.05), "no"),
    ("encd", changed("prior", mmd=0.01, mmd_without_encd=0.02, mmd_noise=0.01), "no"),
    ("rare", changed("classification", rare_recall=0.988), "no"),
])
def test_boundaries(key, change, expected):
    assert verdicts(**change)[key] == expected


def test_encd_noise_defaults_to_zero():
    prior = {k: v for k, v in good()["prior"].items() if k != "mmd_noise"}
    assert verdicts(prior=prior | dict(mmd_without_encd=0.0041))["encd"] == "yes"


def test_the_words_give_the_numbers():
    words = findings(**good())["this book"]
    assert "test MSE 0.0041 vs 0.0123 for the mean image (0.33x)" in words["reconstruction"]
    assert "BCE test 0.101 vs train 0.098 (+3 %)" in words["reconstruction"]
    assert "MMD^2 to N(0, I): 0.004 with EncD, 0.05 without (noise 0.004)" in words["encd"]
    assert "best radius 0.95, worst aspect 0.70" in words["semantics"]
    assert words["classification"].startswith(
        "97.7 % of 86 held-out cells (common classes 98.8 %; chance 14.3 %)")
    assert "p = 0.001" in words["integration"]
    assert "0.99 (median over cells), 0.9 (worst cell)" in words["invariance"]


def test_a_real_classification_report_feeds_the_claims():
    # Table S9 with ZO1 as the rare class: the common classes reach 87.6 %, under the bar.
    report = classification_report(PAPER_CONFUSION_2D, rare="ZO1") | dict(n=304)
    result = findings(classification=report)
    assert result["reproduced"]["classification"] == "no"
    assert result["reproduced"]["rare"] == "yes"
    assert "86.5 % of 304 held-out cells" in result["this book"]["classification"]
    assert np.isclose(report["common_accuracy"], 262 / 299)


def test_placement_without_the_ground_truth_says_why():
    placement = dict(nucleolus_inside=0.9, envelope_rim=0.6, nucleolus_inside_truth=None,
                     envelope_rim_truth=None)
    verdict = findings(placement=placement).loc["placement", "reproduced"]
    assert verdict == "n/a (real cells have no ground-truth conditional mean)"
