"""The BioGANs chapter's paper-vs-book verdicts, on crafted measurements where each claim holds,
where it fails, and where it was not measured; and on the paper's own numbers, which pass."""
import re

import pandas as pd
import pytest

from cellnb.papers.biogans.c2st import twin_structure
from cellnb.papers.biogans.findings import (
    CLAIMS,
    COMPARISON_CLAIMS,
    MODEL_NAMES,
    comparison_findings,
    findings,
)
from cellnb.papers.biogans.paper import FIG3, TABLE1, TABLE2, TABLE3, TWINS

NAN = float("nan")


# --- the main chapter ------------------------------------------------------------------------

def training_c2st(gan=(9.0, 6.0, 3.5), wgan=(5.0, 2.5, 1.8), gan_steps=(200, 1000, 5000),
                  wgan_steps=(200, 1000, 5000)) -> pd.DataFrame:
    rows = [("GAN", i, m, 0.1) for i, m in zip(gan_steps, gan)]
    rows += [("WGAN-GP", i, m, 0.1) for i, m in zip(wgan_steps, wgan)]
    return pd.DataFrame(rows, columns=["model", "iteration", "mean", "std"])


def summary(**changes) -> pd.DataFrame:
    """A consistency summary: two classes and the pooled row; ``changes``: column -> {row: value}."""
    table = pd.DataFrame({
        "length_w1_um": [0.5, 0.6, 0.4], "length_ks": [0.10, 0.12, 0.08],
        "length_shift_um": [0.2, -0.1, 0.05], "dividing_generated": [0.05, 0.04, 0.045],
        "dividing_real": [0.06, 0.06, 0.06], "stage_total_variation": [0.05, 0.06, 0.04],
        "rule_generated": [0.90, 0.85, 0.875], "rule_real": [0.95, 0.92, 0.935],
        "cross_class_generated": [0.90, 0.88, 0.80], "cross_class_real": [0.97, 0.95, 0.93]},
        index=pd.Index(["TipDots", "ActinLike", "all"], name="class_name"))
    for column, values in changes.items():
        for row, value in values.items():
            table.loc[row, column] = value
    return table


def reconstruction(changes: dict | None = None) -> pd.DataFrame:
    """Table 3's layout; ``changes``: (task, model) -> {column: value}."""
    table = pd.DataFrame([
        ("-", "nearest neighbour", 0.080, 0.010, NAN, NAN),
        ("-", "Gaussian noise", NAN, NAN, 141.9, 7.07),
        ("regular", "GAN-sep", 0.055, 0.007, 160.0, 15.0),
        ("regular", "WGAN-GP-star", 0.045, 0.006, 148.0, 8.0),
        ("separable", "GAN-sep", 0.070, 0.010, 155.0, 12.0),
        ("separable", "WGAN-GP-star", 0.060, 0.009, 144.0, 7.0)],
        columns=["task", "model", "rmse_median", "rmse_mad", "nll_median", "nll_mad"])
    for (task, model), values in (changes or {}).items():
        row = (table.task == task) & (table.model == model)
        for column, value in values.items():
            table.loc[row, column] = value
    return table


def good() -> dict:
    return dict(
        separability=dict(max_red_change=0.0, green_change=0.21),
        training_c2st=training_c2st(),
        diversity=dict(gan=0.05, wgan_gp=0.12, real=0.15),
        consistency=summary(),
        reconstruction=reconstruction(),
        interpolation=dict(length_spearman=0.95, septum_step=7, actin_switched=True,
                           tips_stay=True))


# The claims each input feeds.
FEEDS = {"separability": ["separable"], "training_c2st": ["c2st_falls", "wgan_below_gan"],
         "diversity": ["diversity"],
         "consistency": ["lengths", "mode_coverage", "rules", "star_consistency"],
         "reconstruction": ["reconstruction_nn", "separable_harder", "latent_likelihood"],
         "interpolation": ["walk_grows", "actin_moves"]}


def verdicts(**changes) -> pd.Series:
    return findings(**(good() | changes))["reproduced"]


def changed(name: str, **values) -> dict:
    """The good measurement ``name`` (a dict) with ``values`` replaced."""
    return {name: good()[name] | values}


def test_every_claim_holds_on_measurements_that_show_it():
    result = verdicts()
    assert (result == "yes").all(), result[result != "yes"]


