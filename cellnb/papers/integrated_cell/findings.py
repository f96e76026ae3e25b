"""Paper vs. this book for the Integrated Cell (2D) chapter: the paper's claims as data, the
verdicts computed from a run.

The paper (Johnson, Donovan-Maiye & Maleckar, arXiv 1705.00092) shows most of its results as
pictures: reconstructions, latent grids, predicted localisations. On toy cells with a known ground
truth each picture becomes a number held to a bar set against a baseline (the mean image, the
N(0, I) prior, a class-mean template, chance). The claims are described once, as data
(:data:`CLAIMS`); :func:`findings` turns a run's measurements (from :mod:`.evaluate`) into the
table the chapter ends with (see :mod:`cellnb.findings`). No verdict is decided by hand: each
follows from the numbers by the rule stated in its words, so every one can come out "no". A
measurement that is missing (None) gives "n/a (why)": not measured, no ablation run, no ground
truth on real cells.

The 3D chapter's claims (bioRxiv 238378) are :data:`CLAIMS_3D`, turned into its table by
:func:`findings_3d` the same way.
"""
from __future__ import annotations

import math
from numbers import Real

import pandas as pd

from ...findings import Claim, finding, findings_table
from .evaluate import (
    MONOTONE_SPEARMAN,
    PAPER_CONFUSION_2D,
    PAPER_CONFUSION_3D,
    PAPER_INCEPTION_TEST_3D,
    PAPER_INCEPTION_TRAIN_ALL_3D,
    PAPER_TRAIN_COUNTS_3D,
    confusion_accuracy,
    inception_bounds,
    per_class_recall,
)

# R1: a held-out cell's reconstruction must have at most half the MSE of the training mean image
# (the score of a model that ignores its input) ...
MSE_RATIO = 0.5
# ... and its BCE at most 15 % above the training cells' (more would be memorisation).
BCE_GAP = 1.15
PRIOR_MEAN = 0.25                # R2: every dimension's mean of z^r within +-0.25 of the prior's 0
PRIOR_SD = (0.6, 1.4)            # R2: every dimension's standard deviation within these (prior: 1)
SEMANTICS_R2 = 0.7               # R3: mean cross-validated R^2 from z^r to the shape parameters
COMMON_ACCURACY = 0.9            # C1: hold-out accuracy on the well-sampled classes
ZR_R2 = 0.8                      # C2: R^2 of z-hat^r against z^r on held-out cells
DETERMINED_R = 0.6               # I1: mean r with E[x^s | r, y], classes the reference determines
SIGNIFICANCE = 0.05              # I1: one-sided Wilcoxon p of "model beats the class template"
PLACEMENT_SHARE = 0.8            # I1: at least 80 % of what the ground truth places there
INVARIANCE_R = 0.95              # I2: median over cells of the least similar pair of references
# Table S9's two poorly sampled classes (8 and 5 test cells, Table S8).
PAPER_RARE = ("Myosin IIB", "ZO1")


def _percent(value: float) -> str:
    return f"{100 * value:.3g} %"


def _paper_accuracy() -> str:
    correct, total, accuracy = confusion_accuracy(PAPER_CONFUSION_2D)
    return f"{_percent(accuracy)} ({correct}/{total})"


def _paper_rare() -> str:
    recall = per_class_recall(PAPER_CONFUSION_2D)
    _, _, accuracy = confusion_accuracy(PAPER_CONFUSION_2D)
    return (", ".join(f"{name} {_percent(recall[name])}" for name in PAPER_RARE)
            + f" vs {_percent(accuracy)} overall")


