"""Ground-truth consistency of generated fission-yeast cells: what the paper could not measure.

Osokin, Chessel, Carazo Salas & Vaggi, "GANs for Biological Image Synthesis" (ICCV 2017), judge
generated cells with the two-sample test (Section 5.1), reconstructions (Section 5.2) and the
eye (Figs. 1, 4-7): on real data nobody knows which green belongs with which red. Section 3.2
says what a correct cell shows: its length grows with its age, the red (Bgs4) marks where it
grows, hence its stage, and each protein has its place at each stage. On SynthPombe cells those
rules are known (``cellnb.sim.pombe``) and can be read back from any image's pixels
(``cellnb.sim.pombe_measure``), so generated cells can be checked against them:

* :func:`length_comparison` - the length distribution against the real one: the 1-Wasserstein
  distance in micrometres, the Kolmogorov-Smirnov statistic, and the signed shift of the mean.
* :func:`stage_comparison`, :func:`stage_coverage` - how often each stage is generated against
  how often it is real: a mode-coverage test (real cells divide 20 % of the time; a generator
  that drops the rare dividing mode shows it here).
* :func:`rule_comparison` - per class, the share of cells whose green follows the class's rule
  at the stage read from the red, generated against real.
* :func:`cross_class_consistency`, :func:`cross_class_rates` - for a multi-green output (the
  star model's (B, K + 1, H, W), Section 4.2, or a multi-channel one trained on nearest-neighbour
  composites): every green k checked against class k's rule at the stage of the one shared red.
  Section 4.2 argues the star model's greens fit their red by construction, while a
  composite's come from other cells; this measures it.
* :func:`consistency_report` - all of them, per class and pooled.

Everything takes images (N, C, H, W) in [-1, 1] (arrays or tensors) or readings already made
by :func:`cellnb.sim.pombe_measure.measure_pombe`, and returns dicts and DataFrames.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ...sim.pombe import POMBE_STAGES
from ...sim.pombe_measure import measure_pombe, rule_consistency

STAGES = POMBE_STAGES + ("unknown",)      # "unknown": no cell found in the image
POOLED = "all"                           # the label of rows pooled over the classes
COVERAGE_THRESHOLD = 0.5                 # a stage generated at under half its real rate


# ------------------------------------------------------------------------------- readings

def _as_array(images) -> np.ndarray:
    if hasattr(images, "detach"):                      # a torch tensor, on any device
        images = images.detach().float().cpu().numpy()
    return np.asarray(images, np.float32)


def readings_of(images_or_readings) -> pd.DataFrame:
    """The per-cell readings of :func:`measure_pombe`; readings given are passed through."""
    if isinstance(images_or_readings, pd.DataFrame):
        return images_or_readings
    return measure_pombe(_as_array(images_or_readings))


# --------------------------------------------------------------------------------- length

def _lengths(readings: pd.DataFrame) -> np.ndarray:
    lengths = readings.length_um.to_numpy(float)
    return lengths[np.isfinite(lengths)]


def length_comparison(generated, real) -> dict[str, float]:
    """Generated against real cell lengths (micrometres, read from the red).

    ``w1_um``: the 1-Wasserstein distance (the mean distance a length must move), 0 for equal
    distributions; ``ks``: the Kolmogorov-Smirnov statistic (the largest gap between the two
    cumulative distributions) and its ``ks_pvalue``; ``mean_shift_um`` = mean generated - mean
    real (negative: generated cells too short); ``unmeasured_generated``: the share of
    generated images in which no cell was found (left out of the rest).
    """
    generated, real = readings_of(generated), readings_of(real)
    gen_lengths, real_lengths = _lengths(generated), _lengths(real)
    result = dict(n_generated=len(generated), n_real=len(real),
                  unmeasured_generated=1 - len(gen_lengths) / max(len(generated), 1),
                  mean_generated_um=_mean(gen_lengths), mean_real_um=_mean(real_lengths))
    result["mean_shift_um"] = result["mean_generated_um"] - result["mean_real_um"]
    if len(gen_lengths) and len(real_lengths):
        test = stats.ks_2samp(gen_lengths, real_lengths)
        return result | dict(w1_um=float(stats.wasserstein_distance(gen_lengths, real_lengths)),
                             ks=float(test.statistic), ks_pvalue=float(test.pvalue))
    return result | dict(w1_um=np.nan, ks=np.nan, ks_pvalue=np.nan)


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else float("nan")


# --------------------------------------------------------------------------------- stages

def stage_frequencies(images_or_readings) -> pd.Series:
    """The share of cells read as each stage (monopolar, bipolar, dividing, unknown)."""
    stage = readings_of(images_or_readings).stage
    return stage.value_counts(normalize=True).reindex(list(STAGES), fill_value=0.0) \
        .rename("share").rename_axis("stage")


def stage_comparison(generated, real) -> pd.DataFrame:
    """One row per stage: its share among generated and real cells, their difference and
    ratio (generated / real; 0 for a stage never generated, NaN for one never real)."""
    table = pd.DataFrame(dict(generated=stage_frequencies(generated),
                              real=stage_frequencies(real)))
    table["difference"] = table.generated - table.real
    table["ratio"] = table.generated / table.real.where(table.real > 0)
    return table


def stage_coverage(generated, real, *, threshold: float = COVERAGE_THRESHOLD) -> dict:
    """Mode coverage in one dict: the dividing share generated and real and their ratio
    (``dividing_coverage``, 1 when matched), the total variation distance between the stage
    distributions (0 equal, 1 disjoint) and the ``under_covered`` stages, generated at under
    ``threshold`` times their real share."""
    table = stage_comparison(generated, real)
    real_stages = table[table.real > 0]
    under = real_stages.index[real_stages.generated < threshold * real_stages.real]
    return dict(dividing_generated=float(table.generated["dividing"]),
                dividing_real=float(table.real["dividing"]),
                dividing_coverage=float(table.ratio["dividing"]),
                stage_total_variation=float(0.5 * table.difference.abs().sum()),
                under_covered=list(under))


# ---------------------------------------------------------------------------- class rules

def _rule_hits(images_or_readings, class_name: str) -> np.ndarray:
    return rule_consistency(readings_of(images_or_readings), class_name)


def _share(hits: np.ndarray) -> float:
    return float(np.mean(hits)) if len(hits) else np.nan


def rule_rate(images_or_readings, class_name: str) -> float:
    """The share of cells whose green follows ``class_name``'s rule at their red's stage."""
    return _share(_rule_hits(images_or_readings, class_name))


def rule_comparison(generated_by_class: Mapping[str, object],
                    real_by_class: Mapping[str, object]) -> pd.DataFrame:
    """Per class, and pooled over all cells (``"all"``): the rule-consistency rate of generated
    cells and of real ones, and generated - real (near 0 for a generator that learnt the rule
    as well as the data show it; the real rate is below 1 where the reading itself errs)."""
    hits = {source: {name: _rule_hits(images[name], name) for name in generated_by_class}
            for source, images in (("generated", generated_by_class), ("real", real_by_class))}
    table = pd.DataFrame({source: {name: _share(h) for name, h in per_class.items()}
                          for source, per_class in hits.items()})
    table.loc[POOLED] = [_share(np.concatenate(list(per_class.values())))
                         for per_class in hits.values()]
    table["difference"] = table.generated - table.real
    return table.rename_axis("class_name")


# --------------------------------------------------------------------- multi-green outputs

def red_green_pairs(multi_green) -> np.ndarray:
    """(B, K + 1, H, W) red-then-greens images -> (K, B, 2, H, W): (red, green_k) pairs."""
    images = _as_array(multi_green)
    if images.ndim != 4 or images.shape[1] < 2:
        raise ValueError(f"expected multi-green images (B, 1 + K, H, W), red first, got shape "
                         f"{images.shape}")
    red, greens = images[:, :1], images[:, 1:]
    return np.stack([np.concatenate([red, greens[:, [k]]], axis=1)
                     for k in range(greens.shape[1])])


def cross_class_consistency(multi_green, class_names: Sequence[str]) -> pd.DataFrame:
    """Per cell and class, whether green k follows class k's rule at the stage read from the
    shared red: a boolean table (B rows, one column per class, in ``class_names``' order)."""
    pairs = red_green_pairs(multi_green)
    if len(pairs) != len(class_names):
        raise ValueError(f"the images have {len(pairs)} greens but {len(class_names)} class "
                         f"names were given: {list(class_names)}; give one name per green")
    return pd.DataFrame({name: rule_consistency(measure_pombe(pair), name)
                         for name, pair in zip(class_names, pairs)})


def cross_class_rates(multi_green, class_names: Sequence[str]) -> pd.Series:
    """Per class, the share of cells whose green k fits the shared red, and (``POOLED``) the
    share of cells whose greens all do."""
    consistent = cross_class_consistency(multi_green, class_names)
    rates = consistent.mean()
    rates[POOLED] = consistent.all(axis=1).mean()
    return rates.astype(float).rename("cross_class_consistency")


# ----------------------------------------------------------------------------- the report

def _class_readings(images_by_class: Mapping[str, object],
                    class_names: Sequence[str]) -> dict[str, pd.DataFrame]:
    missing = [name for name in class_names if name not in images_by_class]
    if missing:
        raise ValueError(f"no images for classes {missing}; have {list(images_by_class)}")
    return {name: readings_of(images_by_class[name]) for name in class_names}


def _with_pooled(readings: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return readings | {POOLED: pd.concat(list(readings.values()), ignore_index=True)}


def _summary_row(generated: pd.DataFrame, real: pd.DataFrame) -> dict:
    length = length_comparison(generated, real)
    coverage = stage_coverage(generated, real)
    return dict(n_generated=length["n_generated"], n_real=length["n_real"],
                length_w1_um=length["w1_um"], length_ks=length["ks"],
                length_shift_um=length["mean_shift_um"],
                dividing_generated=coverage["dividing_generated"],
                dividing_real=coverage["dividing_real"],
                stage_total_variation=coverage["stage_total_variation"])


def _stage_table(generated: dict, real: dict) -> pd.DataFrame:
    tables = [stage_comparison(generated[name], real[name]).assign(class_name=name)
              for name in generated]
    return pd.concat(tables).reset_index().set_index(["class_name", "stage"])


def _cross_class_table(multi_green, real_multi_green, class_names) -> pd.DataFrame:
    table = pd.DataFrame(dict(generated=cross_class_rates(multi_green, class_names)))
    if real_multi_green is not None:
        table["real"] = cross_class_rates(real_multi_green, class_names)
    return table.rename_axis("class_name")


def consistency_report(generated_by_class: Mapping[str, object],
                       real_by_class: Mapping[str, object],
                       class_names: Sequence[str] | None = None, *, multi_green=None,
                       real_multi_green=None) -> dict[str, pd.DataFrame]:
    """Every ground-truth check of generated cells against real ones, per class.

    ``generated_by_class`` and ``real_by_class``: class -> (red, green) images (N, 2, H, W) in
    [-1, 1], or their readings. ``multi_green`` (optional): a multi-green output (B, K + 1, H,
    W) whose greens follow ``class_names``; ``real_multi_green`` its ground-truth counterpart
    (e.g. ``cellnb.sim.pombe.render_all_greens`` of real cells).

    Returns DataFrames: ``summary`` (one row per class and ``"all"`` pooled: length W1, KS and
    shift, dividing shares, stage total variation, rule rates and, with ``multi_green``, the
    cross-class rates), ``stages`` (class x stage shares), ``rules`` (per-class rates) and,
    with ``multi_green``, ``cross_class``.
    """
    class_names = list(class_names or generated_by_class)
    generated = _class_readings(generated_by_class, class_names)
    real = _class_readings(real_by_class, class_names)
    generated_all, real_all = _with_pooled(generated), _with_pooled(real)
    summary = pd.DataFrame.from_dict(
        {name: _summary_row(generated_all[name], real_all[name]) for name in generated_all},
        orient="index").rename_axis("class_name")
    rules = rule_comparison(generated, real)
    summary["rule_generated"], summary["rule_real"] = rules.generated, rules.real
    report = dict(summary=summary, stages=_stage_table(generated_all, real_all), rules=rules)
    if multi_green is not None:
        cross = _cross_class_table(multi_green, real_multi_green, class_names)
        for column in cross:
            summary[f"cross_class_{column}"] = cross[column]
        report["cross_class"] = cross
    return report
