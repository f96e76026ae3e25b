"""Specification of the transforms: the dihedral augmentation is exactly the group D4 and stays
random (yet reproducible) inside DataLoader workers; min-max normalisation never makes NaN."""
import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from cellnb.data.transforms import Dihedral, dihedral, minmax_normalize


def generic_image(seed=0, shape=(2, 5, 5)):
    """Random values: no symmetry, so distinct group elements give distinct images."""
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def element_of(transformed, image):
    """Which of the 8 elements maps ``image`` to ``transformed``."""
    matches = [e for e in range(8) if np.array_equal(np.asarray(transformed), dihedral(image, e))]
    assert len(matches) == 1, matches
    return matches[0]


def test_the_eight_elements_are_distinct_and_zero_is_the_identity():
    image = generic_image()
    outputs = [dihedral(image, e) for e in range(8)]
    assert np.array_equal(outputs[0], image)
    assert len({out.tobytes() for out in outputs}) == 8
    for out in outputs:  # each acts on the last two axes only, plane by plane
        assert out.shape == image.shape and out.flags.c_contiguous
        assert np.array_equal(np.sort(out[0].ravel()), np.sort(image[0].ravel()))
        assert element_of(out[1], image[1]) == element_of(out[0], image[0])


def test_the_group_is_closed_and_every_element_has_an_inverse():
    image = generic_image(1)
    table = np.array([[element_of(dihedral(dihedral(image, a), b), image) for b in range(8)]
                      for a in range(8)])
    for row in table:  # a Cayley table: every element exactly once in each row and column
        assert sorted(row) == list(range(8))
    for column in table.T:
        assert sorted(column) == list(range(8))
    assert len({element_of(dihedral(dihedral(image, 1), 4), image),  # D4 is not commutative
                element_of(dihedral(dihedral(image, 4), 1), image)}) == 2


def test_torch_tensors_are_transformed_like_arrays():
    image = generic_image(2, shape=(3, 2, 6, 6))
    for e in range(8):
        out = dihedral(torch.from_numpy(image), e)
        assert isinstance(out, torch.Tensor)
        np.testing.assert_array_equal(out.numpy(), dihedral(image, e))
    with pytest.raises(ValueError, match="0..7"):
        dihedral(image, 8)


def test_dihedral_reaches_all_elements_reproducibly_and_pickles():
    image = generic_image(3)
    augment = Dihedral(seed=0)
    drawn = [element_of(augment(image), image) for _ in range(100)]
    assert set(drawn) == set(range(8))
    counts = np.bincount(drawn, minlength=8)
    assert counts.min() >= 4  # roughly uniform: expected 12.5 each
    again = Dihedral(seed=0)
    assert [element_of(again(image), image) for _ in range(100)] == drawn
    copy = pickle.loads(pickle.dumps(augment))  # a copy continues from the same state
    assert [element_of(copy(image), image) for _ in range(20)] == [
        element_of(augment(image), image) for _ in range(20)]
    with pytest.raises(ValueError, match="square"):
        augment(np.zeros((1, 4, 6)))


class SameImage:
    """A map-style dataset returning one fixed image; only the augmentation varies."""

    def __init__(self, image, transform):
        self.image, self.transform = image, transform

    def __len__(self):
        return 64

    def __getitem__(self, i):
        return self.transform(torch.from_numpy(self.image))


def test_dihedral_in_workers_is_random_per_worker_and_reproducible():
    image = generic_image(4)

    def elements(workers, torch_seed):
        torch.manual_seed(torch_seed)
        loader = DataLoader(SameImage(image, Dihedral(seed=1)), batch_size=8,
                            num_workers=workers)
        return [element_of(x, image) for batch in loader for x in batch]

    parallel = elements(2, torch_seed=0)
    assert len(parallel) == 64 and set(parallel) == set(range(8))
    # Batches alternate between the two workers; identical generators would repeat batches.
    first_worker = [parallel[i:i + 8] for i in range(0, 64, 16)]
    second_worker = [parallel[i + 8:i + 16] for i in range(0, 64, 16)]
    assert first_worker != second_worker
    assert elements(2, torch_seed=0) == parallel
    assert elements(2, torch_seed=1) != parallel


def test_minmax_normalize_maps_each_plane_to_unit_range():
    rng = np.random.default_rng(0)
    images = (rng.normal(size=(4, 3, 7, 7)) * rng.uniform(1, 100, size=(4, 3, 1, 1))
              + rng.uniform(-50, 50, size=(4, 3, 1, 1)))
    out = minmax_normalize(images)
    assert out.shape == images.shape and out.dtype == images.dtype
    np.testing.assert_allclose(out.min(axis=(-2, -1)), 0, atol=1e-12)
    np.testing.assert_allclose(out.max(axis=(-2, -1)), 1, atol=1e-12)
    flat_in, flat_out = images.reshape(12, -1), out.reshape(12, -1)
    for a, b in zip(flat_in, flat_out):  # order within a plane is kept
        assert np.array_equal(np.argsort(a, kind="stable"), np.argsort(b, kind="stable"))
    tensor_out = minmax_normalize(torch.from_numpy(images))
    np.testing.assert_allclose(tensor_out.numpy(), out, rtol=1e-12)
    whole = minmax_normalize(images, axis=(1, 2, 3))  # one range per image across channels
    np.testing.assert_allclose(whole.reshape(4, -1).max(axis=1), 1)
    assert not np.allclose(whole, out)


def test_minmax_normalize_gives_zeros_for_constant_crops():
    images = np.random.default_rng(1).random((2, 2, 5, 5)).astype(np.float32)
    images[1, 0] = 7.0
    for x in (images, torch.from_numpy(images)):
        out = np.asarray(minmax_normalize(x))
        assert not np.isnan(out).any()
        assert np.all(out[1, 0] == 0)
        assert out[0, 0].max() == pytest.approx(1)
    integers = minmax_normalize(np.arange(16, dtype=np.uint8).reshape(4, 4))
    assert integers.dtype == np.float32 and integers[-1, -1] == 1 and integers[0, 0] == 0