CLAIMS = {c.key: c for c in (
    Claim("reconstruction", "the models reconstruct held-out cells as well as training cells",
          "qualitative (train and test reconstructions)", "Sec. 3.4.1, Figs. S1-S2"),
    Claim("prior", "the adversarial latent loss makes the encodings match the N(0, I) prior",
          "qualitative (embedded z^r, first two dimensions)", "Sec. 2.1, Fig. S4a"),
    Claim("encd", "the latent discriminator is what pulls the codes to the prior (gamma_E = 1e-4)",
          "gamma_E = 1e-4, gamma_D = 1e-5; no ablation", "Sec. 3.3"),
    Claim("semantics", "the reference latent space encodes cell shape",
          "qualitative (decoded grid over z^r_1, z^r_2)", "Sec. 3.4.2, Fig. S4b"),
    Claim("traversal", "walking one latent axis changes the cell smoothly",
          "qualitative (-3 ... 3 SD grid)", "Fig. S4b"),
    Claim("classification", "the conditional encoder tells the structures apart on held-out cells",
          _paper_accuracy(), "Sec. 3.4.3, Table S9"),
    Claim("rare", "errors concentrate on the poorly sampled classes", _paper_rare(), "Table S9"),
    Claim("zr_regression", "the conditional encoder recovers the reference code (z-hat^r)",
          "trained (eq. 8), not reported", "Sec. 2.2, eq. 8"),
    Claim("integration", "from the reference alone, the model predicts where each structure sits",
          "qualitative (most probable localisation per structure)",
          "Algorithm 3, Fig. 3, Sec. 3.4.4"),
    Claim("placement", "nucleolar proteins fall inside the DNA, the lamina surrounds it",
          "qualitative (fibrillarin inside DNA, lamin B1 around it)", "Fig. 3, Sec. 3.4.4"),
    Claim("invariance", "the reference channels do not depend on the structure asked for",
          "implicit (Algorithm 3 keeps only the structure channel)", "Algorithm 3"),
)}


def _absent(value) -> bool:
    """None or NaN: the number was not measured."""
    return value is None or (isinstance(value, Real) and math.isnan(value))


def _not_measured(key: str, why: str = "not measured", claims: dict | None = None):
    return finding((claims or CLAIMS)[key], "not computed", missing=why)


def findings(*, reconstruction: dict | None = None, prior: dict | None = None,
             semantics: dict | None = None, traversal: dict | None = None,
             classification: dict | None = None, zr_r2: float | None = None,
             integration: dict | None = None, placement: dict | None = None,
             invariance: dict | None = None) -> pd.DataFrame:
    """The chapter's paper-vs-book table, one row per claim of :data:`CLAIMS`.

    * ``reconstruction``: ``test_mse``, ``mean_image_mse`` (every test cell predicted by the
      training mean image), ``train_bce``, ``test_bce``.
    * ``prior``: per-dimension moments of held-out z^r (``max_abs_mean``, ``min_std``,
      ``max_std``), ``mmd`` (unbiased MMD^2 to N(0, I) draws); for the EncD claim also
      ``mmd_without_encd`` (an ablation trained without EncD, None if not run) and ``mmd_noise``
      (the spread of MMD^2 between two prior samples of that size; 0 if absent).
    * ``semantics``: ``r2`` (mean cross-validated ridge R^2 from z^r to the shape parameters) and
      ``per_parameter`` (a Series, parameter -> R^2).
    * ``traversal``: ``axis`` (the most monotone z^r axis), its ``spearman`` and ``monotone``
      (:func:`.evaluate.traversal_monotonicity`), ``n_monotone`` of ``n_axes`` axes monotone.
    * ``classification``: :func:`.evaluate.classification_report`'s dict, plus ``n`` held-out
      cells; ``rare_recall`` None or NaN when no rare cell was held out.
    * ``zr_r2``: R^2 of z-hat^r against z^r on held-out cells.
    * ``integration``: ``determined_r``, ``model_r``, ``template_r``, ``wilcoxon_p``
      (:func:`.evaluate.integration_summary`); ``ground_truth=False`` for real cells.
    * ``placement``: ``nucleolus_inside``, ``envelope_rim`` and their ``..._truth``.
    * ``invariance``: ``median_min_r`` and ``worst_r`` over held-out cells.
    Any of them None: that claim's verdict is "n/a" with the reason.
    """
    return findings_table([
        _reconstruction(reconstruction), _prior(prior), _encd(prior), _semantics(semantics),
        _traversal(traversal), _classification(classification), _rare(classification),
        _zr_regression(zr_r2), _integration(integration), _placement(placement),
        _invariance(invariance)])


def _reconstruction(scores: dict | None, claims: dict | None = None):
    claims = claims or CLAIMS
    if scores is None:
        return _not_measured("reconstruction", claims=claims)
    mse, baseline = scores["test_mse"], scores["mean_image_mse"]
    train, test = scores["train_bce"], scores["test_bce"]
    words = (f"test MSE {mse:.3g} vs {baseline:.3g} for the mean image ({mse / baseline:.2f}x); "
             f"BCE test {test:.3g} vs train {train:.3g} ({100 * (test / train - 1):+.0f} %); "
             f"rule: MSE <= {MSE_RATIO:g}x the mean image's, test BCE <= {BCE_GAP:g}x train")
    return finding(claims["reconstruction"], words,
                   mse <= MSE_RATIO * baseline and test <= BCE_GAP * train)


