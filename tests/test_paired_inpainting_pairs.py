"""Specification of paired cell inpainting's pairs: properties that any correct sampler, batch and
split must have (seeded, but checked as invariants and frequencies rather than golden indices)."""
import time

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from cellnb.papers.paired_inpainting.pairs import (
    PairDataset,
    PairSampler,
    cells_by_image,
    split_by_image,
)


def shuffled_images(sizes, seed=0):
    """One image id per cell for images of the given sizes, cells in random order."""
    ids = np.repeat([f"image{k}" for k in range(len(sizes))], sizes)
    return np.random.default_rng(seed).permutation(ids)


def generator(seed):
    return torch.Generator().manual_seed(seed)


# --- dropping images that cannot form pairs -------------------------------------------------

def test_images_below_min_cells_are_dropped_and_reported():
    ids = shuffled_images([1, 3, 5, 2, 4])
    kept, dropped = cells_by_image(ids, min_cells=3)
    assert dropped.tolist() == ["image0", "image3"]
    assert set(ids[kept]) == {"image1", "image2", "image4"}
    assert len(kept) == 3 + 5 + 4 and np.all(np.diff(kept) > 0)

    sampler = PairSampler(ids, generator=generator(0), min_cells=3)
    assert len(sampler) == 12
    assert sampler.dropped_images.tolist() == ["image0", "image3"]
    assert not np.isin(ids[sampler.epoch_pairs().numpy()], ["image0", "image3"]).any()


def test_default_keeps_every_image_with_a_partner():
    ids = shuffled_images([1, 2, 1])
    kept, dropped = cells_by_image(ids)
    assert set(ids[kept]) == {"image1"} and dropped.tolist() == ["image0", "image2"]


def test_no_pairable_image_is_an_error_that_says_what_to_do():
    with pytest.raises(ValueError, match="lower min_cells"):
        cells_by_image(["a", "b", "c"])
    with pytest.raises(ValueError, match=">= 2"):
        cells_by_image(["a", "a"], min_cells=1)


# --- the sampler ------------------------------------------------------------------------------

def test_every_source_once_and_partner_another_cell_of_its_image():
    ids = shuffled_images([2, 7, 3, 30, 1, 5], seed=1)
    sampler = PairSampler(ids, generator=generator(0))
    for _ in range(20):
        pairs = sampler.epoch_pairs().numpy()
        assert len(pairs) == len(sampler) == len(ids) - 1  # the lone cell is dropped
        assert sorted(pairs[:, 0]) == sorted(np.flatnonzero(ids != "image4"))
        assert (ids[pairs[:, 0]] == ids[pairs[:, 1]]).all()
        assert (pairs[:, 0] != pairs[:, 1]).all()


def test_iteration_yields_the_epoch_pairs_as_tuples():
    ids = shuffled_images([3, 4])
    pairs_a = list(PairSampler(ids, generator=generator(5)))
    pairs_b = PairSampler(ids, generator=generator(5)).epoch_pairs().tolist()
    assert pairs_a == [tuple(pair) for pair in pairs_b]
    assert all(isinstance(index, int) for pair in pairs_a for index in pair)


def test_order_changes_between_epochs():
    sampler = PairSampler(shuffled_images([50, 50]), generator=generator(0))
    assert not torch.equal(sampler.epoch_pairs(), sampler.epoch_pairs())


def test_partners_are_uniform_over_the_other_cells():
    # One 4-cell image among others: each cell's partner is each of the 3 others 1/3 of the time.
    ids = np.array(["small"] * 4 + ["big"] * 6)
    sampler = PairSampler(ids, generator=generator(0))
    counts = np.zeros((4, 4), dtype=int)
    for _ in range(3000):
        pairs = sampler.epoch_pairs().numpy()
        pairs = pairs[pairs[:, 0] < 4]
        np.add.at(counts, (pairs[:, 0], pairs[:, 1]), 1)
    assert np.diag(counts).sum() == 0
    for source in range(4):
        others = np.delete(counts[source], source)
        assert others.sum() == 3000
        assert chisquare(others).pvalue > 1e-3, others


