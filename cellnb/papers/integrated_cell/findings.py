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
"""
from __future__ import annotations

import math
from numbers import Real

import pandas as pd

from ...findings import Claim, finding, findings_table
from .evaluate import MONOTONE_SPEARMAN, PAPER_CONFUSION_2D, confusion_accuracy, per_class_recall

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


def _not_measured(key: str, why: str = "not measured"):
    return finding(CLAIMS[key], "not computed", missing=why)


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


def _reconstruction(scores: dict | None):
    if scores is None:
        return _not_measured("reconstruction")
    mse, baseline = scores["test_mse"], scores["mean_image_mse"]
    train, test = scores["train_bce"], scores["test_bce"]
    words = (f"test MSE {mse:.3g} vs {baseline:.3g} for the mean image ({mse / baseline:.2f}x); "
             f"BCE test {test:.3g} vs train {train:.3g} ({100 * (test / train - 1):+.0f} %); "
             f"rule: MSE <= {MSE_RATIO:g}x the mean image's, test BCE <= {BCE_GAP:g}x train")
    return finding(CLAIMS["reconstruction"], words,
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


def _classification(report: dict | None):
    if report is None:
        return _not_measured("classification")
    accuracy = report["accuracy"]
    common = report.get("common_accuracy")
    common = accuracy if _absent(common) else common   # no rare class named: all are common
    n = report.get("n")
    words = (f"{_percent(accuracy)}" + ("" if n is None else f" of {n} held-out cells")
             + f" (common classes {_percent(common)}; chance {_percent(report['chance'])}); "
             f"rule: common classes >= {_percent(COMMON_ACCURACY)}")
    return finding(CLAIMS["classification"], words, common >= COMMON_ACCURACY)


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