def _prior(prior: dict | None):
    if prior is None:
        return _not_measured("prior")
    mean, low, high = prior["max_abs_mean"], prior["min_std"], prior["max_std"]
    mmd = prior.get("mmd")
    words = (f"largest per-dimension |mean| {mean:.2f}, sd {low:.2f}-{high:.2f}"
             + ("" if _absent(mmd) else f"; MMD^2 to N(0, I) {mmd:.3g}")
             + f"; rule: |mean| <= {PRIOR_MEAN:g}, sd within {PRIOR_SD[0]:g}-{PRIOR_SD[1]:g}")
    return finding(CLAIMS["prior"], words,
                   mean <= PRIOR_MEAN and PRIOR_SD[0] <= low and high <= PRIOR_SD[1])


def _encd(prior: dict | None):
    if prior is None or _absent(prior.get("mmd")):
        return _not_measured("encd")
    without = prior.get("mmd_without_encd")
    if _absent(without):
        return _not_measured("encd", "no ablation run")
    mmd, noise = prior["mmd"], prior.get("mmd_noise") or 0.0
    words = (f"MMD^2 to N(0, I): {mmd:.3g} with EncD, {without:.3g} without (noise {noise:.3g}); "
             "rule: closer with EncD by more than the noise")
    return finding(CLAIMS["encd"], words, without - mmd > noise)


def _semantics(semantics: dict | None):
    if semantics is None or _absent(semantics.get("r2")):
        return _not_measured("semantics")
    r2, per = semantics["r2"], semantics.get("per_parameter")
    words = f"mean cross-validated R^2 from z^r to the shape parameters {r2:.2f}"
    if per is not None and len(per):
        per = per.astype(float)
        words += (f" (best {per.idxmax()} {per.max():.2f}, worst {per.idxmin()} "
                  f"{per.min():.2f})")
    return finding(CLAIMS["semantics"], words + f"; rule: >= {SEMANTICS_R2:g}", r2 >= SEMANTICS_R2)


def _traversal(traversal: dict | None):
    if traversal is None:
        return _not_measured("traversal")
    words = (f"z^r_{traversal['axis']}: Spearman {traversal['spearman']:+.2f} between step and "
             f"decoded cell area; {traversal['n_monotone']} of {traversal['n_axes']} axes "
             f"monotone; rule: some axis with |rho| >= {MONOTONE_SPEARMAN:g}")
    return finding(CLAIMS["traversal"], words, bool(traversal["monotone"]))


def _classification(report: dict | None, claims: dict | None = None):
    claims = claims or CLAIMS
    if report is None:
        return _not_measured("classification", claims=claims)
    accuracy = report["accuracy"]
    common = report.get("common_accuracy")
    common = accuracy if _absent(common) else common   # no rare class named: all are common
    n = report.get("n")
    words = (f"{_percent(accuracy)}" + ("" if n is None else f" of {n} held-out cells")
             + f" (common classes {_percent(common)}; chance {_percent(report['chance'])}); "
             f"rule: common classes >= {_percent(COMMON_ACCURACY)}")
    return finding(claims["classification"], words, common >= COMMON_ACCURACY)


def _rare(report: dict | None):
    if report is None:
        return _not_measured("rare")
    rare = report.get("rare_recall")
    if _absent(rare) or _absent(report.get("common_accuracy")):
        return _not_measured("rare", "no rare cells held out")
    common = report["common_accuracy"]
    words = (f"rare class recall {_percent(rare)} vs {_percent(common)} on the common classes; "
             "rule: below")
    return finding(CLAIMS["rare"], words, rare < common)


def _zr_regression(r2: float | None):
    if _absent(r2):
        return _not_measured("zr_regression")
    return finding(CLAIMS["zr_regression"],
                   f"R^2 of z-hat^r against z^r {r2:.3f} on held-out cells; rule: >= {ZR_R2:g}",
                   r2 >= ZR_R2)


