"""Paper vs. this book for the BioGANs chapter (Osokin, Chessel, Carazo Salas & Vaggi, ICCV 2017):
the paper's claims as data, the verdicts computed from a run.

Two tables end the chapter's two notebooks (see :mod:`cellnb.findings`):

* :func:`findings` (claims :data:`CLAIMS`), the main chapter: the separable generator (Sec. 4.2),
  the C2ST along training and GAN against WGAN-GP (Sec. 5.1, Figs. 3-4), the reconstruction
  experiment (Sec. 5.2, Table 3) and the walk through the cell cycle (Sec. 5.3, Fig. 7), plus
  what the paper judged by eye and a simulator with a ground truth lets us measure: the
  generated cells' lengths, stages and class rules.
* :func:`comparison_findings` (claims :data:`COMPARISON_CLAIMS`), the model-comparison
  notebook: Table 1's real-vs-real matrix and Table 2's multi-channel models.

The inputs are the numbers the chapter's analyses (:mod:`.analysis`) produce: dicts and
DataFrames, a :class:`.c2st.TwinCheck`, :func:`.consistency.consistency_report`'s summary, an
:class:`.interpolation.InterpolationCheck`'s summary; the functions' docstrings say what each
holds. No verdict is decided by hand: each follows from the numbers by the rule its words state,
so every one can come out "no". A measurement that is missing (None, or NaN) gives "n/a (why)".
The paper's column quotes the paper's own numbers (Fig. 3, Tables 1-3) from :mod:`.paper`;
they pass every rule they can feed.
"""
from __future__ import annotations

import pandas as pd

from ...findings import Claim, finding, findings_table
from .consistency import POOLED
from .paper import (
    FIG3,
    GAN,
    GAUSSIAN,
    MODEL_NAMES,
    NEAREST,
    REGULAR,
    SEPARABLE,
    STAR,
    TABLE1,
    TABLE2,
    TABLE3,
    TWINS,
    WGAN_GP,
)

# --- thresholds ------------------------------------------------------------------------------
# separable: the red tower never sees z_green (Sec. 4.2, Fig. 2), so resampling z_green must not
# move a single red pixel: not even round-off is allowed.
RED_CHANGE = 0.0
# lengths: Wasserstein-1 distance between generated and real cell lengths, pooled over classes.
# Real cells grow from 7 to 14 µm (Sec. 3.2), a spread with an SD near 2 µm: 1 µm is half of it.
LENGTH_W1_UM = 1.0
# mode_coverage: the rare dividing stage must be generated at least half as often as it is
# seen; a generator that dropped that mode (Sec. 5.2's mode collapse) scores near 0.
DIVIDING_SHARE = 0.5
# rules, star_consistency: a generated class may follow its rule up to 15 points less often
# than real cells; the rule reader itself misreads some real cells (their rate is below 1).
RULE_GAP = 0.15
# latent_likelihood: Fig. 6 draws the prior's mean +- 3 std as the band of typical latents.
NLL_SPREADS = 3.0
# walk_grows: Spearman of measured length with the step; 0.8 leaves room for a few frames whose
# length reading is noisy (a septum, a tip out of focus) in an otherwise growing cell.
WALK_SPEARMAN = 0.8
# one_class_best: Table 2's class averages carry spreads of 0.1-0.2 and its classes tie (Alp14:
# one-class 0.6, star-shaped 0.6), so a one-class average within 0.25 of the star's is a tie,
# not a loss; against the multi-channel models (3.7 / 3.8) the paper's gap is far larger.
ONE_CLASS_TOLERANCE = 0.25
# composite_inconsistent: the star's greens must fit their red in 10 points more cells than the
# composites' do: about two standard errors of a difference of two shares over 200 cells each.
CONSISTENCY_MARGIN = 0.1

