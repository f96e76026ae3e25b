"""BioGANs: DCGAN, separable and star-shaped generators of two-channel fission-yeast cells.

Osokin, Chessel, Carazo Salas & Vaggi, "GANs for Biological Image Synthesis" (ICCV 2017, arXiv
1708.04692). Every cell image has a red channel (Bgs4, which marks where the cell grows and so
its stage in the cell cycle) and one green channel (one of several polarity proteins, each imaged
in its own strain). The networks are those of Section 4 and Fig. 2; the layer sizes the paper
leaves to "DCGAN [38]" follow the authors' code (github.com/aosokin/biogans): no biases, DCGAN's
initialisation, tanh outputs in [-1, 1], red first.

The plan (Section 3.3's 48x80 images): halve (H, W) while both sides exceed 4, so 48x80 -> 3x5,
and double the width at each halving. The generator starts with a transposed convolution whose
kernel is that first map (3x5), then doubles the map with 4x4 stride-2 transposed convolutions;
the critic mirrors it. Sizes come from the image size, so 24x40 or 64x64 work the same way.

DCGAN generator (Section 4.1, Fig. 2 left), 48x80, nz = 100, ngf = 64, 3,524,480 parameters:

    z (B, 100) -> 512x3x5 -> 256x6x10 -> 128x12x20 -> 64x24x40 -> 2x48x80 (red, green), tanh
                  every transposed conv but the last is followed by BatchNorm and ReLU

Separable generator (Section 4.2, "Channel separation", Fig. 2 right), 2,643,840 parameters. Each
layer's filters split into a red half and a green half, with one-way connections red -> green;
z splits the same way (``red_fraction``, one half each):

    z_red   (50) -> red   256 -> red   128 -> red   64 -> red   32 -> red   1
          |             |            |            |           |
          v             v            v            v           v
    z_green (50) -> green 256 -> green 128 -> green 64 -> green 32 -> green 1

    widths after z at 3x5, 6x10, 12x20, 24x40 and 48x80; an arrow down joins a red map to the
    green map below it, and the two, concatenated, are the next green layer's input

The green layer l sees [red features | green features] of layer l - 1; the red layer sees red
features only. So the red channel is a function of z_red alone, exactly: the red half runs as
its own tower with its own BatchNorm and never receives a green tensor. BatchNorm is per channel,
so this is the same function as one BatchNorm over the concatenation. In training mode batch
statistics make one cell's red depend on the other cells' z_red in the batch, never on a z_green.

Star-shaped generator (Section 4.2, "Star-shaped model"), K = 6, 11,455,040 parameters: one red
tower as above feeding K green towers, each wired to the red tower like the separable generator's
green half, with its own BatchNorm. The red tower, and its BatchNorm, run once: the paper found
normalising the shared red features once per green tower "prevents convergence". The output is
(B, K + 1, H, W), red then K greens, so every green matches the same red by construction.
Training images have one green each, so K critics each judge one (red, green_k) pair
(:class:`MultiCritic`, :func:`class_pairs`).

Critic (WGAN-GP, 2,762,240 parameters) and discriminator (GAN, +1,792 of BatchNorm):

    (B, 2, 48, 80) -> 64x24x40 -> 128x12x20 -> 256x6x10 -> 512x3x5 -> conv 3x5 -> score (B,)
                      4x4 stride-2 convs with LeakyReLU(0.2); BatchNorm on all but the first
                      for the GAN's discriminator only (WGAN-GP penalises each sample's gradient,
                      which batch statistics would mix across the batch)

Where the paper and the authors' code differ, a config flag exposes both:

* green noise of the star model: the code feeds the same z_green to every green tower
  (``green_noise="shared"``, the default, as in the released models); Section 4.2 says the green
  outputs "are independent conditioned on the red", which per-tower noise gives
  (``green_noise="per_tower"``; the same number of parameters).
* the generator's gradient from K critics: "accumulated" in Section 4.2 (``class_reduction=
  "sum"``), the mean over classes in the code (``"mean"``, the default; a 1/K scale that Adam
  all but ignores). See :mod:`.losses`.
* the separable multi-channel baseline (Section 4.2, "Multi-channel models"; Table 2) cannot be
  selected in the released code; here it is ``generator_kind="separable"`` with
  ``image_channels = K + 1`` and ``red_fraction = 1/7`` (one red output, K greens).

Read top to bottom: the config, the size plan, the presets, the latent noise, the building
blocks, the three generators, the critics, builders, parameter counts and the optimisers. The
losses of eqs. 1 and 4 are in :mod:`.losses`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

# --------------------------------------------------------------------------- configuration

GENERATOR_KINDS = ("dcgan", "separable", "star")
GREEN_NOISES = ("shared", "per_tower")
CRITIC_KINDS = ("wgan_gp", "gan")
CLASS_REDUCTIONS = ("mean", "sum")

SMALLEST_SIDE = 4     # the plan halves (H, W) while both sides exceed this
GP_WEIGHT = 10.0      # lambda of the gradient penalty (Gulrajani et al. [15], as the paper uses it)


@dataclass(frozen=True)
class BioGanConfig:
    """Every knob of the generators and critics, and the WGAN-GP training numbers.

    ``image_channels`` counts the channels of a training image: 2 (red, green) for the LIN data,
    K + 1 for the multi-channel baseline. The star generator outputs ``n_classes + 1`` channels
    and its critics see 2-channel (red, green_k) pairs, so it needs ``image_channels == 2``.
    """

    image_size: tuple[int, int] = (48, 80)   # (H, W): Section 3.3
    image_channels: int = 2                  # red (Bgs4) first, then the green(s)
    nz: int = 100                            # |z|; for per-tower green noise, |z_red| + |z_green|
    ngf: int = 64                            # generator width at the last hidden layer
    ndf: int = 64                            # critic width at the first layer
    n_classes: int = 6                       # K green proteins: the star's towers and critics
    generator_kind: str = "dcgan"            # "dcgan" | "separable" | "star"
    red_fraction: float = 0.5                # share of z and of every layer's filters for red
    green_noise: str = "shared"              # star: one z_green for all towers or one per tower
    critic_kind: str = "wgan_gp"             # "wgan_gp": no BatchNorm; "gan": BatchNorm (DCGAN)
    leaky_slope: float = 0.2
    # Training (the authors' WGAN-GP scripts; the paper names only "the optimizer of [15]").
    gp_weight: float = GP_WEIGHT
    n_critic: int = 5                        # critic updates per generator update
    lr: float = 1e-4                         # Adam, generator and critic alike
    betas: tuple[float, float] = (0.0, 0.9)
    batch_size: int = 64                     # per class for the star model
    iterations: int = 50_000                 # generator updates (Tables 2-3, Figs. 1, 5-7)
    class_reduction: str = "mean"            # K critics: "mean" (code) or "sum" (Section 4.2)

    def __post_init__(self):
        _check_choice("generator_kind", self.generator_kind, GENERATOR_KINDS)
        _check_choice("green_noise", self.green_noise, GREEN_NOISES)
        _check_choice("critic_kind", self.critic_kind, CRITIC_KINDS)
        _check_choice("class_reduction", self.class_reduction, CLASS_REDUCTIONS)
        feature_map_sizes(self.image_size)           # raises for sizes the plan cannot halve
        if self.image_channels < 2:
            raise ValueError(f"image_channels counts red plus at least one green, got "
                             f"{self.image_channels}")
        if self.n_classes < 1:
            raise ValueError(f"n_classes must be at least 1, got {self.n_classes}")
        if self.generator_kind == "star" and self.image_channels != 2:
            raise ValueError("the star generator trains on (red, green) pairs: image_channels "
                             f"must be 2, got {self.image_channels}")
        if self.generator_kind != "dcgan":
            self._check_red_green_split()

    def _check_red_green_split(self):
        if not 0 < self.red_fraction < 1:
            raise ValueError(f"red_fraction must be in (0, 1), got {self.red_fraction}")
        for name, total in [("nz", self.nz)] + [(f"layer {i + 1} width", width) for i, width
                                                in enumerate(generator_widths(self))]:
            red = red_share(total, self.red_fraction)
            if red < 1 or total - red < 1:
                raise ValueError(f"red_fraction {self.red_fraction} splits {name} = {total} "
                                 f"into {red} red and {total - red} green; both need at least "
                                 "one: use a larger nz / ngf or a fraction nearer 0.5")

    @property
    def nz_red(self) -> int:
        """|z_red|: the noise the red channel sees (separable and star generators)."""
        return red_share(self.nz, self.red_fraction)

    @property
    def nz_green(self) -> int:
        """|z_green| of one green tower."""
        return self.nz - self.nz_red

    def as_dict(self) -> dict:
        return asdict(self)


def _check_choice(name: str, value: str, choices: tuple[str, ...]):
    if value not in choices:
        raise ValueError(f"{name} is one of {choices}, got {value!r}")


def red_share(total: int, red_fraction: float) -> int:
    """Red's part of ``total`` channels: floor(total * red_fraction), as the authors' code splits.

    The tiny tolerance keeps 350 * 0.143 = 50.05 at 50 and 100 * 0.29 (28.999... in floating
    point) at 29.
    """
    return int(total * red_fraction + 1e-6)


# ---------------------------------------------------------------------------- the size plan

def feature_map_sizes(image_size: Sequence[int]) -> list[tuple[int, int]]:
    """The generator's map sizes, first map to image: 48x80 -> [3x5, 6x10, 12x20, 24x40, 48x80].

    Halve (H, W) while both sides exceed 4; every halving must be exact, because the 4x4
    stride-2 transposed convolutions double exactly.
    """
    height, width = image_size
    sizes = [(height, width)]
    while height > SMALLEST_SIDE and width > SMALLEST_SIDE:
        if height % 2 or width % 2:
            raise ValueError(f"image size {tuple(image_size)} reaches {height}x{width}, which "
                             "does not halve exactly; use sides that halve to <= 4, e.g. "
                             "48x80, 24x40 or 64x64")
        height, width = height // 2, width // 2
        sizes.append((height, width))
    if len(sizes) == 1:
        raise ValueError(f"image size {tuple(image_size)} is too small: both sides must "
                         f"exceed {SMALLEST_SIDE}")
    return sizes[::-1]


def first_map_size(config: BioGanConfig) -> tuple[int, int]:
    """The generator's first map and the critic's last one (3x5 for 48x80 and 24x40)."""
    return feature_map_sizes(config.image_size)[0]


def generator_widths(config: BioGanConfig) -> tuple[int, ...]:
    """Channels of the generator's hidden maps, first to last: ngf * (2^(L-1), ..., 2, 1)."""
    doublings = len(feature_map_sizes(config.image_size)) - 1
    return tuple(config.ngf * 2 ** level for level in reversed(range(doublings)))


