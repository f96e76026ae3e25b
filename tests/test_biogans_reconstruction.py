"""Reconstruction of held-out cells by optimising z (Section 5.2, Table 3): on a generator whose
latents are known, L-BFGS finds cells it made; separable mode fits red first and never moves the
red afterwards; restarts only help; the nearest-neighbour and Gaussian references.

The generators are the smoke preset's (24x40, nz 8, widths 4), untrained. DCGAN's
initialisation leaves such a generator's output almost constant, so :func:`known_generator`
scales the last layers up and sets BatchNorm's running statistics from noise: its cells then
differ from z to z, and a cell made from a known z is a target the search can hit exactly.
"""
import math

import numpy as np
import pytest
import torch

from cellnb.papers import biogans as bg
from cellnb.papers.biogans.model import UpTower
from cellnb.papers.biogans.reconstruction import (
    fit_latents,
    initial_latents,
    median_mad,
    prior_nll,
    rmse_01,
)

FAST = dict(restarts=2, outer_steps=4, inner_steps=20)   # 2 x 80 L-BFGS iterations at most
LAST_LAYER_GAIN = 10.0


pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tiny models (conftest)


def known_generator(kind: str = "separable", seed: int = 0, **overrides):
    config = bg.preset("smoke", generator_kind=kind, **overrides)
    torch.manual_seed(seed)
    generator = bg.build_generator(config)
    with torch.no_grad():
        for tower in (m for m in generator.modules() if isinstance(m, UpTower)):
            tower.layers[-1][0].weight.mul_(LAST_LAYER_GAIN)
        for module in generator.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.momentum = None              # running statistics: a plain average
        generator.train()
        noise = torch.Generator().manual_seed(seed + 1)
        for _ in range(8):
            generator(**bg.sample_latent(config, 64, noise))
    return config, generator.eval()


