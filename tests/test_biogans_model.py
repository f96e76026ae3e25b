"""BioGANs' networks and losses: the paper's sizes, the exact red/green invariants, and the
gradient penalty and GAN losses against hand computations.

The 48x80 models are built on the meta device, where parameters and shapes exist without memory
or arithmetic: counting the multi-channel baseline's 43 M parameters and pushing a batch through
the star generator's 11 M costs nothing. Values are checked on the ``cpu`` and ``smoke`` sizes.
"""
import math

import pytest
import torch
from torch import nn

from cellnb.papers import biogans as bg
from cellnb.papers.biogans.model import batch_norm_count, red_share

KINDS = ("dcgan", "separable", "star")


pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tiny models (conftest)


def build(name: str, *, seed: int = 0, meta: bool = False, **overrides):
    config = bg.preset(name, **overrides)
    torch.manual_seed(seed)
    if meta:
        with torch.device("meta"):
            return config, bg.build_generator(config), bg.build_critic(config)
    return config, bg.build_generator(config), bg.build_critic(config)


def latent(config, n=6, seed=1):
    return bg.sample_latent(config, n, torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- parameter counts
# The paper's models at its 48x80 (Section 3.3) with the authors' widths, nz = 100 and
# ngf = ndf = 64: the DCGAN generator of Fig. 2 (left), the separable one of Fig. 2 (right), the
# star-shaped one of Section 4.2 with 6 green towers, and the WGAN-GP critic (Section 4.1).
PAPER_DCGAN_GENERATOR = 3_524_480
PAPER_SEPARABLE_GENERATOR = 2_643_840
PAPER_STAR_GENERATOR = 11_455_040     # against 6 x 2,643,840 for six separable generators
PAPER_CRITIC = 2_762_240              # without BatchNorm (WGAN-GP)


def transposed(cin, cout, kernel=(4, 4)):
    """A bias-free (transposed) convolution's parameters."""
    return cin * cout * kernel[0] * kernel[1]


def test_dcgan_generator_count_by_hand():
    """Fig. 2 (left) at 48x80: 100 -> 512x3x5 -> 256 -> 128 -> 64 -> 2, BatchNorm on the four
    hidden maps (a scale and a shift per channel), no biases."""
    widths = (512, 256, 128, 64)
    convs = transposed(100, 512, (3, 5)) + sum(transposed(a, b) for a, b in
                                               zip(widths, widths[1:] + (2,)))
    assert convs + 2 * sum(widths) == PAPER_DCGAN_GENERATOR


@pytest.mark.parametrize("kind, generator", [
    ("dcgan", PAPER_DCGAN_GENERATOR), ("separable", PAPER_SEPARABLE_GENERATOR),
    ("star", PAPER_STAR_GENERATOR)])
def test_paper_parameter_counts(kind, generator):
    counts = bg.parameter_counts(bg.preset("paper", generator_kind=kind))
    critics = 6 if kind == "star" else 1       # the star model has one critic per protein
    assert counts == {"generator": generator, "critic": critics * PAPER_CRITIC,
                      "total": generator + critics * PAPER_CRITIC}


def test_gan_discriminator_adds_only_batch_norm():
    """DCGAN's discriminator: BatchNorm on the 128-, 256- and 512-channel maps, not the first."""
    counts = bg.parameter_counts(bg.preset("paper", critic_kind="gan"))
    assert counts["critic"] == PAPER_CRITIC + 2 * (128 + 256 + 512)


def test_multichannel_baseline_counts():
    """Section 4.2's multi-channel model: 7 channels, widths x 3.5 (ngf = ndf = 224, nz = 350),
    so the 1792 channels of its first map are 256 for red + 6 x 256, as in the star model."""
    plain = bg.parameter_counts(bg.preset("paper_multichannel"))
    separable = bg.parameter_counts(bg.preset("paper_multichannel", generator_kind="separable"))
    assert plain["generator"] == 43_158_080
    assert separable["generator"] == 37_874_240
    assert plain["critic"] == separable["critic"] == 33_770_240


def test_star_normalises_red_once_per_layer():
    """Section 4.2: BatchNorm in the red tower once, not once per green tower. Four hidden layers
    at 48x80, each with one red BatchNorm and one per green tower: 4 x (1 + 6)."""
    _, star, _ = build("paper", generator_kind="star", meta=True)
    assert batch_norm_count(star.red) == 4
    assert batch_norm_count(star) == 4 * (1 + 6)


def test_critic_has_no_batch_norm_and_discriminator_has():
    assert batch_norm_count(build("smoke")[2]) == 0
    assert batch_norm_count(build("smoke", critic_kind="gan")[2]) == 2


# ------------------------------------------------------------------------------ size plan

@pytest.mark.parametrize("size, plan", [
    ((48, 80), [(3, 5), (6, 10), (12, 20), (24, 40), (48, 80)]),
    ((24, 40), [(3, 5), (6, 10), (12, 20), (24, 40)]),
    ((64, 64), [(4, 4), (8, 8), (16, 16), (32, 32), (64, 64)])])
def test_plan_halves_while_both_sides_exceed_four(size, plan):
    assert bg.feature_map_sizes(size) == plan


@pytest.mark.parametrize("size", [(50, 80), (4, 40)])
def test_sizes_the_plan_cannot_halve_are_refused(size):
    with pytest.raises(ValueError, match="image size"):
        bg.BioGanConfig(image_size=size)


def test_red_share_floors_like_the_authors_split():
    assert [red_share(n, 0.5) for n in (100, 512, 7)] == [50, 256, 3]
    assert [red_share(n, 1 / 7) for n in (350, 1792, 224)] == [50, 256, 32]
    assert red_share(100, 0.29) == 29                  # not 28 from 28.999... in floating point


# ---------------------------------------------------------------------------------- shapes

@pytest.mark.parametrize("name", ["paper", "cpu", "smoke"])
@pytest.mark.parametrize("kind", KINDS)
def test_output_shapes(name, kind):
    meta = name == "paper"
    config, generator, critic = build(name, generator_kind=kind, meta=meta)
    batch, (height, width) = 3, config.image_size
    z = bg.sample_latent(config, batch, device="meta" if meta else None)
    images = generator(**z)
    if kind == "star":
        k = config.n_classes
        assert images.shape == (batch, k + 1, height, width)
        pairs = bg.class_pairs(images)
        assert pairs.shape == (k, batch, 2, height, width)
        assert critic(pairs).shape == (k, batch)
    else:
        assert images.shape == (batch, 2, height, width)
        assert critic(images).shape == (batch,)


def test_per_tower_green_noise_shapes():
    config, star, _ = build("smoke", generator_kind="star", green_noise="per_tower")
    z = latent(config, n=4)
    assert z["z_red"].shape == (4, config.nz_red)
    assert z["z_green"].shape == (4, config.n_classes, config.nz_green)
    assert bg.latent_size(config) == config.nz_red + config.n_classes * config.nz_green
    assert star(**z).shape == (4, config.n_classes + 1, *config.image_size)


def test_separable_multichannel_generator_has_one_red_and_six_greens():
    config = bg.preset("paper_multichannel", generator_kind="separable", image_size=(24, 40),
                       nz=35, ngf=14, ndf=8)
    generator = bg.build_generator(config)
    assert generator(**latent(config, n=2)).shape == (2, 7, 24, 40)
    assert bg.build_critic(config)(torch.zeros(2, 7, 24, 40)).shape == (2,)


def test_outputs_are_tanh_images():
    config, generator, _ = build("smoke", generator_kind="star")
    images = generator(**latent(config))
    assert images.abs().max() <= 1


# ------------------------------------------------------------------------- exact invariants
# Section 4.2: red features see red noise only, green features see red and green. The red tower
# has its own BatchNorm and never receives a green tensor, so the red channel is bitwise the same
# whatever z_green is, with batch statistics (training) as well as running ones (evaluation).

def with_new_green(z, seed=7):
    g = torch.Generator().manual_seed(seed)
    return {"z_red": z["z_red"], "z_green": torch.randn(z["z_green"].shape, generator=g)}


@pytest.mark.parametrize("kind", ["separable", "star"])
@pytest.mark.parametrize("training", [True, False])
def test_red_is_bitwise_independent_of_green_noise(kind, training):
    config, generator, _ = build("cpu", generator_kind=kind)
    generator.train(training)
    z = latent(config)
    before, after = generator(**z), generator(**with_new_green(z))
    assert torch.equal(before[:, 0], after[:, 0])
    assert not torch.allclose(before[:, 1:], after[:, 1:])     # every green did change
    for k in range(1, before.shape[1]):
        assert not torch.allclose(before[:, k], after[:, k])


def test_batch_statistics_couple_reds_across_the_batch_not_across_channels():
    """What training-mode BatchNorm does change: one cell's red depends on the other cells' z_red
    through the batch mean and variance. With running statistics (evaluation) it does not."""
    config, generator, _ = build("cpu", generator_kind="separable")
    z = latent(config)
    other = dict(z, z_red=torch.cat([z["z_red"][:1], -z["z_red"][1:]]))
    generator.train()
    assert not torch.allclose(generator(**z)[0, 0], generator(**other)[0, 0])
    generator.eval()
    torch.testing.assert_close(generator(**z)[0, 0], generator(**other)[0, 0])


@pytest.mark.parametrize("green_noise", ["shared", "per_tower"])
def test_star_red_plane_is_identical_across_towers(green_noise):
    config, star, _ = build("cpu", generator_kind="star", green_noise=green_noise)
    z = latent(config)
    images = star(**z)
    pairs = bg.class_pairs(images)
    for k in range(config.n_classes):
        assert torch.equal(pairs[k, :, 0], images[:, 0])
        assert torch.equal(pairs[k, :, 1], images[:, 1 + k])
    assert torch.equal(images[:, :1], star.red_features(z["z_red"])[-1])   # the tower ran once


def test_per_tower_noise_moves_only_its_own_tower():
    """With per-tower green noise, the greens are independent given the red (Section 4.2):
    resampling tower 1's noise changes green 1 and nothing else, exactly, in training mode."""
    config, star, _ = build("cpu", generator_kind="star", green_noise="per_tower")
    z = latent(config)
    z_green = z["z_green"].clone()
    z_green[:, 1] = torch.randn(z_green[:, 1].shape, generator=torch.Generator().manual_seed(5))
    before, after = star(**z), star(z["z_red"], z_green)
    changed = [not torch.equal(before[:, c], after[:, c]) for c in range(config.n_classes + 1)]
    assert changed == [False, False, True, False]              # red, green 0, green 1, green 2


def test_star_with_one_tower_is_the_separable_generator():
    """The star generator is the separable one with more green towers: same weights, same cells."""
    config, separable, _ = build("smoke", generator_kind="separable")
    star = bg.StarGenerator(bg.preset("smoke", generator_kind="star", n_classes=1))
    star.load_state_dict({key.replace("green.", "greens.0."): value
                          for key, value in separable.state_dict().items()})
    z = latent(config)
    assert torch.equal(star(**z), separable(**z))


# ------------------------------------------------------------------------------ determinism

@pytest.mark.parametrize("kind", KINDS)
def test_a_seed_fixes_weights_noise_and_images(kind):
    (config, first, _), (_, second, _) = build("smoke", generator_kind=kind), \
        build("smoke", generator_kind=kind)
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(first(**latent(config)), second(**latent(config)))
    _, third, _ = build("smoke", generator_kind=kind, seed=1)
    assert not torch.equal(first(**latent(config)), third(**latent(config)))


def test_the_same_draws_make_the_dcgan_z_and_the_separable_pieces():
    dcgan, separable = bg.preset("smoke"), bg.preset("smoke", generator_kind="separable")
    z, pieces = latent(dcgan)["z"], latent(separable)
    assert torch.equal(z, torch.cat([pieces["z_red"], pieces["z_green"]], 1))
    assert pieces["z_red"].shape[1] == separable.nz // 2


# ------------------------------------------------------------------------------- the losses

class LinearCritic(nn.Module):
    """D(x) = <w, x> over each image's C*H*W values: its gradient is w everywhere, so the penalty
    is (||w|| - 1)^2 whatever the interpolation weights."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight)

    def forward(self, images):
        return (images * self.weight).flatten(images.dim() - 3).sum(-1)


def unit_direction(shape, seed=0):
    w = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    return w / w.norm()


def images(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("norm, penalty", [(1.0, 0.0), (2.0, 1.0), (0.5, 0.25)])
def test_gradient_penalty_of_a_linear_critic(norm, penalty):
    critic = LinearCritic(norm * unit_direction((2, 6, 10)))
    real, fake = images((8, 2, 6, 10), 1), images((8, 2, 6, 10), 2)
    result = bg.wgan_gp_critic_loss(critic, real, fake, generator=torch.Generator().manual_seed(3))
    wasserstein = critic(fake).mean() - critic(real).mean()
    torch.testing.assert_close(result.gradient_penalty, torch.tensor(penalty))
    torch.testing.assert_close(result.wasserstein, wasserstein.detach())
    torch.testing.assert_close(result.loss, -wasserstein + 10 * penalty)


def test_gradient_norm_is_per_sample():
    """D(x) = ||x||^2 / 2 has gradient x. With real = fake the interpolates are the images, so the
    penalty is mean_i (||x_i|| - 1)^2: per sample, not the norm of the whole batch's gradient."""
    x = images((5, 2, 6, 10), 4) * torch.linspace(0.05, 0.3, 5).view(5, 1, 1, 1)
    penalty = bg.gradient_penalty(lambda v: 0.5 * v.pow(2).flatten(1).sum(1), x, x)
    expected = (x.flatten(1).norm(dim=1) - 1).pow(2).mean()
    torch.testing.assert_close(penalty, expected)
    assert not torch.isclose(penalty, (x.norm() - 1).pow(2))


def test_multi_critic_penalty_and_reduction_per_class():
    """K critics judge K class batches: one penalty per class, then their mean (authors' code)
    or their sum (Section 4.2's accumulated gradient)."""
    norms = torch.tensor([1.0, 2.0, 3.0])
    weights = norms.view(3, 1, 1, 1, 1) * torch.stack([unit_direction((2, 6, 10), s)
                                                       for s in range(3)]).unsqueeze(1)
    critic = LinearCritic(weights)               # broadcasts: critic k has weight k
    real, fake = images((3, 4, 2, 6, 10), 5), images((3, 4, 2, 6, 10), 6)
    mean = bg.wgan_gp_critic_loss(critic, real, fake)
    total = bg.wgan_gp_critic_loss(critic, real, fake, class_reduction="sum")
    torch.testing.assert_close(mean.gradient_penalty, torch.tensor([0.0, 1.0, 4.0]))
    per_class = -mean.wasserstein + 10 * mean.gradient_penalty
    torch.testing.assert_close(mean.loss, per_class.mean())
    torch.testing.assert_close(total.loss, per_class.sum())


def test_penalty_is_float32_under_mixed_precision():
    config, _, critic = build("smoke")
    real, fake = images((4, 2, 24, 40), 1), images((4, 2, 24, 40), 2)
    full = bg.gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = bg.gradient_penalty(critic, real.bfloat16(), fake.bfloat16(),
                                    generator=torch.Generator().manual_seed(0))
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, full, rtol=0.05, atol=1e-3)   # inputs rounded to bf16 only


