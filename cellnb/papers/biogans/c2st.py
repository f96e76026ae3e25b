"""The classifier two-sample test (C2ST) of BioGANs: a fresh WGAN-GP critic as the ruler.

Osokin, Chessel, Carazo Salas & Vaggi, "GANs for Biological Image Synthesis" (ICCV 2017),
Section 5.1, after Lopez-Paz & Oquab's C2ST [26]. A held-out set of real images is halved at
random; a fresh critic learns, on the first half, to tell those images from a second source
(a frozen generator's samples, or other real images); the negated critic loss of eq. 4 on the
second half is the score:

    score = mean D(fake) - mean D(real) - lambda * GP        (larger: easier to tell apart)

The penalty keeps the critic weak (the paper's alternative to ImageNet features), and, since
it dominates when the two sources look alike, a score can be negative. It is no metric: it is
asymmetric, and the random halves bias it (Section 5.1, Table 1). The protocol (Section 5.1,
Tables 1-2): 10 random halvings, 5000 critic steps each, WGAN-GP's optimiser ([15]: Adam 1e-4,
betas (0.0, 0.9), lambda 10, batch 64), one critic per green channel (paired with the red) for
multi-channel models. The scores are then averaged over several passes over the second half.

Two summaries over the halvings, always labelled: the paper's text reports the median and the
median absolute deviation (robust to the occasional failed critic), while its tables' numbers are
the mean and the standard deviation. :class:`C2stResult` carries both.

* :func:`c2st_score` - one comparison: real images against a tensor or a sampler.
* :func:`real_vs_real_scores`, :func:`real_vs_real_matrix`, :func:`twin_structure` - Table 1:
  every class's test images against every class's training images.
* :func:`model_comparison_scores`, :func:`model_comparison` - Table 2: several models (and the
  real training images) against each class's test images, per class and averaged over classes.
* :func:`score_table`, :func:`format_score_table` - per-split scores to a table of one
  statistic or of "centre ± spread" strings.

The critic is :class:`.model.Critic` (no BatchNorm) at the data's size and channel count; its
width comes from ``config`` (or ``ndf``). Nothing here sets torch's thread count: the caller's
setting holds.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch

from ...progress import progress as progress_bar
from ...train.parallel import run_in_processes
from .losses import wgan_gp_critic_loss
from .model import BioGanConfig, Critic, class_pairs, sample_latent
from .reconstruction import median_mad

# The protocol of Section 5.1 (the optimiser, batch and lambda are those of WGAN-GP [15]).
C2ST_STEPS = 5000
C2ST_SPLITS = 10
C2ST_BATCH = 64
C2ST_PASSES = 5          # passes over the scoring half (the authors' evaluation)
C2ST_LR = 1e-4
C2ST_BETAS = (0.0, 0.9)
C2ST_GP_WEIGHT = 10.0

SUMMARIES = {"mean_std": ("mean", "std"), "median_mad": ("median", "mad")}
SUMMARY_LABELS = {"mean_std": "mean ± std", "median_mad": "median ± MAD"}
STATISTICS = ("mean", "std", "median", "mad")

Source = torch.Tensor | Callable[[int], torch.Tensor]


# --------------------------------------------------------------------------- the statistics

def _finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def summary_statistics(values) -> dict[str, float]:
    """mean, std (population, as NumPy's), median and MAD of the finite values, and their n.

    Non-finite scores (a critic that diverged) are left out, as the authors' nan-means do.
    """
    values = _finite(values)
    if not len(values):
        return dict(n=0, mean=np.nan, std=np.nan, median=np.nan, mad=np.nan)
    median, mad = median_mad(values)       # unscaled MAD, as Sec. 5.1 names it
    return dict(n=len(values), mean=float(values.mean()), std=float(values.std()),
                median=median, mad=mad)


def format_summary(values, summary: str = "mean_std", decimals: int = 1) -> str:
    """"1.6 ± 0.1": the centre and spread of ``summary`` ("mean_std" or "median_mad")."""
    centre, spread = _summary_names(summary)
    stats = summary_statistics(values)
    return f"{stats[centre]:.{decimals}f} ± {stats[spread]:.{decimals}f}"


def _summary_names(summary: str) -> tuple[str, str]:
    if summary not in SUMMARIES:
        raise ValueError(f"summary is one of {list(SUMMARIES)} (the tables' mean ± std or the "
                         f"text's median ± MAD), got {summary!r}")
    return SUMMARIES[summary]


@dataclass
class C2stResult:
    """The scores of one comparison, one per random halving, with the parts of each.

    ``score`` = ``wasserstein`` - lambda * ``gradient_penalty``, each averaged over the scoring
    batches. :meth:`summary` gives both summaries; :meth:`format` labels the one it prints.
    """

    score: np.ndarray                  # (splits,)
    wasserstein: np.ndarray            # mean D(fake) - mean D(real)
    gradient_penalty: np.ndarray       # mean (||grad D|| - 1)^2, before lambda
    steps: int
    gp_weight: float

    @property
    def splits(self) -> int:
        return len(self.score)

    def summary(self) -> dict[str, float]:
        """mean and std (as the paper's tables), median and MAD (as its text), and n."""
        return summary_statistics(self.score)

    def format(self, summary: str = "mean_std", decimals: int = 2) -> str:
        """E.g. "1.62 ± 0.10 (mean ± std over 10 splits)"."""
        return (f"{format_summary(self.score, summary, decimals)} "
                f"({SUMMARY_LABELS[summary]} over {self.splits} splits)")

    def to_frame(self) -> pd.DataFrame:
        """One row per split: split, score, wasserstein, gradient_penalty."""
        return pd.DataFrame(dict(split=np.arange(self.splits), score=self.score,
                                 wasserstein=self.wasserstein,
                                 gradient_penalty=self.gradient_penalty))

    def __str__(self) -> str:
        return self.format()


# ------------------------------------------------------------------------------- the sources

class GeneratorSource:
    """A frozen generator as a C2ST source: ``source(n)`` -> n fresh images, on the generator's
    device (see :func:`generator_source`). A class, not a closure, so that a source can be
    handed to a worker process; its latent stream starts at its first call, so a source pickled
    before use replays exactly what it would have drawn here."""

    def __init__(self, generator: torch.nn.Module, config: BioGanConfig,
                 class_index: int | None = None, seed: int = 0):
        self.generator, self.config = generator, config
        self.class_index, self.seed = class_index, seed
        self._draws: torch.Generator | None = None

    def __getstate__(self) -> dict:
        if self._draws is not None:
            raise RuntimeError("this source has drawn samples already: make a new one (with "
                               "generator_source) to hand to another process")
        return dict(self.__dict__)

    def __call__(self, n: int) -> torch.Tensor:
        if self._draws is None:
            self._draws = torch.Generator().manual_seed(self.seed)
        generator = self.generator
        device = next(generator.parameters()).device
        was_training = generator.training
        try:
            with torch.no_grad():
                images = generator.eval()(**sample_latent(self.config, n, self._draws,
                                                          device=device))
        finally:
            generator.train(was_training)
        return images if self.class_index is None else class_pairs(images)[self.class_index]


def generator_source(generator: torch.nn.Module, config: BioGanConfig, *,
                     class_index: int | None = None, seed: int = 0) -> GeneratorSource:
    """A frozen generator as a C2ST source: n -> n fresh images, on the generator's device.

    Each call samples in evaluation mode (BatchNorm's running statistics, as the authors'
    evaluation samples) without gradients, and restores the generator's mode afterwards. For a
    multi-green output (the star model, or a multi-channel one) ``class_index`` k picks the
    (red, green_k) pair, as Section 5.1 trains one critic per green channel. The latent draws
    come from a stream seeded with ``seed``, so a new source replays the same samples.
    """
    return GeneratorSource(generator, config, class_index, seed)


def _sample(source: Callable[[int], torch.Tensor], n: int, device) -> torch.Tensor:
    with torch.no_grad():
        images = source(n)
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or len(images) != n:
        shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        raise ValueError(f"a sampling source must return n images (n, C, H, W); asked for {n}, "
                         f"got {shape}")
    return images.detach().float().to(device)


def _as_images(images, name: str) -> torch.Tensor:
    images = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor)
                             else images).float()
    if images.dim() != 4 or len(images) < 2:
        raise ValueError(f"{name} must be at least two images (N, C, H, W), got shape "
                         f"{tuple(images.shape)}")
    return images