def _integration(summary: dict | None):
    if summary is None:
        return _not_measured("integration")
    if summary.get("ground_truth") is False:
        return _not_measured("integration", "real cells have no ground-truth conditional mean")
    determined, p = summary.get("determined_r"), summary["wilcoxon_p"]
    if _absent(determined):
        return _not_measured("integration", "no reference-determined class held out")
    words = (f"r with the true conditional mean {summary['model_r']:.2f} (reference-determined "
             f"classes {determined:.2f}); class template {summary['template_r']:.2f}; model "
             f"beats template: p = {p:.2g}; rule: determined >= {DETERMINED_R:g}, "
             f"p < {SIGNIFICANCE:g}")
    return finding(CLAIMS["integration"], words, determined >= DETERMINED_R and p < SIGNIFICANCE)


def _placement(placement: dict | None):
    if placement is None:
        return _not_measured("placement")
    if placement.get("nucleolus_inside_truth") is None:
        return _not_measured("placement", "real cells have no ground-truth conditional mean")
    inside, inside_truth = placement["nucleolus_inside"], placement["nucleolus_inside_truth"]
    rim, rim_truth = placement["envelope_rim"], placement["envelope_rim_truth"]
    words = (f"nucleolus intensity inside the nucleus {_percent(inside)} (truth "
             f"{_percent(inside_truth)}); envelope on the nuclear rim {_percent(rim)} (truth "
             f"{_percent(rim_truth)}); rule: each >= {PLACEMENT_SHARE:g}x the truth's")
    return finding(CLAIMS["placement"], words, inside >= PLACEMENT_SHARE * inside_truth
                   and rim >= PLACEMENT_SHARE * rim_truth)


def _invariance(invariance: dict | None):
    if invariance is None or _absent(invariance.get("median_min_r")):
        return _not_measured("invariance")
    median, worst = invariance["median_min_r"], invariance["worst_r"]
    words = (f"least similar pair of reference channels decoded for the K classes: r "
             f"{median:.3g} (median over cells), {worst:.3g} (worst cell); "
             f"rule: median >= {INVARIANCE_R:g}")
    return finding(CLAIMS["invariance"], words, median >= INVARIANCE_R)


# --- the 3D chapter ---------------------------------------------------------------------------
# The 3D paper (Johnson, Donovan-Maiye & Maleckar, bioRxiv 238378) adds the generated-image
# checks (Table S10, Fig. S6), the variation statistic (Algorithm 4, Fig. S7) and the (K+1)-way
# EncD^s. Classification and reconstruction keep the 2D rules and thresholds.

INCEPTION_DATA_SHARE = 0.9       # G1: held-out data's IS, all classes, >= 0.9x its bound exp(H)
INCEPTION_GENERATED_SHARE = 0.8  # G1: generated cells' IS, all classes, >= 0.8x held-out data's
CORRELATION_KS = 0.25            # G2: KS distance of within-class correlation distributions ...
CORRELATION_SHARE = 0.5          # ... at most 0.25 for at least half of the classes
VARIATION_SPEARMAN = 0.8         # V1: Spearman of model vs truth per-class mean -log det / n
LEAKAGE_MARGIN = 0.15            # L1: (K+1)-way EncD^s: z^s -> y accuracy <= chance + 0.15
# V2: the toy analogues of lamin B1, fibrillarin, Tom20 ("more" variable in mitosis) and
# alpha-tubulin ("less"; spindles are stereotyped), 3D Sec. 3.4.5. ST6GAL1 (Golgi) has none.
MITOSIS_DIRECTION = {"envelope": "more", "nucleolus": "more", "puncta": "more", "fibres": "less"}
LEAKAGE_VARIANTS = ("k_plus_1", "binary", "none")   # L1: EncD^s (K+1)-way, binary, absent


def _paper_accuracy_3d() -> str:
    correct, total, accuracy = confusion_accuracy(PAPER_CONFUSION_3D)
    return f"{_percent(accuracy)} ({correct}/{total})"


def _paper_inception_3d() -> str:
    bound = inception_bounds(PAPER_TRAIN_COUNTS_3D)["all classes"]
    test = PAPER_INCEPTION_TEST_3D["data test"]
    return (f"data test {test:g} of a bound near {bound:.4g} (data train "
            f"{PAPER_INCEPTION_TRAIN_ALL_3D:g} = exp(H) of Table S9's training counts): "
            f"{test / bound:.2f}x")