# --- names -----------------------------------------------------------------------------------
# The models, tasks and reference rows are :mod:`.paper`'s names: GAN and WGAN_GP (Fig. 3's, and
# training_c2st's), STAR, NEAREST, GAUSSIAN, REGULAR and SEPARABLE (Table 3's), and MODEL_NAMES
# (Table 2's columns, the model names of a model table).
ONE_CLASS = (MODEL_NAMES["one_class"], MODEL_NAMES["one_class_sep"])
MULTICHANNEL = (MODEL_NAMES["multichannel"], MODEL_NAMES["multichannel_sep"])
# The cross-class table's rows compared by composite_inconsistent.
STAR_SOURCE, COMPOSITE_SOURCE = "star-shaped", "composite training set"


def _percent(value: float) -> str:
    return f"{100 * value:.3g} %"


def _absent(value) -> bool:
    """None or NaN: the number was not measured."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _steps(iterations) -> str:
    """1000, 5000, 50000 -> "1k / 5k / 50k"."""
    return " / ".join(f"{int(i) // 1000}k" if i and i % 1000 == 0 else f"{int(i)}"
                      for i in iterations)


def _by_model(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """A C2ST-along-training table's measured rows per model (in order of appearance), each
    sorted by iteration."""
    measured = table.dropna(subset=["mean"]).sort_values("iteration", kind="stable")
    return dict(list(measured.groupby("model", sort=False)))


def _trajectories(table: pd.DataFrame, decimals: int = 1) -> str:
    """"GAN 11.0 -> 6.7 -> 3.2 at 1k / 5k / 50k", one model after another."""
    return ", ".join(f"{model} " + " -> ".join(f"{m:.{decimals}f}" for m in rows["mean"])
                     + f" at {_steps(rows.iteration)}"
                     for model, rows in _by_model(table).items())


def _paper_wgan_vs_gan() -> str:
    runs = _by_model(FIG3)
    return (" vs ".join(f"{model} " + " / ".join(f"{m:.1f}" for m in runs[model]["mean"])
                        for model in (WGAN_GP, GAN))
            + f" at {_steps(runs[GAN].iteration)} steps")


def _paper_table_3(task: str, model: str) -> str:
    row = TABLE3[(TABLE3.task == task) & (TABLE3.model == model)].iloc[0]
    return f"{row.rmse_median:g} ± {row.rmse_mad:g}"


def _paper_nll(model: str) -> str:
    row = TABLE3[TABLE3.model == model].iloc[0]
    return f"{row.nll_median:g} ± {row.nll_mad:g}"


def _paper_separable() -> str:
    regular = TABLE3[TABLE3.task == REGULAR].set_index("model").rmse_median
    separable = TABLE3[TABLE3.task == SEPARABLE].set_index("model").rmse_median
    return ", ".join(f"{model} {separable[model]:g} vs {regular[model]:g}"
                     for model in separable.index)


def _paper_off_diagonal() -> pd.DataFrame:
    """Table 1 without its diagonal."""
    same = pd.DataFrame([[a == b for b in TABLE1.columns] for a in TABLE1.index],
                        index=TABLE1.index, columns=TABLE1.columns)
    return TABLE1.mask(same)


def _paper_diagonal() -> str:
    diagonal = pd.Series([TABLE1.loc[name, name] for name in TABLE1.index])
    off = _paper_off_diagonal().stack()
    return (f"diagonal {diagonal.min():g} ... {diagonal.max():g} (other entries {off.min():g} "
            f"... {off.max():g})")


def _paper_twins() -> str:
    directions = [pair for a, b in TWINS.items() for pair in ((a, b), (b, a))]
    others = _paper_off_diagonal().stack().drop(directions)
    twins = ", ".join(f"{a}/{b} {TABLE1.loc[a, b]:g} / {TABLE1.loc[b, a]:g}"
                      for a, b in TWINS.items())
    return f"{twins}; other pairs >= {others.min():g}"


def _paper_table_2(names) -> str:
    average = TABLE2.iloc[-1]
    return ", ".join(f"{name} {average[name]:g}" for name in names)


CLAIMS = {c.key: c for c in (
    Claim("separable", "in the separable generator the red does not depend on z_green",
          "by construction (one-way connections from red to green)", "Sec. 4.2, Fig. 2"),
    Claim("c2st_falls", "the C2ST score falls along training",
          f"separable {_trajectories(FIG3)}", "Sec. 5.1, Fig. 3"),
    Claim("wgan_below_gan", "WGAN-GP scores at or below the GAN at every checkpoint",
          _paper_wgan_vs_gan(), "Sec. 5.1, Fig. 3"),
    Claim("diversity", "WGAN-GP generates more varied greens for one red than the GAN, whose "
          "conditional modes collapse", "qualitative (much larger variability of the green "
          "given the red); C2ST 1.6 vs 3.2", "Sec. 5.1, Fig. 4"),
    Claim("lengths", "generated cells have the real cells' lengths",
          "not measured (judged by eye; real cells grow from 7 to 14 µm)",
          "Sec. 3.2, Figs. 1, 7"),
    Claim("mode_coverage", "every stage is generated, the rare dividing one too",
          "not measured (mode collapse discussed)", "Secs. 5.1-5.2"),
    Claim("rules", "each protein's green follows its rule at the stage its red shows",
          "qualitative (the red's Bgs4 marks the stage)", "Sec. 3.2, Fig. 1"),
    Claim("star_consistency", "the star-shaped model's greens all fit the one red they share",
          "design argument (greens independent given the red), not measured", "Sec. 4.2"),
    Claim("reconstruction_nn", "the WGAN-GP star model reconstructs held-out cells closer than "
          "their nearest training neighbour",
          f"RMSE {_paper_table_3(REGULAR, STAR)} vs {_paper_table_3('-', NEAREST)}",
          "Sec. 5.2, Table 3"),
    Claim("separable_harder", "separable reconstruction (red first, then green) errs more than "
          "regular", f"RMSE separable vs regular: {_paper_separable()}", "Sec. 5.2, Table 3"),
    Claim("latent_likelihood", "the latents found are about as likely under the prior as its own "
          "draws", f"{STAR} NLL {_paper_nll(STAR)} vs {GAUSSIAN} {_paper_nll(GAUSSIAN)}",
          "Sec. 5.2, Table 3, Fig. 6"),
    Claim("walk_grows", "a walk through the latent space from a small cell to a dividing one "
          "grows the cell", "qualitative (a cell grows and divides)", "Sec. 5.3, Fig. 7"),
    Claim("actin_moves", "along that walk the actin-like protein leaves the tips for the middle "
          "when the red shows the septum",
          "qualitative (Arp3 moves from the tips to the middle in mitosis)", "Sec. 5.3, Fig. 7"),
)}

COMPARISON_CLAIMS = {c.key: c for c in (
    Claim("diagonal", "a class's test cells against its own training cells score about 0",
          _paper_diagonal(), "Sec. 5.1, Table 1"),
    Claim("twins", "designed near-twins are each other's nearest class, above the diagonal",
          _paper_twins(), "Sec. 5.1, Table 1"),
    Claim("real_lowest", "held-out real cells score lowest of all sources",
          f"6 proteins: {_paper_table_2(MODEL_NAMES.values())}", "Sec. 5.1, Table 2"),
    Claim("one_class_best", "unsynchronised one-class models score best among the models",
          f"6 proteins: {_paper_table_2(ONE_CLASS + (MODEL_NAMES['star'],) + MULTICHANNEL)}",
          "Sec. 5.1, Table 2"),
    Claim("star_beats_multichannel", "among synchronised models the star-shaped one is best",
          f"6 proteins: {_paper_table_2((MODEL_NAMES['star'],) + MULTICHANNEL)}",
          "Sec. 5.1, Table 2"),
    Claim("composite_inconsistent", "the nearest-neighbour composites' greens do not fit their "
          "red, the star's do", "argument, not measured (the composites' extra greens are "
          "\"not exactly consistent with the original red\")", "Sec. 4.2"),
)}


def _not_measured(key: str, why: str = "not measured", claims: dict | None = None):
    return finding((claims or CLAIMS)[key], "not computed", missing=why)


# --- the main chapter ------------------------------------------------------------------------

def findings(*, separability: dict | None = None, training_c2st: pd.DataFrame | None = None,
             diversity: dict | None = None, consistency: pd.DataFrame | None = None,
             reconstruction: pd.DataFrame | None = None,
             interpolation: dict | None = None) -> pd.DataFrame:
    """The chapter's paper-vs-book table, one row per claim of :data:`CLAIMS`.

    * ``separability``: ``max_red_change`` (the largest |change| of a red pixel) and
      ``green_change`` (the mean |change| of a green pixel) when z_green is resampled with z_red
      fixed, in the separable generator.
    * ``training_c2st``: columns ``model`` ("GAN" or "WGAN-GP"), ``iteration``, ``mean``,
      ``std``: one row per model and generator snapshot (Fig. 3's layout).
    * ``diversity``: ``gan``, ``wgan_gp`` and ``real`` (None if not measured): the mean
      per-pixel standard deviation of the green among samples that share z_red (Fig. 4).
    * ``consistency``: :func:`.consistency.consistency_report`'s ``summary`` (index the classes
      and the pooled row "all"; length, stage and rule columns, and the ``cross_class_...``
      columns when a multi-green output was checked).
    * ``reconstruction``: Table 3's layout: columns ``task`` ("regular", "separable" or "-"),
      ``model`` (e.g. "WGAN-GP-star", "GAN-sep", "nearest neighbour", "Gaussian noise"),
      ``rmse_median``, ``rmse_mad``, ``nll_median``, ``nll_mad`` (NaN where they do not
      apply). The "Gaussian noise" row's ``nll_mad`` holds the standard deviation of the
      prior's own NLL (:func:`.reconstruction.gaussian_nll_reference`), the spread the
      latents' NLL is held to.
    * ``interpolation``: :meth:`.interpolation.InterpolationCheck.summary`'s dict
      (``length_spearman``, ``septum_step``, ``actin_switched``, ``tips_stay``).
    Any of them None: that claim's verdict is "n/a" with the reason.
    """
    return findings_table([
        _separable(separability), _c2st_falls(training_c2st), _wgan_below_gan(training_c2st),
        _diversity(diversity), _lengths(consistency), _mode_coverage(consistency),
        _rules(consistency), _star_consistency(consistency), _reconstruction_nn(reconstruction),
        _separable_harder(reconstruction), _latent_likelihood(reconstruction),
        _walk_grows(interpolation), _actin_moves(interpolation)])


def _separable(separability: dict | None):
    if separability is None:
        return _not_measured("separable")
    red, green = separability["max_red_change"], separability["green_change"]
    if _absent(red) or _absent(green):
        return _not_measured("separable")
    words = (f"resampling z_green moves red pixels by at most {red:.3g} and green pixels by "
             f"{green:.3g} on average; rule: red unchanged (<= {RED_CHANGE:g}), green changed")
    return finding(CLAIMS["separable"], words, red <= RED_CHANGE and green > 0)


def _c2st_falls(table: pd.DataFrame | None):
    if table is None:
        return _not_measured("c2st_falls")
    every = _by_model(table)
    runs = {model: rows for model, rows in every.items() if len(rows) >= 2}
    if not runs:
        return _not_measured("c2st_falls", "fewer than two snapshots per model")
    single = [model for model in every if model not in runs]
    words = (_trajectories(pd.concat(runs.values()), decimals=2)
             + "".join(f"; {model}: one snapshot" for model in single)
             + "; rule: every model's score at its last snapshot below its first")
    return finding(CLAIMS["c2st_falls"], words,
                   all(rows["mean"].iloc[-1] < rows["mean"].iloc[0] for rows in runs.values()))


def _wgan_below_gan(table: pd.DataFrame | None):
    if table is None:
        return _not_measured("wgan_below_gan")
    runs = _by_model(table)
    if GAN not in runs or WGAN_GP not in runs:
        return _not_measured("wgan_below_gan", "not both models scored")
    gan, wgan = (runs[name].set_index("iteration")["mean"] for name in (GAN, WGAN_GP))
    common = [i for i in wgan.index if i in gan.index]
    if not common:
        return _not_measured("wgan_below_gan", "no common iteration")
    words = ("C2ST WGAN-GP vs GAN: "
             + ", ".join(f"{wgan[i]:.2f} vs {gan[i]:.2f} at {_steps([i])}" for i in common))
    if gan.index.max() > max(common):
        words += f"; the GAN reaches {gan.iloc[-1]:.2f} at its last iteration {_steps([gan.index[-1]])}"
    words += "; rule: WGAN-GP <= GAN at every common iteration"
    return finding(CLAIMS["wgan_below_gan"], words, all(wgan[i] <= gan[i] for i in common))


def _diversity(diversity: dict | None):
    if diversity is None or _absent(diversity.get("gan")) or _absent(diversity.get("wgan_gp")):
        return _not_measured("diversity")
    gan, wgan, real = diversity["gan"], diversity["wgan_gp"], diversity.get("real")
    words = (f"mean per-pixel SD of the green among samples sharing z_red: WGAN-GP {wgan:.3g}, "
             f"GAN {gan:.3g}" + ("" if _absent(real) else f" (real cells {real:.3g})")
             + "; rule: WGAN-GP above the GAN")
    return finding(CLAIMS["diversity"], words, wgan > gan)


def _pooled(summary: pd.DataFrame | None, *columns: str):
    """The pooled ("all") row of a consistency summary, None where it or a column is absent."""
    if summary is None or POOLED not in summary.index:
        return None
    row = summary.loc[POOLED]
    if any(column not in row or _absent(row[column]) for column in columns):
        return None
    return row


def _lengths(summary: pd.DataFrame | None):
    row = _pooled(summary, "length_w1_um")
    if row is None:
        return _not_measured("lengths")
    words = f"all classes: length W1 {row.length_w1_um:.2f} µm"
    details = [f"{label} {row[column]:{spec}}{unit}" for column, label, spec, unit in (
        ("length_ks", "KS", ".2f", ""), ("length_shift_um", "mean shift", "+.2f", " µm"))
        if column in row and not _absent(row[column])]
    if details:
        words += f" ({', '.join(details)})"
    words += f" between generated and real cells; rule: W1 <= {LENGTH_W1_UM:g} µm"
    return finding(CLAIMS["lengths"], words, row.length_w1_um <= LENGTH_W1_UM)


def _mode_coverage(summary: pd.DataFrame | None):
    row = _pooled(summary, "dividing_generated", "dividing_real")
    if row is None:
        return _not_measured("mode_coverage")
    if row.dividing_real <= 0:
        return _not_measured("mode_coverage", "no dividing real cells")
    generated, real = row.dividing_generated, row.dividing_real
    words = f"dividing cells: {_percent(generated)} generated vs {_percent(real)} real"
    if "stage_total_variation" in row and not _absent(row.stage_total_variation):
        words += f" (stage total variation {row.stage_total_variation:.2f})"
    words += f"; rule: >= {DIVIDING_SHARE:g}x the real share"
    return finding(CLAIMS["mode_coverage"], words, generated >= DIVIDING_SHARE * real)


def _per_class(summary: pd.DataFrame | None, generated: str, real: str) -> pd.DataFrame | None:
    """The classes' (not "all") rows of two columns, rows with a NaN dropped; None if absent."""
    if summary is None or generated not in summary or real not in summary:
        return None
    rates = summary.drop(index=POOLED, errors="ignore")[[generated, real]].astype(float).dropna()
    return rates if len(rates) else None