# ------------------------------------------------------------------------------ the halvings

def _split_seeds(seed: int, split: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed, spawn_key=(split,))


def random_halves(n: int, seed: int, split: int, stream: int = 0) -> tuple[np.ndarray, ...]:
    """Split ``split``'s random halving of n items: (first half, second half) of indices.

    The same (seed, split, stream) gives the same halves; ``stream`` keeps the halvings of the
    two sources of a real-vs-real comparison independent.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(split, 1, stream)))
    order = rng.permutation(n)
    return order[:n // 2], order[n // 2:]


def cycling_batches(n: int, size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless batches of ``size`` indices into n items: shuffled epochs, one after another
    (a batch may run across two epochs, so any size works)."""
    pending = torch.empty(0, dtype=torch.long)
    while True:
        while len(pending) < size:
            pending = torch.cat([pending, torch.randperm(n, generator=generator)])
        yield pending[:size]
        pending = pending[size:]


def scoring_batches(n: int, size: int, passes: int,
                    generator: torch.Generator) -> Iterator[torch.Tensor]:
    """``passes`` shuffled passes over n items in full batches (the remainder is dropped,
    unless n holds no full batch, when each pass is one batch of all n)."""
    size = min(size, n)
    for _ in range(passes):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - size + 1, size):
            yield order[start:start + size]