def critic_widths(config: BioGanConfig) -> tuple[int, ...]:
    """Channels of the critic's maps, first to last: ndf * (1, 2, ..., 2^(L-1))."""
    doublings = len(feature_map_sizes(config.image_size)) - 1
    return tuple(config.ndf * 2 ** level for level in range(doublings))


def red_green_widths(config: BioGanConfig) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Each hidden layer's red and green filters: (256, 128, 64, 32) twice for the paper."""
    widths = generator_widths(config)
    red = tuple(red_share(width, config.red_fraction) for width in widths)
    return red, tuple(width - r for width, r in zip(widths, red))


# ------------------------------------------------------------------------------- the presets

# The GAN baseline (Figs. 3-4, Table 3): BatchNorm discriminator, DCGAN's Adam, one D step per G.
GAN_TRAINING = dict(critic_kind="gan", lr=2e-4, betas=(0.5, 0.999), n_critic=1)

PRESETS = {
    # The paper's size (Section 3.3) and the authors' widths: pick the generator with
    # generator_kind; 3,524,480 / 2,643,840 / 11,455,040 generator parameters for
    # dcgan / separable / star (K = 6), 2,762,240 per critic.
    "paper": BioGanConfig(),
    # The multi-channel baseline (Section 4.2; Table 2): 7 channels (red + 6 greens), the widths
    # scaled by 3.5 so that width per output channel matches the star model (224 / 7 = 64 / 2),
    # a 7-channel critic as wide. With generator_kind="separable" it is the separable version.
    "paper_multichannel": BioGanConfig(image_channels=7, nz=350, ngf=224, ndf=224,
                                       red_fraction=1 / 7),
    # CPU-sized, same wiring: 24x40 (the same 3x5 first map, one doubling fewer), nz 32, widths
    # 16, 3 proteins, batch 32, 1.5k iterations at twice the paper's learning rate.
    "cpu": BioGanConfig(image_size=(24, 40), nz=32, ngf=16, ndf=16, n_classes=3, batch_size=32,
                        iterations=1500, lr=2e-4),
    # The smallest model with the same wiring, for tests.
    "smoke": BioGanConfig(image_size=(24, 40), nz=8, ngf=4, ndf=4, n_classes=2, batch_size=4,
                          iterations=4, lr=2e-4),
}


