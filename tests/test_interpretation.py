"""Scoring feature zeroing (cytoself Fig. 5): how much of a change lies inside a known mask."""
import numpy as np
import pytest

from cellnb.papers.cytoself.evaluate import change_inside_mask


def _square_mask(size=16, side=4):
    mask = np.zeros((size, size), bool)
    mask[2:2 + side, 5:5 + side] = True
    return mask  # area fraction 16 / 256 = 1/16


def test_change_confined_to_the_mask_is_fully_inside_and_enriched_by_one_over_area():
    rng = np.random.default_rng(0)
    reference = rng.random((16, 16))
    mask = _square_mask()
    altered = reference + mask * rng.normal(0, 1, (16, 16))
    score = change_inside_mask(reference, altered, mask)
    assert score["fraction_inside"] == pytest.approx(1.0)
    assert score["area_fraction"] == pytest.approx(1 / 16)
    assert score["enrichment"] == pytest.approx(16.0)


def test_uniform_change_is_no_better_than_chance():
    reference = np.zeros((16, 16))
    score = change_inside_mask(reference, reference + 0.3, _square_mask())
    assert score["fraction_inside"] == pytest.approx(score["area_fraction"])
    assert score["enrichment"] == pytest.approx(1.0)


def test_change_outside_the_mask_scores_zero():
    mask = _square_mask()
    score = change_inside_mask(np.zeros((16, 16)), (~mask).astype(float), mask)
    assert score["fraction_inside"] == 0 and score["enrichment"] == 0


def test_no_change_or_empty_mask_gives_nan():
    image = np.ones((16, 16))
    assert np.isnan(change_inside_mask(image, image, _square_mask())["fraction_inside"])
    empty = change_inside_mask(image, image + 1, np.zeros((16, 16), bool))
    assert empty["fraction_inside"] == 0 and empty["area_fraction"] == 0 and np.isnan(empty["enrichment"])


def test_batches_of_multichannel_images_with_one_mask_per_image():
    rng = np.random.default_rng(1)
    reference = rng.random((3, 2, 16, 16))  # (N, C, H, W)
    masks = np.zeros((3, 16, 16), bool)
    masks[0, :8], masks[1, :, :4], masks[2, 4:8, 4:8] = True, True, True  # areas 1/2, 1/4, 1/16
    altered = reference + masks[:, None] * 0.5  # the change follows each image's own mask
    altered[2] = reference[2] + 0.1  # except the last image, which changes everywhere

    per_image = change_inside_mask(reference, altered, masks, per_image=True)
    np.testing.assert_allclose(per_image["fraction_inside"], [1, 1, 1 / 16])
    np.testing.assert_allclose(per_image["enrichment"], [2, 4, 1])

    pooled = change_inside_mask(reference, altered, masks)  # energy pooled over the batch
    energy_inside = 2 * 0.25 * (128 + 64) + 2 * 0.01 * 16
    energy_total = 2 * 0.25 * (128 + 64) + 2 * 0.01 * 256
    assert pooled["fraction_inside"] == pytest.approx(energy_inside / energy_total)
    assert pooled["area_fraction"] == pytest.approx((128 + 64 + 16) / (3 * 256))


def test_a_shared_mask_applies_to_every_image_of_a_batch():
    reference = np.zeros((4, 16, 16))  # (N, H, W): a 3-D array is a batch
    mask = _square_mask()
    score = change_inside_mask(reference, reference + mask, mask)
    assert score["fraction_inside"] == pytest.approx(1.0) and score["area_fraction"] == pytest.approx(1 / 16)


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="differ in shape"):
        change_inside_mask(np.zeros((2, 8, 8)), np.zeros((8, 8)), np.zeros((8, 8)))
    with pytest.raises(ValueError, match="mask"):
        change_inside_mask(np.zeros((2, 8, 8)), np.zeros((2, 8, 8)), np.zeros((3, 8, 8)))