# --------------------------------------------------------------------------- one comparison

def critic_config(images: torch.Tensor, config: BioGanConfig | None = None,
                  ndf: int | None = None) -> BioGanConfig:
    """The config of a fresh critic for ``images`` (N, C, H, W): their size and channels, the
    width ``ndf`` (default: the config's; the paper's 64), WGAN-GP's critic."""
    config = config or BioGanConfig()
    return replace(config, image_size=tuple(images.shape[-2:]), image_channels=images.shape[1],
                   ndf=ndf or config.ndf, generator_kind="dcgan", critic_kind="wgan_gp")


@dataclass
class _Halves:
    """What one split trains on and scores on; ``fake`` halves only for a tensor source."""

    real_train: torch.Tensor
    real_test: torch.Tensor
    fake_train: torch.Tensor | None
    fake_test: torch.Tensor | None


def _halve(real: torch.Tensor, fake: Source, seed: int, split: int, device) -> _Halves:
    first, second = random_halves(len(real), seed, split)
    halves = _Halves(real[first].to(device), real[second].to(device), None, None)
    if isinstance(fake, torch.Tensor):
        first, second = random_halves(len(fake), seed, split, stream=1)
        halves.fake_train, halves.fake_test = fake[first].to(device), fake[second].to(device)
    return halves


def _fake_batches(source: Source, fake_half: torch.Tensor | None, size: int,
                  generator: torch.Generator, device) -> Iterator[torch.Tensor]:
    """Endless fake batches: fresh samples of a sampler, or a tensor half's images."""
    if fake_half is None:
        while True:
            yield _sample(source, size, device)
    for index in cycling_batches(len(fake_half), size, generator):
        yield fake_half[index]


def _train_critic(critic: Critic, halves: _Halves, source: Source, *, steps: int, batch: int,
                  lr: float, gp_weight: float, generator: torch.Generator, device,
                  bar) -> None:
    betas = tuple(float(beta) for beta in C2ST_BETAS)
    optimiser = torch.optim.Adam(critic.parameters(), lr=lr, betas=betas)
    real_half = halves.real_train
    fakes = _fake_batches(source, halves.fake_train, batch, generator, device)
    for _, index in zip(range(steps), cycling_batches(len(real_half), batch, generator)):
        loss = wgan_gp_critic_loss(critic, real_half[index], next(fakes), gp_weight=gp_weight,
                                   generator=generator)
        optimiser.zero_grad(set_to_none=True)
        loss.loss.backward()
        optimiser.step()
        bar.update(1)


def _score_critic(critic: Critic, halves: _Halves, source: Source, *, batch: int, passes: int,
                  gp_weight: float, generator: torch.Generator, device) -> tuple[float, ...]:
    """(score, wasserstein, penalty), each the mean over the scoring batches."""
    real_half = halves.real_test
    size = min(batch, len(real_half))
    fakes = _fake_batches(source, halves.fake_test, size, generator, device)
    parts = []
    for index in scoring_batches(len(real_half), batch, passes, generator):
        loss = wgan_gp_critic_loss(critic, real_half[index], next(fakes), gp_weight=gp_weight,
                                   generator=generator)
        # The penalty needs input gradients, so no torch.no_grad(); the critic's parameter
        # gradients are never used.
        parts.append((-loss.loss.item(), loss.wasserstein.item(),
                      loss.gradient_penalty.item()))
    return tuple(np.mean(parts, axis=0))


