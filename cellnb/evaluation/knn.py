"""k-nearest-neighbour accuracy of a representation: the common yardstick of every chapter.

Fit on the features of one set of fields, score on held-out fields, and report *balanced*
accuracy (the mean of per-class recalls), so large classes cannot hide poor small ones.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import balanced_accuracy_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def knn_accuracy(train_features: np.ndarray, train_labels, test_features: np.ndarray, test_labels,
                 *, k: int = 10, standardize: bool = True, metric: str = "euclidean") -> float:
    """Balanced accuracy of a k-NN classifier fitted on train and scored on test."""
    train_features = np.asarray(train_features).reshape(len(train_features), -1)
    test_features = np.asarray(test_features).reshape(len(test_features), -1)
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(f"train features have {train_features.shape[1]} dimensions, test features "
                         f"{test_features.shape[1]}")
    steps = [StandardScaler()] if standardize else []
    model = make_pipeline(*steps, KNeighborsClassifier(n_neighbors=min(k, len(train_features)),
                                                      metric=metric))
    model.fit(train_features, np.asarray(train_labels))
    with warnings.catch_warnings():
        # A class absent from the test fields (a rare class, say) may still be predicted; the
        # score is then averaged over the classes present, which is what we want.
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return float(balanced_accuracy_score(np.asarray(test_labels), model.predict(test_features)))


def knn_accuracy_loo(features: np.ndarray, labels, *, k: int = 11, standardise: bool = True,
                     balanced: bool = True) -> float:
    """Leave-one-out k-NN accuracy over one set of cells: the paper's Table 1 and Fig 2A protocol.

    Lu et al. 2019, Methods: features are centred and scaled by their mean and standard deviation
    over the evaluation set, every cell is predicted from its k nearest *other* cells (Euclidean,
    k = 11, "leave-one-out cross-validation"), and the score is balanced accuracy (Fig 2A).

    One neighbour query with k + 1 neighbours answers every cell; the cell itself is then dropped
    by index, not by position, so an exact duplicate that the search happens to return first is
    kept as a neighbour while the cell never votes for itself. A tie in the vote goes to the class
    that sorts first (scikit-learn's ``KNeighborsClassifier`` does the same). ``k`` is cut to
    n - 1 when fewer cells are given, as in :func:`knn_accuracy`.
    """
    features = np.asarray(features, dtype=float)
    features = features.reshape(len(features), -1)
    labels = np.asarray(labels)
    if labels.shape != (len(features),):
        raise ValueError(f"expected one label per cell: {len(features)} cells, labels of shape "
                         f"{labels.shape}")
    if len(features) < 2:
        raise ValueError(f"leave-one-out needs at least 2 cells, got {len(features)}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if not np.isfinite(features).all():
        raise ValueError("features contain NaN or infinity; drop or impute those cells first")
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(features) - 1)
    if standardise:
        features = StandardScaler().fit_transform(features)
    neighbours = NearestNeighbors(n_neighbors=k + 1).fit(features).kneighbors(
        features, return_distance=False)                                   # (n, k + 1)
    not_self = neighbours != np.arange(len(features))[:, None]
    # Stable sort puts the k + 1 (self absent) or k (self present) others first, in distance order.
    keep = np.argsort(~not_self, axis=1, kind="stable")[:, :k]
    neighbours = np.take_along_axis(neighbours, keep, axis=1)              # (n, k)
    classes, codes = np.unique(labels, return_inverse=True)
    votes = np.zeros((len(features), len(classes)), dtype=int)
    np.add.at(votes, (np.repeat(np.arange(len(features)), k), codes[neighbours].ravel()), 1)
    predicted = classes[votes.argmax(axis=1)]                              # ties: first class
    if not balanced:
        return float(np.mean(predicted == labels))
    return float(balanced_accuracy_score(labels, predicted))