def _rates_words(rates: pd.DataFrame) -> str:
    return ", ".join(f"{name} {_percent(generated)} vs {_percent(real)}"
                     for name, (generated, real) in rates.iterrows())


def _rules(summary: pd.DataFrame | None):
    rates = _per_class(summary, "rule_generated", "rule_real")
    if rates is None:
        return _not_measured("rules")
    words = (f"green follows its class rule, generated vs real: {_rates_words(rates)}; "
             f"rule: every class >= real - {RULE_GAP:g}")
    return finding(CLAIMS["rules"], words,
                   (rates.rule_generated >= rates.rule_real - RULE_GAP).all())


def _star_consistency(summary: pd.DataFrame | None):
    if summary is None:
        return _not_measured("star_consistency")
    if "cross_class_generated" not in summary:
        return _not_measured("star_consistency", "no multi-green output checked")
    rates = _per_class(summary, "cross_class_generated", "cross_class_real")
    if rates is None:
        return _not_measured("star_consistency", "no real cells with every green")
    words = f"green k fits the shared red, generated vs real: {_rates_words(rates)}"
    pooled = _pooled(summary, "cross_class_generated", "cross_class_real")
    if pooled is not None:
        words += (f"; all greens at once {_percent(pooled.cross_class_generated)} vs "
                  f"{_percent(pooled.cross_class_real)}")
    words += f"; rule: every class >= real - {RULE_GAP:g}"
    return finding(CLAIMS["star_consistency"], words,
                   (rates.cross_class_generated >= rates.cross_class_real - RULE_GAP).all())