def _cuda_devices(device) -> list[int]:
    device = torch.device(device)
    return [device.index or 0] if device.type == "cuda" else []


def _one_split(real: torch.Tensor, fake: Source, split: int, *, config: BioGanConfig,
               steps: int, batch: int, passes: int, lr: float, seed: int, device,
               bar) -> tuple[float, ...]:
    """Train a fresh critic on split ``split``'s first halves, score it on the second."""
    halves = _halve(real, fake, seed, split, device)
    torch_seed = int(_split_seeds(seed, split).generate_state(1)[0])
    generator = torch.Generator().manual_seed(torch_seed)
    # The fresh critic's initialisation, and a sampler that draws from torch's global stream,
    # are seeded too; the caller's random state is restored afterwards.
    with torch.random.fork_rng(devices=_cuda_devices(device)):
        torch.manual_seed(torch_seed)
        critic = Critic(config, in_channels=real.shape[1]).to(device).train()
        common = dict(gp_weight=config.gp_weight, generator=generator, device=device)
        _train_critic(critic, halves, fake, steps=steps, batch=batch, lr=lr, bar=bar, **common)
        return _score_critic(critic, halves, fake, batch=batch, passes=passes, **common)


def _check_source(real: torch.Tensor, fake: Source) -> Source:
    if callable(fake):
        return fake
    fake = _as_images(fake, "the fake images")
    if fake.shape[1:] != real.shape[1:]:
        raise ValueError(f"real and fake images must share (C, H, W): {tuple(real.shape[1:])} "
                         f"vs {tuple(fake.shape[1:])}")
    return fake


def _run_c2st(real, fake: Source, *, steps: int, splits: int, batch: int, passes: int,
              config: BioGanConfig | None, ndf: int | None, lr: float, gp_weight: float,
              seed: int, device, bar) -> C2stResult:
    real = _as_images(real, "the real images")
    fake = _check_source(real, fake)
    config = replace(critic_config(real, config, ndf), gp_weight=gp_weight)
    parts = np.array([_one_split(real, fake, split, config=config, steps=steps, batch=batch,
                                 passes=passes, lr=lr, seed=seed, device=device, bar=bar)
                      for split in range(splits)])
    return C2stResult(parts[:, 0], parts[:, 1], parts[:, 2], steps, gp_weight)


def c2st_score(real, fake_source: Source, *, steps: int = C2ST_STEPS,
               splits: int = C2ST_SPLITS, batch: int = C2ST_BATCH, passes: int = C2ST_PASSES,
               config: BioGanConfig | None = None, ndf: int | None = None,
               lr: float = C2ST_LR, gp_weight: float = C2ST_GP_WEIGHT, seed: int = 0,
               device: str | torch.device = "cpu", progress: bool = True) -> C2stResult:
    """The C2ST score of ``fake_source`` against held-out ``real`` images (Section 5.1).

    ``real``: images (N, C, H, W) in [-1, 1] (a tensor or array), the held-out test set.
    ``fake_source``: either images of the same shape (real against real: they are halved too,
    the critic training on one half and scored with the other) or a sampler n -> n images
    (e.g. :func:`generator_source`; called without gradients, fresh batches every time).

    For each of ``splits`` seeded halvings, a fresh :class:`.model.Critic` (width ``ndf``, or
    ``config.ndf``) trains for ``steps`` steps of Adam(``lr``, (0.0, 0.9)) on batches of the
    first half against fake batches, then scores ``passes`` passes over the second half. The
    same seed gives the same scores (on one device); the caller's random state is untouched.
    """
    steps_total = splits * steps
    with progress_bar(total=steps_total, desc="C2ST critic", unit="steps",
                      disable=not progress) as bar:
        return _run_c2st(real, fake_source, steps=steps, splits=splits, batch=batch,
                         passes=passes, config=config, ndf=ndf, lr=lr, gp_weight=gp_weight,
                         seed=seed, device=device, bar=bar)


