"""Evaluation of an Integrated Cell model from arrays: latents, labels, images and predictions.

The Integrated Cell papers (Johnson, Donovan-Maiye & Maleckar; 2D: arXiv 1705.00092, 3D: bioRxiv
238378) judge the model by reconstructions (2D Figs. S1-S2), the hold-out confusion matrix of
Enc^{r,s} (2D Table S9, 3D Table S11), integration (Algorithm 3, Fig. 3), the spread of generated
structures (Algorithm 4, 3D Sec. 2.5, Figs. S7-S8), within-class pairwise correlations (3D Fig. S6)
and inception scores (3D Table S10). Most of these are qualitative there; on toy cells with a known
ground truth (``cellnb.sim.integrated``) each becomes a number measured against a baseline.

Every function takes arrays, never a model, so each criterion can be checked on crafted inputs
before any training. Images are (n, H, W) or (n, C, H, W) arrays; a "structure" argument is one
channel per image. Function names carry the criterion they serve (R1 ... T1), as listed in the
chapter's acceptance table.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import ndimage, stats
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# --- the papers' numbers, as data -------------------------------------------------------------

STRUCTURES_2D = ("α-actinin", "α-tubulin", "β-actin", "Desmoplakin", "Fibrillarin", "Lamin B1",
                 "Myosin IIB", "Sec61β", "TOM20", "ZO1")
# 2D paper, Table S9: hold-out labels predicted by Enc^{r,s}; rows true, columns predicted.
PAPER_CONFUSION_2D = pd.DataFrame(
    [[22, 2, 5, 1, 0, 0, 0, 0, 0, 1],
     [0, 36, 3, 0, 0, 0, 0, 1, 1, 0],
     [3, 7, 19, 0, 0, 0, 0, 0, 0, 0],
     [1, 0, 1, 7, 0, 0, 0, 0, 0, 1],
     [0, 0, 0, 0, 35, 0, 0, 0, 0, 0],
     [0, 0, 0, 0, 0, 46, 0, 0, 0, 0],
     [2, 0, 0, 1, 0, 0, 0, 0, 1, 4],
     [0, 1, 0, 0, 0, 0, 0, 50, 0, 0],
     [0, 1, 0, 0, 0, 0, 0, 0, 47, 0],
     [1, 0, 0, 1, 0, 0, 2, 0, 0, 1]],
    index=pd.Index(STRUCTURES_2D, name="true"), columns=pd.Index(STRUCTURES_2D, name="predicted"))
# 2D paper, Table S8: test cells per structure (the row sums of Table S9).
PAPER_TEST_COUNTS_2D = pd.Series([31, 41, 29, 10, 35, 46, 8, 51, 48, 5], index=STRUCTURES_2D)

STRUCTURES_3D = ("α-actinin", "α-tubulin", "β-actin", "desmoplakin", "fibrillarin", "lamin B1",
                 "Myosin IIB", "ST6GAL1", "Sec61β", "Tom20", "ZO1")
# 3D paper, Table S11: hold-out labels predicted by Enc^{r,s}; rows true, columns predicted.
PAPER_CONFUSION_3D = pd.DataFrame(
    [[36, 0, 4, 1, 0, 0, 5, 1, 0, 0, 0],
     [1, 330, 5, 1, 2, 2, 1, 0, 2, 1, 0],
     [3, 9, 160, 1, 0, 0, 1, 0, 0, 0, 0],
     [0, 0, 0, 229, 0, 0, 0, 4, 0, 0, 3],
     [0, 0, 0, 0, 104, 0, 0, 0, 0, 0, 0],
     [0, 0, 0, 0, 0, 434, 0, 1, 0, 2, 0],
     [4, 0, 0, 5, 0, 0, 7, 0, 0, 0, 3],
     [0, 0, 0, 6, 0, 0, 0, 156, 0, 0, 0],
     [0, 2, 0, 0, 0, 0, 0, 0, 218, 1, 0],
     [0, 0, 0, 0, 0, 0, 0, 0, 1, 449, 0],
     [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 17]],
    index=pd.Index(STRUCTURES_3D, name="true"), columns=pd.Index(STRUCTURES_3D, name="predicted"))
# 3D paper, Table S9: training cells per structure (their frequencies bound Table S10's scores).
PAPER_TRAIN_COUNTS_3D = pd.Series([446, 3035, 1429, 2326, 884, 4028, 138, 1382, 1742, 4128, 217],
                                  index=STRUCTURES_3D)
# 3D paper, Table S10: inception scores of the training data, all classes and Myosin IIB.
PAPER_INCEPTION_TRAIN_ALL_3D = 8.085
PAPER_INCEPTION_TRAIN_MYOSIN_3D = 143.138
# 3D Table S10 / Sec. 3.4.4, all classes, test set: raw data, encoded-decoded, generated.
PAPER_INCEPTION_TEST_3D = {"data test": 7.876, "enc-dec test": 7.823, "generated": 7.561}


def _flat(images) -> np.ndarray:
    """(n, ...) images as an (n, pixels) float matrix."""
    images = np.asarray(images, dtype=float)
    return images.reshape(len(images), -1)


def _row_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r between matching rows of two (n, p) matrices; 0 where a row is constant."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(axis=1) / norm
    return np.where(norm > 0, r, 0.0)


def _correlation_matrix(images) -> np.ndarray:
    """The (n, n) Pearson matrix of flattened images; a constant image correlates 0 with others."""
    x = _flat(images)
    x = x - x.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(x, axis=1)
    x = np.divide(x, norm[:, None], out=np.zeros_like(x), where=norm[:, None] > 0)
    corr = x @ x.T
    np.fill_diagonal(corr, 1.0)
    return np.clip(corr, -1.0, 1.0)


# --- R1: reconstruction -----------------------------------------------------------------------

def per_image_bce(reconstructions, targets, eps: float = 1e-6) -> np.ndarray:
    """Mean binary cross-entropy per image, the loss both papers train with (2D Sec. 2.1.1).

    Targets are intensities in [0, 1], so the BCE of a perfect reconstruction is not 0 but the
    targets' own entropy; compare against a baseline, not against 0.
    """
    p = np.clip(_flat(reconstructions), eps, 1 - eps)
    t = _flat(targets)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(axis=1)


def per_image_mse(reconstructions, targets) -> np.ndarray:
    """Mean squared error per image."""
    return ((_flat(reconstructions) - _flat(targets)) ** 2).mean(axis=1)


def reconstruction_scores(reconstructions, targets, train_mean_image) -> pd.DataFrame:
    """Per-image BCE and MSE of the reconstructions and of the training-mean image (R1).

    The papers show reconstructions only as pictures (Figs. S1-S2); predicting every image by the
    mean training image is the score a model that ignores its input would get.
    """
    targets = np.asarray(targets, dtype=float)
    baseline = np.broadcast_to(np.asarray(train_mean_image, dtype=float), targets.shape)
    return pd.DataFrame(dict(bce=per_image_bce(reconstructions, targets),
                             mse=per_image_mse(reconstructions, targets),
                             baseline_bce=per_image_bce(baseline, targets),
                             baseline_mse=per_image_mse(baseline, targets)))


def reconstruction_summary(scores: pd.DataFrame) -> dict:
    """Means of :func:`reconstruction_scores` and the MSE ratio to the baseline (R1: <= 0.5)."""
    means = scores.mean()
    return dict(means.to_dict(), mse_ratio=float(means.mse / means.baseline_mse))


# --- R2: prior matching -----------------------------------------------------------------------

def code_moments(codes) -> pd.DataFrame:
    """Mean and standard deviation of each latent dimension (R2).

    The adversarial autoencoder pushes the codes towards the N(0, I) prior (2D Sec. 2.1.2, after
    Makhzani et al.), so each dimension should have mean near 0 and standard deviation near 1.
    """
    codes = np.asarray(codes, dtype=float)
    return pd.DataFrame(dict(mean=codes.mean(axis=0), std=codes.std(axis=0, ddof=1)),
                        index=pd.RangeIndex(codes.shape[1], name="dimension"))


def median_bandwidth(x, y) -> float:
    """The median heuristic: the median pairwise Euclidean distance over the pooled samples."""
    pooled = np.concatenate([np.asarray(x, float), np.asarray(y, float)])
    distances = np.sqrt(np.maximum(_squared_distances(pooled, pooled), 0))
    upper = distances[np.triu_indices(len(pooled), k=1)]
    return float(np.median(upper)) or 1.0


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None, :] - 2 * a @ b.T


def mmd2_unbiased(x, y, bandwidth: float | None = None) -> float:
    """Unbiased squared maximum mean discrepancy with a Gaussian kernel (Gretton et al. 2012).

    k(a, b) = exp(-|a - b|^2 / (2 h^2)), with h the median pairwise distance unless given. The
    unbiased estimate drops the diagonal terms, so it is about 0 (and may be slightly negative)
    when both samples come from one distribution.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    h = bandwidth or median_bandwidth(x, y)

    def kernel(a, b):
        return np.exp(-np.maximum(_squared_distances(a, b), 0) / (2 * h * h))

    m, n = len(x), len(y)
    kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
    xx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    yy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(xx + yy - 2 * kxy.mean())