def _reference(table: pd.DataFrame, model: str, column: str):
    """A reference row's (nearest neighbour, Gaussian noise) value, whatever its task."""
    values = table.loc[table.model == model, column].dropna()
    return float(values.iloc[0]) if len(values) else None


def _model_value(table: pd.DataFrame, task: str, model: str, column: str):
    values = table.loc[(table.task == task) & (table.model == model), column].dropna()
    return float(values.iloc[0]) if len(values) else None


def _spread(table: pd.DataFrame, task: str, model: str, column: str) -> str:
    """" ± 0.005" after a median when the table holds its spread."""
    spread = (_reference(table, model, column) if task is None
              else _model_value(table, task, model, column))
    return "" if spread is None else f" ± {spread:.2g}"


def _reconstruction_nn(table: pd.DataFrame | None):
    if table is None:
        return _not_measured("reconstruction_nn")
    star = _model_value(table, REGULAR, STAR, "rmse_median")
    nearest = _reference(table, NEAREST, "rmse_median")
    if star is None:
        return _not_measured("reconstruction_nn", f"no regular {STAR} reconstruction")
    if nearest is None:
        return _not_measured("reconstruction_nn", "no nearest-neighbour baseline")
    words = (f"median RMSE {star:.3f}{_spread(table, REGULAR, STAR, 'rmse_mad')} ({STAR}, "
             f"regular) vs {nearest:.3f}{_spread(table, None, NEAREST, 'rmse_mad')} (nearest "
             "training neighbour); rule: below")
    return finding(CLAIMS["reconstruction_nn"], words, star < nearest)