# --------------------------------------------------------------- tables of per-split scores

def score_rows(result: C2stResult, **labels) -> list[dict]:
    """One dict per split: the labels (e.g. test_class="TipDots") and the split's parts."""
    return [labels | row for row in result.to_frame().to_dict("records")]


def score_table(scores: pd.DataFrame, *, rows: str, columns: str,
                statistic: str = "mean") -> pd.DataFrame:
    """Per-split scores (long: one row per split) -> a ``rows`` x ``columns`` table of one
    statistic: "mean" or "std" (the paper's tables), "median" or "mad" (its text)."""
    if statistic not in STATISTICS:
        raise ValueError(f"statistic is one of {STATISTICS}, got {statistic!r}")
    groups = scores.groupby([rows, columns], sort=False)["score"]
    values = groups.agg(lambda s: summary_statistics(s)[statistic])
    table = values.unstack(columns)
    return table.reindex(index=scores[rows].unique(), columns=scores[columns].unique())


def format_score_table(scores: pd.DataFrame, *, rows: str, columns: str,
                       summary: str = "mean_std", decimals: int = 1) -> pd.DataFrame:
    """Like :func:`score_table`, with "centre ± spread" strings; ``table.attrs["summary"]``
    says which summary ("mean ± std" or "median ± MAD")."""
    centre, spread = _summary_names(summary)
    middle = score_table(scores, rows=rows, columns=columns, statistic=centre)
    width = score_table(scores, rows=rows, columns=columns, statistic=spread)
    table = middle.map(lambda x: f"{x:.{decimals}f}") + " ± " + width.map(
        lambda x: f"{x:.{decimals}f}")
    table.attrs["summary"] = SUMMARY_LABELS[summary]
    return table


# ------------------------------------------------------------------------- Table 1: real/real

def _class_images(images_by_class: Mapping[str, object], name: str) -> dict[str, torch.Tensor]:
    return {label: _as_images(images, f"{name}[{label!r}]")
            for label, images in images_by_class.items()}


def real_vs_real_scores(images_by_class_train: Mapping[str, object],
                        images_by_class_test: Mapping[str, object], *,
                        steps: int = C2ST_STEPS, splits: int = C2ST_SPLITS,
                        processes: int = 1, progress: bool = True,
                        **c2st_options) -> pd.DataFrame:
    """Per-split C2ST scores between real classes, Table 1's experiment (Section 5.1).

    For every (test class r, train class c): the critic trains on half of c's training images
    (the "fake" source) against half of r's test images (the "real" one) and is scored on the
    other halves. Returns one row per (test_class, train_class, split) with the score and its
    parts. ``c2st_options`` go to :func:`c2st_score` (batch, passes, config, ndf, seed, ...);
    ``processes`` > 1 runs the pairs side by side in worker processes (the same scores).
    """
    train = _class_images(images_by_class_train, "images_by_class_train")
    test = _class_images(images_by_class_test, "images_by_class_test")
    pairs = [(test_class, train_class) for test_class in test for train_class in train]
    results = _comparisons([(test[r], train[c]) for r, c in pairs], steps=steps, splits=splits,
                           processes=processes, progress=progress, desc="C2ST real vs real",
                           options=c2st_options)
    return pd.DataFrame([row for (test_class, train_class), result in zip(pairs, results)
                         for row in score_rows(result, test_class=test_class,
                                               train_class=train_class)])


def _comparisons(pairs: list[tuple[torch.Tensor, Source]], *, steps: int, splits: int,
                 processes: int, progress: bool, desc: str, options: dict) -> list[C2stResult]:
    """One C2stResult per (real, fake) pair: here with one bar over the critic steps, or side
    by side in ``processes`` worker processes (the same scores) with a bar over the pairs."""
    options = _with_defaults(options)
    if processes > 1 and len(pairs) > 1:
        jobs = [dict(real=real, fake=fake, steps=steps, splits=splits, options=options)
                for real, fake in pairs]
        return run_in_processes(_comparison, jobs, processes=processes,
                                progress=desc if progress else None)
    with progress_bar(total=len(pairs) * splits * steps, unit="steps", desc=desc,
                      disable=not progress) as bar:
        return [_run_c2st(real, fake, steps=steps, splits=splits, bar=bar, **options)
                for real, fake in pairs]


