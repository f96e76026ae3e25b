"""The feature spectrum of cytoself (Kobayashi et al. 2022, Fig. 4, Supp. Figs. 8 and 10).

The pipeline (Fig. 4 and its Methods section, "Feature spectrum"):

1. per crop, a histogram of its local (VQ1) code indices (``vqindhist1``);
2. ``protein_code_histograms``: the mean histogram of each protein, H (proteins × K);
3. ``code_correlation``: Pearson correlation between the columns of H, C (K × K);
4. ``feature_order``: the leaf order of the dendrogram ``seaborn.clustermap(C)`` draws, i.e. the
   paper's feature ordering (``dgram_index`` in the official code);
5. ``feature_spectra``: each protein's histogram re-ordered by that ordering;
6. uses: ``feature_clusters`` (the top of the tree cut into clusters i, ii, ...),
   ``consensus_spectra`` per localisation class (Fig. 4b) and ``assign_by_spectrum`` for a protein
   left out of training (the orphan FAM241A, Fig. 4c–e).

The official code builds C with Python loops over ``scipy.stats.pearsonr`` (2048² calls); here it
is one matrix product.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.cluster import hierarchy


def protein_code_histograms(code_histograms: np.ndarray, proteins) -> pd.DataFrame:
    """H: the mean code histogram of each protein's crops (``sum / len``, step 2).

    ``code_histograms`` is (n_crops, K), one row per crop; ``proteins`` names the protein of each
    crop (missing names are dropped). Rows of the result are the proteins in sorted order,
    columns the code indices 0..K-1.
    """
    code_histograms = np.asarray(code_histograms, dtype=np.float64)
    if code_histograms.ndim != 2:
        raise ValueError(f"expected per-crop histograms of shape (n_crops, K), got {code_histograms.shape}")
    if len(proteins) != len(code_histograms):
        raise ValueError(f"got {len(code_histograms)} histograms but {len(proteins)} protein names")
    table = pd.DataFrame(code_histograms).groupby(np.asarray(proteins), sort=True).mean()
    table.index.name, table.columns.name = "protein", "code"
    return table


def code_correlation(H) -> np.ndarray:
    """C: Pearson correlation between the columns (codes) of H, a K × K array (step 3).

    A code that is unused, or used equally by every protein, has no defined correlation; as in
    the official code its entries are 0, and its diagonal entry too. Every other code has 1 on
    the diagonal.
    """
    H = np.asarray(H, dtype=np.float64)
    centred = H - H.mean(0)
    norms = np.sqrt((centred ** 2).sum(0))
    defined = norms > 1e-12 * (1 + np.abs(H).max(initial=0))
    unit = np.divide(centred, norms, out=np.zeros_like(centred), where=defined)
    C = np.clip(unit.T @ unit, -1, 1)
    C[np.diag_indices_from(C)] = defined.astype(np.float64)
    return C


def feature_linkage(C, *, method: str = "average", metric: str = "euclidean") -> np.ndarray:
    """The linkage ``seaborn.clustermap(C)`` computes for its row dendrogram (step 4).

    seaborn (0.13) calls ``scipy.cluster.hierarchy.linkage(C, method="average",
    metric="euclidean")`` on the rows of C taken as observation vectors (so the distance between
    two codes is the Euclidean distance between their correlation profiles, not 1 − r), with no
    optimal leaf ordering. Where the ``fastcluster`` package is installed seaborn uses it instead,
    which gives the same tree up to the order of tied merges.
    """
    return hierarchy.linkage(np.asarray(C, dtype=np.float64), method=method, metric=metric)


def feature_order(C, *, method: str = "average", metric: str = "euclidean") -> np.ndarray:
    """The paper's feature ordering: the leaves of C's row dendrogram, left to right.

    Equal to ``seaborn.clustermap(C).dendrogram_row.reordered_ind``, which is
    ``scipy.cluster.hierarchy.dendrogram(linkage)["leaves"]``; ``leaves_list`` gives the same
    left-first traversal without ``dendrogram``'s recursion (which can overflow Python's stack
    on 2048 codes).
    """
    return hierarchy.leaves_list(feature_linkage(C, method=method, metric=metric))


def feature_clusters(C, order=None, n_clusters: int = 11, *, method: str = "average",
                     metric: str = "euclidean") -> np.ndarray:
    """Cut the top of the feature dendrogram into ``n_clusters`` clusters (step 6; the
    paper cut 11 by hand).

    The clusters are the subtrees left after undoing the last ``n_clusters - 1`` merges, so they
    are contiguous blocks of the feature ordering; they are numbered 0, 1, ... from left to right
    in ``order`` (the paper's i, ii, ...; see ``roman``). The paper cut its 11 clusters by hand.
    Returns one cluster number per code, indexed by code.
    """
    Z = feature_linkage(C, method=method, metric=metric)
    n_codes = len(Z) + 1
    if not 1 <= n_clusters <= n_codes:
        raise ValueError(f"n_clusters must be between 1 and the number of codes ({n_codes}), "
                         f"got {n_clusters}")
    order = hierarchy.leaves_list(Z) if order is None else np.asarray(order)
    nodes = hierarchy.to_tree(Z, rd=True)[1]
    first_undone = 2 * n_codes - n_clusters  # nodes with ids >= this are the merges undone
    roots = [int(child) for child in Z[n_codes - n_clusters:, :2].ravel() if child < first_undone]
    if n_clusters == 1:
        roots = [2 * n_codes - 2]
    labels = np.empty(n_codes, dtype=int)
    for root in roots:
        labels[nodes[root].pre_order()] = root
    # Number the clusters by where they first appear in the ordering, left to right.
    _, first = np.unique(labels[order], return_index=True)
    left_to_right = labels[order][np.sort(first)]
    sorter = np.argsort(left_to_right)
    return sorter[np.searchsorted(left_to_right, labels, sorter=sorter)]


def roman(number: int) -> str:
    """The paper's cluster names: ``roman(0) == "i"``, ``roman(10) == "xi"``."""
    numerals = [(1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"),
                (50, "l"), (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")]
    number, text = number + 1, ""
    for value, numeral in numerals:
        count, number = divmod(number, value)
        text += numeral * count
    return text


def feature_spectra(H, order):
    """Spectra: the columns of H re-ordered by the feature ordering (step 5).

    A DataFrame keeps its protein index and gets the code indices, in feature order, as columns;
    an array stays an array.
    """
    order = np.asarray(order)
    if isinstance(H, pd.DataFrame):
        return H.iloc[:, order]
    return np.asarray(H)[:, order]


def consensus_spectra(spectra, classes) -> pd.DataFrame:
    """The mean spectrum of each localisation class (Fig. 4b), one row per class (sorted).

    ``classes`` gives the class of each row of ``spectra``: an array aligned with the rows, or a
    Series indexed by protein (aligned on the DataFrame's index). Proteins with a missing class
    (mixed localisations, say) are left out.
    """
    spectra = spectra if isinstance(spectra, pd.DataFrame) else pd.DataFrame(np.asarray(spectra))
    if isinstance(classes, pd.Series) and not isinstance(classes.index, pd.RangeIndex):
        classes = classes.reindex(spectra.index)
    classes = np.asarray(classes, dtype=object)
    if len(classes) != len(spectra):
        raise ValueError(f"got {len(spectra)} spectra but {len(classes)} class labels")
    table = spectra.groupby(classes, sort=True).mean()  # groupby drops missing classes
    table.index.name = "class"
    return table


def assign_by_spectrum(spectrum, consensus: pd.DataFrame) -> tuple[object, pd.Series]:
    """Localise a protein by the class whose consensus spectrum it correlates with best (Fig. 4c–e).

    Returns the best class and the Pearson correlation with every class (in ``consensus`` order).
    ``spectrum`` and the rows of ``consensus`` must use the same code order (both re-ordered, or
    both raw: a correlation does not depend on the order, only on the pairing).
    """
    spectrum = np.asarray(spectrum, dtype=np.float64).ravel()
    profiles = consensus.to_numpy(dtype=np.float64)
    if profiles.shape[1] != len(spectrum):
        raise ValueError(f"the spectrum has {len(spectrum)} codes, the consensus spectra "
                         f"{profiles.shape[1]}")
    correlations = code_correlation(np.column_stack([spectrum, profiles.T]))[0, 1:]
    result = pd.Series(correlations, index=consensus.index, name="pearson_r")
    return result.idxmax(), result


def cluster_shares(code_histograms: np.ndarray, cluster_labels) -> np.ndarray:
    """Per crop, the share of its codes that belong to each feature cluster (n_crops × n_clusters).

    A crop with an empty histogram has share 0 everywhere.
    """
    code_histograms = np.asarray(code_histograms, dtype=np.float64)
    cluster_labels = np.asarray(cluster_labels)
    n_clusters = int(cluster_labels.max()) + 1
    membership = np.zeros((len(cluster_labels), n_clusters))
    membership[np.arange(len(cluster_labels)), cluster_labels] = 1
    totals = code_histograms.sum(1, keepdims=True)
    return np.divide(code_histograms @ membership, totals,
                     out=np.zeros((len(code_histograms), n_clusters)), where=totals > 0)


def representative_crops(code_histograms: np.ndarray, cluster_labels, n: int = 4) -> dict[int, np.ndarray]:
    """For each feature cluster, the ``n`` crops with the highest share of that cluster's codes.

    The paper shows four images per cluster (Fig. 4a, Supp. Fig. 10) and says how they were
    chosen "in the methods", which do not. Our rule: rank crops by the
    fraction of their local codes that fall in the cluster, highest first, ties broken by crop
    index. Returns {cluster number: crop indices}.
    """
    shares = cluster_shares(code_histograms, cluster_labels)
    return {cluster: np.argsort(-shares[:, cluster], kind="stable")[:n]
            for cluster in range(shares.shape[1])}