def mmd_to_prior(codes, *, n_prior: int | None = None, seed: int = 0) -> float:
    """Unbiased MMD^2 between the codes and as many (or ``n_prior``) seeded N(0, I) draws (R2)."""
    codes = np.asarray(codes, float)
    prior = np.random.default_rng(seed).standard_normal((n_prior or len(codes), codes.shape[1]))
    return mmd2_unbiased(codes, prior)


# --- R3 and C2: regression from latents -------------------------------------------------------

RIDGE_ALPHAS = np.logspace(-3, 3, 13)


def latent_semantics_r2(codes, parameters: pd.DataFrame, *, folds: int = 5,
                        seed: int = 0) -> pd.Series:
    """Cross-validated R^2 of a ridge regression from z^r to each shape parameter (R3).

    The 2D paper reads the latent space only by eye (Fig. S4 traversals); on toy cells the shape
    parameters are known, so how much of each one a linear read-out of z^r recovers is measurable.
    Out-of-fold predictions (shuffled, seeded K-fold; the ridge penalty chosen inside each fold)
    make R^2 a held-out score: about 0 for a code that carries no information, 1 at best.
    """
    codes = np.asarray(codes, float)
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=RIDGE_ALPHAS))
    splits = KFold(folds, shuffle=True, random_state=seed)
    scores = {}
    for name in parameters.columns:
        target = parameters[name].to_numpy(float)
        predicted = cross_val_predict(model, codes, target, cv=splits)
        scores[name] = r2_score(target, predicted)
    return pd.Series(scores, name="r2")