def _comparison(real, fake: Source, steps: int, splits: int, options: dict) -> C2stResult:
    """One comparison in a worker process (module level, so it can be pickled)."""
    with progress_bar(total=splits * steps, disable=True) as bar:
        return _run_c2st(real, fake, steps=steps, splits=splits, bar=bar, **options)


def _with_defaults(options: dict) -> dict:
    defaults = dict(batch=C2ST_BATCH, passes=C2ST_PASSES, config=None, ndf=None, lr=C2ST_LR,
                    gp_weight=C2ST_GP_WEIGHT, seed=0, device="cpu")
    unknown = set(options) - set(defaults)
    if unknown:
        raise TypeError(f"unknown C2ST options {sorted(unknown)}; choose from "
                        f"{sorted(defaults)}, steps and splits")
    return defaults | options


def real_vs_real_matrix(images_by_class_train: Mapping[str, object],
                        images_by_class_test: Mapping[str, object], *,
                        statistic: str = "mean", **options) -> pd.DataFrame:
    """Table 1's matrix: rows the test-set class, columns the training-set class, entries one
    ``statistic`` of the per-split scores ("mean", as the paper's table, or "median").

    To keep the spreads too, call :func:`real_vs_real_scores` and then :func:`score_table` or
    :func:`format_score_table` with ``rows="test_class", columns="train_class"``.
    """
    scores = real_vs_real_scores(images_by_class_train, images_by_class_test, **options)
    return score_table(scores, rows="test_class", columns="train_class", statistic=statistic)


@dataclass
class TwinCheck:
    """Table 1's structure: designed twins nearest to each other, the diagonal near 0.

    ``pairs``: one row per twin pair and direction, i.e. the row class, its twin, the twin's
    score, the row's nearest other class and its score, the smallest non-twin score, and
    ``twin_is_nearest``. ``diagonal``: the same-class scores. ``tolerance``: how near 0 they
    must be.
    """

    pairs: pd.DataFrame
    diagonal: pd.Series
    tolerance: float
    row_minimum: pd.Series           # each row's smallest off-diagonal entry

    @property
    def twins_are_nearest(self) -> bool:
        return bool(self.pairs.twin_is_nearest.all())

    @property
    def diagonal_near_zero(self) -> bool:
        """Every |diagonal entry| is at most the tolerance, and below every other entry of its
        row: a class is nearer to itself than to any other class."""
        return bool((self.diagonal.abs() <= self.tolerance).all()) and self.diagonal_lowest

    @property
    def diagonal_lowest(self) -> bool:
        return bool((self.diagonal < self.row_minimum).all())

    @property
    def holds(self) -> bool:
        return self.twins_are_nearest and self.diagonal_near_zero


def twin_structure(matrix: pd.DataFrame, twins: Mapping[str, str], *,
                   tolerance: float | None = None) -> TwinCheck:
    """Check Table 1's pattern (Section 5.1) on a real-vs-real matrix.

    ``twins`` maps a class to its designed twin (e.g. ``cellnb.sim.pombe.POMBE_TWINS``); both
    directions are checked, for every pair whose classes are both in the matrix: in row a the
    smallest off-diagonal entry should be the twin's column. The diagonal counts as near 0
    when every entry is below the rest of its row (a class is nearer to itself than to any
    other) and every |entry| is at most ``tolerance``, by default half the median off-diagonal
    entry: small next to a typical difference between classes (the penalty term can push a
    same-class score below 0, as on the paper's diagonal, down to -0.6).
    """
    _check_square(matrix)
    off_diagonal = matrix.where(~np.eye(len(matrix), dtype=bool))
    diagonal = pd.Series(np.diag(matrix.to_numpy()), index=matrix.index, name="diagonal")
    if tolerance is None:
        tolerance = 0.5 * float(np.nanmedian(off_diagonal.to_numpy()))
    rows = []
    for a, b in _twin_directions(twins, matrix.index):
        others = off_diagonal.loc[a].drop(a)
        rows.append(dict(test_class=a, twin=b, twin_score=others[b],
                         nearest=others.idxmin(), nearest_score=others.min(),
                         best_non_twin_score=others.drop(b).min(),
                         twin_is_nearest=others.idxmin() == b))
    return TwinCheck(pd.DataFrame(rows), diagonal, tolerance,
                     off_diagonal.min(axis=1).rename("row_minimum"))


