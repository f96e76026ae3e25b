"""The baselines of Table 2 (Section 4.2): independent one-class generators, whose reds are not
synchronised, and the nearest-neighbour composite that builds multi-channel training images
from two-channel ones.
"""
import numpy as np
import pytest
import torch

from cellnb.papers import biogans as bg
from cellnb.papers.biogans.baselines import nearest_indices

H, W = 12, 20


pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tiny models (conftest)


# ------------------------------------------------------------------- independent generators

def test_independent_generators_draw_a_red_each_while_the_star_shares_one():
    """Fed one z, K one-class generators paint K different reds; the star's K (red, green_k)
    pairs all carry the same red. (Training mode: BatchNorm's batch statistics keep an
    untrained generator's output at a visible scale; evaluation mode would work the same.)"""
    config = bg.preset("smoke", generator_kind="separable", n_classes=3)
    torch.manual_seed(0)
    independent = bg.IndependentGenerators(config)
    latent = bg.sample_latent(config, 4, torch.Generator().manual_seed(1))
    with torch.no_grad():
        reds = independent.reds(**latent)                           # (B, K, H, W)
        images = independent(**latent)                              # (B, K + 1, H, W)
        pairs = independent.pairs(**latent)                         # (K, B, 2, H, W)
    assert reds.shape == (4, 3, 24, 40) and images.shape == (4, 4, 24, 40)
    assert pairs.shape == (3, 4, 2, 24, 40)
    for k in (1, 2):
        assert (reds[:, k] - reds[:, 0]).abs().max() > 0.01
    # The module's layout: generator 0's red, then each generator's own green.
    torch.testing.assert_close(images[:, 0], pairs[0, :, 0], rtol=0, atol=0)
    torch.testing.assert_close(images[:, 1:], pairs[:, :, 1].transpose(0, 1), rtol=0, atol=0)

    star_config = bg.preset("smoke", generator_kind="star", n_classes=3)
    star = bg.build_generator(star_config)
    with torch.no_grad():
        star_pairs = bg.class_pairs(star(**bg.sample_latent(star_config, 4)))
    for k in (1, 2):
        assert torch.equal(star_pairs[k, :, 0], star_pairs[0, :, 0])


def test_independent_generators_wrap_given_generators_and_refuse_a_star():
    config = bg.preset("smoke", n_classes=2)
    generators = [bg.build_generator(config) for _ in range(2)]
    wrapped = bg.IndependentGenerators(config, generators)
    assert wrapped.generators[1] is generators[1]
    with pytest.raises(ValueError, match="one-class"):
        bg.IndependentGenerators(bg.preset("smoke", generator_kind="star"))
    with pytest.raises(ValueError, match="expected 2 generators"):
        bg.IndependentGenerators(config, generators[:1])


# ------------------------------------------------------------------------------ the composite

def blob_reds(n: int, rng: np.random.Generator) -> torch.Tensor:
    """Random reds: a rectangle of cell at a random place, background exactly -1."""
    reds = np.full((n, H, W), -1.0, np.float32)
    for red in reds:
        top, left = rng.integers(0, H - 6), rng.integers(0, W - 10)
        red[top:top + 6, left:left + 10] = rng.uniform(-0.5, 1.0, (6, 10))
    return torch.as_tensor(reds)


@pytest.fixture(scope="module")
def training_cells():
    """3 classes of 10 cells; cell j of class c has a flat green of a value of its own."""
    rng = np.random.default_rng(0)
    reds = [blob_reds(10, rng) for _ in range(3)]
    values = [torch.tensor([-0.9 + 0.05 * (10 * c + j) for j in range(10)]) for c in range(3)]
    greens = [v[:, None, None].expand(10, H, W).clone() for v in values]
    return reds, greens, values


def test_composite_greens_come_from_the_nearest_cells_of_each_class(training_cells):
    reds, greens, values = training_cells
    queries = blob_reds(8, np.random.default_rng(1))
    images = bg.nearest_neighbour_composite(queries, greens, reds, k=3, seed=0)
    assert images.shape == (8, 4, H, W)
    torch.testing.assert_close(images[:, 0], queries, rtol=0, atol=0)
    inside = queries > -1
    for c in range(3):
        nearest = nearest_indices(queries, reds[c], 3)
        # Brute force: the 3 nearest by squared L2 on the red.
        brute = torch.cdist(queries.flatten(1), reds[c].flatten(1)).argsort(1)[:, :3]
        assert torch.equal(nearest.sort(1).values, brute.sort(1).values)
        for i in range(8):
            green = images[i, 1 + c]
            value = green[inside[i]].unique()
            assert len(value) == 1                     # one borrowed cell, flat green
            j = int(torch.argmin((values[c] - value).abs()))
            assert values[c][j] == value and j in nearest[i].tolist()
            # Masked where the red is background.
            assert (green[~inside[i]] == -1).all()


def test_composite_is_seeded(training_cells):
    reds, greens, _ = training_cells
    queries = blob_reds(16, np.random.default_rng(2))
    first = bg.nearest_neighbour_composite(queries, greens, reds, k=5, seed=0)
    again = bg.nearest_neighbour_composite(queries, greens, reds, k=5, seed=0)
    other = bg.nearest_neighbour_composite(queries, greens, reds, k=5, seed=1)
    assert torch.equal(first, again) and not torch.equal(first, other)
    # k = 1: no choice left, every seed borrows the nearest cell.
    assert torch.equal(bg.nearest_neighbour_composite(queries, greens, reds, k=1, seed=0),
                       bg.nearest_neighbour_composite(queries, greens, reds, k=1, seed=7))


def test_multichannel_training_set_keeps_each_cells_own_green(training_cells):
    """A training cell of class c keeps its own green in channel 1 + c and borrows the rest."""
    reds, greens, values = training_cells
    images = torch.cat([torch.stack([r, g], 1) for r, g in zip(reds, greens)])   # (30, 2, H, W)
    class_ids = np.repeat(np.arange(3), 10)
    composite = bg.multichannel_training_set(images, class_ids, k=5, seed=0)
    assert composite.shape == (30, 4, H, W)
    inside = images[:, 0] > -1
    for i, c in enumerate(class_ids):
        own = composite[i, 1 + c]
        assert torch.equal(own[inside[i]], images[i, 1][inside[i]])
        for other in set(range(3)) - {c}:
            borrowed = composite[i, 1 + other][inside[i]].unique()
            assert len(borrowed) == 1 and borrowed.item() in values[other].tolist()
        assert (composite[i, :, ~inside[i]] == -1).all()
