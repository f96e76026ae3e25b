"""The cytoself chapters' verdicts, on crafted measurements where each claim holds and fails.

A verdict is computed from a run's numbers and must be able to come out "no"; where the data
lack the ground truth a claim needs, it says "n/a" and why.
"""
import numpy as np
import pandas as pd
import pytest

from cellnb.findings import Claim, finding, findings_table, record_findings
from cellnb.papers.cytoself import PAPER_TABLE, ablation_findings, ablation_table, findings
from cellnb.papers.cytoself.findings import level_correlation

OURS = "cytoself (this run)"


def representations(ours=(3.0, 4.0, 0.7), raw=(1.0, 1.5, 0.4), untrained=(0.5, 0.6, 0.1)):
    return pd.DataFrame([ours, raw, untrained], columns=["gamma_class", "gamma_complex", "knn_accuracy"],
                        index=[OURS, "raw pixels, PCA 50", "untrained cytoself"])


def measured(**changes):
    values = dict(
        perplexity=dict(epoch=3, batch_split=40.0, batch_no_split=20.0, all_split=60.0,
                        all_no_split=15.0, equal_split=30.0, equal_no_split=15.0),
        representations=representations(),
        identification=dict(top1=0.4, chance_top1=0.025, share_wrong_same_complex=0.5,
                            chance_wrong_same_complex=0.03),
        orphans=pd.DataFrame([dict(protein="ERT1", true_class="er", assigned="er")]),
        zeroing=dict(strongest=2.0, specific=3.0))
    values.update(changes)
    return values


def verdicts(**changes) -> dict:
    return findings(**measured(**changes))["reproduced"].to_dict()


def test_every_claim_holds_on_a_run_that_shows_the_papers_findings():
    assert set(verdicts().values()) == {"yes"}
    table = findings(**measured())
    assert list(table.columns) == ["claim", "paper", "this book", "reproduced"]
    assert "(Fig. 1c)" in table.loc["split", "paper"] and "3.41" in table.loc["gamma", "paper"]


@pytest.mark.parametrize("claim, changes", [
    # Only the per-batch perplexity favours the split: over equal numbers of vectors it does not.
    ("split", dict(perplexity=dict(epoch=3, batch_split=40.0, batch_no_split=20.0, all_split=60.0,
                                   all_no_split=15.0, equal_split=14.0, equal_no_split=15.0))),
    ("gamma", dict(representations=representations(raw=(3.5, 1.5, 0.4)))),
    ("complex", dict(representations=representations(untrained=(0.5, 4.5, 0.1)))),
    ("knn", dict(representations=representations(ours=(3.0, 4.0, 0.3)))),
    # Half the mistakes inside a complex, but chance would put 60 % there: not a finding.
    ("id", dict(identification=dict(top1=0.4, chance_top1=0.025, share_wrong_same_complex=0.5,
                                    chance_wrong_same_complex=0.6))),
    ("id", dict(identification=dict(top1=0.04, chance_top1=0.025, share_wrong_same_complex=0.5,
                                    chance_wrong_same_complex=0.03))),
    ("orphan", dict(orphans=pd.DataFrame([dict(protein="ERT1", true_class="er",
                                               assigned="mitochondria")]))),
    ("zeroing", dict(zeroing=dict(strongest=0.8, specific=3.0))),
])
def test_each_claim_fails_when_its_measurement_says_so(claim, changes):
    result = verdicts(**changes)
    assert result[claim] == "no"
    assert all(value == "yes" for key, value in result.items() if key != claim)


def test_claims_without_their_ground_truth_say_not_applicable():
    result = verdicts(representations=representations(ours=(3.0, np.nan, 0.7)),
                      identification=dict(top1=0.4, chance_top1=0.025,
                                          share_wrong_same_complex=np.nan,
                                          chance_wrong_same_complex=np.nan),
                      orphans=pd.DataFrame(columns=["protein", "true_class", "assigned"]),
                      zeroing=None)
    for claim in ("complex", "id", "orphan", "zeroing"):
        assert result[claim].startswith("n/a ("), claim
    assert result["gamma"] == result["knn"] == result["split"] == "yes"


def _runs_from(table: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([table.reset_index().assign(seed=s, knn_accuracy=0.5) for s in (0, 1)],
                     ignore_index=True)


def test_the_papers_own_table_reproduces_every_ablation_claim():
    table = ablation_table(_runs_from(PAPER_TABLE))
    result = ablation_findings(table)["reproduced"].to_dict()
    assert result == dict.fromkeys(["no_id", "full_best", "all_lower", "raw_nucleus", "levels"], "yes")
    assert level_correlation(table) == pytest.approx(0.977, abs=0.01)   # the paper's r, Fig. 6


def test_ablation_claims_fail_at_either_level():
    paper = PAPER_TABLE.copy()
    swapped = ablation_table(_runs_from(paper.rename(index={"full": "no_id_task",
                                                            "no_id_task": "full"})))
    result = ablation_findings(swapped)["reproduced"]
    assert result["no_id"] == result["full_best"] == result["all_lower"] == "no"
    # Raw nucleus above no nuclear channel at the complex level only: the claim fails.
    complex_only = paper.copy()
    complex_only.loc["raw_nucleus", "gamma_complex"] = 5.5
    result = ablation_findings(ablation_table(_runs_from(complex_only)))["reproduced"]
    assert result["raw_nucleus"] == "no" and result["no_id"] == "yes"
    # One ablation above the full model at the complex level: "every ablation lowers" fails.
    one_above = paper.copy()
    one_above.loc["no_vq", "gamma_complex"] = 6.5
    result = ablation_findings(ablation_table(_runs_from(one_above)))["reproduced"]
    assert result["all_lower"] == "no" and result["full_best"] == "no"


def test_levels_agree_over_variant_means_not_over_every_run():
    """Runs scattered around their variant's mean decorrelate the levels run by run, but the
    variant means still agree; the paper's r is over its seven variants."""
    rng = np.random.default_rng(0)
    runs = _runs_from(PAPER_TABLE)
    runs = pd.concat([runs] * 5, ignore_index=True)
    runs["gamma_class"] += rng.normal(0, 1.0, len(runs))
    runs["gamma_complex"] += rng.normal(0, 1.0, len(runs))
    per_run = np.corrcoef(runs.gamma_class, runs.gamma_complex)[0, 1]
    assert level_correlation(ablation_table(runs)) > 0.8 > per_run
    disagree = PAPER_TABLE.assign(gamma_complex=PAPER_TABLE.gamma_complex.to_numpy()[::-1])
    assert ablation_findings(ablation_table(_runs_from(disagree)))["reproduced"]["levels"] == "no"


def test_findings_are_recorded_with_one_verdict_per_claim(tmp_path, monkeypatch):
    from cellnb.record import read_metrics

    monkeypatch.setenv("CELLNB_METRICS_FILE", str(tmp_path / "m.json"))
    claim = Claim("toy", "a toy claim", "1.0", "Table 1")
    table = findings_table([finding(claim, "0.5", False),
                            finding(Claim("other", "b", "2", "Fig. 2"), "-", missing="no data")])
    record_findings(table)
    metrics = read_metrics(tmp_path / "m.json")
    assert metrics["claim_toy"] == "no" and metrics["claim_other"] == "n/a (no data)"
    assert list(metrics["findings"].index) == ["toy", "other"]