def test_one_row_per_claim_in_order_with_the_shared_columns():
    table = findings(**good())
    assert list(table.index) == list(CLAIMS) and table.index.is_unique
    assert set(CLAIMS) == {claim for claims in FEEDS.values() for claim in claims}
    assert list(table.columns) == ["claim", "paper", "this book", "reproduced"]


@pytest.mark.parametrize("key, change", [
    ("separable", changed("separability", max_red_change=1e-7)),       # round-off counts
    ("separable", changed("separability", green_change=0.0)),          # z_green does nothing
    ("c2st_falls", dict(training_c2st=training_c2st(gan=(9.0, 6.0, 9.5)))),
    ("c2st_falls", dict(training_c2st=training_c2st(gan=(9.0, 6.0, 9.0)))),   # no lower
    ("wgan_below_gan", dict(training_c2st=training_c2st(wgan=(5.0, 6.5, 1.8)))),
    ("diversity", changed("diversity", wgan_gp=0.04)),
    ("diversity", changed("diversity", wgan_gp=0.05)),                 # a tie is not "more"
    ("lengths", dict(consistency=summary(length_w1_um={"all": 1.3}))),
    ("mode_coverage", dict(consistency=summary(dividing_generated={"all": 0.02}))),
    ("rules", dict(consistency=summary(rule_generated={"ActinLike": 0.6}))),
    ("star_consistency", dict(consistency=summary(cross_class_generated={"ActinLike": 0.5}))),
    ("reconstruction_nn", dict(reconstruction=reconstruction({
        ("regular", "WGAN-GP-star"): dict(rmse_median=0.085),
        ("separable", "WGAN-GP-star"): dict(rmse_median=0.1)}))),
    ("separable_harder", dict(reconstruction=reconstruction({
        ("separable", "GAN-sep"): dict(rmse_median=0.05)}))),
    ("latent_likelihood", dict(reconstruction=reconstruction({      # 4 SD above the prior
        ("regular", "WGAN-GP-star"): dict(nll_median=170.0)}))),
    ("latent_likelihood", dict(reconstruction=reconstruction({      # 3.1 SD below it
        ("regular", "WGAN-GP-star"): dict(nll_median=120.0)}))),
    ("walk_grows", changed("interpolation", length_spearman=0.5)),
    ("actin_moves", changed("interpolation", actin_switched=False)),
    ("actin_moves", changed("interpolation", septum_step=None)),
])
def test_each_claim_fails_when_its_measurement_does_not_show_it(key, change):
    result = verdicts(**change)
    assert result[key] == "no"
    assert (result.drop(key) == "yes").all(), result


@pytest.mark.parametrize("key, change, why", [
    *[(claim, {name: None}, "not measured") for name, claims in FEEDS.items() for claim in claims],
    ("separable", changed("separability", max_red_change=NAN), "not measured"),
    ("c2st_falls", dict(training_c2st=training_c2st(gan=(3.0,), wgan=(1.0,), gan_steps=(500,),
                                                    wgan_steps=(500,))),
     "fewer than two snapshots per model"),
    ("wgan_below_gan", dict(training_c2st=training_c2st().query("model == 'GAN'")),
     "not both models scored"),
    ("wgan_below_gan", dict(training_c2st=training_c2st(wgan_steps=(300, 1100, 5100))),
     "no common iteration"),
    ("diversity", changed("diversity", gan=NAN), "not measured"),
    ("lengths", dict(consistency=summary(length_w1_um={"all": NAN})), "not measured"),
    ("mode_coverage", dict(consistency=summary(dividing_real={"all": 0.0})),
     "no dividing real cells"),
    ("star_consistency",
     dict(consistency=summary().drop(columns=["cross_class_generated", "cross_class_real"])),
     "no multi-green output checked"),
    ("star_consistency", dict(consistency=summary().drop(columns=["cross_class_real"])),
     "no real cells with every green"),
    ("reconstruction_nn", dict(reconstruction=reconstruction().iloc[1:]),
     "no nearest-neighbour baseline"),
    ("latent_likelihood", dict(reconstruction=reconstruction().drop(index=1)),
     "no Gaussian reference"),
    ("separable_harder", dict(reconstruction=reconstruction().query("task != 'separable'")),
     "no model reconstructed both ways"),
    ("walk_grows", changed("interpolation", length_spearman=NAN), "not measured"),
])
def test_a_missing_measurement_leaves_its_claim_open(key, change, why):
    result = verdicts(**change)
    assert result[key] == f"n/a ({why})"
    assert (result[result.index.isin(FEEDS[next(iter(change))])] != "no").all(), result


