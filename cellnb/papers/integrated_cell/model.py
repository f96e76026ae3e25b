"""The Integrated Cell: two adversarial autoencoders, a reference model and a conditional one.

Johnson, Donovan-Maiye & Maleckar, "Generative modeling with conditional autoencoders: building an
integrated cell" (arXiv 1705.00092, 2017; "the 2D paper") and "Building a 3D integrated cell"
(bioRxiv 238378, 2017; "the 3D paper"). The architecture is the papers' Section 2 and the tables
of their appendices (2D: Tables S1-S7; 3D: Tables S1-S8); the losses are eqs. 3-18 and
Algorithms 1-2; generation and integration are Algorithm 3. Where the authors' code differs from
the paper, the paper is the default and the code's choice is a flag of
:class:`IntegratedCellConfig` (the ``code`` and ``code_3d`` presets switch them all).

Reference model, p(x^r) (Section 2.1; membrane + DNA):

    x^r --Enc^r--> z^r --Dec^r--> x_hat^r           Enc: stride-2 4x4 convs, BN, PReLU -> linear
    z~ ~ N(0, I), z^r --EncD^r--> prior or encoded?  Dec: linear -> stride-2 4x4 transposed convs
    x^r, Dec^r(z~)    --DecD^r--> real or generated?     -> sigmoid

Conditional model, p(x^s | x^r, y) (Section 2.2; membrane + structure + DNA):

    x^{r,s} --Enc^{r,s}--> y_hat (K class log-probabilities)    -- NLL with the label y (eq. 10)
                           z_hat^r (|z^r|)                      -- MSE to the *frozen* z^r (eq. 8)
                           z^s (|z^s|)                          -- EncD^s: prior or encoded?
    (class code of y_hat, z_hat^r, z^s) --Dec^{r,s}--> x_hat^{r,s}, all three channels (eq. 12)
    x^{r,s}, generated images --DecD^{r,s}--> which of the K classes, or generated? (eq. 14)

Both models are one class each for 2D and 3D images: ``config.dims`` picks the convolution, its
transpose and the batch norm, so the 3D chapter adds a dimension, not a copy. Image sizes need not
be powers of two: a 4x4 stride-2 convolution with padding 1 maps n to floor(n / 2), and the
decoder's transposed convolutions take the output padding that retraces the encoder's sizes
exactly (the 3D paper's 128x96x64 goes down to 2x1x1 and back).

Read top to bottom: channel conventions, the config and its presets, the building blocks, the four
networks, the two models, the losses and the gradient routing of eqs. 15-18, the optimisers,
generation and integration (Algorithm 3). ``model(x)`` returns everything the losses need;
``model(x, output_layer="zs")`` stops at one named output, which is what ``cellnb.nn.infer`` asks.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

# ------------------------------------------------------------------------ channel conventions
# A cell image holds the cell membrane, the tagged structure and the DNA, in this order (the 2D
# paper's data are RGB images with these three channels). The reference model sees membrane + DNA
# only (Section 2, "Notation"); the conditional model sees and reconstructs all three.

CHANNELS = ("membrane", "structure", "dna")
REFERENCE_INDEX = (0, 2)
STRUCTURE_INDEX = 1


def reference_of(images: torch.Tensor) -> torch.Tensor:
    """x^r: the membrane and DNA channels of (B, 3, ...) cell images."""
    return images[:, list(REFERENCE_INDEX)]


def structure_of(images: torch.Tensor) -> torch.Tensor:
    """x^s: the structure channel of (B, 3, ...) cell images, kept as a channel (B, 1, ...)."""
    return images[:, STRUCTURE_INDEX:STRUCTURE_INDEX + 1]


# ------------------------------------------------------------------- configuration and presets

LADDER = (64, 128, 256, 512, 1024, 1024)   # encoder channels per level (2D Tables S1/S5)
ENCD_WIDTHS = (1024, 1024, 512)            # EncD's hidden layers (Table S3 of both papers)
DECD_CHANNELS = (64, 128, 256, 512, 512)   # DecD's convolutions (2D Tables S4/S7, 3D S4/S8)

GAMMA_ENC = 1e-4   # weight of EncD's term in the encoder's update (Section 3.3 of both papers)
GAMMA_DEC = 1e-5   # weight of DecD's term in the decoder's update
ADAM_BETAS = (0.5, 0.999)   # the papers name Adam only; both authors' codes use DCGAN's betas

CLASS_CODES = ("prob", "logprob")
ENCD_S_MODES = ("binary", "k_plus_1")
DECD_MODES = ("k_plus_1", "binary")
GENERATIONS = ("own", "random")
DECD_HEADS = ("conv", "linear")
INITS = ("dcgan", "torch")


@dataclass(frozen=True)
class IntegratedCellConfig:
    """Every knob of both models; the 2D paper's values are the ``paper`` preset.

    ``channels`` is the depth and width of the encoders and decoders (one entry per stride-2
    level). ``conv_bias`` concerns the encoders', decoders' and DecD's stride-2 convolutions; linear
    layers and DecD's conv head always have a bias.
    """

    dims: int = 2                                  # 2: (H, W) images; 3: (Z, Y, X) volumes
    image_shape: tuple[int, ...] = (256, 256)
    reference_channels: int = 2                    # membrane, DNA
    structure_channels: int = 1                    # the tagged structure
    channels: tuple[int, ...] = LADDER             # encoder channels per level; Dec mirrors it
    reference_encoder_levels: int | None = None    # 3D paper Table S1: 5 of 6 (code: all 6)
    latent_reference: int = 16                     # |z^r|
    latent_structure: int = 16                     # |z^s|
    n_classes: int = 10                            # K labelled structures
    head_batchnorm: bool = True                    # BN on the encoders' linear heads (2D tables)
    decoder_fc_batchnorm: bool = True              # BN after the decoder's linear layer (tables;
                                                   # the 2D code has none)
    decoder_output_batchnorm: bool = True          # BN before the sigmoid (2D tables only)
    conv_bias: bool = False                        # tables silent; 2D code none, 3D code all
    encd_widths: tuple[int, ...] = ENCD_WIDTHS
    decd_channels: tuple[int, ...] = DECD_CHANNELS
    decd_first_batchnorm: bool = True              # BN on DecD's first conv (2D tables; codes: no)
    decd_head: str = "conv"                        # tables: a last 4x4 conv; codes: a linear layer
    instance_noise: float = 0.05                   # sigma of DecD's input noise (2D 0.05, 3D 0.01)
    instance_noise_before_head: bool = False       # 2D code: the same noise again before its head
    class_code: str = "prob"                       # Dec's class input: probabilities (papers'
                                                   # eq. 12) or log-probabilities (2D code)
    log_one_hot_fill: float = -25.0                # a hard class in log space (logprob mode)
    encd_s_mode: str = "binary"                    # EncD^s: prior vs encoded (2D eq. 11), or K+1
                                                   # classes (3D eq. 11)
    decd_mode: str = "k_plus_1"                    # DecD^{r,s}: K+1 classes (eq. 14) or binary
    decd_on_reconstructions: bool = False          # DecD also sees reconstructions as fakes
                                                   # (3D paper's Algorithms 1-2); 2D: generated
                                                   # images only
    generation: str = "own"                        # the conditional stage's generated cells:
                                                   # Dec(y_hat, z_hat^r, z~^s) of the batch's own
                                                   # cells (2D, Algorithm 2) or "random":
                                                   # permuted one-hot classes, z~^r and z~^s
                                                   # (3D paper's code)
    init: str = "dcgan"
    output_offset: bool = False                    # start the output at the data's mean
                                                   # intensity (ours, for short runs; see
                                                   # Decoder.set_output_offset)
    leaky_slope: float = 0.2
    gamma_enc: float = GAMMA_ENC
    gamma_dec: float = GAMMA_DEC
    lr: float = 2e-4                               # Enc, Dec and DecD (Section 3.3)
    lr_encd: float = 2e-4                          # EncD: 2e-4 in 2D, 1e-2 in 3D (Section 3.3)

    def __post_init__(self):
        _check_choice("class_code", self.class_code, CLASS_CODES)
        _check_choice("encd_s_mode", self.encd_s_mode, ENCD_S_MODES)
        _check_choice("decd_mode", self.decd_mode, DECD_MODES)
        _check_choice("generation", self.generation, GENERATIONS)
        _check_choice("decd_head", self.decd_head, DECD_HEADS)
        _check_choice("init", self.init, INITS)
        if self.dims not in (2, 3) or len(self.image_shape) != self.dims:
            raise ValueError(f"dims is 2 or 3 and image_shape has that many sizes, got dims="
                             f"{self.dims} and image_shape={self.image_shape}")
        if not 1 <= self.reference_levels <= len(self.channels):
            raise ValueError(f"reference_encoder_levels must be in 1..{len(self.channels)}, "
                             f"got {self.reference_encoder_levels}")
        for name, levels in (("channels", len(self.channels)), ("decd_channels",
                                                                 len(self.decd_channels))):
            if levels < 1 or min(feature_sizes(self.image_shape, levels)[-1]) < 1:
                raise ValueError(f"{self.image_shape} cannot be halved {levels} times "
                                 f"(len({name})); use fewer levels or larger images")
        if self.decd_head == "conv" and min(self.decd_final_size) < 2:
            raise ValueError(f"DecD's conv head halves its last map {self.decd_final_size} once "
                             "more; use fewer decd_channels or decd_head='linear'")

    @property
    def total_channels(self) -> int:
        return self.reference_channels + self.structure_channels

    @property
    def reference_levels(self) -> int:
        """Levels of Enc^r (the conditional encoder and both decoders use all of them)."""
        return len(self.channels) if self.reference_encoder_levels is None \
            else self.reference_encoder_levels

    @property
    def decd_final_size(self) -> tuple[int, ...]:
        return feature_sizes(self.image_shape, len(self.decd_channels))[-1]

    def as_dict(self) -> dict:
        return asdict(self)


def _check_choice(name: str, value: str, choices: tuple[str, ...]):
    if value not in choices:
        raise ValueError(f"{name} is one of {choices}, got {value!r}")


def feature_sizes(shape: Sequence[int], levels: int) -> list[tuple[int, ...]]:
    """Map sizes through ``levels`` 4x4 stride-2 convolutions with padding 1: n -> floor(n / 2).

    ``[shape, after level 1, ..., after level L]``; e.g. 128x96x64 -> ... -> 4x3x2 -> 2x1x1.
    """
    sizes = [tuple(shape)]
    for _ in range(levels):
        sizes.append(tuple(n // 2 for n in sizes[-1]))
    return sizes


def output_paddings(shape: Sequence[int], levels: int) -> list[tuple[int, ...]]:
    """The output padding of each of the decoder's transposed convolutions, first to last.

    A 4x4 stride-2 transposed convolution with padding 1 maps n to 2n + p, so p = 1 exactly where
    the encoder floored an odd size (96 -> 48 -> 24 -> 12 -> 6 -> 3 -> 1 needs p = 1 from 1 to 3).
    """
    sizes = feature_sizes(shape, levels)
    return [tuple(big - 2 * small for big, small in zip(sizes[level - 1], sizes[level]))
            for level in range(levels, 0, -1)]


# The authors' code, where it differs from the papers' tables (switched on by the code presets).
CODE_2D = dict(decoder_fc_batchnorm=False, decoder_output_batchnorm=False,
               decd_first_batchnorm=False, decd_head="linear", instance_noise_before_head=True,
               class_code="logprob")
CODE_3D = dict(reference_encoder_levels=None, decd_channels=LADDER, decd_head="linear")

PAPER_3D = IntegratedCellConfig(
    dims=3, image_shape=(128, 96, 64), latent_reference=128, latent_structure=128, n_classes=11,
    reference_encoder_levels=5,        # Table S1: five convolutions in Enc^r, six in Enc^{r,s}
    head_batchnorm=False,              # Tables S1/S5: no BN on the heads
    decoder_output_batchnorm=False,    # Tables S2/S6: the last transposed conv has no BN
    conv_bias=True, decd_first_batchnorm=False,   # Table S4 (Table S8 lists BN there)
    instance_noise=0.01, encd_s_mode="k_plus_1", lr_encd=1e-2, decd_on_reconstructions=True,
    generation="random")

PRESETS = {
    # The 2D paper (Tables S1-S7; Section 3.3): 256x256, six levels 64..1024, |z| = 16, K = 10.
    "paper": IntegratedCellConfig(),
    # The 2D paper's Torch7 code: the same sizes, the code's layers (see CODE_2D).
    "code": IntegratedCellConfig(**CODE_2D),
    # The 3D paper (Tables S1-S8; Section 3.3): 128x96x64 voxels, |z| = 128, K = 11.
    "paper_3d": PAPER_3D,
    # The 3D paper's PyTorch code: six levels in Enc^r, DecD 64..1024 with a linear head.
    "code_3d": replace(PAPER_3D, **CODE_3D),
    # CPU-sized, same wiring: 32x32, three levels 16..64 (4x4 maps), a narrow DecD of two
    # levels. Deviations for runs of a few hundred iterations (the paper's are ~27k): the output
    # starts at the data's mean intensity (Decoder.set_output_offset; at 2e-4 the sigmoid's grey
    # start took longer than the whole run to fade) and Adam's rate is 1e-3 for every network.
    "cpu": IntegratedCellConfig(
        image_shape=(32, 32), channels=(16, 32, 64), n_classes=6,
        encd_widths=(128, 128, 64), decd_channels=(8, 16), output_offset=True, lr=1e-3,
        lr_encd=1e-3),
    # The 3D path at the paper's 4:3:2 aspect ratio: 32x24x16 -> 2x1x1, Enc^r one level short.
    "cpu_3d": replace(
        PAPER_3D, image_shape=(32, 24, 16), channels=(8, 16, 32, 64), reference_encoder_levels=3,
        latent_reference=16, latent_structure=16, n_classes=6, encd_widths=(128, 128, 64),
        decd_channels=(8, 16, 32), output_offset=True, lr=1e-3),
    # The smallest model with the same wiring, for tests.
    "smoke": IntegratedCellConfig(
        image_shape=(32, 32), channels=(8, 16, 32), latent_reference=8, latent_structure=8,
        n_classes=4, encd_widths=(32, 32, 16), decd_channels=(8, 16), output_offset=True,
        lr=1e-3, lr_encd=1e-3),
    # The smallest 3D model with the 3D paper's wiring, for tests: 32x24x16 -> 2x1x1.
    "smoke_3d": replace(
        PAPER_3D, image_shape=(32, 24, 16), channels=(4, 8, 16, 32), reference_encoder_levels=3,
        latent_reference=8, latent_structure=8, n_classes=4, encd_widths=(32, 32, 16),
        decd_channels=(4, 8), output_offset=True, lr=1e-3),
}


def preset(name: str, **overrides) -> IntegratedCellConfig:
    try:
        return replace(PRESETS[name], **overrides)
    except KeyError:
        raise KeyError(f"unknown integrated-cell preset {name!r}; choose from {sorted(PRESETS)}") \
            from None


# ------------------------------------------------------------------------- building blocks
# Every convolution is 4x4 (4x4x4), stride 2, padding 1 (DCGAN, Radford et al.; the papers'
# tables); the encoder and decoder use BN + PReLU, the discriminators LeakyReLU(0.2).

def conv_layer(dims: int):
    return {2: nn.Conv2d, 3: nn.Conv3d}[dims]


def conv_transpose_layer(dims: int):
    return {2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[dims]


def batch_norm_layer(dims: int):
    return {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[dims]


def down_block(dims: int, cin: int, cout: int, *, batchnorm: bool, activation: nn.Module,
               bias: bool) -> nn.Sequential:
    """4x4 stride-2 conv (halves every size) -> optional BN -> activation."""
    layers = [conv_layer(dims)(cin, cout, 4, 2, 1, bias=bias)]
    if batchnorm:
        layers.append(batch_norm_layer(dims)(cout))
    return nn.Sequential(*layers, activation)


def up_block(dims: int, cin: int, cout: int, output_padding: tuple[int, ...], *, batchnorm: bool,
             activation: nn.Module, bias: bool) -> nn.Sequential:
    """4x4 stride-2 transposed conv (n -> 2n + output padding) -> optional BN -> activation."""
    layers = [conv_transpose_layer(dims)(cin, cout, 4, 2, 1, output_padding=output_padding,
                                         bias=bias)]
    if batchnorm:
        layers.append(batch_norm_layer(dims)(cout))
    return nn.Sequential(*layers, activation)


def linear_head(features: int, size: int, *, batchnorm: bool,
                log_softmax: bool = False) -> nn.Sequential:
    """Linear -> optional BN (2D Tables S1/S5) -> optional LogSoftmax (the class head)."""
    layers = [nn.Linear(features, size)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(size))
    if log_softmax:
        layers.append(nn.LogSoftmax(dim=1))
    return nn.Sequential(*layers)


# ---------------------------------------------------------------------------- the networks

class Encoder(nn.Module):
    """Enc: ``levels`` down-blocks with BN + PReLU -> flatten -> one linear head per output.

    Enc^r has one head, z^r (Table S1); Enc^{r,s} has three on the same features: the class
    log-probabilities y_hat (LogSoftmax, eq. 9), z_hat^r and z^s (Table S5; eq. 7).
    """

    def __init__(self, config: IntegratedCellConfig, in_channels: int, levels: int,
                 heads: dict[str, int]):
        super().__init__()
        c = config
        blocks, cin = [], in_channels
        for cout in c.channels[:levels]:
            blocks.append(down_block(c.dims, cin, cout, batchnorm=True, activation=nn.PReLU(),
                                     bias=c.conv_bias))
            cin = cout
        self.trunk = nn.Sequential(*blocks)
        self.features = cin * math.prod(feature_sizes(c.image_shape, levels)[-1])
        self.heads = nn.ModuleDict({
            name: linear_head(self.features, size, batchnorm=c.head_batchnorm,
                              log_softmax=name == "class_log_probs")
            for name, size in heads.items()})

    def forward(self, x: torch.Tensor, output_layer: str | None = None):
        """{head name: (B, size)}, or the flattened trunk (B, features) for "features"."""
        features = self.trunk(x).flatten(1)
        if output_layer == "features":
            return features
        return {name: head(features) for name, head in self.heads.items()}


class Decoder(nn.Module):
    """Dec: linear -> (channels[-1], last encoder map) -> [BN] PReLU -> transposed convs -> sigmoid.

    The transposed convs walk the encoder's channel ladder back down (1024, 1024, 512, ... 64 ->
    the image's channels; Tables S2/S6) and its map sizes back up, so the output has exactly the
    input's shape. Sigmoid outputs are intensities in [0, 1], the targets of the BCE of eq. 4.
    """

    def __init__(self, config: IntegratedCellConfig, code_size: int, out_channels: int):
        super().__init__()
        c = config
        levels = len(c.channels)
        self.start = (c.channels[-1], *feature_sizes(c.image_shape, levels)[-1])
        self.fc = nn.Linear(code_size, math.prod(self.start))
        self.fc_norm = batch_norm_layer(c.dims)(c.channels[-1]) if c.decoder_fc_batchnorm \
            else nn.Identity()
        self.fc_activation = nn.PReLU()
        widths = list(reversed(c.channels)) + [out_channels]
        blocks = []
        for level, padding in enumerate(output_paddings(c.image_shape, levels)):
            last = level == levels - 1
            blocks.append(up_block(
                c.dims, widths[level], widths[level + 1], padding,
                batchnorm=c.decoder_output_batchnorm if last else True,
                activation=nn.Sigmoid() if last else nn.PReLU(), bias=c.conv_bias))
        self.blocks = nn.Sequential(*blocks)

    def set_output_offset(self, mean_intensity) -> None:
        """Shift the pre-sigmoid output of each channel to logit(its mean intensity).

        At initialisation the sigmoid sits at 0.5 everywhere while fluorescence images are
        mostly dark (a toy cell's channels average 0.04-0.07). Adam moves the output's offset
        by about one learning rate per step, so at the papers' 2e-4 it takes thousands of
        iterations to darken the background: the papers' 27k-iteration runs afford that, a
        few hundred CPU iterations do not, and their reconstructions stay grey. Starting the
        offset (the output BN's shift, or the last convolution's bias) at the data's mean
        removes that phase. Not in the papers; the CPU presets switch it on.
        """
        last = self.blocks[-1]
        logit = torch.logit(torch.as_tensor(mean_intensity, dtype=torch.float32)
                            .clamp(1e-3, 1 - 1e-3))
        norms = [m for m in last if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        target = norms[0].bias if norms else last[0].bias
        if target is None:
            raise ValueError("the decoder's last layer has neither a BN nor a bias to offset; "
                             "set decoder_output_batchnorm=True or conv_bias=True")
        if logit.shape != target.shape:
            raise ValueError(f"expected one mean intensity per output channel "
                             f"({target.numel()}), got shape {tuple(logit.shape)}")
        with torch.no_grad():
            target.copy_(logit.to(target.device))

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        """(B, code_size) -> images (B, out_channels, *image_shape) in [0, 1]."""
        start = self.fc(code).view(len(code), *self.start)
        return self.blocks(self.fc_activation(self.fc_norm(start)))


class LatentDiscriminator(nn.Sequential):
    """EncD: an MLP on latent codes; logits, 1 (prior vs encoded) or K + 1 (3D EncD^s).

    Hidden layers 1024, 1024, 512 with LeakyReLU(0.2), BN on all but the first (Tables S3/S7).
    The tables end in a sigmoid; it lives in the losses instead (BCE with logits is BCE of the
    sigmoid, computed stably; the K + 1 logits go to the LogSoftMax of 3D eq. 11).
    """

    def __init__(self, config: IntegratedCellConfig, latent_size: int, n_out: int):
        layers, width = [], latent_size
        for i, hidden in enumerate(config.encd_widths):
            layers.append(nn.Linear(width, hidden))
            if i > 0:
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(nn.LeakyReLU(config.leaky_slope))
            width = hidden
        super().__init__(*layers, nn.Linear(width, n_out))
        self.n_out = n_out


class ImageDiscriminator(nn.Module):
    """DecD: instance noise -> down-blocks with LeakyReLU(0.2) -> head -> logits, 1 or K + 1.

    White noise on the input "stabilizes the relationship between the adversary and the
    autoencoder" (Section 3.2), in training only. The tables' head is one more 4x4 stride-2
    conv to 1 or K + 1 channels (2D Tables S4/S7, 3D S4/S8); its map of logits is averaged to one
    vector per image, our reading of how the tables end in a vector. ``decd_head="linear"`` is the
    authors' codes' head, a linear layer on the flattened map.
    """

    def __init__(self, config: IntegratedCellConfig, in_channels: int, n_out: int):
        super().__init__()
        c = config
        self.noise, self.noise_before_head = c.instance_noise, c.instance_noise_before_head
        blocks, cin = [], in_channels
        for i, cout in enumerate(c.decd_channels):
            blocks.append(down_block(c.dims, cin, cout, batchnorm=i > 0 or c.decd_first_batchnorm,
                                     activation=nn.LeakyReLU(c.leaky_slope), bias=c.conv_bias))
            cin = cout
        self.trunk = nn.Sequential(*blocks)
        if c.decd_head == "conv":
            self.head = conv_layer(c.dims)(cin, n_out, 4, 2, 1)
        else:
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(cin * math.prod(c.decd_final_size),
                                                              n_out))
        self.conv_head = c.decd_head == "conv"
        self.n_out = n_out

    def add_noise(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.noise > 0:
            return x + self.noise * torch.randn_like(x)
        return x

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.trunk(self.add_noise(images))
        if self.conv_head:
            return self.head(features).flatten(2).mean(2)               # (B, n_out)
        if self.noise_before_head:
            features = self.add_noise(features)
        return self.head(features)


def dcgan_init(module: nn.Module):
    """DCGAN's initialisation (Radford et al., which the papers' Section 3.2 builds on): conv
    weights ~ N(0, 0.02), BN scales ~ N(1, 0.02), zero biases; linear layers keep PyTorch's."""
    if isinstance(module, nn.modules.conv._ConvNd):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


