"""The 3D Integrated Cell chapter's paper-vs-book verdicts, on crafted measurements where each
claim holds, where it fails, and where it was not measured."""
import math

import numpy as np
import pandas as pd
import pytest

from cellnb.papers.integrated_cell.evaluate import PAPER_CONFUSION_3D, PAPER_TRAIN_COUNTS_3D
from cellnb.papers.integrated_cell.findings import (
    CLAIMS,
    CLAIMS_3D,
    MITOSIS_DIRECTION,
    findings,
    findings_3d,
)

RECALL = pd.Series([1.0, 0.95, 0.5], index=["a", "b", "rare"])
CLASSES = ["envelope", "nucleolus", "puncta", "fibres"]


def inception(data_test=7.6, generated=7.0, bound=8.0) -> pd.DataFrame:
    """An inception_check table: per-class rows, then "all classes" with the given scores."""
    return pd.DataFrame({"data train": 7.9, "data test": [7.5] * 4 + [data_test],
                         "enc-dec test": 7.4, "generated": [6.9] * 4 + [generated],
                         "bound": [8.0] * 4 + [bound]}, index=CLASSES + ["all classes"])


def correlations(ks=(0.1, 0.2, 0.3, 0.4)) -> pd.DataFrame:
    return pd.DataFrame({"generated": ks, "enc-dec test": [0.1] * len(ks)},
                        index=CLASSES[:len(ks)])


def shift(value: float) -> dict:
    return dict(median_shift=value, mannwhitney_p=0.01, enrichment=1.5)


def leak(accuracy: float, chance: float = 0.3) -> dict:
    return dict(accuracy=accuracy, chance=chance, excess=accuracy - chance)


def good() -> dict:
    return dict(
        classification=dict(accuracy=0.97, macro_recall=0.8, recall=RECALL, chance=1 / 7,
                            common_accuracy=0.98, rare_recall=0.5, n=120),
        inception=inception(),
        correlations=correlations(),
        variation=dict(spearman=0.9, p=0.01, n_classes=7,
                       most_stereotyped=dict(model="envelope", truth="envelope"),
                       most_variable=dict(model="puncta", truth="puncta")),
        mitosis=dict(envelope=shift(-0.2), nucleolus=shift(-0.1), puncta=shift(-0.3),
                     fibres=shift(0.4), cytoplasm=shift(0.5)),
        leakage=dict(k_plus_1=leak(0.35), binary=leak(0.5), none=leak(0.8)),
        reconstruction=dict(test_mse=0.004, mean_image_mse=0.012, train_bce=0.1,
                            test_bce=0.104))


def verdicts(**changes) -> pd.Series:
    return findings_3d(**(good() | changes))["reproduced"]


def test_all_claims_hold_on_good_measurements():
    table = findings_3d(**good())
    assert list(table.index) == list(CLAIMS_3D)
    assert set(table["reproduced"]) == {"yes"}
    assert "envelope (truth envelope)" in table.loc["variation", "this book"]


@pytest.mark.parametrize("key, changes", [
    ("classification", dict(classification=dict(accuracy=0.85, recall=RECALL, chance=0.1,
                                                common_accuracy=0.88))),
    ("inception_data", dict(inception=inception(data_test=7.1))),          # 0.89 of 8.0
    ("inception_generated", dict(inception=inception(generated=6.0))),     # 0.79 of 7.6
    ("correlations", dict(correlations=correlations((0.1, 0.3, 0.4, 0.5)))),
    ("variation", dict(variation=dict(spearman=0.7, n_classes=7))),
    ("mitosis", dict(mitosis=dict(envelope=shift(-0.2), fibres=shift(-0.1)))),
    ("leakage", dict(leakage=dict(k_plus_1=leak(0.46)))),                  # chance + 0.16
    ("leakage", dict(leakage=dict(k_plus_1=leak(0.4), binary=leak(0.38)))),
    ("reconstruction", dict(reconstruction=dict(test_mse=0.007, mean_image_mse=0.012,
                                                train_bce=0.1, test_bce=0.104))),
])
def test_each_claim_can_fail(key, changes):
    result = verdicts(**changes)
    assert result[key] == "no"
    assert set(result.drop(key)) == {"yes"}