def test_nothing_measured_leaves_every_claim_open():
    assert findings()["reproduced"].str.startswith("n/a (").all()


@pytest.mark.parametrize("key, change, expected", [
    # Thresholds are inclusive where the rule says ">=" / "<=" ...
    ("lengths", dict(consistency=summary(length_w1_um={"all": 1.0})), "yes"),
    ("mode_coverage", dict(consistency=summary(dividing_generated={"all": 0.03})), "yes"),
    ("rules", dict(consistency=summary(rule_generated={"ActinLike": 0.77})), "yes"),
    ("walk_grows", changed("interpolation", length_spearman=0.8), "yes"),
    ("wgan_below_gan", dict(training_c2st=training_c2st(wgan=(5.0, 6.0, 1.8))), "yes"),
    ("latent_likelihood", dict(reconstruction=reconstruction({      # exactly 3 SD
        ("-", "Gaussian noise"): dict(nll_median=142.0, nll_mad=8.0),
        ("regular", "WGAN-GP-star"): dict(nll_median=166.0)})), "yes"),
    # ... and strict where it says "below" or "above".
    ("reconstruction_nn", dict(reconstruction=reconstruction({
        ("regular", "WGAN-GP-star"): dict(rmse_median=0.080),
        ("separable", "WGAN-GP-star"): dict(rmse_median=0.1)})), "no"),
    ("separable_harder", dict(reconstruction=reconstruction({
        ("separable", "GAN-sep"): dict(rmse_median=0.055)})), "no"),
])
def test_boundaries(key, change, expected):
    assert verdicts(**change)[key] == expected


def test_a_model_with_one_snapshot_is_named_and_the_others_still_judged():
    table = training_c2st(gan=(3.0,), gan_steps=(5000,))
    result = findings(training_c2st=table)
    assert result["reproduced"]["c2st_falls"] == "yes"
    assert "GAN: one snapshot" in result["this book"]["c2st_falls"]


def test_the_words_give_the_numbers():
    words = findings(**good())["this book"]
    assert "at most 0 and green pixels by 0.21" in words["separable"]
    assert "GAN 9.00 -> 6.00 -> 3.50 at 200 / 1k / 5k" in words["c2st_falls"]
    assert "1.80 vs 3.50 at 5k" in words["wgan_below_gan"]
    assert "WGAN-GP 0.12, GAN 0.05 (real cells 0.15)" in words["diversity"]
    assert "length W1 0.40 µm (KS 0.08, mean shift +0.05 µm)" in words["lengths"]
    assert "dividing cells: 4.5 % generated vs 6 % real" in words["mode_coverage"]
    assert "TipDots 90 % vs 95 %, ActinLike 85 % vs 92 %" in words["rules"]
    assert "all greens at once 80 % vs 93 %" in words["star_consistency"]
    assert "0.045 ± 0.006 (WGAN-GP-star, regular) vs 0.080 ± 0.01" in words["reconstruction_nn"]
    assert "GAN-sep 0.070 vs 0.055, WGAN-GP-star 0.060 vs 0.045" in words["separable_harder"]
    assert "148.0 ± 8" in words["latent_likelihood"] and "0.86 SD apart" in words[
        "latent_likelihood"]
    assert "first dividing frame at step 7" in words["walk_grows"]
    assert "septum from step 7" in words["actin_moves"]
    assert "stays at the tips" in words["actin_moves"]
    for key, text in words.items():
        assert "; rule: " in text, key


def test_the_gans_later_snapshots_are_reported():
    table = training_c2st(gan=(9.0, 6.0, 3.5, 2.9), gan_steps=(200, 1000, 5000, 20000))
    words = findings(training_c2st=table)["this book"]["wgan_below_gan"]
    assert "the GAN reaches 2.90 at its last iteration 20k" in words


def test_actin_words_say_when_the_tip_protein_leaves():
    words = findings(interpolation=good()["interpolation"] | dict(tips_stay=False))["this book"]
    assert "the tip protein leaves the tips" in words["actin_moves"]