# ------------------------------------------------------------------------------ the models

REFERENCE_EXITS = ("features", "z", "reconstruction")
CONDITIONAL_EXITS = ("features", "class_log_probs", "zr_hat", "zs", "reconstruction")
NETWORKS = ("encoder", "decoder", "encd", "decd")


@dataclass
class ReferenceOutput:
    z: torch.Tensor                  # z^r (B, |z^r|), eq. 1
    reconstruction: torch.Tensor     # x_hat^r (B, 2, ...), eq. 2


@dataclass
class ConditionalOutput:
    class_log_probs: torch.Tensor    # y_hat (B, K), log-probabilities (eq. 9)
    zr_hat: torch.Tensor             # z_hat^r (B, |z^r|), regressed onto the frozen z^r (eq. 8)
    zs: torch.Tensor                 # z^s (B, |z^s|)
    reconstruction: torch.Tensor     # x_hat^{r,s} (B, 3, ...), eq. 12


class _TwoStageModel(nn.Module):
    """What both stages share: the four networks, initialisation and the input check."""

    config: IntegratedCellConfig
    in_channels: int

    def _initialise(self):
        if self.config.init == "dcgan":
            self.apply(dcgan_init)

    def _check(self, x: torch.Tensor):
        c = self.config
        if x.ndim != c.dims + 2 or x.shape[1] != self.in_channels \
                or tuple(x.shape[2:]) != tuple(c.image_shape):
            raise ValueError(f"expected images (B, {self.in_channels}, "
                             f"{', '.join(map(str, c.image_shape))}), got {tuple(x.shape)}")