CLAIMS_3D = {c.key: c for c in (
    Claim("classification", "the conditional encoder tells the 11 structures apart on held-out "
          "cells", _paper_accuracy_3d(), "Sec. 3.4.1, Table S11"),
    Claim("inception_data", "held-out cells reach most of the inception score's bound (a "
          "confident, correct classifier)", _paper_inception_3d(), "Sec. 3.4.4, Table S10"),
    Claim("inception_generated", "generated cells score close to the data",
          f"generated {PAPER_INCEPTION_TEST_3D['generated']:g} vs data test "
          f"{PAPER_INCEPTION_TEST_3D['data test']:g} "
          f"({PAPER_INCEPTION_TEST_3D['generated'] / PAPER_INCEPTION_TEST_3D['data test']:.2f}x)",
          "Sec. 3.4.4, Table S10"),
    Claim("correlations", "generated cells' within-class correlation distributions resemble the "
          "data's", "qualitative (distributions by eye)", "Sec. 3.4.4, Fig. S6"),
    Claim("variation", "the model ranks structures by variability as the truth does",
          "no ground truth (per-class -log det / n of generated structures)",
          "Sec. 3.4.5, Algorithm 4, Fig. S7"),
    Claim("mitosis", "in mitosis the envelope, nucleoli and mitochondria vary more, the "
          "microtubules less", "qualitative (lamin B1, fibrillarin, ST6GAL1, Tom20 more "
          "variable; alpha-tubulin less)", "Sec. 3.4.5, Figs. S7-S8"),
    Claim("leakage", "the (K+1)-way latent discriminator keeps the class out of z^s",
          "design argument, not measured", "Sec. 2.2.2, eq. 11"),
    Claim("reconstruction", "the models reconstruct held-out cells as well as training cells",
          "qualitative (train and test reconstructions)", "Sec. 3.4.2, Figs. S1-S2"),
)}


def findings_3d(*, classification: dict | None = None, inception: pd.DataFrame | None = None,
                correlations: pd.DataFrame | None = None, variation: dict | None = None,
                mitosis: dict | None = None, leakage: dict | None = None,
                reconstruction: dict | None = None,
                mitosis_direction: dict | None = None) -> pd.DataFrame:
    """The 3D chapter's paper-vs-book table, one row per claim of :data:`CLAIMS_3D`.

    * ``classification``: :func:`.evaluate.classification_report`'s dict, plus ``n``.
    * ``inception``: :func:`.analysis.inception_check`'s table (row "all classes"; columns
      "data test", "enc-dec test", "generated", "bound").
    * ``correlations``: :func:`.analysis.correlation_check`'s table (per-class KS, column
      "generated"; "enc-dec test" shown if present).
    * ``variation``: ``spearman`` and ``n_classes`` (:func:`.evaluate.variation_agreement` of the
      model's and the truth's :func:`.variation.variation_by_class`); optionally
      ``most_stereotyped`` and ``most_variable``, each ``{"model": class, "truth": class}``.
    * ``mitosis``: class -> :func:`.evaluate.state_shift` dict (``median_shift`` < 0: mitotic
      cells more variable); ``mitosis_direction`` (class -> "more" or "less") defaults to
      :data:`MITOSIS_DIRECTION`. Empty: no mitotic cells held out.
    * ``leakage``: variant ("k_plus_1", "binary", "none") -> :func:`.evaluate.class_leakage`'s
      dict; any may be missing.
    * ``reconstruction``: as :func:`findings`.
    Any of them None: that claim's verdict is "n/a" with the reason.
    """
    return findings_table([
        _classification(classification, CLAIMS_3D), _inception_data(inception),
        _inception_generated(inception), _correlations(correlations), _variation(variation),
        _mitosis(mitosis, mitosis_direction or MITOSIS_DIRECTION), _leakage(leakage),
        _reconstruction(reconstruction, CLAIMS_3D)])


def _not_measured_3d(key: str, why: str = "not measured"):
    return _not_measured(key, why, CLAIMS_3D)


def _all_classes(table: pd.DataFrame | None, column: str):
    """The "all classes" score of one column of the inception table; None where absent."""
    if table is None or column not in table or "all classes" not in table.index:
        return None
    value = table.loc["all classes", column]
    return None if _absent(value) else float(value)


def _inception_data(table: pd.DataFrame | None):
    score, bound = _all_classes(table, "data test"), _all_classes(table, "bound")
    if score is None or bound is None:
        return _not_measured_3d("inception_data")
    train = _all_classes(table, "data train")
    words = (f"held-out cells, all classes: {score:.3g} of the bound exp(H) {bound:.3g} "
             f"({_percent(score / bound)})" + ("" if train is None else f"; train {train:.3g}")
             + f"; rule: >= {INCEPTION_DATA_SHARE:g}x the bound")
    return finding(CLAIMS_3D["inception_data"], words, score >= INCEPTION_DATA_SHARE * bound)