def test_sources_are_in_uniformly_random_order():
    # Position of cell 0 in the epoch is uniform over the epoch's slots.
    sampler = PairSampler(["a"] * 5, generator=generator(0))
    slots = [int(np.flatnonzero(sampler.epoch_pairs()[:, 0].numpy() == 0)[0])
             for _ in range(2000)]
    assert chisquare(np.bincount(slots, minlength=5)).pvalue > 1e-3


def test_equal_seeds_give_equal_pairs_and_a_restored_state_replays_the_epoch():
    ids = shuffled_images([4, 9, 6])
    first = PairSampler(ids, generator=generator(3))
    second = PairSampler(ids, generator=generator(3))
    for _ in range(3):
        assert torch.equal(first.epoch_pairs(), second.epoch_pairs())

    state = first.generator.get_state()
    epoch = list(first)
    first.generator.set_state(state)
    assert list(first) == epoch


def test_positions_restrict_sources_and_partners_to_a_part():
    ids = shuffled_images([6, 6, 6, 6], seed=2)
    part = np.flatnonzero(np.isin(ids, ["image0", "image2"]))
    part = part[1:]  # image0 keeps 5 of its cells in this part
    sampler = PairSampler(ids, generator=generator(0), positions=part)
    pairs = sampler.epoch_pairs().numpy()
    assert sorted(pairs[:, 0]) == sorted(part)
    assert np.isin(pairs[:, 1], part).all()
    assert (ids[pairs[:, 0]] == ids[pairs[:, 1]]).all()
    with pytest.raises(IndexError, match="positions must lie"):
        PairSampler(ids, positions=[len(ids)])


def test_a_100k_cell_epoch_is_fast():
    ids = np.random.default_rng(0).integers(0, 4000, 100_000)
    start = time.perf_counter()
    sampler = PairSampler(ids, generator=generator(0))
    pairs = sampler.epoch_pairs()
    seconds = time.perf_counter() - start
    assert len(pairs) == 100_000
    assert seconds < 2.0, f"building and sampling 100k cells took {seconds:.2f} s"


# --- building the batch -------------------------------------------------------------------------

MARKED_PIXEL = {"protein": (0, 0), "nucleus": (1, 0)}  # asymmetric, so a flip is visible


def marked_crops(n, size=4):
    """Crops where each channel is 0 except one pixel at that channel's MARKED_PIXEL."""
    crops = np.zeros((n, 2, size, size), dtype=np.float32)
    for channel, (row, column) in enumerate(MARKED_PIXEL.values()):
        crops[:, channel, row, column] = 5.0
    return crops


def flips_of(image, name, size=4):
    """(horizontal, vertical) flip applied to one channel, read off where its pixel went."""
    row, column = np.unravel_index(int(np.argmax(image)), image.shape)
    home_row, home_column = MARKED_PIXEL[name]
    return column != home_column, row != home_row


def test_batch_shapes_and_channel_roles():
    crops = np.random.default_rng(0).random((6, 3, 8, 8)).astype(np.float32)
    crops[:, 0] += 10 * np.arange(6)[:, None, None]  # protein intensity identifies the cell
    dataset = PairDataset(crops, ["protein", "nucleus", "tubulin"], flip=False)
    pairs = torch.tensor([[0, 1], [2, 3], [4, 5]])
    source, target_marker, target_protein = dataset.batch(pairs)
    assert source.shape == (3, 3, 8, 8)
    assert target_marker.shape == (3, 2, 8, 8)
    assert target_protein.shape == (3, 1, 8, 8)
    expected = crops[[1, 3, 5], :1]
    expected = (expected - expected.min(axis=(-2, -1), keepdims=True))
    expected /= expected.max(axis=(-2, -1), keepdims=True)
    np.testing.assert_allclose(target_protein.numpy(), expected, atol=1e-6)