def preset(name: str, **overrides) -> BioGanConfig:
    """A preset with fields replaced, e.g. ``preset("cpu", generator_kind="star")``."""
    try:
        return replace(PRESETS[name], **overrides)
    except KeyError:
        raise KeyError(f"unknown biogans preset {name!r}; choose from {sorted(PRESETS)}") \
            from None


# ------------------------------------------------------------------------- the latent noise
# z ~ N(0, I). The separable and star generators take it in pieces: z_red (B, nz_red) and
# z_green (B, nz_green), or (B, K, nz_green) with per-tower green noise. A flat z is split in
# that order, so the same draws give the DCGAN z and the separable (z_red, z_green).

def latent_size(config: BioGanConfig) -> int:
    """|z| as one vector: nz, or nz_red + K * nz_green with per-tower green noise."""
    if config.generator_kind == "star" and config.green_noise == "per_tower":
        return config.nz_red + config.n_classes * config.nz_green
    return config.nz


def split_latent(config: BioGanConfig, z: torch.Tensor) -> dict[str, torch.Tensor]:
    """A flat z (B, latent_size) as the keyword arguments of the config's generator."""
    if z.dim() != 2 or z.shape[1] != latent_size(config):
        raise ValueError(f"expected z of shape (B, {latent_size(config)}), got {tuple(z.shape)}")
    if config.generator_kind == "dcgan":
        return {"z": z}
    z_red, z_green = z[:, :config.nz_red], z[:, config.nz_red:]
    if config.generator_kind == "star" and config.green_noise == "per_tower":
        z_green = z_green.reshape(len(z), config.n_classes, config.nz_green)
    return {"z_red": z_red, "z_green": z_green}