def regression_r2(predicted, target) -> float:
    """R^2 of ẑ^r against z^r, averaged over dimensions (C2).

    Enc^{r,s} is trained to regress the reference code with an MSE term (2D Sec. 2.2.1);
    R^2 says how much of z^r's variance that head explains on held-out cells.
    """
    return float(r2_score(np.asarray(target, float), np.asarray(predicted, float)))


# --- C1: classification -----------------------------------------------------------------------

def confusion_table(true_labels, predicted_labels, class_names: Sequence[str]) -> pd.DataFrame:
    """Confusion matrix, rows true and columns predicted, as 2D Table S9 / 3D Table S11 (C1).

    Labels are integer class indices into ``class_names``.
    """
    k = len(class_names)
    counts = np.zeros((k, k), dtype=int)
    np.add.at(counts, (np.asarray(true_labels, int), np.asarray(predicted_labels, int)), 1)
    return pd.DataFrame(counts, index=pd.Index(class_names, name="true"),
                        columns=pd.Index(class_names, name="predicted"))


def confusion_accuracy(confusion: pd.DataFrame) -> tuple[int, int, float]:
    """(correct, total, accuracy) of a confusion matrix: the trace over the sum."""
    counts = np.asarray(confusion, dtype=int)
    correct, total = int(np.trace(counts)), int(counts.sum())
    return correct, total, correct / total