def test_protein_and_markers_chosen_by_name():
    crops = np.zeros((2, 3, 4, 4), dtype=np.float32)
    for channel in range(3):
        crops[:, channel, channel, 0] = 1.0  # channel k lights row k
    dataset = PairDataset(crops, ["nucleus", "protein", "er"], protein="protein",
                          markers=["er"], flip=False)
    source, target_marker, target_protein = dataset.batch(torch.tensor([[0, 1]]))
    assert [int(source[0, k, :, 0].argmax()) for k in range(2)] == [1, 2]  # protein, then er
    assert int(target_marker[0, 0, :, 0].argmax()) == 2
    assert int(target_protein[0, 0, :, 0].argmax()) == 1


def test_flips_shared_by_a_cells_channels_independent_between_cells():
    n = 4000
    dataset = PairDataset(marked_crops(2), list(MARKED_PIXEL), generator=generator(0))
    pairs = torch.tensor([[0, 1]] * n)
    source, target_marker, target_protein = dataset.batch(pairs)
    source_flips, target_flips = [], []
    for k in range(n):
        protein_flip = flips_of(source[k, 0].numpy(), "protein")
        assert flips_of(source[k, 1].numpy(), "nucleus") == protein_flip  # channels together
        target_flip = flips_of(target_protein[k, 0].numpy(), "protein")
        assert flips_of(target_marker[k, 0].numpy(), "nucleus") == target_flip
        source_flips.append(protein_flip)
        target_flips.append(target_flip)
    flips = np.concatenate([source_flips, target_flips], axis=1).astype(int)  # (n, 4)
    # Each flip has p = 0.5, and all 16 combinations of the four are equally likely
    # (horizontal/vertical, source/target independent).
    assert np.abs(flips.mean(axis=0) - 0.5).max() < 0.04
    combination = flips @ np.array([8, 4, 2, 1])
    assert chisquare(np.bincount(combination, minlength=16)).pvalue > 1e-3


def test_flips_replay_from_the_generator_and_can_be_off():
    crops = np.random.default_rng(1).random((5, 2, 6, 6)).astype(np.float32)
    pairs = torch.tensor([[0, 1], [2, 3], [4, 0]] * 10)
    first = PairDataset(crops, ["protein", "nucleus"], generator=generator(7)).batch(pairs)
    second = PairDataset(crops, ["protein", "nucleus"], generator=generator(7)).batch(pairs)
    for a, b in zip(first, second):
        assert torch.equal(a, b)
    plain = PairDataset(crops, ["protein", "nucleus"], flip=False).batch(pairs)
    np.testing.assert_allclose(plain[0][0, 0].numpy(),
                               (crops[0, 0] - crops[0, 0].min()) / np.ptp(crops[0, 0]), rtol=1e-5)


def test_minmax_gives_unit_range_and_zero_for_a_constant_channel():
    crops = np.random.default_rng(2).normal(100, 30, (4, 2, 8, 8)).astype(np.float32)
    crops[1, 0] = 7.0   # flat protein
    crops[2, 1] = 0.0   # empty marker
    dataset = PairDataset(crops, ["protein", "nucleus"], generator=generator(0))
    outputs = dataset.batch(torch.tensor([[0, 1], [2, 3], [1, 2]]))
    for output in outputs:
        assert torch.isfinite(output).all()
        assert output.min() >= 0 and output.max() <= 1
    source, target_marker, target_protein = outputs
    assert source[0].amax(dim=(-2, -1)).tolist() == [1.0, 1.0]
    assert source[0].amin(dim=(-2, -1)).tolist() == [0.0, 0.0]
    assert (target_protein[0] == 0).all()  # cell 1's flat protein
    assert (source[1, 1] == 0).all()       # cell 2's empty marker
    assert (source[2, 0] == 0).all()