def _separable_harder(table: pd.DataFrame | None):
    if table is None:
        return _not_measured("separable_harder")
    regular, separable = ({model: float(rmse) for task, model, rmse in zip(
        table.task, table.model, table.rmse_median) if task == wanted and not _absent(rmse)}
        for wanted in (REGULAR, SEPARABLE))
    both = [model for model in separable if model in regular]
    if not both:
        return _not_measured("separable_harder", "no model reconstructed both ways")
    words = ("median RMSE separable vs regular: "
             + ", ".join(f"{model} {separable[model]:.3f} vs {regular[model]:.3f}"
                         for model in both)
             + "; rule: separable above regular for every model")
    return finding(CLAIMS["separable_harder"], words,
                   all(separable[model] > regular[model] for model in both))


def _latent_likelihood(table: pd.DataFrame | None):
    if table is None:
        return _not_measured("latent_likelihood")
    star = _model_value(table, REGULAR, STAR, "nll_median")
    prior, spread = (_reference(table, GAUSSIAN, column) for column in ("nll_median", "nll_mad"))
    if star is None:
        return _not_measured("latent_likelihood", f"no regular {STAR} reconstruction")
    if prior is None or spread is None:
        return _not_measured("latent_likelihood", "no Gaussian reference")
    gap = abs(star - prior)
    words = (f"median NLL of the latents found {star:.1f}{_spread(table, REGULAR, STAR, 'nll_mad')}"
             f" ({STAR}, regular) vs {prior:.1f} ± {spread:.2g} (SD) for draws from the prior: "
             f"{gap / spread:.2g} SD apart; rule: within {NLL_SPREADS:g} SD")
    return finding(CLAIMS["latent_likelihood"], words, gap <= NLL_SPREADS * spread)