def first_pixel(batch):
    """A 'discriminator' whose logit is each image's first pixel."""
    return batch[..., 0, 0, 0]


def test_gan_losses_by_hand():
    """Eq. 1 with D = sigmoid(logit): D's loss -log D(x) - log(1 - D(G(z))), averaged per term;
    the generator's non-saturating loss -log D(G(z))."""
    real, fake = torch.zeros(2, 2, 4, 4), torch.zeros(2, 2, 4, 4)
    real[:, 0, 0, 0], fake[:, 0, 0, 0] = torch.tensor([0.0, 2.0]), torch.tensor([-1.0, 1.0])

    def sigmoid(x):
        return 1 / (1 + math.exp(-x))

    d_loss = (-math.log(sigmoid(0)) - math.log(sigmoid(2))) / 2 \
        + (-math.log(1 - sigmoid(-1)) - math.log(1 - sigmoid(1))) / 2
    g_loss = (-math.log(sigmoid(-1)) - math.log(sigmoid(1))) / 2
    assert bg.gan_discriminator_loss(first_pixel, real, fake).item() == pytest.approx(d_loss)
    assert bg.gan_generator_loss(first_pixel, fake).item() == pytest.approx(g_loss)


def test_wgan_generator_loss_is_the_mean_critic_score_of_generated_images():
    fake = torch.zeros(2, 3, 2, 4, 4)
    fake[..., 0, 0, 0] = torch.tensor([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])
    assert bg.wgan_generator_loss(first_pixel, fake).item() == pytest.approx((2 + 20) / 2)
    assert bg.wgan_generator_loss(first_pixel, fake, class_reduction="sum").item() \
        == pytest.approx(2 + 20)