class ReferenceModel(_TwoStageModel):
    """Enc^r, Dec^r, EncD^r, DecD^r: an adversarial autoencoder of membrane + DNA (Section 2.1)."""

    def __init__(self, config: IntegratedCellConfig):
        super().__init__()
        self.config = c = config
        self.in_channels = c.reference_channels
        self.encoder = Encoder(c, c.reference_channels, c.reference_levels,
                               {"z": c.latent_reference})
        self.decoder = Decoder(c, c.latent_reference, c.reference_channels)
        self.encd = LatentDiscriminator(c, c.latent_reference, 1)
        self.decd = ImageDiscriminator(c, c.reference_channels, 1)
        self._initialise()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """z^r = Enc^r(x^r) (eq. 1); deterministic, no sampling."""
        self._check(x)
        return self.encoder(x)["z"]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """x_hat^r = Dec^r(z^r) (eq. 2)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor, output_layer: str | None = None):
        if output_layer is not None and output_layer not in REFERENCE_EXITS:
            raise ValueError(f"unknown output_layer {output_layer!r}; choose from "
                             f"{REFERENCE_EXITS}")
        self._check(x)
        if output_layer == "features":
            return self.encoder(x, "features")
        z = self.encoder(x)["z"]
        if output_layer == "z":
            return z
        reconstruction = self.decoder(z)
        if output_layer == "reconstruction":
            return reconstruction
        return ReferenceOutput(z, reconstruction)


class ConditionalModel(_TwoStageModel):
    """Enc^{r,s}, Dec^{r,s}, EncD^s, DecD^{r,s}: structure given reference (Section 2.2)."""

    def __init__(self, config: IntegratedCellConfig):
        super().__init__()
        self.config = c = config
        self.in_channels = c.total_channels
        self.n_classes = k = c.n_classes
        self.encoder = Encoder(c, c.total_channels, len(c.channels), {
            "class_log_probs": k, "zr_hat": c.latent_reference, "zs": c.latent_structure})
        self.decoder = Decoder(c, k + c.latent_reference + c.latent_structure, c.total_channels)
        self.encd = LatentDiscriminator(c, c.latent_structure,
                                        1 if c.encd_s_mode == "binary" else k + 1)
        self.decd = ImageDiscriminator(c, c.total_channels, k + 1 if c.decd_mode == "k_plus_1"
                                       else 1)
        self._initialise()

    @property
    def generated_slot(self) -> int:
        """Index K of the "gen" slot of every K + 1-way discriminator (eqs. 11, 14)."""
        return self.n_classes

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(y_hat, z_hat^r, z^s) = Enc^{r,s}(x^{r,s}) (eq. 7); y_hat as log-probabilities."""
        self._check(x)
        heads = self.encoder(x)
        return heads["class_log_probs"], heads["zr_hat"], heads["zs"]

    def class_code(self, class_log_probs: torch.Tensor) -> torch.Tensor:
        """The decoder's class input for the encoder's estimate y_hat.

        The papers feed Dec "the class estimator y_hat", a probability vector (eq. 12 and
        Section 2.2.1): ``"prob"``. The 2D paper's code fed the LogSoftMax output itself:
        ``"logprob"``. Either way the gradient of the reconstruction reaches the class head.
        """
        if self.config.class_code == "prob":
            return class_log_probs.exp()
        return class_log_probs

    def one_hot_code(self, labels: torch.Tensor) -> torch.Tensor:
        """The decoder's class input for a chosen class (Algorithm 3's one-hot y).

        One-hot probabilities in ``"prob"`` mode; in ``"logprob"`` mode, 0 for the class and a
        large negative log-probability (``log_one_hot_fill``) elsewhere.
        """
        one_hot = F.one_hot(labels.long(), self.n_classes).to(torch.get_default_dtype())
        if self.config.class_code == "prob":
            return one_hot
        return (1 - one_hot) * self.config.log_one_hot_fill

    def decode(self, class_code: torch.Tensor, zr: torch.Tensor, zs: torch.Tensor) -> torch.Tensor:
        """x_hat^{r,s} = Dec^{r,s}(class code, z^r, z^s) (eq. 12), all three channels."""
        return self.decoder(torch.cat([class_code, zr, zs], 1))

    def forward(self, x: torch.Tensor, output_layer: str | None = None):
        if output_layer is not None and output_layer not in CONDITIONAL_EXITS:
            raise ValueError(f"unknown output_layer {output_layer!r}; choose from "
                             f"{CONDITIONAL_EXITS}")
        self._check(x)
        if output_layer == "features":
            return self.encoder(x, "features")
        class_log_probs, zr_hat, zs = self.encode(x)
        if output_layer in ("class_log_probs", "zr_hat", "zs"):
            return {"class_log_probs": class_log_probs, "zr_hat": zr_hat, "zs": zs}[output_layer]
        reconstruction = self.decode(self.class_code(class_log_probs), zr_hat, zs)
        if output_layer == "reconstruction":
            return reconstruction
        return ConditionalOutput(class_log_probs, zr_hat, zs, reconstruction)


