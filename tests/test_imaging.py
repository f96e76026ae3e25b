"""The imaging model: shot noise statistics, illumination, saturation and the nuisance draws."""
import numpy as np
import pytest

from cellnb.sim.imaging import Acquisition, acquire, camera_counts, illumination, sample_acquisition


def _flat(**overrides):
    values = dict(psf_sigma=1.0, gain=1.0, background=0.0, gradient_y=0.0, gradient_x=0.0,
                  photons=100.0, read_noise=0.0)
    return Acquisition(**{**values, **overrides})


@pytest.mark.parametrize("rate", [0.5, 3.0, 8.0, 60.0])
@pytest.mark.parametrize("read_noise", [0.0, 2.0])
def test_counts_have_poisson_plus_read_noise_mean_and_variance(rate, read_noise):
    counts = camera_counts(np.full(200_000, rate, np.float32), read_noise, np.random.default_rng(0))
    assert counts.mean() == pytest.approx(rate, abs=0.02 * rate + 0.01)
    assert counts.var() == pytest.approx(rate + read_noise**2, rel=0.05)


def test_exact_poisson_at_low_counts_gives_non_negative_integers():
    counts = camera_counts(np.full(1000, 2.0, np.float32), 0.0, np.random.default_rng(1))
    assert np.array_equal(counts, np.round(counts)) and counts.min() >= 0
    assert len(np.unique(counts)) > 3


def test_snr_grows_with_the_photon_budget():
    density = np.full((64, 64), 0.5, np.float32)
    rng = np.random.default_rng(2)
    noisy = acquire(density, _flat(photons=20.0), rng)
    clean = acquire(density, _flat(photons=20_000.0), rng)
    assert noisy.std() > 5 * clean.std()
    assert noisy.mean() == pytest.approx(0.5, rel=0.05) and clean.mean() == pytest.approx(0.5, rel=0.01)


def test_saturation_clips_bright_signal_to_one():
    image = acquire(np.full((16, 16), 5.0, np.float32), _flat(), np.random.default_rng(3))
    assert image.max() == 1.0 and image.min() > 0.9


def test_illumination_of_a_subregion_matches_the_whole_field():
    acquisition = _flat(gradient_y=0.3, gradient_x=-0.2)
    whole = illumination((100, 120), acquisition)
    part = illumination((30, 40), acquisition, origin=(50, 60), field_shape=(100, 120))
    np.testing.assert_allclose(part, whole[50:80, 60:100], rtol=1e-6)
    assert whole[0, -1] < whole[-1, 0]


def test_channels_imaged_together_blur_only_within_each_channel():
    density = np.zeros((2, 32, 32), np.float32)
    density[0, 16, 16] = 1.0
    image = acquire(density, _flat(photons=1e6), np.random.default_rng(4))
    assert image[1].max() < 1e-3, "light leaked from channel 0 into channel 1"
    assert image[0, 16, 16] == image[0].max()


def test_unobserved_pixels_stay_noise_free():
    density = np.full((32, 32), 0.3, np.float32)
    observed = np.zeros((32, 32), bool)
    observed[:16] = True
    image = acquire(density, _flat(psf_sigma=0.5, photons=30.0), np.random.default_rng(5),
                    observed=observed)
    assert image[16:].std() < 1e-6 < image[:16].std()


def test_nuisance_strength_zero_is_a_clean_fixed_microscope():
    rng = np.random.default_rng(6)
    clean = [sample_acquisition(rng, strength=0.0) for _ in range(20)]
    assert {a.psf_sigma for a in clean} == {1.0} and {a.background for a in clean} == {0.0}
    assert min(a.photons for a in clean) > 10_000
    noisy = [sample_acquisition(rng, strength=1.0) for _ in range(200)]
    assert np.std([a.psf_sigma for a in noisy]) > 0.1
    assert np.std(np.log([a.photons for a in noisy])) > 0.4


@pytest.mark.parametrize("rate", [0.05, 1.0, 3.9])
@pytest.mark.parametrize("full_passes", [1, 6])
def test_small_rate_poisson_follows_the_poisson_distribution(rate, full_passes):
    from scipy import stats

    from cellnb.sim.imaging import small_rate_poisson

    draws = small_rate_poisson(np.full(200_000, rate, np.float32), np.random.default_rng(7),
                               full_passes=full_passes)
    assert np.array_equal(draws, np.round(draws)) and draws.min() >= 0
    counts = np.arange(int(draws.max()) + 1)
    observed = np.array([(draws == k).sum() for k in counts])
    expected = stats.poisson.pmf(counts, rate) * draws.size
    enough = expected > 20    # a chi-square test over the cells with enough expected draws
    statistic = ((observed[enough] - expected[enough]) ** 2 / expected[enough]).sum()
    assert stats.chi2.sf(statistic, enough.sum() - 1) > 1e-3
    # With one full pass most draws continue one by one: the tail is still reached exactly.
    assert draws.max() >= stats.poisson.ppf(0.9999, rate)