def _check_square(matrix: pd.DataFrame):
    if list(matrix.index) != list(matrix.columns):
        raise ValueError("expected a square real-vs-real matrix with the same classes, in the "
                         f"same order, as rows and columns; got rows {list(matrix.index)} and "
                         f"columns {list(matrix.columns)}")


def _twin_directions(twins: Mapping[str, str], classes) -> list[tuple[str, str]]:
    present = set(classes)
    pairs = {(a, b) for a, b in twins.items() if a in present and b in present and a != b}
    return sorted(pairs | {(b, a) for a, b in pairs}, key=lambda p: list(classes).index(p[0]))


# --------------------------------------------------------------- Table 2: model comparison

def model_comparison_scores(real_by_class: Mapping[str, object],
                            sources_by_model: Mapping[str, Mapping[str, Source]], *,
                            steps: int = C2ST_STEPS, splits: int = C2ST_SPLITS,
                            average_label: str | None = None, processes: int = 1,
                            progress: bool = True, **c2st_options) -> pd.DataFrame:
    """Per-split C2ST scores of several models against each class's test images (Table 2).

    ``real_by_class``: each class's held-out images. ``sources_by_model``: model name -> class
    -> source (images, e.g. the real training images for the "real images" column, or a
    sampler such as :func:`generator_source`; a multi-green model gives one per green).
    Every class's critic sees the same seeded halvings for every model. The rows for the
    average over classes (``average_label``, by default "K proteins") average the classes'
    scores split by split before any summary, as Table 2's last row does. ``processes`` > 1
    runs the comparisons side by side in worker processes (the same scores: give samplers made
    by :func:`generator_source`, which can travel to a worker).
    """
    real = _class_images(real_by_class, "real_by_class")
    _check_sources(real, sources_by_model)
    pairs = [(model, class_name) for model in sources_by_model for class_name in real]
    results = _comparisons([(real[c], sources_by_model[m][c]) for m, c in pairs], steps=steps,
                           splits=splits, processes=processes, progress=progress,
                           desc="C2ST models", options=c2st_options)
    scores = pd.DataFrame([row for (model, class_name), result in zip(pairs, results)
                           for row in score_rows(result, model=model, class_name=class_name)])
    label = average_label or f"{len(real)} proteins"
    return pd.concat([scores, average_over_classes(scores, label)], ignore_index=True)


def _check_sources(real: Mapping[str, torch.Tensor],
                   sources_by_model: Mapping[str, Mapping[str, Source]]):
    for model, sources in sources_by_model.items():
        missing = [c for c in real if c not in sources]
        if missing:
            raise ValueError(f"model {model!r} has no source for classes {missing}; give one "
                             "(images or a sampler) for every class of real_by_class")


def average_over_classes(scores: pd.DataFrame, label: str) -> pd.DataFrame:
    """Each model's per-split scores averaged over the classes, labelled ``label``."""
    parts = ["score", "wasserstein", "gradient_penalty"]
    average = scores.groupby(["model", "split"], sort=False)[parts].mean().reset_index()
    return average.assign(class_name=label)[scores.columns]


def model_comparison(real_by_class: Mapping[str, object],
                     sources_by_model: Mapping[str, Mapping[str, Source]], *,
                     statistic: str = "mean", **options) -> pd.DataFrame:
    """Table 2's analogue: rows the classes and their average, columns the models, entries
    one ``statistic`` of the per-split scores. For the spreads, call
    :func:`model_comparison_scores` and :func:`format_score_table` (``rows="class_name",
    columns="model"``)."""
    scores = model_comparison_scores(real_by_class, sources_by_model, **options)
    return score_table(scores, rows="class_name", columns="model", statistic=statistic)


def star_sources(generator: torch.nn.Module, config: BioGanConfig, class_names, *,
                 seed: int = 0) -> dict[str, Callable[[int], torch.Tensor]]:
    """A multi-green generator's per-class samplers: class k's (red, green_k) pairs."""
    return {name: generator_source(generator, config, class_index=k, seed=seed)
            for k, name in enumerate(class_names)}