def _walk_grows(interpolation: dict | None):
    if interpolation is None or _absent(interpolation.get("length_spearman")):
        return _not_measured("walk_grows")
    rho, septum = interpolation["length_spearman"], interpolation.get("septum_step")
    words = (f"Spearman {rho:+.2f} between step and measured length; "
             + ("no frame measured dividing" if septum is None
                else f"first dividing frame at step {septum}")
             + f"; rule: >= {WALK_SPEARMAN:g}")
    return finding(CLAIMS["walk_grows"], words, rho >= WALK_SPEARMAN)


def _actin_moves(interpolation: dict | None):
    if interpolation is None:
        return _not_measured("actin_moves")
    septum, switched = interpolation.get("septum_step"), bool(interpolation["actin_switched"])
    stays = interpolation.get("tips_stay")
    words = (("no septum along the walk" if septum is None else f"septum from step {septum}")
             + "; the actin-like green " + ("moves" if switched else "does not move")
             + " to the middle with it"
             + ("" if stays is None else "; the tip protein "
                + ("stays at the tips" if stays else "leaves the tips"))
             + "; rule: a septum appears and the actin-like green switches")
    return finding(CLAIMS["actin_moves"], words, switched and septum is not None)


# --- the model-comparison notebook -----------------------------------------------------------