# --- the model-comparison notebook -----------------------------------------------------------

TWIN_CLASSES = ["Arp3", "Tea1", "Fim1", "Tea4"]


def real_vs_real(**entries):
    """Four classes of Table 1 (means); ``entries``: "row/column" -> score."""
    matrix = TABLE1.loc[TWIN_CLASSES, TWIN_CLASSES].copy()
    for cell, value in entries.items():
        row, column = cell.split("/")
        matrix.loc[row, column] = value
    return twin_structure(matrix, TWINS, tolerance=1.0)


def model_table(**averages) -> pd.DataFrame:
    """A CPU run's Table 2: two classes and their average; ``averages`` replace averages."""
    names = [MODEL_NAMES[key] for key in ("real", "one_class_sep", "multichannel_sep", "star")]
    table = pd.DataFrame([[0.1, 1.0, 3.5, 1.2], [-0.1, 1.4, 4.1, 1.6], [0.0, 1.2, 3.8, 1.4]],
                         index=["TipDots", "ActinLike", "2 proteins"], columns=names)
    for key, value in averages.items():
        table.loc["2 proteins", MODEL_NAMES[key]] = value
    return table


def cross_class(shares: dict | None = None) -> pd.DataFrame:
    """Shares of cells whose greens all fit the red, per source; ``shares`` replace some."""
    table = pd.DataFrame({"all": [0.97, 0.85, 0.30, 0.40], "TipDots": [0.99, 0.9, 0.5, 0.6]},
                         index=["real (simulator)", "star-shaped", "composite training set",
                                "multi-channel sep."])
    for source, share in (shares or {}).items():
        table.loc[source, "all"] = share
    return table


def comparison_good() -> dict:
    return dict(real_vs_real=real_vs_real(), model_table=model_table(),
                cross_class=cross_class())


COMPARISON_FEEDS = {"real_vs_real": ["diagonal", "twins"],
                    "model_table": ["real_lowest", "one_class_best", "star_beats_multichannel"],
                    "cross_class": ["composite_inconsistent"]}


def comparison_verdicts(**changes) -> pd.Series:
    return comparison_findings(**(comparison_good() | changes))["reproduced"]


def test_every_comparison_claim_holds_on_measurements_that_show_it():
    result = comparison_verdicts()
    assert (result == "yes").all(), result[result != "yes"]


def test_one_row_per_comparison_claim_in_order():
    table = comparison_findings(**comparison_good())
    assert list(table.index) == list(COMPARISON_CLAIMS) and table.index.is_unique
    assert set(COMPARISON_CLAIMS) == {c for claims in COMPARISON_FEEDS.values() for c in claims}


@pytest.mark.parametrize("key, change", [
    ("diagonal", dict(real_vs_real=real_vs_real(**{"Arp3/Arp3": 1.2}))),
    ("twins", dict(real_vs_real=real_vs_real(**{"Tea1/Arp3": 6.0}))),     # Arp3 now nearest
    ("real_lowest", dict(model_table=model_table(real=1.5))),
    ("one_class_best", dict(model_table=model_table(one_class_sep=1.7))),  # star 1.4 + 0.25
    ("star_beats_multichannel", dict(model_table=model_table(star=3.8))),  # a tie
    ("composite_inconsistent", dict(cross_class=cross_class({"star-shaped": 0.4}))),
])
def test_each_comparison_claim_fails_when_its_measurement_does_not_show_it(key, change):
    result = comparison_verdicts(**change)
    assert result[key] == "no"
    assert (result.drop(key) == "yes").all(), result


def test_a_twin_below_its_rows_diagonal_fails_both_table_1_claims():
    result = comparison_verdicts(real_vs_real=real_vs_real(**{"Arp3/Fim1": 0.5}))  # < 0.8
    assert result["twins"] == "no" and result["diagonal"] == "no"
    assert (result.drop(["twins", "diagonal"]) == "yes").all(), result