def networks(model: ReferenceModel | ConditionalModel) -> dict[str, nn.Module]:
    """The four separately optimised networks, by name: encoder, decoder, encd, decd."""
    return {name: getattr(model, name) for name in NETWORKS}


def parameter_counts(model: ReferenceModel | ConditionalModel) -> dict[str, int]:
    """Trainable parameters per network and in total (BN running statistics are buffers)."""
    counts = {name: sum(p.numel() for p in net.parameters() if p.requires_grad)
              for name, net in networks(model).items()}
    counts["total"] = sum(counts.values())
    return counts


# -------------------------------------------------------------------------------- the losses
# All losses are means (over batch, pixels and channels for images), as eq. 4 defines H.
# Discriminators return logits; their targets are:
#   EncD, binary:  1 = a sample z~ of the prior N(0, I) (the papers' "gen"), 0 = an encoding z.
#   EncD^s, K + 1: K = the prior sample ("gen"), y = an encoding of a cell labelled y (3D eq. 11).
#   DecD, binary:  1 = a real image, 0 = a decoded (reconstructed or generated) one.
#   DecD, K + 1:   y = a real image of class y, K = a decoded one (eq. 14).
# The discriminators' losses detach what the autoencoder made, so they train the discriminator
# only; the autoencoder's adversarial terms flow through the discriminator into the autoencoder.