def _not_compared(key: str, why: str = "not measured"):
    return _not_measured(key, why, COMPARISON_CLAIMS)


def comparison_findings(*, real_vs_real=None, model_table: pd.DataFrame | None = None,
                        cross_class: pd.DataFrame | None = None,
                        average_label: str | None = None) -> pd.DataFrame:
    """The model-comparison notebook's paper-vs-book table, one row per claim of
    :data:`COMPARISON_CLAIMS`.

    * ``real_vs_real``: a :class:`.c2st.TwinCheck` of Table 1's analogue
      (:func:`.c2st.twin_structure`): its ``pairs``, ``diagonal`` and ``tolerance``.
    * ``model_table``: Table 2's analogue, mean C2ST scores: rows the classes and one average
      row, labelled ``average_label`` (default: the last row); columns model names among
      :data:`MODEL_NAMES`' values (a run may have only some of them).
    * ``cross_class``: rows the sources (e.g. "real (simulator)", "star-shaped", "composite
      training set", "multi-channel sep."), column "all" (the share of cells whose greens all
      fit the red) and one column per class.
    Any of them None: that claim's verdict is "n/a" with the reason.
    """
    average = _average_row(model_table, average_label)
    return findings_table([
        _diagonal(real_vs_real), _twins(real_vs_real), _real_lowest(average),
        _one_class_best(average), _star_beats_multichannel(average),
        _composite_inconsistent(cross_class)])


def _diagonal(check):
    if check is None:
        return _not_compared("diagonal")
    diagonal = check.diagonal.astype(float).dropna()
    if not len(diagonal):
        return _not_compared("diagonal")
    words = (f"diagonal {diagonal.min():.2f} ... {diagonal.max():.2f} over {len(diagonal)} "
             f"classes; rule: every entry below the rest of its row and |entry| <= "
             f"{check.tolerance:.2g} (half the median entry off the diagonal)")
    return finding(COMPARISON_CLAIMS["diagonal"], words, check.diagonal_near_zero)


def _twins(check):
    if check is None:
        return _not_compared("twins")
    if not len(check.pairs):
        return _not_compared("twins", "no twin pair among the classes")
    own = check.diagonal.astype(float)
    above = [row.twin_score > own[row.test_class] for row in check.pairs.itertuples()]
    words = ("; ".join(f"{row.test_class}'s twin {row.twin} {row.twin_score:.2f} (own "
                       f"{own[row.test_class]:.2f}; nearest {row.nearest} {row.nearest_score:.2f})"
                       for row in check.pairs.itertuples())
             + "; rule: each twin is its row's nearest class and above the row's diagonal")
    return finding(COMPARISON_CLAIMS["twins"], words, check.twins_are_nearest and all(above))


