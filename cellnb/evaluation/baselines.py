"""Representations that need no training: the bar every learned representation must clear.

- raw pixels (optionally PCA-reduced);
- a handful of hand-crafted intensity and texture features, in the spirit of the CellProfiler
  measurements the papers compare against, and paired cell inpainting's "classic" set
  (intensity, Pearson correlation with the markers, Haralick texture);
- a randomly initialised CNN with global max-pooling. Random encoders are a strong baseline
  (paired cell inpainting reports one in Table 1): on an easy generator a *random* encoder
  scores near ceiling, and a benchmark on which it does cannot show that training does anything.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage
from sklearn.decomposition import PCA

from ..data.transforms import minmax_normalize
from ..sim.catalogue import MULTI_CLASS_KINDS


def raw_pixel_features(images: np.ndarray, *, n_components: int | None = 50, seed: int = 0,
                       fit_on: np.ndarray | None = None) -> np.ndarray:
    """Flattened per-crop normalised pixels, PCA-reduced when ``n_components`` is given.

    ``fit_on`` (a boolean or index array) chooses the images the PCA is fitted on, so that
    test images never inform the projection.
    """
    flat = minmax_normalize(np.asarray(images, np.float32), axis=(-2, -1)).reshape(len(images), -1)
    if not n_components:
        return flat
    fit = flat if fit_on is None else flat[fit_on]
    pca = PCA(n_components=min(n_components, *fit.shape), random_state=seed).fit(fit)
    return pca.transform(flat)


def handcrafted_features(protein: np.ndarray, nuclear_distance: np.ndarray) -> np.ndarray:
    """Twelve intensity, localisation and texture features per crop (N, H, W inputs).

    Nuclear and cytoplasmic regions come from the sign of the nuclear distance map, as a
    pipeline would get them from a nuclear segmentation.
    """
    protein = minmax_normalize(np.asarray(protein, np.float32), axis=(-2, -1))
    inside = nuclear_distance > 0
    near = (nuclear_distance <= 0) & (nuclear_distance > -0.08)
    far = nuclear_distance <= -0.08
    rim = np.abs(nuclear_distance) < 0.03

    def region_mean(mask):
        return (protein * mask).sum((1, 2)) / np.maximum(mask.sum((1, 2)), 1)

    total = protein.sum((1, 2)) + 1e-6
    laplace = np.abs(ndimage.laplace(protein, mode="nearest")) if protein.ndim == 2 else \
        np.abs(np.stack([ndimage.laplace(p, mode="nearest") for p in protein]))
    mean = protein.mean((1, 2))
    bright = protein > (mean + 2 * protein.std((1, 2)))[:, None, None]
    features = [
        region_mean(inside), region_mean(near), region_mean(far), region_mean(rim),
        (protein * inside).sum((1, 2)) / total,                       # nuclear fraction
        region_mean(rim) / (region_mean(inside) + 1e-3),              # rim enrichment
        protein.std((1, 2)) / (mean + 1e-3),                          # coefficient of variation
        laplace.mean((1, 2)) / (mean + 1e-3),                         # fine texture
        bright.mean((1, 2)),                                          # bright-spot area
        (bright & inside).sum((1, 2)) / np.maximum(bright.sum((1, 2)), 1),  # spots in nucleus
        np.percentile(protein.reshape(len(protein), -1), 99, axis=1) / (mean + 1e-3),  # peakiness
        _correlation(protein, inside.astype(np.float32)),              # co-localisation with nucleus
    ]
    return np.stack(features, 1)


def _correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.reshape(len(a), -1) - a.reshape(len(a), -1).mean(1, keepdims=True)
    b = b.reshape(len(b), -1) - b.reshape(len(b), -1).mean(1, keepdims=True)
    return (a * b).sum(1) / (np.sqrt((a * a).sum(1) * (b * b).sum(1)) + 1e-8)


HARALICK_PROPERTIES = ("contrast", "homogeneity", "energy", "correlation")
# The four co-occurrence directions of Haralick's definition: 0, 45, 90 and 135 degrees.
HARALICK_ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)


def intensity_texture_names(markers, distances=(1, 2, 4)) -> list[str]:
    """The column names of :func:`intensity_texture_features`, in order.

    ``markers`` is the number of marker channels or their names (then the Pearson columns say
    which marker, e.g. ``pearson_nucleus``).
    """
    markers = [f"marker{i}" for i in range(markers)] if isinstance(markers, int) else list(markers)
    return (["protein_sum", "protein_mean", "protein_sd"]
            + [f"pearson_{name}" for name in markers]
            + [f"{prop}_d{d}" for d in distances for prop in HARALICK_PROPERTIES])


def intensity_texture_features(protein: np.ndarray, markers: np.ndarray, *,
                               distances=(1, 2, 4), levels: int = 32) -> np.ndarray:
    """Classic intensity, co-localisation and texture features of each crop's protein channel.

    The human-cell "classic computer vision" baseline of paired cell inpainting (Lu et al.,
    PLoS Comput Biol 2019, Methods, "Baseline feature extraction and benchmarking"; scored in
    Fig 2B and Table 2): the sum, mean and standard deviation of the protein's intensity, its
    Pearson correlation with each structural marker, and Haralick texture of the protein at
    several scales (the paper: 1, 2, 4, 8 and 16 px on 64-px crops; the default suits 32 px).

    ``protein`` is (N, H, W) and ``markers`` (N, M, H, W). Every channel of every crop is min-max
    normalised to [0, 1] first, as the networks' inputs are. Texture: the protein is quantised to
    ``levels`` grey levels, a symmetric, normalised grey-level co-occurrence matrix is built at
    each distance and the four angles, and contrast, homogeneity, energy and correlation
    (scikit-image's ``graycoprops``) are averaged over the angles. A constant crop gives finite
    values: Pearson 0, texture of a flat image (scikit-image sets its correlation to 1).

    Returns (N, 3 + M + 4 * len(distances)) float64, columns named by
    :func:`intensity_texture_names`.
    """
    from skimage.feature import graycomatrix, graycoprops

    protein = np.asarray(protein, np.float64)
    markers = np.asarray(markers, np.float64)
    if protein.ndim != 3 or markers.ndim != 4 or markers.shape[0] != protein.shape[0] \
            or markers.shape[2:] != protein.shape[1:]:
        raise ValueError(f"expected protein (N, H, W) and markers (N, M, H, W) of the same N, H, "
                         f"W; got {protein.shape} and {markers.shape}")
    distances = [int(d) for d in distances]
    if not distances or min(distances) < 1 or max(distances) >= min(protein.shape[1:]):
        raise ValueError(f"texture distances must lie in 1..{min(protein.shape[1:]) - 1} px for "
                         f"{protein.shape[1:]} crops, got {distances}")
    if not 2 <= levels <= 256:
        raise ValueError(f"levels must be in 2..256, got {levels}")
    protein = minmax_normalize(protein, axis=(-2, -1))
    markers = minmax_normalize(markers, axis=(-2, -1))

    intensity = [protein.sum((1, 2)), protein.mean((1, 2)), protein.std((1, 2))]
    pearson = [_correlation(protein, markers[:, m]) for m in range(markers.shape[1])]
    grey = np.minimum((protein * levels).astype(np.uint8), levels - 1)   # 1.0 -> the top level
    texture = np.empty((len(protein), len(distances) * len(HARALICK_PROPERTIES)))
    for i, image in enumerate(grey):
        matrix = graycomatrix(image, distances, HARALICK_ANGLES, levels=levels, symmetric=True,
                              normed=True)                               # (L, L, D, 4)
        texture[i] = np.stack([graycoprops(matrix, prop).mean(axis=1)   # (D,) per property
                               for prop in HARALICK_PROPERTIES], axis=1).ravel()
    return np.column_stack([*intensity, *pearson, texture])


def random_cnn_features(images: np.ndarray, *, seed: int = 0, width: int = 32, depth: int = 4,
                        batch_size: int = 256) -> np.ndarray:
    """Global-max-pooled features of a randomly initialised conv net (seeded, eval mode)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    layers, channels = [], images.shape[1]
    for i in range(depth):
        out = width * 2 ** min(i, 2)
        layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU()]
        if i < depth - 1:
            layers.append(nn.MaxPool2d(2))
        channels = out
    network = nn.Sequential(*layers).eval()
    normalised = minmax_normalize(np.asarray(images, np.float32), axis=(-2, -1))
    features = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(normalised[start:start + batch_size])
            features.append(network(batch).amax((2, 3)).numpy())
    return np.concatenate(features)