def test_thresholds_are_inclusive():
    result = verdicts(inception=inception(9.0, 7.5, 10.0), variation=dict(
        spearman=0.8, n_classes=5), correlations=correlations((0.1, 0.25, 0.3, 0.4)))
    assert set(result) == {"yes"}
    assert verdicts(inception=inception(data_test=10.0, generated=8.0, bound=10.0)
                    )["inception_generated"] == "yes"


FEEDS = {"inception": ["inception_data", "inception_generated"]}


@pytest.mark.parametrize("name", list(good()))
def test_missing_input_is_not_applicable(name):
    result = verdicts(**{name: None})
    for key in FEEDS.get(name, [name]):
        assert result[key] == "n/a (not measured)"
    assert (result == "yes").sum() == len(CLAIMS_3D) - len(FEEDS.get(name, [name]))


@pytest.mark.parametrize("changes, key, why", [
    (dict(mitosis={}), "mitosis", "no mitotic cells held out"),
    (dict(mitosis=dict(cytoplasm=shift(-0.1))), "mitosis",
     "no mitotic cells of the designed classes held out"),
    (dict(leakage=dict(binary=leak(0.5))), "leakage", "no (K+1)-way EncD^s model"),
    (dict(variation=dict(spearman=None, n_classes=7)), "variation",
     "no ground-truth variation to rank against"),
    (dict(variation=dict(spearman=float("nan"), n_classes=2)), "variation",
     "no ground-truth variation to rank against"),
    (dict(correlations=correlations((np.nan,))), "correlations",
     "no class with two held-out cells"),
    (dict(inception=inception(data_test=np.nan)), "inception_data", "not measured"),
])
def test_untestable_inputs_give_the_reason(changes, key, why):
    assert verdicts(**changes)[key] == f"n/a ({why})"


def test_mitosis_checks_only_the_designed_classes_and_accepts_another_design():
    assert set(MITOSIS_DIRECTION) == set(CLASSES)
    mitosis = dict(envelope=shift(-0.2), cytoplasm=shift(0.3))
    assert verdicts(mitosis=mitosis)["mitosis"] == "yes"
    table = findings_3d(**(good() | dict(mitosis=mitosis, mitosis_direction=dict(
        envelope="more", cytoplasm="more"))))
    assert table.loc["mitosis", "reproduced"] == "no"
    assert "cytoplasm +0.3 (designed more)" in table.loc["mitosis", "this book"]


def test_leakage_words_name_the_ablations():
    words = findings_3d(**good()).loc["leakage", "this book"]
    assert "35 %" in words and "50 % with binary" in words and "80 % with no EncD^s" in words


def test_paper_numbers_are_computed_from_the_embedded_tables():
    assert CLAIMS_3D["classification"].paper == "96.7 % (2140/2212)"
    assert int(np.trace(PAPER_CONFUSION_3D.to_numpy())) == 2140
    assert "Table S11" in CLAIMS_3D["classification"].source
    frequencies = PAPER_TRAIN_COUNTS_3D / PAPER_TRAIN_COUNTS_3D.sum()
    bound = math.exp(-(frequencies * np.log(frequencies)).sum())
    assert bound == pytest.approx(8.085, abs=5e-4)
    assert f"bound near {bound:.4g}" in CLAIMS_3D["inception_data"].paper
    assert CLAIMS_3D["inception_data"].paper.startswith("data test 7.876")
    assert CLAIMS_3D["inception_generated"].paper == "generated 7.561 vs data test 7.876 (0.96x)"
    table = findings_3d()
    assert table.loc["classification", "paper"] == "96.7 % (2140/2212) (Sec. 3.4.1, Table S11)"
    assert table.loc["leakage", "paper"].endswith("(Sec. 2.2.2, eq. 11)")


def test_2d_table_is_unchanged():
    table = findings()
    assert list(table.index) == list(CLAIMS)
    assert table.loc["classification", "paper"].startswith(CLAIMS["classification"].paper)
    assert table.loc["classification", "paper"].endswith("(Sec. 3.4.3, Table S9)")
    assert set(table["reproduced"]) == {"n/a (not measured)"}