def cells_from_known_latents(config, generator, n: int = 6, seed: int = 7, green_class=None):
    """(red, green) cells G(z) of known z, and the z."""
    z = torch.randn(n, bg.latent_size(config), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        images = generator(**bg.split_latent(config, z))
    channels = [0, 1] if green_class is None else [0, 1 + green_class]
    return images[:, channels], z


@pytest.fixture(scope="module")
def separable():
    config, generator = known_generator("separable")
    images, z = cells_from_known_latents(config, generator)
    return config, generator, images, z


def random_latent_rmse(config, generator, images, green_class=None):
    """The error of a random z: what reconstruction has to beat."""
    z = initial_latents(config, len(images), seed=123, restart=0)
    channels = [0, 1] if green_class is None else [0, 1 + green_class]
    with torch.no_grad():
        return rmse_01(generator(**bg.split_latent(config, z))[:, channels], images)


# ---------------------------------------------------------------------------- regular mode

def test_cells_of_a_known_latent_are_reconstructed(separable):
    """L-BFGS over z recovers the cells the generator made: the error falls far below that of
    a random z (measured: median 0.0022 against 0.20)."""
    config, generator, images, _ = separable
    result = bg.reconstruct(generator, config, images, seed=0, **FAST)
    baseline = random_latent_rmse(config, generator, images)
    assert result.rmse.shape == (len(images),)
    assert result.images.shape == images.shape and result.latents.shape == (len(images), 8)
    assert np.median(result.rmse) < 0.02
    assert np.median(result.rmse) < 0.2 * np.median(baseline)
    # The reported error is that of the returned reconstruction, and the NLL that of its z.
    np.testing.assert_allclose(result.rmse, rmse_01(result.images, images), rtol=1e-6)
    np.testing.assert_allclose(result.nll, prior_nll(result.latents))
    assert not generator.training


def test_star_generator_reconstructs_through_the_cells_tower():
    """A (red, green_2) cell of the star generator is reconstructed through tower 2; without
    saying which tower, the call is refused (measured: median 0.0018 against 0.18)."""
    config, generator = known_generator("star", n_classes=3)
    images, _ = cells_from_known_latents(config, generator, n=4, green_class=2)
    result = bg.reconstruct(generator, config, images, green_class=2, seed=0, **FAST)
    assert np.median(result.rmse) < 0.2 * np.median(
        random_latent_rmse(config, generator, images, green_class=2))
    with pytest.raises(ValueError, match="green_class"):
        bg.reconstruct(generator, config, images, restarts=1, outer_steps=1)


def test_generator_left_in_training_mode_is_restored_after_evaluation(separable):
    config, generator, images, _ = separable
    generator.train()
    try:
        bg.reconstruct(generator, config, images[:2], restarts=1, outer_steps=1, inner_steps=2)
        assert generator.training
    finally:
        generator.eval()


# -------------------------------------------------------------------------- separable mode

def test_fitting_z_green_never_changes_the_red(separable):
    """The second stage of separable reconstruction moves z_green only, and the red, a function
    of z_red alone, stays bitwise the same while the green error falls."""
    config, generator, images, _ = separable
    start = initial_latents(config, len(images), seed=0, restart=0)
    fitted = fit_latents(generator, config, images, start, part="green", image_channels=(1,),
                         outer_steps=4)
    assert torch.equal(fitted[:, :config.nz_red], start[:, :config.nz_red])
    assert not torch.equal(fitted[:, config.nz_red:], start[:, config.nz_red:])
    with torch.no_grad():
        before = generator(**bg.split_latent(config, start))
        after = generator(**bg.split_latent(config, fitted))
    assert torch.equal(after[:, 0], before[:, 0])
    assert rmse_01(after[:, 1:], images[:, 1:]).mean() < rmse_01(before[:, 1:],
                                                                 images[:, 1:]).mean()


def test_separable_mode_keeps_the_red_of_the_red_stage(separable):
    """Red first, z_green at its random start; then green: the final red and z_red are exactly
    the red stage's."""
    config, generator, images, _ = separable
    settings = dict(restarts=1, outer_steps=6, inner_steps=20, seed=3)
    result = bg.reconstruct(generator, config, images, mode="separable", **settings)
    start = initial_latents(config, len(images), seed=3, restart=0)
    red_stage = fit_latents(generator, config, images, start, part="red", image_channels=(0,),
                            outer_steps=6)
    with torch.no_grad():
        red_of_red_stage = generator(**bg.split_latent(config, red_stage))[:, 0]
    assert torch.equal(result.images[:, 0], red_of_red_stage)
    assert torch.equal(result.latents[:, :config.nz_red], red_stage[:, :config.nz_red])
    assert result.mode == "separable"


def test_separable_mode_needs_a_separable_generator():
    config, generator = known_generator("dcgan")
    images, _ = cells_from_known_latents(config, generator, n=2)
    with pytest.raises(ValueError, match="separable or star"):
        bg.reconstruct(generator, config, images, mode="separable", restarts=1, outer_steps=1)


# ------------------------------------------------------------------------------- restarts

def test_restarts_never_do_worse_than_one_start(separable):
    """Restart 0 is the single start (seeded by (seed, restart)); each cell keeps its best."""
    config, generator, images, _ = separable
    settings = dict(outer_steps=3, inner_steps=10, seed=5)
    one = bg.reconstruct(generator, config, images, restarts=1, **settings)
    three = bg.reconstruct(generator, config, images, restarts=3, **settings)
    np.testing.assert_array_equal(three.rmse_by_restart[0], one.rmse)
    assert (three.rmse <= one.rmse).all()
    np.testing.assert_array_equal(three.rmse, three.rmse_by_restart.min(0))
    rows = np.arange(len(images))
    np.testing.assert_array_equal(three.rmse, three.rmse_by_restart[three.best_restart, rows])


# ------------------------------------------------------------------------------- baselines

def test_nearest_neighbour_is_exact_for_a_training_cell():
    rng = np.random.default_rng(0)
    train = rng.uniform(-1, 1, (20, 2, 24, 40)).astype(np.float32)
    test = np.concatenate([train[[3]], rng.uniform(-1, 1, (2, 2, 24, 40)).astype(np.float32)])
    found = bg.nearest_neighbour_baseline(train, test)
    assert found.index[0] == 3 and found.rmse[0] == 0.0
    assert (found.rmse[1:] > 0.1).all()
    # Within the class only: the same cell labelled another class is not a candidate.
    labels = np.array(["a"] * 10 + ["b"] * 10)
    within = bg.nearest_neighbour_baseline(train, test[:1], train_classes=labels,
                                           test_classes=["b"])
    assert within.index[0] >= 10 and within.rmse[0] > 0.1


def test_gaussian_reference_at_the_papers_size():
    """d = 100: mean 50 + 50 log 2 pi = 141.9, std sqrt(50) = 7.07, matching prior samples."""
    reference = bg.gaussian_nll_reference(100)
    assert reference.mean == pytest.approx(141.89, abs=0.01)
    assert reference.std == pytest.approx(7.071, abs=0.001)
    samples = prior_nll(torch.randn(20_000, 100, generator=torch.Generator().manual_seed(0)))
    assert samples.mean() == pytest.approx(reference.mean, abs=0.2)
    assert samples.std() == pytest.approx(reference.std, abs=0.2)


def test_median_mad():
    assert median_mad([1, 2, 3, 4, 100]) == (3.0, 1.0)
    assert all(math.isnan(x) for x in median_mad([np.nan]))