def test_critic_losses_train_the_critic_only():
    config, generator, critic = build("smoke", generator_kind="star")
    fake = bg.class_pairs(generator(**latent(config, n=4)))
    real = images(fake.shape, 3).clamp(-1, 1)
    bg.wgan_gp_critic_loss(critic, real, fake).loss.backward()
    assert all(p.grad is None for p in generator.parameters())
    assert all(p.grad is not None for p in critic.parameters())


def test_one_star_training_step_is_finite_and_reaches_every_tower():
    config, generator, critic = build("smoke", generator_kind="star")
    optimizers = bg.make_optimizers(generator, critic, bg.preset("smoke", betas=(0, 0.9)))
    real = images((config.n_classes, 4, 2, *config.image_size), 3).clamp(-1, 1)
    fake = bg.class_pairs(generator(**latent(config, n=4)))
    critic_loss = bg.wgan_gp_critic_loss(critic, real, fake)
    optimizers["critic"].zero_grad()
    critic_loss.loss.backward()
    optimizers["critic"].step()
    generator_loss = bg.wgan_generator_loss(critic, fake)
    optimizers["generator"].zero_grad()
    generator_loss.backward()
    assert torch.isfinite(critic_loss.loss) and torch.isfinite(generator_loss)
    towers = [generator.red, *generator.greens]
    assert all(tower.layers[0][0].weight.grad.abs().sum() > 0 for tower in towers)


# ---------------------------------------------------------------------------- config errors

def test_config_errors_say_what_to_do():
    with pytest.raises(ValueError, match="image_channels must be 2"):
        bg.preset("paper", generator_kind="star", image_channels=7)
    with pytest.raises(ValueError, match="both need at least one"):
        bg.preset("smoke", generator_kind="separable", red_fraction=0.1)
    with pytest.raises(ValueError, match="generator_kind is one of"):
        bg.preset("smoke", generator_kind="pix2pix")
    with pytest.raises(KeyError, match="choose from"):
        bg.preset("gpu")
    config, generator, critic = build("smoke", generator_kind="star")
    with pytest.raises(ValueError, match="class_pairs"):
        critic(torch.zeros(4, config.n_classes + 1, *config.image_size))
    with pytest.raises(ValueError, match="z_red of shape"):
        generator(torch.zeros(4, config.nz), torch.zeros(4, config.nz_green))
