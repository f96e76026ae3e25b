"""The simulator's drawing primitives: mass conservation, placement, and the noise statistics."""
import numpy as np

from cellnb.sim.drawing import bandpass_noise, random_curves, sample_points_in, smooth_noise, splat


def test_splat_conserves_mass_and_puts_it_at_the_point():
    image = splat(np.array([[3.25, 4.75]]), (8, 8), weights=[2.0])
    assert np.isclose(image.sum(), 2.0)
    ys, xs = np.nonzero(image)
    assert set(ys) == {3, 4} and set(xs) == {4, 5}
    centre = (image * np.mgrid[:8, :8]).sum((1, 2)) / image.sum()
    np.testing.assert_allclose(centre, [3.25, 4.75], atol=1e-6)


def test_splat_drops_points_outside_and_handles_none():
    image = splat(np.array([[-5.0, 1.0], [1.0, 20.0], [1.0, 1.0]]), (4, 4))
    assert np.isclose(image.sum(), 1.0)
    assert splat(np.zeros((0, 2)), (4, 4)).sum() == 0


def test_sampled_points_lie_in_the_mask_and_follow_the_weight():
    rng = np.random.default_rng(0)
    mask = np.zeros((20, 20), bool)
    mask[5:15, 5:15] = True
    weight = np.zeros((20, 20))
    weight[5:15, 5:10] = 1.0   # only the left half of the mask carries weight
    points = sample_points_in(mask, 500, rng)
    assert mask[points[:, 0].astype(int), points[:, 1].astype(int)].all()
    weighted = sample_points_in(mask, 500, rng, weight)
    assert (weighted[:, 1] < 10).all()
    assert sample_points_in(np.zeros((4, 4), bool), 5, rng).shape == (0, 2)


def test_noise_fields_are_standardised_with_the_requested_feature_size():
    rng = np.random.default_rng(1)
    coarse, fine = smooth_noise((128, 128), 6.0, rng), smooth_noise((128, 128), 1.0, rng)
    for field in (coarse, fine, bandpass_noise((128, 128), 3.0, rng)):
        assert field.shape == (128, 128)
        assert abs(field.mean()) < 1e-5 and abs(field.std() - 1) < 1e-3
    for shape in ((97, 130), (64, 64)):
        for scale in (0.8, 1.9, 2.0, 4.5, 7.0):
            assert smooth_noise(shape, scale, rng).shape == shape, (shape, scale)


def test_coarse_grid_noise_keeps_the_correlation_of_a_gaussian_filtered_field():
    """Filtering white noise with std s gives neighbour correlation exp(-lag^2 / (4 s^2))."""
    rng = np.random.default_rng(3)
    for scale in (1.5, 3.0, 6.0):
        field = smooth_noise((400, 400), scale, rng)
        lag = int(round(scale))
        measured = np.corrcoef(field[:, :-lag].ravel(), field[:, lag:].ravel())[0, 1]
        assert abs(measured - np.exp(-lag**2 / (4 * scale**2))) < 0.04, scale


def test_random_curves_have_the_requested_lengths():
    rng = np.random.default_rng(2)
    starts = np.array([[10.0, 10.0], [30.0, 30.0]])
    points = random_curves(starts, np.array([4.0, 8.0]), rng, step=0.5)
    assert len(points) == 8 + 16
    straight = random_curves(starts[:1], np.array([10.0]), rng, persistence=0.0, directions=[0.0])
    np.testing.assert_allclose(straight[-1], [10.0, 20.0], atol=1e-5)


def test_noise_fields_are_periodic_so_tiles_join_without_a_seam():
    rng = np.random.default_rng(3)
    for field in (smooth_noise((96, 80), 5.0, rng), smooth_noise((96, 80), 1.2, rng),
                  bandpass_noise((96, 80), 2.0, rng)):
        # Across the wrap-around the field changes no more than between neighbouring rows.
        seam = np.abs(field[0] - field[-1]).mean()
        step = np.abs(np.diff(field, axis=0)).mean()
        assert seam < 1.5 * step
        seam = np.abs(field[:, 0] - field[:, -1]).mean()
        assert seam < 1.5 * np.abs(np.diff(field, axis=1)).mean()