@pytest.mark.parametrize("key, change, why", [
    *[(claim, {name: None}, "not measured")
      for name, claims in COMPARISON_FEEDS.items() for claim in claims],
    ("twins", dict(real_vs_real=twin_structure(TABLE1.loc[["Alp14", "Cki2"], ["Alp14", "Cki2"]],
                                               TWINS)),
     "no twin pair among the classes"),
    ("one_class_best", dict(model_table=model_table().drop(columns=["one-class sep."])),
     "no one-class model scored"),
    ("star_beats_multichannel", dict(model_table=model_table(star=NAN)),
     "no star-shaped or no multi-channel model scored"),
    ("composite_inconsistent", dict(cross_class=cross_class().drop("composite training set")),
     "no composite training set row"),
])
def test_a_missing_comparison_leaves_its_claim_open(key, change, why):
    result = comparison_verdicts(**change)
    assert result[key] == f"n/a ({why})"


def test_one_class_against_multichannel_alone_when_no_star_was_trained():
    table = model_table().drop(columns=["star-shaped"])
    assert comparison_findings(model_table=table)["reproduced"]["one_class_best"] == "yes"
    table.loc["2 proteins", "one-class sep."] = 3.9
    assert comparison_findings(model_table=table)["reproduced"]["one_class_best"] == "no"


def test_the_average_row_is_the_last_unless_named():
    table = model_table()
    table.loc["worst class"] = [9.0, 0.0, 0.0, 0.0]    # real images above every model
    assert comparison_findings(model_table=table)["reproduced"]["real_lowest"] == "no"
    named = comparison_findings(model_table=table, average_label="2 proteins")
    assert (named["reproduced"][COMPARISON_FEEDS["model_table"]] == "yes").all()
    with pytest.raises(ValueError, match="no average row 'mean'"):
        comparison_findings(model_table=table, average_label="mean")


def test_the_comparison_words_give_the_numbers():
    words = comparison_findings(**comparison_good())["this book"]
    assert "diagonal -0.50 ... 0.80 over 4 classes" in words["diagonal"]
    assert "Arp3's twin Fim1 3.70 (own 0.80; nearest Fim1 3.70)" in words["twins"]
    assert ("real images 0.00, one-class sep. 1.20, multi-channel sep. 3.80, star-shaped 1.40"
            in words["real_lowest"])
    assert "the best one-class (one-class sep.) <= star-shaped + 0.25" in words["one_class_best"]
    assert "star-shaped 85 %, composite training set 30 %" in words["composite_inconsistent"]
    for key, text in words.items():
        assert "; rule: " in text, key


# --- the paper -------------------------------------------------------------------------------

def test_every_row_cites_the_paper():
    cited = re.compile(r"\((Secs?\. \d|Table \d|Figs?\. \d)")
    for table in (findings(), comparison_findings()):
        for key, paper in table["paper"].items():
            assert cited.search(paper), (key, paper)


def test_the_papers_numbers_pass_every_rule_they_feed():
    ours = findings(training_c2st=FIG3, reconstruction=TABLE3)["reproduced"]
    assert (ours[FEEDS["training_c2st"] + FEEDS["reconstruction"]] == "yes").all(), ours
    check = twin_structure(TABLE1, TWINS)
    compared = comparison_findings(real_vs_real=check, model_table=TABLE2)["reproduced"]
    assert (compared[COMPARISON_FEEDS["real_vs_real"] + COMPARISON_FEEDS["model_table"]]
            == "yes").all(), compared


def test_the_paper_column_quotes_figure_3_and_tables_1_to_3():
    paper = findings()["paper"]
    assert paper["c2st_falls"].startswith("separable GAN 11.0 -> 6.7 -> 3.2 at 1k / 5k / 50k, "
                                          "WGAN-GP 6.0 -> 2.2 -> 1.6")
    assert paper["reconstruction_nn"] == "RMSE 0.041 ± 0.005 vs 0.079 ± 0.009 (Sec. 5.2, Table 3)"
    assert "WGAN-GP-star NLL 150 ± 8 vs Gaussian noise 142 ± 5" in paper["latent_likelihood"]
    compared = comparison_findings()["paper"]
    assert compared["diagonal"].startswith("diagonal -0.6 ... 0.8")
    assert compared["twins"].startswith("Arp3/Fim1 3.7 / 2.8, Tea1/Tea4 6.9 / 5.9; "
                                        "other pairs >= 6.2")
    assert "star-shaped 1.4, multi-channel 3.7, multi-channel sep. 3.8" in compared[
        "star_beats_multichannel"]
