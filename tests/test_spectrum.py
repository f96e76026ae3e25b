"""The feature spectrum (cytoself Fig. 4): histograms → correlation → ordering → spectra → uses."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cellnb.papers.cytoself.spectrum import (
    assign_by_spectrum,
    cluster_shares,
    code_correlation,
    consensus_spectra,
    feature_clusters,
    feature_order,
    feature_spectra,
    protein_code_histograms,
    representative_crops,
    roman,
)

BLOCK = 12  # codes per planted block


def _planted_atlas(seed=0, proteins_per_group=5, crops_per_protein=20, codes_per_crop=64):
    """Two localisation groups whose proteins draw their codes from disjoint blocks.

    Codes 0..11 belong to group "nuclear", 12..23 to "cytoplasmic"; codes 24..27 are never used.
    Each protein weighs the codes of its block a little differently (Dirichlet, concentration 5),
    so proteins are distinguishable yet every code of a block rises and falls with its group.
    """
    rng = np.random.default_rng(seed)
    n_codes = 2 * BLOCK + 4
    histograms, proteins, classes = [], [], {}
    for group, name in enumerate(["nuclear", "cytoplasmic"]):
        for p in range(proteins_per_group):
            protein = f"{name}-{p}"
            weights = np.zeros(n_codes)
            weights[group * BLOCK:(group + 1) * BLOCK] = rng.dirichlet(5 * np.ones(BLOCK))
            histograms.append(rng.multinomial(codes_per_crop, weights, size=crops_per_protein))
            proteins += [protein] * crops_per_protein
            classes[protein] = name
    return np.concatenate(histograms), np.array(proteins), pd.Series(classes)


def test_protein_histograms_are_per_protein_means():
    histograms = np.array([[2, 0, 0], [0, 2, 0], [1, 1, 1], [3, 0, 0]])
    H = protein_code_histograms(histograms, ["b", "b", "a", None])
    assert list(H.index) == ["a", "b"]  # sorted; a crop without a protein is dropped
    np.testing.assert_allclose(H.loc["b"], [1, 1, 0])
    np.testing.assert_allclose(H.loc["a"], [1, 1, 1])


def test_correlation_is_symmetric_with_unit_diagonal_and_zero_for_unused_codes():
    histograms, proteins, _ = _planted_atlas()
    H = protein_code_histograms(histograms, proteins)
    C = code_correlation(H)
    assert C.shape == (H.shape[1], H.shape[1])
    np.testing.assert_allclose(C, C.T)
    used = H.to_numpy().std(0) > 0
    assert not used[-4:].any() and used[:-4].all()
    np.testing.assert_allclose(np.diag(C)[used], 1)
    assert (C[~used] == 0).all() and (C[:, ~used] == 0).all()


def test_correlation_equals_scipy_pearsonr():
    rng = np.random.default_rng(4)
    H = rng.poisson(rng.uniform(0, 5, 40), size=(15, 40)).astype(float)
    C = code_correlation(H)
    for i, j in rng.integers(0, 40, size=(10, 2)):
        if i != j:
            assert C[i, j] == pytest.approx(stats.pearsonr(H[:, i], H[:, j])[0], abs=1e-12)


def test_order_is_a_permutation():
    C = code_correlation(np.random.default_rng(5).random((10, 25)))
    order = feature_order(C)
    assert sorted(order) == list(range(25))


def test_order_equals_seaborn_clustermap_row_dendrogram():
    sns = pytest.importorskip("seaborn")
    plt = pytest.importorskip("matplotlib.pyplot")
    H = np.random.default_rng(6).poisson(1.0, size=(20, 30)).astype(float)
    H[:, [3, 17, 25]] = 0  # unused codes: identical zero rows in C, i.e. tied distances
    C = code_correlation(H)
    grid = sns.clustermap(C)  # seaborn's defaults, as in the paper's code
    try:
        assert list(feature_order(C)) == list(grid.dendrogram_row.reordered_ind)
    finally:
        plt.close(grid.figure)


def test_clusters_recover_planted_blocks_and_are_numbered_left_to_right():
    histograms, proteins, _ = _planted_atlas()
    C = code_correlation(protein_code_histograms(histograms, proteins))
    order = feature_order(C)
    labels = feature_clusters(C, order, n_clusters=3)
    assert np.all(np.diff(labels[order]) >= 0)  # contiguous blocks of the ordering, numbered 0, 1, 2
    assert set(labels) == {0, 1, 2}
    blocks = [range(0, BLOCK), range(BLOCK, 2 * BLOCK), range(2 * BLOCK, 2 * BLOCK + 4)]
    for block in blocks:
        assert len(set(labels[list(block)])) == 1  # each planted block lies in one cluster
    assert len({labels[block[0]] for block in blocks}) == 3  # and the blocks lie in different ones


def test_cluster_counts_at_the_extremes():
    C = code_correlation(np.random.default_rng(7).random((8, 12)))
    assert set(feature_clusters(C, n_clusters=1)) == {0}
    assert sorted(feature_clusters(C, n_clusters=12)) == list(range(12))
    with pytest.raises(ValueError, match="n_clusters"):
        feature_clusters(C, n_clusters=13)


def test_roman_numerals_name_the_clusters():
    assert [roman(i) for i in (0, 3, 4, 8, 10)] == ["i", "iv", "v", "ix", "xi"]


def test_spectra_reorder_the_columns():
    H = pd.DataFrame([[1, 2, 3], [4, 5, 6]], index=["p", "q"])
    spectra = feature_spectra(H, [2, 0, 1])
    assert list(spectra.columns) == [2, 0, 1]
    np.testing.assert_array_equal(spectra.loc["q"], [6, 4, 5])
    np.testing.assert_array_equal(feature_spectra(H.to_numpy(), [2, 0, 1])[0], [3, 1, 2])


def test_consensus_separates_groups_and_localises_a_held_out_protein():
    histograms, proteins, classes = _planted_atlas()
    held_out = "nuclear-4"
    H = protein_code_histograms(histograms, proteins)
    order = feature_order(code_correlation(H.drop(held_out)))
    spectra = feature_spectra(H, order)
    consensus = consensus_spectra(spectra.drop(held_out), classes)
    assert list(consensus.index) == ["cytoplasmic", "nuclear"]
    nuclear_codes = spectra.columns < BLOCK
    assert consensus.loc["nuclear", nuclear_codes].sum() > 0.99 * consensus.loc["nuclear"].sum()
    assert consensus.loc["cytoplasmic", nuclear_codes].sum() == 0
    best, correlations = assign_by_spectrum(spectra.loc[held_out], consensus)
    assert best == "nuclear"
    assert correlations["nuclear"] > 0 > correlations["cytoplasmic"]


def test_consensus_leaves_out_proteins_without_a_class():
    spectra = pd.DataFrame([[1.0, 0.0], [3.0, 0.0], [0.0, 9.0]], index=["a", "b", "mixed"])
    consensus = consensus_spectra(spectra, pd.Series({"a": "x", "b": "x", "mixed": None}))
    assert list(consensus.index) == ["x"]
    np.testing.assert_allclose(consensus.loc["x"], [2, 0])


def test_representative_crops_have_the_highest_share_of_the_cluster_codes():
    histograms = np.array([[4, 0, 0, 0],    # all codes in cluster 0
                           [2, 2, 0, 0],    # cluster 0 only
                           [1, 0, 3, 0],    # mostly cluster 1
                           [0, 0, 0, 4],    # all in cluster 1
                           [0, 0, 0, 0]])   # empty crop: share 0 everywhere
    clusters = np.array([0, 0, 1, 1])
    np.testing.assert_allclose(cluster_shares(histograms, clusters)[2], [0.25, 0.75])
    picks = representative_crops(histograms, clusters, n=2)
    assert list(picks[0]) == [0, 1]  # tie at share 1: lower index first
    assert list(picks[1]) == [3, 2]