def per_class_recall(confusion: pd.DataFrame) -> pd.Series:
    """Recall of each true class: the diagonal over the row sums (NaN for an empty row)."""
    counts = np.asarray(confusion, dtype=float)
    rows = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.diag(counts) / rows
    return pd.Series(recall, index=confusion.index, name="recall")


def classification_report(confusion: pd.DataFrame, rare: str | None = None) -> dict:
    """Accuracy, macro recall, per-class recall and the rare class apart (C1).

    Both papers note that Enc^{r,s} "has trouble only on the poorly sampled" classes (2D
    Sec. 3.4.3; Myosin IIB and ZO1 in Table S9), so the rare class is reported on its own and the
    accuracy of the common classes (rows other than ``rare``) is the number to hold to a bar.
    """
    recall = per_class_recall(confusion)
    _, _, accuracy = confusion_accuracy(confusion)
    report = dict(accuracy=accuracy, macro_recall=float(recall.mean()), recall=recall,
                  chance=1 / len(confusion))
    if rare is not None:
        common = [name != rare for name in confusion.index]
        counts = np.asarray(confusion, dtype=float)
        report["common_accuracy"] = float(np.diag(counts)[common].sum() / counts[common].sum())
        report["rare_recall"] = float(recall[rare])
    return report


# --- I1, I2: integration (Algorithm 3) --------------------------------------------------------

def class_mean_templates(structures, labels, n_classes: int) -> np.ndarray:
    """The mean training structure channel of each class: (K, ...) (I1's baseline).

    A template ignores the cell it is placed in, so integration (Algorithm 3) only earns its keep
    if its prediction from the reference beats the class template.
    """
    structures, labels = np.asarray(structures, float), np.asarray(labels, int)
    return np.stack([structures[labels == k].mean(axis=0) for k in range(n_classes)])


def integration_scores(predicted, ground_truth_mean, templates, labels) -> pd.DataFrame:
    """Per cell, Pearson r of the prediction and of the class template with E[x^s | r, y] (I1).

    ``predicted`` are Algorithm 3's structure channels (z^s = 0) for each cell's class
    ``labels``; ``ground_truth_mean`` is the mean of many ``resample_structure`` draws in that
    cell; ``templates`` come from :func:`class_mean_templates`.
    """
    labels = np.asarray(labels, int)
    truth = _flat(ground_truth_mean)
    return pd.DataFrame(dict(label=labels,
                             model_r=_row_pearson(_flat(predicted), truth),
                             template_r=_row_pearson(_flat(np.asarray(templates)[labels]), truth)))


def integration_summary(scores: pd.DataFrame, class_names: Sequence[str] | None = None) -> dict:
    """Per-class mean r (model, template) and a one-sided paired Wilcoxon test over cells (I1).

    The test asks whether the model's r exceeds the template's in the same cells (the papers
    show integration only qualitatively: Fig. 3, 3D Sec. 3.4.3).
    """
    table = scores.groupby("label").agg(n=("model_r", "size"), model_r=("model_r", "mean"),
                                        template_r=("template_r", "mean"))
    if class_names is not None:
        table.index = [class_names[i] for i in table.index]
    difference = scores.model_r - scores.template_r
    p = (stats.wilcoxon(difference, alternative="greater").pvalue
         if np.any(difference != 0) else 1.0)
    return dict(per_class=table, model_r=float(scores.model_r.mean()),
                template_r=float(scores.template_r.mean()), wilcoxon_p=float(p))


def reference_invariance(reference_channels) -> dict:
    """Pairwise Pearson r between the reference channels of one cell decoded under K classes (I2).

    The conditional decoder draws all channels, but for a fixed z^r the membrane and DNA should
    not depend on which structure is asked for (Algorithm 3 keeps only x̂^s). Input (K, ...).
    """
    corr = _correlation_matrix(reference_channels)
    upper = corr[np.triu_indices(len(corr), k=1)]
    return dict(min_r=float(upper.min()), mean_r=float(upper.mean()), matrix=corr)


# --- V1, V2: variation (Algorithm 4) ----------------------------------------------------------

VARIATION_RIDGE = 1e-6


