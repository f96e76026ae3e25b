"""Paper vs. this book for the paired-cell-inpainting chapters: the paper's claims as data, the
verdicts computed from a run.

:func:`findings` reads the main chapter's measurements (one trained model), :func:`baseline_findings`
the baselines notebook's (every variant over several seeds). Each returns the table its chapter
ends with (see :mod:`cellnb.findings`). Every verdict can come out "no"; a claim whose ground
truth the data lack (real images have no counterfactual, no alpha, no sub-populations) says
"n/a (why)". The rules are stated in each claim's words, so a reader can check them.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ...findings import Claim, finding, findings_table
from .model import LAYERS

OURS = "paired cell inpainting"
# A best layer counts as "intermediate" as in Table 1 (conv4 yeast) and Fig 2B (conv3 human).
INTERMEDIATE = ("conv3", "conv4")
# Fig 5 check: the score must follow alpha at least this strongly (Spearman, negative because a
# negative score means "closer to the first, nuclear, compartment" and alpha is its share).
ALPHA_RHO = -0.6
SUBPOPULATION_ARI = 0.5          # Fig 6 check: median ARI of the variable images' two clusters
TABLE2_RIVALS = ("hand-crafted", "autoencoder")   # Table 2's classic and autoencoder rows

CLAIMS = {c.key: c for c in (
    Claim("layers", "accuracy peaks at an intermediate layer (conv3-4), above conv1 and conv5",
          "conv1 43.09, conv2 70.52, conv3 84.30, conv4 87.98, conv5 81.89 %", "Table 1"),
    Claim("random", "the pretext task, not the architecture, makes the features",
          "not measured (a random-init network is our control)", "our addition to Table 1"),
    Claim("baselines", "the features beat hand-crafted features and raw pixels",
          "87.98 vs 68.15 (CellProfiler), 62.04 (interpretable) %", "Fig 2A"),
    Claim("counterfactual", "with mismatched cells, the source's pattern is painted into the "
          "target's shape", "qualitative (example pairs)", "S1 Fig"),
    Claim("distances", "cells of one class lie closer than expected, more so than with classic "
          "features", "overall -0.574 (conv3) vs -0.274 (classic)", "Fig 2B"),
    Claim("alpha", "the multi-localisation score follows the share in each compartment",
          "qualitative: dual-localised cells near 0, skew follows the amounts", "Fig 5"),
    Claim("variable", "ranking images by the score's spread finds variable images",
          "6/10 and 5/10 of the top 10 annotated variable, the rest unannotated variability",
          "Fig 5, Results"),
    Claim("subpopulations", "clustering one image's cells separates its sub-populations",
          "qualitative (SMPDL3A, DECR1, NEK1 dendrograms)", "Fig 6"),
    Claim("proteins", "proteins cluster by localisation",
          "clusters enriched for about 15 of 18 classes", "Fig 4, Table 3"),
    Claim("rare", "a rare class finds its own kind among its nearest neighbours",
          "13 of the 32 proteins nearest MKI67 are nucleolar rim", "Fig 4b-d"),
)}

BASELINE_CLAIMS = {c.key: c for c in (
    Claim("beats_random", "the best trained layer beats a random-init network by more than 2 sd "
          "over seeds", "not measured (one model, no seeds)", "our addition to Table 1"),
    Claim("beats_autoencoder", "the features beat an autoencoder of the same architecture",
          "87.98 vs 42.50 %", "Fig 2A"),
    Claim("beats_self_pairs", "pairing two cells, not reconstructing one, makes the features",
          "not measured (the self-pair ablation is ours)", "our addition"),
    Claim("best_layer", "the best layer is conv3 or conv4 in every seed",
          "conv4 (yeast), conv3 (human)", "Table 1, Fig 2B"),
    Claim("cell_lines", "the features lose the least when cell lines differ",
          "difference 0.0385 (conv4) vs 0.1214 classic, 0.1521 autoencoder", "Table 2"),
)}


def _layers_words(accuracy: pd.Series) -> str:
    return ", ".join(f"{layer} {float(accuracy[layer]):.3f}" for layer in LAYERS
                     if layer in accuracy)


def _best(accuracy: pd.Series) -> tuple[str, float]:
    accuracy = accuracy.astype(float)
    return str(accuracy.idxmax()), float(accuracy.max())


def margin(accuracy: float, n_cells: int) -> float:
    """Two standard errors of an accuracy measured on ``n_cells`` cells, sqrt(p (1 - p) / n):
    the smallest difference between two accuracies on the same cells that a single run counts
    as a difference (0 when ``n_cells`` is not given)."""
    if not n_cells:
        return 0.0
    p = min(max(accuracy, 0.0), 1.0)
    return 2 * math.sqrt(p * (1 - p) / n_cells)


def layer_shape_holds(accuracy: pd.Series, n_cells: int = 0) -> bool:
    """Table 1's shape: the best layer is conv3 or conv4 and beats both conv1 and conv5 by more
    than :func:`margin`."""
    layer, value = _best(accuracy)
    gap = margin(value, n_cells)
    return layer in INTERMEDIATE and value - float(accuracy["conv1"]) > gap \
        and value - float(accuracy["conv5"]) > gap


RANDOM = "random init"


def findings(*, knn: pd.DataFrame | None, n_labelled: int = 0, counterfactual: dict | None = None,
             distances: dict[str, dict] | None = None, alpha: dict | None = None,
             variability: dict | None = None, subpopulation_ari=None,
             proteins: dict | None = None, rare: dict | None = None) -> pd.DataFrame:
    """The main chapter's paper-vs-book table.

    * ``knn``: :func:`.evaluate.layerwise_knn`'s table: rows :data:`OURS` and :data:`RANDOM`
      with balanced accuracy per layer (conv1..conv5), the training-free sets (hand-crafted,
      raw pixels) with theirs in column ``features``; None for unlabelled cells.
      ``n_labelled``: the cells it was measured on; an ordering of two accuracies counts only
      beyond two standard errors (:func:`margin`), none when 0.
    * ``counterfactual``: :func:`.counterfactual.summarise`'s dict: ``mean_corr_counterfactual``,
      ``mean_corr_real`` (mean correlations of the prediction with the counterfactual and with
      the target's real protein), ``mean_corr_copy`` (what copying the source crop scores against
      the counterfactual: a model that ignores the target's shape), ``n_pairs``.
    * ``distances``: feature set -> ``{"overall": float, "per_class": {class: float}}`` with
      :data:`OURS` among the sets (Fig 2B).
    * ``alpha``: :func:`.evaluate.multilocalisation`'s summary (``spearman_rho`` of the score
      against alpha over ``n_mixed_cells``; ``median_first``, ``median_second``, the reference
      classes' median scores; their names ``first``, ``second``).
    * ``variability``: :func:`.evaluate.variability_ranking`'s summary (``n_variable`` variable
      images among ``n_images`` ranked; ``precision_at_n_variable``).
    * ``subpopulation_ari``: one ARI per variable image (Fig 6).
    * ``proteins``: ``ari`` and ``ari_random`` (protein clusters against the class).
    * ``rare``: :func:`.evaluate.rare_neighbours`'s dict (``image_precision`` over its ``k``
      nearest images, ``base_rate``), or None.
    Any of the optional ones None: "n/a" with the reason.
    """
    rows = _accuracy_findings(knn, n_labelled)
    rows.append(_counterfactual(counterfactual))
    rows.append(_distances(distances))
    rows.append(_alpha(alpha))
    rows.append(_variability(variability))
    rows.append(_subpopulations(subpopulation_ari))
    if proteins is None:
        rows.append(finding(CLAIMS["proteins"], "not computed", missing="no class labels"))
    else:
        rows.append(finding(CLAIMS["proteins"],
                            f"ARI {proteins['ari']:.2f} vs random init {proteins['ari_random']:.2f}",
                            proteins["ari"] > proteins["ari_random"]))
    rows.append(_rare(rare))
    return findings_table(rows)


def _accuracy_findings(knn: pd.DataFrame | None, n_cells: int) -> list:
    keys = ("layers", "random", "baselines")
    if knn is None:
        return [finding(CLAIMS[key], "not computed", missing="no labelled cells")
                for key in keys]
    layer_accuracy = knn.loc[OURS, list(LAYERS)].astype(float)
    random_accuracy = knn.loc[RANDOM, list(LAYERS)].astype(float)
    baselines = {name: float(row.dropna().iloc[0]) for name, row in knn.iterrows()
                 if name not in (OURS, RANDOM)}
    ours_layer, ours_best = _best(layer_accuracy)
    random_layer, random_best = _best(random_accuracy)
    gap = margin(ours_best, n_cells)
    rule = f"; rule: ahead by more than {gap:.3f} (2 standard errors, {n_cells} cells)" \
        if n_cells else ""
    words = ", ".join(f"{name} {value:.3f}" for name, value in baselines.items())
    return [
        finding(CLAIMS["layers"], _layers_words(layer_accuracy) + rule,
                layer_shape_holds(layer_accuracy, n_cells)),
        finding(CLAIMS["random"],
                f"best {ours_layer} {ours_best:.3f} vs random init best {random_layer} "
                f"{random_best:.3f} ({_layers_words(random_accuracy)})" + rule,
                ours_best - random_best > gap),
        finding(CLAIMS["baselines"], f"{ours_layer} {ours_best:.3f} vs {words}" + rule,
                ours_best - max(baselines.values()) > gap)]


def _counterfactual(summary: dict | None):
    claim = CLAIMS["counterfactual"]
    if summary is None:
        return finding(claim, "not computed", missing="needs the simulator's counterfactual")
    cf, real = summary["mean_corr_counterfactual"], summary["mean_corr_real"]
    copy = summary["mean_corr_copy"]
    words = (f"mean correlation with the counterfactual {cf:.2f} vs with the target's real "
             f"protein {real:.2f}, and vs {copy:.2f} for a copy of the source "
             f"({summary['n_pairs']} pairs); rule: above both")
    return finding(claim, words, cf > real and cf > copy)


def _distances(distances: dict | None):
    claim = CLAIMS["distances"]
    if distances is None or OURS not in distances:
        return finding(claim, "not computed", missing="no class labels")
    ours = distances[OURS]
    per_class = {k: float(v) for k, v in ours.get("per_class", {}).items()}
    others = {name: float(d["overall"]) for name, d in distances.items() if name != OURS}
    positive = [name for name, value in per_class.items() if not value < 0]
    words = (f"overall {ours['overall']:.3f} vs "
             + ", ".join(f"{name} {value:.3f}" for name, value in others.items())
             + f"; {len(per_class) - len(positive)} of {len(per_class)} classes negative"
             + (f" (not: {', '.join(positive)})" if positive else ""))
    holds = (ours["overall"] < 0 and not positive
             and all(ours["overall"] < value for value in others.values()))
    return finding(claim, words, holds)


def _alpha(alpha: dict | None):
    claim = CLAIMS["alpha"]
    if alpha is None:
        return finding(claim, "not computed", missing="needs cells with a known alpha")
    rho = alpha["spearman_rho"]
    words = (f"Spearman rho(score, alpha) {rho:.2f} over {alpha['n_mixed_cells']} mixed "
             f"cells; median {alpha['first']} reference {alpha['median_first']:+.2f}, "
             f"{alpha['second']} {alpha['median_second']:+.2f} (negative: closer to "
             f"{alpha['first']}); rule: rho < {ALPHA_RHO} and references on their sides")
    holds = rho < ALPHA_RHO and alpha["median_first"] < 0 < alpha["median_second"]
    return finding(claim, words, holds)


def _variability(variability: dict | None):
    claim = CLAIMS["variable"]
    if variability is None:
        return finding(claim, "not computed", missing="needs images with known sub-populations")
    k, n = variability["n_variable"], variability["n_images"]
    precision, base = variability["precision_at_n_variable"], k / n
    hits = int(round(precision * k))
    return finding(claim, f"{hits}/{k} of the top {k} of {n} images ranked are variable "
                          f"(chance {base:.2f}); rule: at least half, and twice chance",
                   precision >= 0.5 and precision >= 2 * base)


def _subpopulations(ari) -> object:
    claim = CLAIMS["subpopulations"]
    values = None if ari is None else np.asarray(ari, dtype=float)
    if values is None or values.size == 0:
        return finding(claim, "not computed", missing="needs images with known sub-populations")
    median = float(np.median(values))
    words = (f"median ARI {median:.2f} over {values.size} variable images (each: "
             + ", ".join(f"{v:.2f}" for v in values) + f"); rule: > {SUBPOPULATION_ARI}")
    return finding(claim, words, median > SUBPOPULATION_ARI)


def _rare(rare: dict | None):
    claim = CLAIMS["rare"]
    precision = math.nan if rare is None else rare["image_precision"]
    if rare is None or not math.isfinite(precision):
        return finding(claim, "not computed", missing="fewer than two images of the rare class")
    k, base = rare["k"], rare["base_rate"]
    return finding(claim, f"{precision:.2f} of the {k} images nearest each rare-class image are "
                          f"rare-class (chance {base:.3f}); rule: above twice chance",
                   precision > 2 * base)


# ------------------------------------------------------------------------ baselines notebook

def baseline_findings(*, accuracy: pd.DataFrame | None, cell_lines: pd.DataFrame | None = None
                      ) -> pd.DataFrame:
    """The baselines notebook's paper-vs-book table.

    * ``accuracy``: one row per (``variant``, ``seed``) with a column per layer (conv1..conv5);
      variants ``"paired"`` (this method), ``"random init"``, ``"autoencoder"``, ``"self pairs"``
      (any missing one gives "n/a"); None for unlabelled cells.
    * ``cell_lines``: one row per feature set (index) with ``difference`` (different minus same
      cell line; Table 2), :data:`OURS` among them; or None.
    """
    if accuracy is None:
        return findings_table([finding(claim, "not computed", missing="no labelled cells")
                               for claim in BASELINE_CLAIMS.values()])
    best = accuracy.set_index(["variant", "seed"])[list(LAYERS)].astype(float).max(axis=1)
    stats = best.groupby(level="variant").agg(["mean", "std", "count"])
    rows = []

    def versus(key: str, other: str, sd_margin: float = 0.0):
        claim = BASELINE_CLAIMS[key]
        if "paired" not in stats.index or other not in stats.index:
            return finding(claim, "not computed", missing=f"no {other!r} runs")
        ours, theirs = stats.loc["paired"], stats.loc[other]
        sd = float(np.nanmax([ours["std"], theirs["std"], 0.0]))
        words = (f"best layer {ours['mean']:.3f} ± {_sd(ours['std'])} vs {other} "
                 f"{theirs['mean']:.3f} ± {_sd(theirs['std'])} ({int(ours['count'])} seeds)")
        if sd_margin:
            words += f"; rule: margin > {sd_margin:g} sd"
        return finding(claim, words, ours["mean"] - theirs["mean"] > sd_margin * sd
                       and ours["mean"] > theirs["mean"])

    rows.append(versus("beats_random", "random init", sd_margin=2.0))
    rows.append(versus("beats_autoencoder", "autoencoder"))
    rows.append(versus("beats_self_pairs", "self pairs"))
    paired = accuracy[accuracy["variant"] == "paired"].set_index("seed")[list(LAYERS)]
    best_layers = paired.astype(float).idxmax(axis=1)
    rows.append(finding(BASELINE_CLAIMS["best_layer"],
                        ", ".join(f"seed {s}: {layer}" for s, layer in best_layers.items()),
                        len(best_layers) > 0 and best_layers.isin(INTERMEDIATE).all()))
    rows.append(_cell_lines(cell_lines))
    return findings_table(rows)


def _sd(value) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.3f}"


def _cell_lines(table: pd.DataFrame | None):
    claim = BASELINE_CLAIMS["cell_lines"]
    if table is None or OURS not in table.index:
        return finding(claim, "not computed", missing="needs two cell lines and class labels")
    difference = table["difference"].astype(float)
    words = ", ".join(f"{name} {value:+.3f}" for name, value in difference.items())
    # The paper's comparison: its classic features and its autoencoder (a feature set that
    # separates nothing, such as a random network, is trivially "robust").
    rivals = [name for name in TABLE2_RIVALS if name in difference.index]
    if not rivals:
        return finding(claim, words, missing="no classic or autoencoder row to compare with")
    return finding(claim, f"difference (different - same): {words}; rule: below "
                          + " and ".join(rivals),
                   difference[OURS] < difference[rivals].min())