def reconstruction_loss(reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """H(x_hat, x): binary cross-entropy averaged over pixels and channels (eqs. 3, 4, 13)."""
    # In fp32 outside autocast, where PyTorch's BCE is defined; it clamps log(0) at -100.
    with torch.autocast(reconstruction.device.type, enabled=False):
        return F.binary_cross_entropy(reconstruction.float(), target.float())


def class_loss(class_log_probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L_y = -LogSoftMax(y_hat, y) (eq. 10), averaged over the batch."""
    return F.nll_loss(class_log_probs.float(), labels)


def zr_regression_loss(zr_hat: torch.Tensor, zr: torch.Tensor) -> torch.Tensor:
    """L_{z_hat^r} = MSE(z^r, z_hat^r) (eq. 8) onto the frozen reference embedding (detached)."""
    return F.mse_loss(zr_hat.float(), zr.detach().float())


def _target_loss(logits: torch.Tensor, target: int | torch.Tensor) -> torch.Tensor:
    """-log p(target): BCE of one logit with a 0/1 target, or cross-entropy over K + 1 logits
    with a class index (an int for the whole batch, or one per sample)."""
    logits = logits.float()
    if logits.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(target)))
    if isinstance(target, int):
        target = torch.full((len(logits),), target, dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, target)


def _per_batch(labels, n: int) -> list:
    """One label tensor per fake batch: a shared tensor (or None) repeated, or a sequence."""
    if labels is None or isinstance(labels, torch.Tensor):
        return [labels] * n
    if len(labels) != n:
        raise ValueError(f"{len(labels)} label tensors for {n} batches of images")
    return list(labels)


def _batches(images) -> list[torch.Tensor]:
    return [images] if isinstance(images, torch.Tensor) else list(images)


def _gen_slot(discriminator: nn.Module) -> int:
    return discriminator.n_out - 1


def encd_loss(encd: LatentDiscriminator, z_encoded: torch.Tensor, z_prior: torch.Tensor,
              labels: torch.Tensor | None = None) -> torch.Tensor:
    """EncD's loss: prior samples z~ against encodings z (eq. 5; eq. 11 of both papers).

    Binary: H(EncD(z~), 1) + H(EncD(z), 0). K + 1 (the 3D paper's EncD^s): CE(EncD(z~), K) +
    CE(EncD(z), y), which "is intended to remove structure-specific information from z^s"; it
    needs the encodings' labels. The encodings are detached: this trains EncD only.
    """
    z_encoded = z_encoded.detach()
    if encd.n_out == 1:
        return _target_loss(encd(z_prior), 1) + _target_loss(encd(z_encoded), 0)
    if labels is None:
        raise ValueError("a K + 1-way EncD^s needs the encodings' class labels")
    return _target_loss(encd(z_prior), _gen_slot(encd)) + _target_loss(encd(z_encoded), labels)


def encoder_adversarial_loss(encd: LatentDiscriminator, z_encoded: torch.Tensor) -> torch.Tensor:
    """L_EncD in the encoder's update (eqs. 15, 17): encodings scored as prior samples.

    Binary: H(EncD(z), 1) (Algorithm 1); K + 1: CE(EncD(z), K), the "gen" slot (3D Algorithm 2).
    Reaches EncD's parameters too: route it to the encoder only (:func:`routed_backward`).
    """
    return _target_loss(encd(z_encoded), 1 if encd.n_out == 1 else _gen_slot(encd))


def decd_loss(decd: ImageDiscriminator, real: torch.Tensor, fakes,
              labels: torch.Tensor | None = None) -> torch.Tensor:
    """DecD's loss: real images against decoded ones (eqs. 6, 14; Algorithms 1-2).

    ``l(DecD(x), real) + mean over the fake batches of l(DecD(x_fake), gen)``, where "real" is 1
    (binary) or the image's class y (K + 1, needs ``labels``) and "gen" is 0 or K. With one fake
    batch, the generated images, it is the 2D paper's loss; with two, the reconstructions and the
    generated images, it is the 3D paper's l(real) + (l(reconstructed) + l(generated)) / 2. The
    fakes are detached: this trains DecD only.
    """
    fakes = [fake.detach() for fake in _batches(fakes)]
    if decd.n_out == 1:
        real_term = _target_loss(decd(real), 1)
        fake_terms = [_target_loss(decd(fake), 0) for fake in fakes]
    else:
        if labels is None:
            raise ValueError("a K + 1-way DecD needs the real images' class labels")
        real_term = _target_loss(decd(real), labels)
        fake_terms = [_target_loss(decd(fake), _gen_slot(decd)) for fake in fakes]
    return real_term + sum(fake_terms) / len(fake_terms)


def decoder_adversarial_loss(decd: ImageDiscriminator, fakes, labels=None) -> torch.Tensor:
    """L_DecD in the decoder's update (eqs. 16, 18): decoded images scored as real.

    The sum over the fake batches (reconstructions and generated images, Algorithms 1-2) of
    l(DecD(x_fake), real): 1 (binary), or the class each image was decoded for (K + 1;
    ``labels``: one tensor for every batch, or one per batch). Reaches DecD's parameters and,
    through the reconstructions, the encoder: route it to the decoder only.
    """
    fakes = _batches(fakes)
    if decd.n_out == 1:
        return sum(_target_loss(decd(fake), 1) for fake in fakes)
    per_batch = _per_batch(labels, len(fakes))
    if any(label is None for label in per_batch):
        raise ValueError("a K + 1-way DecD scores decoded images against their classes: "
                         "pass labels")
    return sum(_target_loss(decd(fake), label) for fake, label in zip(fakes, per_batch))


def encoder_objective(reconstruction: torch.Tensor, adversarial: torch.Tensor, *,
                      classification: torch.Tensor | None = None,
                      reference: torch.Tensor | None = None,
                      gamma_enc: float = GAMMA_ENC) -> torch.Tensor:
    """What the encoder descends: L_x + L_y + L_{z_hat^r} + gamma_Enc L_EncD (eqs. 15, 17).

    The reference stage has no class and no z_hat^r terms (eq. 15): leave them None.
    """
    total = reconstruction + gamma_enc * adversarial
    for term in (classification, reference):
        if term is not None:
            total = total + term
    return total


def decoder_objective(reconstruction: torch.Tensor, adversarial: torch.Tensor, *,
                      gamma_dec: float = GAMMA_DEC) -> torch.Tensor:
    """What the decoder descends: L_x + gamma_Dec L_DecD (eqs. 16, 18)."""
    return reconstruction + gamma_dec * adversarial


# ---------------------------------------------------------------------------- gradient routing
# "We limit error signals to relevant networks" (Section 2.3, after Larsen et al.): each network
# descends only its own objective. The encoder gets the gradient of eq. 15/17, the decoder that
# of eq. 16/18: EncD's adversarial signal reaches only the encoder, DecD's only the decoder, the
# reconstruction both. Because DecD judges reconstructions, one backward of the sum would send
# DecD's signal into the encoder through Dec(Enc(x)); so each objective is backpropagated into
# its own network's parameters only:
#
#     routed_backward((encoder_objective(...), model.encoder),
#                     (decoder_objective(...), model.decoder))
#
# which leaves the discriminators' gradients untouched too. Cheaper and equal (the class, z_hat^r
# and EncD terms do not depend on the decoder): route L_x + L_y + L_{z_hat^r} + gamma_E L_EncD to
# (encoder, decoder) and gamma_D L_DecD to the decoder. The discriminators' losses above detach
# their inputs, so their plain ``backward()`` reaches the discriminator alone.

def _parameters(nets) -> list[nn.Parameter]:
    nets = [nets] if isinstance(nets, nn.Module) else list(nets)
    return [p for net in nets for p in net.parameters() if p.requires_grad]


def routed_backward(*routes: tuple[torch.Tensor, nn.Module | Sequence[nn.Module]]) -> None:
    """Accumulate the gradient of each loss into the parameters of its own networks only.

    ``routes`` are ``(loss, network or networks)`` pairs; the graph is kept until the last one,
    so losses may share a forward pass. Parameters outside a loss's networks get nothing from it.
    """
    routes = [(loss, _parameters(nets)) for loss, nets in routes if loss is not None]
    for i, (loss, params) in enumerate(routes):
        loss.backward(inputs=params, retain_graph=i < len(routes) - 1)


# ------------------------------------------------------------------------------ the optimisers

def make_optimizers(model: ReferenceModel | ConditionalModel, *, lr: float | None = None,
                    lr_encd: float | None = None,
                    betas: tuple[float, float] = ADAM_BETAS) -> dict[str, torch.optim.Adam]:
    """One Adam per network (Section 3.3 of both papers): the config's learning rates, 2e-4 for
    Enc, Dec and DecD and for EncD 2e-4 (2D) or 1e-2 (3D); betas (0.5, 0.999) as in DCGAN and
    both authors' codes (the papers do not state them)."""
    c = model.config
    rates = {"encoder": lr or c.lr, "decoder": lr or c.lr, "encd": lr_encd or c.lr_encd,
             "decd": lr or c.lr}
    return {name: torch.optim.Adam(net.parameters(), lr=rates[name], betas=betas)
            for name, net in networks(model).items()}


# ------------------------------------------------------------- generation and integration

def sample_prior(n: int, size: int, *, generator: torch.Generator | None = None,
                 device: torch.device | str | None = None) -> torch.Tensor:
    """z~ ~ N(0, I): n draws from the isotropic Gaussian prior of z^r and z^s (Section 3.3)."""
    return torch.randn(n, size, generator=generator, device=device)


def generate(model: ConditionalModel, labels: torch.Tensor, *, zr: torch.Tensor | None = None,
             zs: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Dec^{r,s}(one-hot y, z^r, z^s): cells of the given classes, z^r and z^s drawn from the prior
    where not given. With gradients and in the model's current mode, so training can use it."""
    c, n, device = model.config, len(labels), labels.device
    zr = sample_prior(n, c.latent_reference, generator=generator, device=device) if zr is None \
        else zr
    zs = sample_prior(n, c.latent_structure, generator=generator, device=device) if zs is None \
        else zs
    return model.decode(model.one_hot_code(labels), zr, zs)


def generate_reference(model: ReferenceModel, n: int, *,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Dec^r(z~), z~ ~ N(0, I): the "generated images" of DecD^r (eq. 6)."""
    device = next(model.parameters()).device
    return model.decode(sample_prior(n, model.config.latent_reference, generator=generator,
                                     device=device))


@torch.no_grad()
def reference_latents(model: ReferenceModel, reference_images: torch.Tensor) -> torch.Tensor:
    """z^r = Enc^r(x^r) in eval mode, as the conditional stage and Algorithm 3 use it frozen."""
    was_training = model.training
    model.eval()
    try:
        return model.encode(reference_images)
    finally:
        model.train(was_training)


@torch.no_grad()
def integrate(model: ConditionalModel, zr: torch.Tensor, classes: Sequence[int] | None = None,
              zs: torch.Tensor | None = None) -> torch.Tensor:
    """Algorithm 3: every structure predicted for each cell, (B, n_classes, 3, *image_shape).

    For each cell's z^r (Enc^r(x^r) in the paper; :func:`reference_latents`) and each class k:
    Dec^{r,s}(one-hot k, z^r, z^s) with z^s = argmax p(z^s) = 0, the prior's mode (``zs``
    (B, |z^s|) replaces it, e.g. prior draws for a Monte-Carlo mean). The structure channel of
    the result (:func:`structure_of`) is the prediction; the reference channels show what the
    decoder made of the cell. Runs in eval mode without gradients.
    """
    classes = list(range(model.n_classes)) if classes is None else list(classes)
    n = len(zr)
    zs = torch.zeros(n, model.config.latent_structure, device=zr.device) if zs is None else zs
    was_training = model.training
    model.eval()
    try:
        per_class = []
        for k in classes:
            labels = torch.full((n,), k, dtype=torch.long, device=zr.device)
            per_class.append(model.decode(model.one_hot_code(labels), zr, zs))
    finally:
        model.train(was_training)
    return torch.stack(per_class, 1)