def variation_statistic(images, ridge: float = VARIATION_RIDGE) -> float:
    """-log det(ρ + εI) / n for n images: Algorithm 4 (3D Sec. 2.5) with a ridge ε.

    ρ is the n x n Pearson matrix of the flattened images. Sign convention: **more variable gives
    a smaller value.** Independent images have ρ ≈ I and a value near 0 (slightly above: a sample
    correlation matrix has det < 1); near-duplicates make ρ nearly singular and the value large.
    The ridge ε keeps the determinant finite when n exceeds the pixel count or images repeat; it
    caps the value at about -log(ε) (13.8 for the default 1e-6). The value depends on n, so only
    compare sets of equal size (the paper uses n = 1000).
    """
    corr = _correlation_matrix(images)
    n = len(corr)
    sign, logdet = np.linalg.slogdet(corr + ridge * np.eye(n))
    if sign <= 0:
        raise ValueError("correlation matrix plus ridge is not positive definite")
    return float(-logdet / n)


def variation_agreement(model_means: pd.Series, truth_means: pd.Series) -> dict:
    """Spearman ρ between per-class mean variation of the model and of the ground truth (V1)."""
    joined = pd.concat([model_means.rename("model"), truth_means.rename("truth")], axis=1).dropna()
    rho, p = stats.spearmanr(joined.model, joined.truth)
    return dict(spearman=float(rho), p=float(p), n_classes=len(joined))


def state_shift(values, in_state, *, top_fraction: float = 0.1) -> dict:
    """How the variation statistic shifts in a state, and the state's enrichment among the most
    variable cells (V2; the analogue of 3D Figs. S7-S8 and Sec. 3.4.5 for mitotic cells).

    ``median_shift`` is median(in state) - median(out); negative means the state is *more*
    variable (smaller -log det / n). The Mann-Whitney test is two-sided. ``enrichment`` is the
    state's share among the ``top_fraction`` smallest values (most variable) over its overall
    share: above 1 when the state is over-represented among the most variable cells.
    """
    values, in_state = np.asarray(values, float), np.asarray(in_state, bool)
    inside, outside = values[in_state], values[~in_state]
    p = stats.mannwhitneyu(inside, outside, alternative="two-sided").pvalue
    top = np.argsort(values, kind="stable")[:max(1, int(round(top_fraction * len(values))))]
    return dict(median_shift=float(np.median(inside) - np.median(outside)), mannwhitney_p=float(p),
                enrichment=float(in_state[top].mean() / in_state.mean()))


# --- G1: inception score (3D Table S10) -------------------------------------------------------

def inception_scores(probabilities, labels, class_names: Sequence[str] | None = None) -> pd.Series:
    """Inception scores with the model's own classifier, per true class and over all images (G1).

    As 3D Table S10 ("KL divergence was computed with respect to p(y) across all classes"): each
    image's KL(p(y | x_i) || p̄(y)) uses the marginal p̄ over *all* the images given; the score of
    class k is exp(mean KL over images of true class k) and "all classes" is exp(mean KL).
    """
    p = np.asarray(probabilities, float)
    labels = np.asarray(labels, int)
    marginal = p.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(marginal)), 0.0)
    kl = terms.sum(axis=1)
    names = class_names or [str(k) for k in range(p.shape[1])]
    scores = {names[k]: math.exp(kl[labels == k].mean()) for k in np.unique(labels)}
    scores["all classes"] = math.exp(kl.mean())
    return pd.Series(scores, name="inception_score")


def inception_bounds(class_counts: pd.Series) -> pd.Series:
    """The scores a confident, correct classifier reaches: 1/p(y = k) per class and exp(H(p(y)))
    over all classes, the maximum (G1).

    With the marginal taken over all classes, KL_i = -log p(y_i) for a one-hot correct classifier,
    so 3D Table S10's "data train" column is the inverse class frequency (Myosin IIB 143.1 from
    138 / 19,755 training cells) and its "all classes" 8.085 is exp of the label entropy.
    """
    frequencies = class_counts / class_counts.sum()
    entropy = float(-(frequencies * np.log(frequencies)).sum())
    bounds = 1 / frequencies
    bounds["all classes"] = math.exp(entropy)
    return bounds.rename("bound")


