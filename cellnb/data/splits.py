"""Deterministic train/validation/test splits that respect groups and strata.

Cells cropped from one field of view share its illumination, focus and neighbours, so a field
split across train and test leaks; whole groups (fields) must go to one split. Proteins differ
in how many fields they have, so each stratum (protein) is split on its own to keep every protein
represented in every split. And a chapter that asks "does the model generalise to a protein it
never saw" needs whole proteins held out, which :func:`split_by` does.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

DEFAULT_NAMES = ("train", "val", "test")


def grouped_split(groups, *, strata=None, fractions=(0.8, 0.1, 0.1), names=None,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """Split samples into parts so that no group is in two parts, stratum by stratum.

    ``groups`` and ``strata`` give one label per sample (any hashable values). ``fractions`` is a
    sequence of non-negative fractions summing to 1, named by ``names`` (default
    ``train, val, test`` for three), or a mapping name -> fraction. Returns a dict name -> sorted
    integer positions into the samples; the parts are disjoint and together cover every sample.

    Each group joins the stratum most of its samples belong to. Within a stratum the groups are
    shuffled (``seed``), every part with a positive fraction first receives one of the smallest
    groups (if the stratum has enough groups), and the rest go, largest first, to the part
    furthest below its share of the stratum's samples. Proportions are therefore met as closely
    as whole groups allow, and a stratum with at least as many groups as parts appears in all.
    """
    names, targets = _parse_fractions(fractions, names)
    group_codes, n_groups = _codes(groups, "groups")
    n = len(group_codes)
    group_sizes = np.bincount(group_codes, minlength=n_groups)
    if strata is None:
        group_stratum = np.zeros(n_groups, dtype=int)
    else:
        stratum_codes, n_strata = _codes(strata, "strata")
        if len(stratum_codes) != n:
            raise ValueError(f"strata has {len(stratum_codes)} labels for {n} samples in groups; "
                             "give one stratum per sample")
        counts = np.zeros((n_groups, n_strata), dtype=int)
        np.add.at(counts, (group_codes, stratum_codes), 1)
        group_stratum = counts.argmax(axis=1)  # majority stratum; ties go to the first in order

    rng = np.random.default_rng(seed)
    part_of_group = np.empty(n_groups, dtype=int)
    for stratum in np.unique(group_stratum):
        members = np.flatnonzero(group_stratum == stratum)
        members = rng.permutation(members)
        # Stable sort after the shuffle: largest first, random order among equal sizes.
        members = members[np.argsort(-group_sizes[members], kind="stable")]
        part_of_group[members] = _allocate(group_sizes[members], targets)

    part_of_sample = part_of_group[group_codes]
    return {name: np.flatnonzero(part_of_sample == k) for k, name in enumerate(names)}


def _allocate(sizes: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Parts for groups given largest first, filling each part towards ``targets * total``."""
    assignment = np.full(len(sizes), -1)
    filled = np.zeros(len(targets))
    goal = targets * sizes.sum()
    open_parts = np.flatnonzero(targets > 0)
    if len(sizes) >= len(open_parts):
        # Seed each part, smallest fraction first, with one of the smallest groups, so that small
        # parts are not left empty and the seeding upsets proportions as little as possible.
        for offset, part in enumerate(open_parts[np.argsort(targets[open_parts], kind="stable")]):
            position = len(sizes) - 1 - offset
            assignment[position] = part
            filled[part] += sizes[position]
    for position in np.flatnonzero(assignment < 0):
        deficit = np.where(targets > 0, goal - filled, -np.inf)
        part = int(np.argmax(deficit))
        assignment[position] = part
        filled[part] += sizes[position]
    return assignment


def _parse_fractions(fractions, names) -> tuple[tuple[str, ...], np.ndarray]:
    if isinstance(fractions, Mapping):
        if names is not None:
            raise ValueError("give names either as the keys of a fractions mapping or as names=, "
                             "not both")
        names, fractions = tuple(fractions), list(fractions.values())
    elif names is None:
        if len(fractions) != len(DEFAULT_NAMES):
            raise ValueError(f"{len(fractions)} fractions need {len(fractions)} names; pass "
                             "names=(...) or a mapping name -> fraction")
        names = DEFAULT_NAMES
    names = tuple(names)
    targets = np.asarray(fractions, dtype=float)
    if len(names) != len(targets) or len(set(names)) != len(names):
        raise ValueError(f"need one distinct name per fraction, got names {names} for "
                         f"{len(targets)} fractions")
    if (targets < 0).any() or not np.isclose(targets.sum(), 1.0):
        raise ValueError(f"fractions must be non-negative and sum to 1, got {targets.tolist()} "
                         f"(sum {targets.sum():g})")
    return names, targets


def _codes(labels, what: str) -> tuple[np.ndarray, int]:
    """Integer codes of ``labels`` in sorted label order, so that the sample order is irrelevant."""
    values = labels.to_numpy() if isinstance(labels, (pd.Series, pd.Index)) else labels
    codes, uniques = pd.factorize(np.asarray(values), sort=True, use_na_sentinel=True)
    if (codes < 0).any():
        raise ValueError(f"{what} contain missing values at positions "
                         f"{np.flatnonzero(codes < 0)[:5].tolist()}...; give every sample a label")
    return codes, len(uniques)


def split_by(values, holdout: Sequence, *, names=("rest", "holdout")) -> dict[str, np.ndarray]:
    """Positions of samples whose value is not / is in ``holdout`` (e.g. whole proteins).

    Returns ``{names[0]: kept positions, names[1]: held-out positions}``. A holdout value that no
    sample has is an error, because it usually means a typo that would otherwise hold out nothing.
    """
    if isinstance(holdout, (str, bytes)) or not isinstance(holdout, (Sequence, np.ndarray,
                                                                     pd.Index, set, frozenset)):
        holdout = [holdout]
    values = pd.Series(np.asarray(values.to_numpy() if isinstance(values, (pd.Series, pd.Index))
                                  else values, dtype=object))
    present = set(values.dropna())
    absent = [value for value in holdout if value not in present]
    if absent:
        available = sorted(map(str, present))
        shown = ", ".join(available[:20]) + (", ..." if len(available) > 20 else "")
        raise KeyError(f"holdout value(s) {absent} occur in no sample; available: {shown}")
    held = values.isin(list(holdout)).to_numpy()
    kept_name, holdout_name = names
    return {kept_name: np.flatnonzero(~held), holdout_name: np.flatnonzero(held)}
