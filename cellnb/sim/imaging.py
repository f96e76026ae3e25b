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


def shot_noise(expected_photons: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson counts: exact below 4 expected photons, Gaussian (mean = variance) above.

    Above 4 photons the Gaussian with the Poisson's mean and variance differs from it only in
    skewness (1/sqrt(rate) <= 0.5), which read noise and the min-max scaling of every crop hide;
    it is five times faster to draw, and imaging is the simulator's hottest step.
    """
    counts = expected_photons + np.sqrt(expected_photons) * rng.standard_normal(
        expected_photons.shape, dtype=np.float32)
    low = expected_photons < EXACT_POISSON_BELOW
    counts[low] = rng.poisson(expected_photons[low])
    return np.clip(counts, 0, None)


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
    blurred = ndimage.gaussian_filter(density, sigma, truncate=3.0)
    signal = (brightness * acquisition.gain) * blurred * illumination(
        density.shape[-2:], acquisition, origin, field_shape)
    signal += acquisition.background
    expected = np.clip(signal, 0, None) * acquisition.photons
    if observed is None:
        image = shot_noise(expected, rng)
        image += (acquisition.read_noise * acquisition.photons) * rng.standard_normal(
            image.shape, dtype=np.float32)
    else:
        image = expected
        observed = np.broadcast_to(observed, expected.shape)
        noisy = shot_noise(expected[observed], rng)
        image[observed] = noisy + (acquisition.read_noise * acquisition.photons) * rng.standard_normal(
            noisy.shape, dtype=np.float32)
    image /= acquisition.photons
    return np.clip(image, 0, acquisition.saturation) / acquisition.saturation