# --- G2: within-class pairwise correlations (3D Fig. S6) --------------------------------------

def pairwise_correlations(images) -> np.ndarray:
    """The Pearson r of every unordered pair of images (the upper triangle)."""
    corr = _correlation_matrix(images)
    return corr[np.triu_indices(len(corr), k=1)]


def correlation_distribution_distance(images_a, labels_a, images_b, labels_b,
                                      class_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Per class, the KS distance between within-class pairwise-correlation distributions (G2).

    3D Fig. S6 (Sec. 3.4.4) compares these distributions for data, generated and encoded-decoded images by
    eye; the two-sample KS statistic (0: identical, 1: disjoint) puts a number on each class.
    """
    labels_a, labels_b = np.asarray(labels_a, int), np.asarray(labels_b, int)
    images_a, images_b = np.asarray(images_a), np.asarray(images_b)
    rows = []
    for k in sorted(set(labels_a) & set(labels_b)):
        a = pairwise_correlations(images_a[labels_a == k])
        b = pairwise_correlations(images_b[labels_b == k])
        if len(a) == 0 or len(b) == 0:
            continue
        test = stats.ks_2samp(a, b)
        rows.append(dict(structure=class_names[k] if class_names else k, ks=float(test.statistic),
                         p=float(test.pvalue), median_a=float(np.median(a)),
                         median_b=float(np.median(b))))
    return pd.DataFrame(rows).set_index("structure")


# --- L1: class leakage into z^s ---------------------------------------------------------------

def class_leakage(zs, labels, *, folds: int = 5, seed: int = 0) -> dict:
    """Cross-validated accuracy of a logistic regression predicting y from z^s, vs chance (L1).

    The structure code z^s is meant to hold what the class and reference do not; the 3D paper's
    (K+1)-way EncD^s (3D Sec. 2.2.2) penalises codes whose class can be told. ``chance`` is the
    majority-class frequency, what a constant guess scores on imbalanced classes.
    """
    zs, labels = np.asarray(zs, float), np.asarray(labels, int)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    splits = StratifiedKFold(folds, shuffle=True, random_state=seed)
    predicted = cross_val_predict(model, zs, labels, cv=splits)
    chance = np.bincount(labels).max() / len(labels)
    accuracy = float((predicted == labels).mean())
    return dict(accuracy=accuracy, chance=float(chance), excess=accuracy - chance)


# --- T1: traversal monotonicity ---------------------------------------------------------------

MONOTONE_SPEARMAN = 0.9


def membrane_area(frames, *, fraction: float = 0.5) -> np.ndarray:
    """The decoded cell's area per frame, in pixels: membrane above ``fraction`` of the frame's
    maximum, holes filled (so an outline and a filled body give the same area). Input (n, H, W).

    A relative threshold keeps the area meaningful when a decoder's output is dim overall.
    """
    frames = np.asarray(frames, float)
    areas = []
    for frame in frames:
        mask = frame > fraction * frame.max() if frame.max() > 0 else np.zeros(frame.shape, bool)
        areas.append(int(ndimage.binary_fill_holes(mask).sum()))
    return np.asarray(areas)


def traversal_monotonicity(values, *, min_abs_spearman: float = MONOTONE_SPEARMAN) -> dict:
    """Whether a quantity changes monotonically along a latent traversal (T1; 2D Fig. S4, Sec. 3.4.2).

    ``spearman`` is the rank correlation with the step index; the traversal counts as monotone
    when |ρ| >= ``min_abs_spearman`` (0.9). On the paper's five steps (-3 ... 3 SD) that demands
    strict monotonicity; longer walks may wiggle a little. ``strict`` reports exact monotonicity.
    """
    values = np.asarray(values, float)
    if np.ptp(values) == 0:
        return dict(spearman=0.0, strict=False, monotone=False)
    rho = float(stats.spearmanr(np.arange(len(values)), values).statistic)
    steps = np.diff(values)
    strict = bool(np.all(steps > 0) or np.all(steps < 0))
    return dict(spearman=rho, strict=strict, monotone=abs(rho) >= min_abs_spearman)
