"""Two-dimensional maps of representations, as the papers draw them.

cytoself's atlas is a UMAP with umap-learn's defaults (15 neighbours, min_dist 0.1, Euclidean;
Methods, "Dimensionality reduction and clustering"; Fig. 2); a fixed ``random_state`` makes it
repeatable (umap-learn then runs on one thread). PCA is the fast stand-in for smoke runs.
"""
from __future__ import annotations

import numpy as np


def two_dimensional(features: np.ndarray, *, method: str = "umap", seed: int = 0,
                    n_neighbors: int = 15, min_dist: float = 0.1) -> np.ndarray:
    """(N, D) features -> (N, 2) map coordinates by ``umap`` or ``pca``."""
    features = np.asarray(features, np.float32).reshape(len(features), -1)
    if method == "umap":
        import umap

        return umap.UMAP(n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed,
                         n_jobs=1).fit_transform(features)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(2, random_state=seed).fit_transform(features)
    raise ValueError(f"unknown embedding method {method!r}; use 'umap' or 'pca'")