def test_dataloader_and_batches_give_the_same_epoch():
    ids = shuffled_images([5, 6, 4], seed=3)
    crops = np.random.default_rng(3).random((len(ids), 2, 8, 8)).astype(np.float32)

    def epoch_with_loader():
        dataset = PairDataset(crops, ["protein", "nucleus"], generator=generator(1))
        sampler = PairSampler(ids, generator=generator(0))
        loader = torch.utils.data.DataLoader(dataset, sampler=sampler, batch_size=4,
                                             collate_fn=dataset.collate)
        return list(loader)

    dataset = PairDataset(crops, ["protein", "nucleus"], generator=generator(1))
    direct = list(dataset.batches(PairSampler(ids, generator=generator(0)), batch_size=4))
    loaded = epoch_with_loader()
    assert len(direct) == len(loaded) == 4
    for batch_a, batch_b in zip(direct, loaded):
        for a, b in zip(batch_a, batch_b):
            assert torch.equal(a, b)


def test_batch_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"crops\[:, None\]"):
        PairDataset(np.zeros((3, 8, 8)), ["protein"])
    with pytest.raises(ValueError, match="distinct channel names"):
        PairDataset(np.zeros((3, 2, 8, 8)), ["protein"])
    with pytest.raises(KeyError, match="'dna'.*not among"):
        PairDataset(np.zeros((3, 2, 8, 8)), ["protein", "nucleus"], markers=["dna"])
    with pytest.raises(ValueError, match="no structural marker"):
        PairDataset(np.zeros((3, 1, 8, 8)), ["protein"])
    dataset = PairDataset(np.zeros((3, 2, 8, 8)), ["protein", "nucleus"])
    with pytest.raises(IndexError, match="3 crops"):
        dataset.batch(torch.tensor([[0, 3]]))
    with pytest.raises(ValueError, match="one image id per crop"):
        next(dataset.batches(PairSampler(["a"] * 4), batch_size=2))


# --- splits -------------------------------------------------------------------------------------

def images_with_proteins(seed=0):
    rng = np.random.default_rng(seed)
    ids, proteins = [], []
    for image in range(60):
        size = int(rng.integers(2, 12))
        ids += [f"image{image}"] * size
        proteins += [f"protein{image % 7}"] * size
    order = rng.permutation(len(ids))
    return np.array(ids)[order], np.array(proteins)[order]


@pytest.mark.parametrize("seed", range(4))
def test_split_never_shares_an_image_and_covers_every_cell(seed):
    ids, proteins = images_with_proteins(seed)
    parts = split_by_image(ids, seed=seed, strata=proteins)
    assert set(parts) == {"train", "val", "test"}
    everything = np.concatenate(list(parts.values()))
    assert sorted(everything) == list(range(len(ids)))
    images = [set(ids[positions]) for positions in parts.values()]
    assert not (images[0] & images[1] or images[0] & images[2] or images[1] & images[2])
    assert len(parts["train"]) > len(parts["val"])


def test_held_out_proteins_appear_only_in_their_part():
    ids, proteins = images_with_proteins(1)
    parts = split_by_image(ids, proteins=proteins, holdout_proteins=["protein2", "protein5"])
    assert set(parts) == {"train", "val", "test", "holdout"}
    assert set(proteins[parts["holdout"]]) == {"protein2", "protein5"}
    for name in ("train", "val", "test"):
        assert not set(proteins[parts[name]]) & {"protein2", "protein5"}
        assert not set(ids[parts[name]]) & set(ids[parts["holdout"]])
    assert sorted(np.concatenate(list(parts.values()))) == list(range(len(ids)))


def test_split_errors_name_the_problem():
    ids, proteins = images_with_proteins(2)
    with pytest.raises(ValueError, match="proteins="):
        split_by_image(ids, holdout_proteins=["protein1"])
    with pytest.raises(ValueError, match="one protein per cell"):
        split_by_image(ids, proteins=proteins[:-1], holdout_proteins=["protein1"])
    with pytest.raises(KeyError, match="protien1"):
        split_by_image(ids, proteins=proteins, holdout_proteins=["protien1"])
    with pytest.raises(ValueError, match="one stratum per cell"):
        split_by_image(ids, strata=proteins[:3])
    mixed = proteins.copy()
    mixed[np.flatnonzero(ids == "image0")[0]] = "protein3"  # image0 is protein0's otherwise
    with pytest.raises(ValueError, match="single protein"):
        split_by_image(ids, proteins=mixed, holdout_proteins=["protein3"])