def baseline_accuracies(images: np.ndarray, labels, train, test, *, k: int = 10,
                        seed: int = 0) -> pd.DataFrame:
    """Balanced k-NN accuracy of the three training-free representations on held-out crops.

    ``images`` are (N, 3, H, W) crops with channels protein, nucleus, nuclear distance; ``train``
    and ``test`` index disjoint sets (split by field of view, so no field is seen twice).
    """
    from .knn import knn_accuracy

    labels = np.asarray(labels)
    representations = {
        "raw pixels (PCA 50)": raw_pixel_features(images[:, :2], fit_on=train, seed=seed),
        "hand-crafted features (12)": handcrafted_features(images[:, 0], images[:, 2]),
        "random CNN, global max-pool": random_cnn_features(images, seed=seed),
    }
    rows = [dict(representation=name, dimensions=features.shape[1],
                 balanced_knn_accuracy=knn_accuracy(features[train], labels[train],
                                                    features[test], labels[test], k=k))
            for name, features in representations.items()]
    return pd.DataFrame(rows)


def atlas_hardness(crops, *, test_fraction: float = 0.25, k: int = 10, seed: int = 0) -> pd.DataFrame:
    """The training-free baselines on an atlas of crops, scored on held-out fields.

    Mixed and variable proteins have no single class and are left out; the rest is split by
    field of view (stratified by protein), so no field is seen in both training and test. The
    table's ``attrs["chance"]`` is the balanced accuracy of guessing.
    """
    from ..data.splits import grouped_split

    single = crops.subset(~crops.metadata.localization.isin(MULTI_CLASS_KINDS).to_numpy())
    split = grouped_split(single.metadata.field, strata=single.metadata.protein, seed=seed,
                          fractions={"train": 1 - test_fraction, "test": test_fraction})
    table = baseline_accuracies(single.images, single.metadata.localization, split["train"],
                                split["test"], k=k, seed=seed)
    table["n_train"], table["n_test"] = len(split["train"]), len(split["test"])
    table.attrs["chance"] = 1 / single.metadata.localization.nunique()
    return table