def sample_latent(config: BioGanConfig, n: int, generator: torch.Generator | None = None, *,
                  device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
    """n draws of z ~ N(0, I), as the config's generator takes them: ``net(**latent)``.

    ``{"z"}`` for DCGAN, ``{"z_red", "z_green"}`` for the separable and star generators. Drawn
    with ``generator`` (on its own device) and moved to ``device``.
    """
    z = torch.randn(n, latent_size(config), generator=generator,
                    device=generator.device if generator is not None else device)
    return split_latent(config, z.to(device) if device is not None else z)


def _noise_map(z: torch.Tensor, size: int, name: str) -> torch.Tensor:
    """(B, size) noise as the (B, size, 1, 1) map the first transposed conv takes."""
    if z.dim() != 2 or z.shape[1] != size:
        raise ValueError(f"expected {name} of shape (B, {size}), got {tuple(z.shape)}")
    return z[:, :, None, None]


# ------------------------------------------------------------------------- building blocks

def generator_layer(cin: int, cout: int, *, first_map: tuple[int, int] | None = None,
                    output: bool = False) -> nn.Sequential:
    """A transposed conv without bias, then BatchNorm + ReLU, or tanh at the output.

    ``first_map``: 1x1 noise -> that map (kernel = the map's size); otherwise 4x4, stride 2,
    padding 1, which doubles both sides.
    """
    if first_map is not None:
        conv = nn.ConvTranspose2d(cin, cout, first_map, 1, 0, bias=False)
    else:
        conv = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
    tail = [nn.Tanh()] if output else [nn.BatchNorm2d(cout), nn.ReLU()]
    return nn.Sequential(conv, *tail)


class UpTower(nn.Module):
    """A stack of generator layers from noise to image; optionally fed by another tower.

    ``forward(x)`` returns every layer's input and the output, ``[x, h_1, ..., image]``. With
    ``side`` (another tower's list), layer l sees ``[side[l] | its own input]``: this is the
    one-way red -> green connection of Fig. 2 (right).
    """

    def __init__(self, inputs: Sequence[int], outputs: Sequence[int],
                 first_map: tuple[int, int]):
        super().__init__()
        last = len(outputs) - 1
        self.layers = nn.ModuleList(
            generator_layer(cin, cout, first_map=first_map if i == 0 else None, output=i == last)
            for i, (cin, cout) in enumerate(zip(inputs, outputs)))

    def forward(self, x: torch.Tensor,
                side: Sequence[torch.Tensor] | None = None) -> list[torch.Tensor]:
        activations = [x]
        for level, layer in enumerate(self.layers):
            if side is not None:
                x = torch.cat([side[level], x], 1)
            x = layer(x)                          # (B, C_l, h_l, w_l)
            activations.append(x)
        return activations


def dcgan_init(module: nn.Module):
    """DCGAN's initialisation (Radford et al. [38]; the authors' code): conv weights ~ N(0, 0.02),
    BatchNorm scales ~ N(1, 0.02) and shifts 0."""
    if isinstance(module, nn.modules.conv._ConvNd):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


# ---------------------------------------------------------------------------- the generators

class Generator(nn.Module):
    """DCGAN (Section 4.1, Fig. 2 left): z (B, nz) -> images (B, image_channels, H, W) in [-1, 1].

    All channels share every filter, so red and green are generated jointly.
    """

    def __init__(self, config: BioGanConfig):
        super().__init__()
        self.config = c = config
        widths = generator_widths(c)
        self.tower = UpTower([c.nz, *widths], [*widths, c.image_channels], first_map_size(c))
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.tower(_noise_map(z, self.config.nz, "z"))[-1]


def red_tower(config: BioGanConfig) -> UpTower:
    """The red half of Fig. 2 (right): z_red -> red features -> the red channel (1 plane)."""
    red, _ = red_green_widths(config)
    return UpTower([config.nz_red, *red], [*red, 1], first_map_size(config))


def green_tower(config: BioGanConfig, out_channels: int) -> UpTower:
    """A green half: layer l sees [red | green] features of layer l - 1; z_red + z_green first."""
    red, green = red_green_widths(config)
    inputs = [config.nz, *(r + g for r, g in zip(red, green))]
    return UpTower(inputs, [*green, out_channels], first_map_size(config))


class SeparableGenerator(nn.Module):
    """Red then green (Section 4.2, "Channel separation"): (z_red, z_green) -> (B, C, H, W).

    The red channel depends on z_red only, exactly, in training and evaluation mode (see the
    module docstring); the green channel(s) on both. ``C = image_channels``: one red plane, then
    ``C - 1`` greens from one green tower (the separable multi-channel baseline has 6).
    """

    def __init__(self, config: BioGanConfig):
        super().__init__()
        self.config = c = config
        self.red = red_tower(c)
        self.green = green_tower(c, c.image_channels - 1)
        self.apply(dcgan_init)

    def red_features(self, z_red: torch.Tensor) -> list[torch.Tensor]:
        """[z_red map, red h_1, ..., red image (B, 1, H, W)]."""
        return self.red(_noise_map(z_red, self.config.nz_red, "z_red"))

    def forward(self, z_red: torch.Tensor, z_green: torch.Tensor) -> torch.Tensor:
        red = self.red_features(z_red)
        green_noise = _noise_map(z_green, self.config.nz_green, "z_green")
        green = self.green(green_noise, side=red[:-1])[-1]
        return torch.cat([red[-1], green], 1)                   # (B, 1 + greens, H, W)


class StarGenerator(nn.Module):
    """One red tower feeding K green towers (Section 4.2, "Star-shaped model").

    ``forward(z_red, z_green)`` -> (B, K + 1, H, W): the red plane, then green_1 ... green_K. The
    red tower and its BatchNorm run once per batch and every green tower reads the same red
    features, so all K greens match one red. ``z_green``: (B, nz_green) shared by the towers, or
    (B, K, nz_green) with ``green_noise="per_tower"``. :func:`class_pairs` turns the output into
    the K (red, green_k) images the critics judge.
    """

    def __init__(self, config: BioGanConfig):
        super().__init__()
        self.config = c = config
        self.red = red_tower(c)
        self.greens = nn.ModuleList(green_tower(c, 1) for _ in range(c.n_classes))
        self.apply(dcgan_init)

    def red_features(self, z_red: torch.Tensor) -> list[torch.Tensor]:
        """[z_red map, red h_1, ..., red image (B, 1, H, W)]."""
        return self.red(_noise_map(z_red, self.config.nz_red, "z_red"))

    def green_noises(self, z_green: torch.Tensor) -> list[torch.Tensor]:
        """One (B, nz_green, 1, 1) noise map per green tower."""
        c = self.config
        if c.green_noise == "shared":
            return [_noise_map(z_green, c.nz_green, "z_green")] * c.n_classes
        if z_green.dim() != 3 or z_green.shape[1:] != (c.n_classes, c.nz_green):
            raise ValueError(f"per-tower green noise is (B, {c.n_classes}, {c.nz_green}), got "
                             f"{tuple(z_green.shape)}")
        return [_noise_map(z_green[:, k], c.nz_green, "z_green") for k in range(c.n_classes)]

    def forward(self, z_red: torch.Tensor, z_green: torch.Tensor) -> torch.Tensor:
        red = self.red_features(z_red)
        greens = [tower(noise, side=red[:-1])[-1]
                  for tower, noise in zip(self.greens, self.green_noises(z_green))]
        return torch.cat([red[-1], *greens], 1)                 # (B, K + 1, H, W)


def split_channels(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 1 + K, H, W) -> the red plane (B, 1, H, W) and the greens (B, K, H, W)."""
    return images[:, :1], images[:, 1:]


def class_pairs(images: torch.Tensor) -> torch.Tensor:
    """(B, 1 + K, H, W) multi-green images -> (K, B, 2, H, W): (red, green_k) for each class k.

    The layout of per-class real batches, which :class:`MultiCritic` judges. The red plane is
    shared, so the gradients of the K critics add up in it (Section 4.2).
    """
    if images.dim() != 4 or images.shape[1] < 2:
        raise ValueError(f"expected images (B, 1 + K, H, W) with K >= 1, got "
                         f"{tuple(images.shape)}")
    red, greens = split_channels(images)
    pairs = torch.stack([red.expand_as(greens), greens], 2)     # (B, K, 2, H, W)
    return pairs.transpose(0, 1).contiguous()


# ------------------------------------------------------------------------------- the critics

def critic_layer(cin: int, cout: int, *, batch_norm: bool, slope: float) -> nn.Sequential:
    """4x4 stride-2 conv without bias (halves both sides) -> optional BatchNorm -> LeakyReLU."""
    layers = [nn.Conv2d(cin, cout, 4, 2, 1, bias=False)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(cout))
    return nn.Sequential(*layers, nn.LeakyReLU(slope))


class Critic(nn.Module):
    """WGAN-GP's critic (Section 4.1, eq. 4): images (B, C, H, W) -> scores (B,), no BatchNorm.

    The gradient penalty asks each sample's gradient to have norm 1; BatchNorm would make a
    sample's score depend on the rest of the batch, so the critic has none ([15]). The last conv
    covers the whole last map (3x5), as the generator's first does.
    """

    batch_norm = False

    def __init__(self, config: BioGanConfig, in_channels: int | None = None):
        super().__init__()
        self.config = c = config
        self.in_channels = c.image_channels if in_channels is None else in_channels
        widths = critic_widths(c)
        layers, cin = [], self.in_channels
        for level, cout in enumerate(widths):
            layers.append(critic_layer(cin, cout, batch_norm=self.batch_norm and level > 0,
                                       slope=c.leaky_slope))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.score = nn.Conv2d(cin, 1, first_map_size(c), bias=False)
        self.apply(dcgan_init)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        c = self.config
        if images.dim() != 4 or images.shape[1:] != (self.in_channels, *c.image_size):
            raise ValueError(f"expected images (B, {self.in_channels}, {c.image_size[0]}, "
                             f"{c.image_size[1]}), got {tuple(images.shape)}")
        return self.score(self.features(images)).flatten()       # (B,)


class Discriminator(Critic):
    """The GAN's discriminator (Section 4.1, eq. 1): the critic with BatchNorm after every conv
    but the first (DCGAN [38]). It returns logits; D(x) of eq. 1 is their sigmoid."""

    batch_norm = True


class MultiCritic(nn.Module):
    """K critics, critic k judging (red, green_k) pairs (Section 4.2, "Star-shaped model").

    ``forward(pairs)``: (K, B, 2, H, W) -> scores (K, B). Real batches come in this layout (B
    cells of each class); generated ones through :func:`class_pairs`. All K are updated at once.
    """

    def __init__(self, config: BioGanConfig, critic_class: type[Critic] = Critic):
        super().__init__()
        self.config = config
        self.critics = nn.ModuleList(critic_class(config, in_channels=2)
                                     for _ in range(config.n_classes))

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        k = len(self.critics)
        if pairs.dim() != 5 or len(pairs) != k:
            raise ValueError(f"expected (red, green) pairs of shape ({k}, B, 2, H, W), got "
                             f"{tuple(pairs.shape)}; class_pairs() converts (B, {k + 1}, H, W)")
        return torch.stack([critic(pair) for critic, pair in zip(self.critics, pairs)])


# ----------------------------------------------------------------- builders and their sizes

GENERATORS = {"dcgan": Generator, "separable": SeparableGenerator, "star": StarGenerator}


def build_generator(config: BioGanConfig) -> nn.Module:
    """The config's generator; call it as ``generator(**sample_latent(config, n))``."""
    return GENERATORS[config.generator_kind](config)


def build_critic(config: BioGanConfig) -> nn.Module:
    """The critic(s) the config's generator trains against.

    A :class:`Critic` (WGAN-GP) or :class:`Discriminator` (GAN) on ``image_channels`` channels;
    for the star generator, a :class:`MultiCritic` of K of them on (red, green_k) pairs.
    """
    critic_class = Critic if config.critic_kind == "wgan_gp" else Discriminator
    if config.generator_kind == "star":
        return MultiCritic(config, critic_class)
    return critic_class(config)


def count_parameters(network: nn.Module) -> int:
    """Trainable parameters (BatchNorm's running statistics are buffers, not counted)."""
    return sum(p.numel() for p in network.parameters() if p.requires_grad)


def parameter_counts(config: BioGanConfig) -> dict[str, int]:
    """Parameters of the config's generator and of all its critics, and their total.

    Built on the meta device: shapes without memory, so the 43 M-parameter multi-channel
    baseline costs nothing to count.
    """
    with torch.device("meta"):
        generator, critic = build_generator(config), build_critic(config)
    counts = {"generator": count_parameters(generator), "critic": count_parameters(critic)}
    counts["total"] = counts["generator"] + counts["critic"]
    return counts


def batch_norm_count(network: nn.Module) -> int:
    """How many BatchNorm layers a network applies (the star's red tower: one per layer)."""
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in network.modules())


# ------------------------------------------------------------------------------ the optimisers

def make_optimizers(generator: nn.Module, critic: nn.Module,
                    config: BioGanConfig) -> dict[str, torch.optim.Adam]:
    """One Adam each, the config's rate and betas (WGAN-GP: 1e-4, (0.0, 0.9); GAN_TRAINING: 2e-4,
    (0.5, 0.999)). Betas are made floats: PyTorch 2 rejects a mix like (0, 0.9)."""
    betas = tuple(float(beta) for beta in config.betas)
    return {"generator": torch.optim.Adam(generator.parameters(), lr=config.lr, betas=betas),
            "critic": torch.optim.Adam(critic.parameters(), lr=config.lr, betas=betas)}