def _inception_generated(table: pd.DataFrame | None):
    generated, data = _all_classes(table, "generated"), _all_classes(table, "data test")
    if generated is None or data is None:
        return _not_measured_3d("inception_generated")
    encdec = _all_classes(table, "enc-dec test")
    words = (f"all classes: generated {generated:.3g} vs held-out data {data:.3g} "
             f"({_percent(generated / data)})"
             + ("" if encdec is None else f", encoded-decoded {encdec:.3g}")
             + f"; rule: generated >= {INCEPTION_GENERATED_SHARE:g}x data")
    return finding(CLAIMS_3D["inception_generated"], words,
                   generated >= INCEPTION_GENERATED_SHARE * data)


def _correlations(table: pd.DataFrame | None):
    if table is None or "generated" not in table:
        return _not_measured_3d("correlations")
    ks = table["generated"].astype(float).dropna()
    if not len(ks):
        return _not_measured_3d("correlations", "no class with two held-out cells")
    close = int((ks <= CORRELATION_KS).sum())
    words = (f"KS distance, generated vs held-out cells: <= {CORRELATION_KS:g} in {close} of "
             f"{len(ks)} classes (median {ks.median():.2f}, worst {ks.idxmax()} {ks.max():.2f})")
    if "enc-dec test" in table and table["enc-dec test"].notna().any():
        words += f"; encoded-decoded median {table['enc-dec test'].astype(float).median():.2f}"
    words += f"; rule: at least {_percent(CORRELATION_SHARE)} of the classes"
    return finding(CLAIMS_3D["correlations"], words, close >= CORRELATION_SHARE * len(ks))


def _variation(variation: dict | None):
    if variation is None:
        return _not_measured_3d("variation")
    rho = variation.get("spearman")
    if _absent(rho):
        return _not_measured_3d("variation", "no ground-truth variation to rank against")
    words = (f"Spearman {rho:+.2f} between the model's and the truth's per-class mean -log det / n"
             f" over {variation['n_classes']} classes")
    for key, label in (("most_stereotyped", "most stereotyped"),
                       ("most_variable", "most variable")):
        names = variation.get(key)
        if names:
            words += f"; {label}: {names['model']} (truth {names['truth']})"
    return finding(CLAIMS_3D["variation"], words + f"; rule: >= {VARIATION_SPEARMAN:g}",
                   rho >= VARIATION_SPEARMAN)


def _mitosis(shifts: dict | None, direction: dict):
    if shifts is None:
        return _not_measured_3d("mitosis")
    if not shifts:
        return _not_measured_3d("mitosis", "no mitotic cells held out")
    present = {name: shifts[name]["median_shift"] for name in direction
               if name in shifts and not _absent(shifts[name]["median_shift"])}
    if not present:
        return _not_measured_3d("mitosis", "no mitotic cells of the designed classes held out")
    as_designed = {name: (shift < 0) if direction[name] == "more" else (shift > 0)
                   for name, shift in present.items()}
    words = ("median shift of -log det / n in mitosis (negative: more variable): "
             + ", ".join(f"{name} {shift:+.3g} (designed {direction[name]})"
                         for name, shift in present.items())
             + "; rule: every class in its designed direction")
    return finding(CLAIMS_3D["mitosis"], words, all(as_designed.values()))


def _leakage(leakage: dict | None):
    if leakage is None:
        return _not_measured_3d("leakage")
    if leakage.get("k_plus_1") is None:
        return _not_measured_3d("leakage", "no (K+1)-way EncD^s model")
    ours = leakage["k_plus_1"]
    accuracy, chance = ours["accuracy"], ours["chance"]
    others = {name: leakage[name]["accuracy"] for name in LEAKAGE_VARIANTS[1:]
              if leakage.get(name) is not None}
    words = (f"class read from z^s: {_percent(accuracy)} with the (K+1)-way EncD^s (chance "
             f"{_percent(chance)})"
             + "".join(f", {_percent(value)} with {'no' if name == 'none' else name} EncD^s"
                       for name, value in others.items())
             + f"; rule: <= chance + {LEAKAGE_MARGIN:g}"
             + (" and below each ablation" if others else ""))
    return finding(CLAIMS_3D["leakage"], words, accuracy <= chance + LEAKAGE_MARGIN
                   and all(accuracy < value for value in others.values()))