def _average_row(table: pd.DataFrame | None, label: str | None) -> pd.Series | None:
    """The model table's average row (measured entries only); None if no table."""
    if table is None:
        return None
    if label is None:
        return table.iloc[-1].astype(float).dropna()
    if label not in table.index:
        raise ValueError(f"the model table has no average row {label!r}; its rows are "
                         f"{list(table.index)}: give average_label one of them")
    return table.loc[label].astype(float).dropna()


def _averages_words(average: pd.Series, names) -> str:
    return ", ".join(f"{name} {average[name]:.2f}" for name in names)


def _real_lowest(average: pd.Series | None):
    if average is None:
        return _not_compared("real_lowest")
    real = MODEL_NAMES["real"]
    models = [name for name in average.index if name != real]
    if real not in average or not models:
        return _not_compared("real_lowest", "no real images or no model scored")
    words = (f"average over the classes: {_averages_words(average, [real] + models)}; "
             "rule: real images below every model")
    return finding(COMPARISON_CLAIMS["real_lowest"], words,
                   all(average[real] < average[name] for name in models))


def _one_class_best(average: pd.Series | None):
    if average is None:
        return _not_compared("one_class_best")
    one_class = [name for name in ONE_CLASS if name in average]
    star = MODEL_NAMES["star"]
    synchronised = [name for name in (star,) + MULTICHANNEL if name in average]
    if not one_class:
        return _not_compared("one_class_best", "no one-class model scored")
    if not synchronised:
        return _not_compared("one_class_best", "no synchronised model scored")
    best = min(one_class, key=lambda name: average[name])
    multichannel = [name for name in MULTICHANNEL if name in average]
    words = (f"average over the classes: {_averages_words(average, one_class + synchronised)}; "
             f"rule: the best one-class ({best})"
             + (f" <= {star} + {ONE_CLASS_TOLERANCE:g}" if star in average else "")
             + (" and" if star in average and multichannel else "")
             + (" below every multi-channel model" if multichannel else ""))
    holds = ((star not in average or average[best] <= average[star] + ONE_CLASS_TOLERANCE)
             and all(average[best] < average[name] for name in multichannel))
    return finding(COMPARISON_CLAIMS["one_class_best"], words, holds)


def _star_beats_multichannel(average: pd.Series | None):
    if average is None:
        return _not_compared("star_beats_multichannel")
    star = MODEL_NAMES["star"]
    multichannel = [name for name in MULTICHANNEL if name in average]
    if star not in average or not multichannel:
        return _not_compared("star_beats_multichannel",
                             "no star-shaped or no multi-channel model scored")
    words = (f"average over the classes: {_averages_words(average, [star] + multichannel)}; "
             "rule: star-shaped below every multi-channel model")
    return finding(COMPARISON_CLAIMS["star_beats_multichannel"], words,
                   all(average[star] < average[name] for name in multichannel))


def _composite_inconsistent(table: pd.DataFrame | None):
    if table is None or "all" not in table:
        return _not_compared("composite_inconsistent")
    shares = table["all"].astype(float).dropna()
    missing = [name for name in (STAR_SOURCE, COMPOSITE_SOURCE) if name not in shares]
    if missing:
        return _not_compared("composite_inconsistent", f"no {' and no '.join(missing)} row")
    star, composite = shares[STAR_SOURCE], shares[COMPOSITE_SOURCE]
    others = shares.drop([STAR_SOURCE, COMPOSITE_SOURCE])
    words = (f"cells whose greens all fit the red: {STAR_SOURCE} {_percent(star)}, "
             f"{COMPOSITE_SOURCE} {_percent(composite)}"
             + ("" if not len(others) else " (" + ", ".join(
                 f"{name} {_percent(share)}" for name, share in others.items()) + ")")
             + f"; rule: {STAR_SOURCE} above the composites by more than "
             f"{_percent(CONSISTENCY_MARGIN)}")
    return finding(COMPARISON_CLAIMS["composite_inconsistent"], words,
                   star > composite + CONSISTENCY_MARGIN)
