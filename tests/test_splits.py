"""Specification of the splits: invariants checked over many random configurations rather than
golden index lists, because any split with these properties is a correct one."""
import numpy as np
import pandas as pd
import pytest

from cellnb.data.splits import grouped_split, split_by

FRACTION_CHOICES = [(0.8, 0.1, 0.1), (0.6, 0.2, 0.2), (0.5, 0.5), (0.7, 0.3, 0.0),
                    (0.25, 0.25, 0.25, 0.25)]


def random_configuration(seed):
    """Fields of view of random sizes, each imaging one protein, shuffled into a sample order."""
    rng = np.random.default_rng(seed)
    n_strata = int(rng.integers(1, 7))
    groups, strata = [], []
    field = 0
    for stratum in range(n_strata):
        # Proteins with a handful of fields are the hard case for stratification; make them common.
        n_fields = int(rng.integers(1, 7) if rng.random() < 0.5 else rng.integers(7, 40))
        for _ in range(n_fields):
            size = int(rng.integers(1, 15))
            groups += [f"field{field}"] * size
            strata += [f"protein{stratum}"] * size
            field += 1
    order = rng.permutation(len(groups))
    fractions = FRACTION_CHOICES[seed % len(FRACTION_CHOICES)]
    names = tuple(f"part{k}" for k in range(len(fractions)))
    return np.array(groups)[order], np.array(strata)[order], fractions, names


@pytest.mark.parametrize("seed", range(12))
def test_grouped_split_invariants(seed):
    groups, strata, fractions, names = random_configuration(seed)
    parts = grouped_split(groups, strata=strata, fractions=fractions, names=names, seed=seed)
    assert tuple(parts) == names
    n = len(groups)

    # Disjoint parts that together cover every sample exactly once, as sorted int positions.
    everything = np.concatenate(list(parts.values()))
    assert np.array_equal(np.sort(everything), np.arange(n))
    for positions in parts.values():
        assert positions.dtype.kind == "i" and np.all(np.diff(positions) > 0)

    part_of = np.empty(n, dtype=int)
    for k, positions in enumerate(parts.values()):
        part_of[positions] = k
    table = pd.DataFrame({"group": groups, "stratum": strata, "part": part_of})

    # No group crosses parts.
    assert table.groupby("group")["part"].nunique().max() == 1

    targets = np.asarray(fractions)
    open_parts = np.flatnonzero(targets > 0)
    for stratum, rows in table.groupby("stratum"):
        n_groups = rows["group"].nunique()
        largest_group = rows["group"].value_counts().max()
        counts = np.bincount(rows["part"], minlength=len(targets))
        # Each stratum with enough groups is present in every part that should get samples...
        if n_groups >= len(open_parts):
            assert np.all(counts[open_parts] > 0), (stratum, counts)
        assert np.all(counts[targets == 0] == 0)
        # ...and each part is within what whole groups allow of its share of the stratum.
        error = np.abs(counts - targets * len(rows))
        assert np.all(error <= (len(open_parts) - 1) * largest_group + 1e-9), (stratum, counts)


@pytest.mark.parametrize("n_groups", [3, 4, 5])
def test_a_stratum_with_as_many_groups_as_parts_reaches_every_part(n_groups):
    # Greedy filling alone would give all of 3-5 equal fields to "train" at 0.8/0.1/0.1.
    groups = np.repeat(np.arange(n_groups), 4)
    for seed in range(5):
        parts = grouped_split(groups, strata=np.zeros_like(groups), seed=seed)
        assert all(len(positions) > 0 for positions in parts.values())
        assert len(parts["train"]) == 4 * (n_groups - 2)


def test_proportions_are_close_when_groups_are_small_and_many():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(600), 5)
    strata = np.repeat(rng.integers(0, 4, size=600), 5)
    parts = grouped_split(groups, strata=strata, seed=3)
    for stratum in range(4):
        in_stratum = strata == stratum
        shares = [in_stratum[p].sum() / in_stratum.sum() for p in parts.values()]
        np.testing.assert_allclose(shares, [0.8, 0.1, 0.1], atol=0.02)


def test_grouped_split_is_deterministic_and_independent_of_sample_order():
    groups, strata, _, _ = random_configuration(1)
    a = grouped_split(groups, strata=strata, seed=7)
    b = grouped_split(groups, strata=strata, seed=7)
    assert all(np.array_equal(a[name], b[name]) for name in a)
    c = grouped_split(groups, strata=strata, seed=8)
    assert not all(np.array_equal(a[name], c[name]) for name in a)

    order = np.random.default_rng(0).permutation(len(groups))
    shuffled = grouped_split(groups[order], strata=strata[order], seed=7)
    for name in a:
        assert set(groups[order][shuffled[name]]) == set(groups[a[name]])


def test_groups_spanning_strata_still_stay_whole():
    rng = np.random.default_rng(5)
    groups = rng.integers(0, 30, size=500)
    strata = rng.integers(0, 3, size=500)  # every field holds cells of several proteins
    parts = grouped_split(pd.Series(groups), strata=pd.Series(strata), fractions={"a": 0.5,
                                                                                  "b": 0.5})
    assert set(groups[parts["a"]]).isdisjoint(groups[parts["b"]])
    assert len(parts["a"]) + len(parts["b"]) == 500


def test_grouped_split_rejects_bad_input_with_reasons():
    with pytest.raises(ValueError, match="sum to 1"):
        grouped_split([0, 1, 2], fractions=(0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match="non-negative"):
        grouped_split([0, 1, 2], fractions=(1.2, -0.2, 0.0))
    with pytest.raises(ValueError, match="need 2 names"):
        grouped_split([0, 1, 2], fractions=(0.5, 0.5))
    with pytest.raises(ValueError, match="one stratum per sample"):
        grouped_split([0, 1, 2], strata=[0, 1])
    with pytest.raises(ValueError, match="missing values"):
        grouped_split(["a", None, "b"])


def test_split_by_holds_out_whole_proteins():
    rng = np.random.default_rng(0)
    proteins = rng.choice(["lamin", "tubulin", "orphan", "actin"], size=200)
    parts = split_by(pd.Series(proteins), holdout=["orphan", "actin"])
    assert set(proteins[parts["holdout"]]) == {"orphan", "actin"}
    assert set(proteins[parts["rest"]]) == {"lamin", "tubulin"}
    assert np.array_equal(np.sort(np.concatenate(list(parts.values()))), np.arange(200))
    single = split_by(proteins, holdout="orphan", names=("seen", "unseen"))
    assert np.array_equal(single["unseen"], np.flatnonzero(proteins == "orphan"))
    with pytest.raises(KeyError, match=r"\['orphn'\] occur in no sample; available: actin, "):
        split_by(proteins, holdout=["orphn"])
