"""The imaging model: from a protein's density to the counts a camera records.

density -> PSF blur -> expression x field gain x illumination gradient -> + background
-> Poisson shot noise -> + Gaussian read noise -> clip at saturation -> scale to [0, 1].

The per-field draws (PSF width, gain, background, gradient, photon budget) are the nuisance that
a good representation must ignore: fields of one protein differ in them, fields of different
proteins may share them by chance. ``strength`` scales all nuisance, 0 giving a clean, nearly
noiseless microscope (the "easy generator" a representation benchmark must avoid).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Acquisition:
    psf_sigma: float        # Gaussian PSF std, pixels
    gain: float             # field-wide multiplicative gain
    background: float       # additive offset, fraction of full scale
    gradient_y: float       # illumination change across the image, fraction per image height
    gradient_x: float
    photons: float          # photons per unit of intensity: sets the shot-noise level
    read_noise: float       # std of additive Gaussian noise, fraction of full scale
    saturation: float = 1.0

    def as_dict(self) -> dict:
        return asdict(self)


def sample_acquisition(rng: np.random.Generator, *, scale: float = 1.0,
                       strength: float = 1.0) -> Acquisition:
    gradient = rng.uniform(0, 0.5 * strength)
    direction = rng.uniform(0, 2 * np.pi)
    return Acquisition(
        psf_sigma=scale * (1.0 + strength * rng.uniform(-0.3, 0.7)),
        gain=float(np.exp(strength * rng.normal(0, 0.35))),
        background=strength * rng.uniform(0.0, 0.1),
        gradient_y=gradient * np.sin(direction),
        gradient_x=gradient * np.cos(direction),
        # 25-300 photons per unit at full strength (noisy to fair), 20,000 (clean) at none.
        photons=float(np.exp(np.log(20_000) * (1 - strength)
                             + strength * rng.uniform(np.log(25), np.log(300)))),
        read_noise=strength * rng.uniform(0.002, 0.012),
    )


def illumination(shape, acquisition: Acquisition, origin=(0, 0), field_shape=None) -> np.ndarray:
    """A planar illumination profile over the field, 1 at its centre.

    ``origin`` and ``field_shape`` place a sub-region of the field, so imaging only the part of
    a field that is needed gives the same pixels as imaging all of it.
    """
    field_shape = field_shape or shape
    y = (np.arange(shape[0], dtype=np.float32) + origin[0]) / field_shape[0] - 0.5
    x = (np.arange(shape[1], dtype=np.float32) + origin[1]) / field_shape[1] - 0.5
    return np.clip(1 + acquisition.gradient_y * y[:, None] + acquisition.gradient_x * x[None, :],
                   0.05, None)


EXACT_POISSON_BELOW = 4.0


def camera_counts(expected_photons: np.ndarray, read_noise: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Photon counts with shot noise plus Gaussian read noise of std ``read_noise`` photons.

    Shot noise is exact Poisson below 4 expected photons. Above, the sum of shot and read noise
    is drawn as one Gaussian of variance ``expected + read_noise**2``: it differs from a Poisson
    plus Gaussian only in skewness (<= 0.5), which the min-max scaling of every crop hides, and
    one normal draw per pixel is several times cheaper than a Poisson one. Imaging is the
    simulator's hottest step. Counts may dip below 0 through read noise, as a camera's do
    around its offset; ``acquire`` clips them.
    """
    expected_photons = np.asarray(expected_photons, np.float32)
    normal = rng.standard_normal(expected_photons.shape, dtype=np.float32)
    counts = np.sqrt(expected_photons + np.float32(read_noise) ** 2)
    counts *= normal
    counts += expected_photons
    low = expected_photons < EXACT_POISSON_BELOW
    counts[low] = small_rate_poisson(expected_photons[low], rng) + np.float32(read_noise) * normal[low]
    return counts


def small_rate_poisson(rate: np.ndarray, rng: np.random.Generator, full_passes: int = 6) -> np.ndarray:
    """Exact Poisson draws for small rates (a few photons) by inverting the CDF, vectorised.

    Every pixel draws one uniform and counts how many cumulative probabilities it exceeds. The
    first ``full_passes`` terms are summed over all pixels at once; the few pixels whose draw
    lies further out continue on their own, so no truncation is ever made. For rates below 4
    this is about three times faster than NumPy's per-element Poisson sampler.
    """
    rate = np.asarray(rate, np.float32)
    uniform = rng.random(rate.shape, dtype=np.float32)
    term = np.exp(-rate)
    cumulative = term.copy()
    counts = np.zeros(rate.shape, np.float32)
    for k in range(1, full_passes + 1):
        counts += uniform > cumulative
        term *= rate * np.float32(1 / k)
        cumulative += term
    rest = np.flatnonzero(uniform > cumulative)
    k = full_passes
    while rest.size:
        k += 1
        counts[rest] += 1
        term[rest] *= rate[rest] * np.float32(1 / k)
        cumulative[rest] += term[rest]
        # Float rounding can leave the cumulative sum just below a uniform close to 1; the
        # terms are then zero and such a draw is taken as the count reached.
        rest = rest[(uniform[rest] > cumulative[rest]) & (term[rest] > 0)]
    return counts


def acquire(density: np.ndarray, acquisition: Acquisition, rng: np.random.Generator,
            brightness: float = 1.0, *, origin=(0, 0), field_shape=None,
            observed: np.ndarray | None = None) -> np.ndarray:
    """Image ``density`` (already scaled by per-cell expression) through the microscope.

    ``density`` is (H, W) or a stack of channels (C, H, W) imaged together. ``observed`` (an
    (H, W) boolean mask) limits the noise to the pixels someone will look at; the others are
    left noise-free. Crop generation uses it to skip pixels no crop contains.
    """
    density = np.asarray(density, np.float32)
    # Blur within each image only; truncating the PSF at 3 sigma drops 0.3 % of its mass,
    # invisible under the noise.
    sigma = (0.0,) * (density.ndim - 2) + (acquisition.psf_sigma,) * 2
    expected = ndimage.gaussian_filter(density, sigma, truncate=3.0)
    # Expected photons: (signal x gain x illumination + background) x photon budget, in place.
    expected *= np.float32(brightness * acquisition.gain * acquisition.photons) * illumination(
        density.shape[-2:], acquisition, origin, field_shape)
    expected += np.float32(acquisition.background * acquisition.photons)
    np.maximum(expected, 0, out=expected)
    read_noise = acquisition.read_noise * acquisition.photons
    if observed is None:
        image = camera_counts(expected, read_noise, rng)
    else:
        image = expected
        observed = np.broadcast_to(observed, expected.shape)
        image[observed] = camera_counts(expected[observed], read_noise, rng)
    # Counts to [0, 1] of full scale, clipped at 0 and at saturation.
    full_scale = acquisition.photons * acquisition.saturation
    image *= np.float32(1 / full_scale)
    return np.clip(image, 0, 1, out=image)
