"""Paper vs. this book for the cytoself chapters: the paper's claims as data, verdicts from a run.

:func:`findings` reads the main chapter's measurements, :func:`ablation_findings` the ablation
study's table of variant means. Each returns the table the chapter ends with (see
:mod:`cellnb.findings`); every verdict can come out "no", and says "n/a" where the data lack the
ground truth a claim needs (real data have no complex table, no held-out protein, no masks).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ...findings import Claim, finding, findings_table

OURS = "cytoself (this run)"

CLAIMS = {c.key: c for c in (
    Claim("split", "split quantisation uses the global codebook more",
          "perplexity clearly higher with split (no number given)", "Fig. 1c"),
    Claim("gamma", "the atlas clusters by localisation",
          "Γ organelle 3.41 ± 0.18", "Fig. 2, Supp. Table 1"),
    Claim("complex", "subunits of a complex cluster together",
          "Γ complex 5.96 ± 0.25", "Fig. 3, Supp. Table 1"),
    Claim("knn", "the representation beats training-free ones",
          "not measured (the paper compares with Lu et al. 2019)", "our addition"),
    Claim("id", "identification fails, acceptably, where proteins share a localisation",
          "qualitative: identical localisations cannot be told apart",
          "Results, opening section"),
    Claim("orphan", "a protein never trained on is localised by its feature spectrum",
          "FAM241A assigned to the ER", "Fig. 4c–e"),
    Claim("zeroing", "zeroing one code changes the image where its pattern is",
          "qualitative (red regions on the pattern)", "Fig. 5"),
)}

ABLATION_CLAIMS = {c.key: c for c in (
    Claim("no_id", "without the identification task Γ collapses, lowest of all variants",
          "1.13 / 1.26 (class / complex), lowest at both levels", "Supp. Table 1"),
    Claim("full_best", "the full model is best", "3.41 / 5.96, best at both levels",
          "Supp. Table 1"),
    Claim("all_lower", "every ablation lowers Γ", "all six below the full model at both levels",
          "Supp. Table 1"),
    Claim("raw_nucleus", "a raw nucleus is worse than no nuclear channel",
          "3.17 < 3.35 (class), 4.90 < 5.38 (complex)", "Supp. Table 1"),
    Claim("levels", "class and complex level agree on the variants",
          "r = 0.977 over the 7 variants", "Fig. 6"),
)}


def findings(*, perplexity: dict, representations: pd.DataFrame, identification: dict,
             orphans: pd.DataFrame | None = None, zeroing: dict | None = None) -> pd.DataFrame:
    """The main chapter's paper-vs-book table.

    * ``perplexity``: ``epoch`` and, with and without split (``*_split`` / ``*_no_split``), the
      per-batch training perplexity (``batch_*``), and the validation perplexity over as many
      vectors as an unsplit quantiser makes (``equal_*``); the verdict reads the latter.
    * ``representations``: rows ``"cytoself (this run)"`` and the baselines; columns
      ``gamma_class``, ``gamma_complex``, ``knn_accuracy``.
    * ``identification``: :func:`~cellnb.papers.cytoself.evaluate.identification_report`'s dict.
    * ``orphans``: one row per held-out protein with ``protein``, ``true_class``, ``assigned``.
    * ``zeroing``: median enrichment of the change inside the pattern mask, ``strongest`` (the
      paper's peak) and ``specific`` (ours); None without masks.
    """
    p = perplexity
    rows = [finding(CLAIMS["split"],
                    f"after {p['epoch']} epochs: {p['equal_split']:.1f} with vs "
                    f"{p['equal_no_split']:.1f} without over equal numbers of validation vectors "
                    f"(per batch: {p['batch_split']:.1f} vs {p['batch_no_split']:.1f})",
                    p["equal_split"] > p["equal_no_split"])]
    table = representations
    others = [name for name in table.index if name != OURS]

    def best_of(column: str, level: str) -> tuple[str, bool]:
        values = table[column].astype(float)
        words = f"{level} {values[OURS]:.2f} (" + ", ".join(
            f"{name} {values[name]:.2f}" for name in others) + ")"
        return words, bool(values[OURS] > values[others].max())

    words, holds = best_of("gamma_class", "Γ class")
    rows.append(finding(CLAIMS["gamma"], words, holds))
    words, holds = best_of("gamma_complex", "Γ complex")
    rows.append(finding(CLAIMS["complex"], words, holds,
                        missing=None if np.isfinite(float(table.loc[OURS, "gamma_complex"]))
                        else "no complex labels"))
    words, holds = best_of("knn_accuracy", "k-NN accuracy")
    rows.append(finding(CLAIMS["knn"], words, holds))

    i = identification
    chance = i.get("chance_wrong_same_complex", math.nan)
    rows.append(finding(
        CLAIMS["id"],
        f"top-1 {i['top1']:.3f} (chance {i['chance_top1']:.3f}); "
        f"{i.get('share_wrong_same_complex', math.nan):.2f} of the errors name a complex partner "
        f"(chance {chance:.2f})",
        i["top1"] > 2 * i["chance_top1"] and i.get("share_wrong_same_complex", 0) > chance,
        missing=None if np.isfinite(chance) and chance > 0 else "no complexes"))

    if orphans is None or not len(orphans):
        rows.append(finding(CLAIMS["orphan"], "no protein held out", missing="no held-out protein"))
    else:
        words = "; ".join(f"{r.protein} ({r.true_class}) → {r.assigned}" for r in orphans.itertuples())
        rows.append(finding(CLAIMS["orphan"], words,
                            bool((orphans.assigned == orphans.true_class).all())))

    if zeroing is None:
        rows.append(finding(CLAIMS["zeroing"], "no pattern masks", missing="no pattern masks"))
    else:
        rows.append(finding(
            CLAIMS["zeroing"],
            f"median enrichment of the change inside the pattern mask {zeroing['strongest']:.2f} "
            f"with the paper's strongest peak ({zeroing['specific']:.2f} with the most specific "
            f"code, our rule); > 1 means on the pattern",
            zeroing["strongest"] > 1))
    return findings_table(rows)


def level_correlation(table: pd.DataFrame) -> float:
    """Pearson r between class- and complex-level Γ over the **variant means** (the paper's
    r = 0.977 fits its 7 variants, Fig. 6), NaN without complex labels."""
    both = table[["gamma_class", "gamma_complex"]].astype(float).dropna()
    if len(both) < 3:
        return math.nan
    return float(np.corrcoef(both.gamma_class, both.gamma_complex)[0, 1])


def ablation_findings(table: pd.DataFrame) -> pd.DataFrame:
    """The ablation chapter's paper-vs-book table from the variant means (``ablation_table``)."""
    levels = [level for level in ("class", "complex")
              if table[f"gamma_{level}"].astype(float).notna().all()]
    missing = None if levels == ["class", "complex"] else "no complex labels"
    gamma = {level: table[f"gamma_{level}"].astype(float) for level in levels}
    rank = {level: values.rank(ascending=False, method="min").astype(int)
            for level, values in gamma.items()}
    n = len(table)

    def per_level(words) -> str:
        return "; ".join(f"{level}: {words(level)}" for level in levels)

    rows = [
        finding(ABLATION_CLAIMS["no_id"],
                per_level(lambda lv: f"rank {rank[lv]['no_id_task']} of {n}, "
                          f"Γ {gamma[lv]['no_id_task']:.2f}"),
                all(rank[lv]["no_id_task"] == n for lv in levels)),
        finding(ABLATION_CLAIMS["full_best"],
                per_level(lambda lv: f"rank {rank[lv]['full']}, Γ {gamma[lv]['full']:.2f}"),
                all(rank[lv]["full"] == 1 for lv in levels)),
    ]
    below = {lv: int((gamma[lv].drop(index="full") < gamma[lv]["full"]).sum()) for lv in levels}
    rows.append(finding(ABLATION_CLAIMS["all_lower"],
                        per_level(lambda lv: f"{below[lv]} of {n - 1} below the full model"),
                        all(below[lv] == n - 1 for lv in levels)))
    if {"raw_nucleus", "no_nuclear_channel"} <= set(table.index):
        rows.append(finding(
            ABLATION_CLAIMS["raw_nucleus"],
            per_level(lambda lv: f"{gamma[lv]['raw_nucleus']:.2f} vs "
                      f"{gamma[lv]['no_nuclear_channel']:.2f}"),
            all(gamma[lv]["raw_nucleus"] < gamma[lv]["no_nuclear_channel"] for lv in levels)))
    r = level_correlation(table)
    rows.append(finding(ABLATION_CLAIMS["levels"], f"r = {r:.3f} over the {n} variant means",
                        r > 0.8, missing=missing))
    return findings_table(rows)
