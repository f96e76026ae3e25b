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
