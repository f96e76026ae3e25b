"""cytoself: a two-level VQ-VAE with split quantisation and protein-identification heads.

Kobayashi, Cheveralls, Leonetti & Royer, "Self-supervised deep learning encodes high-resolution
features of protein subcellular localization", Nature Methods 2022. The architecture follows the
paper's Methods ("Detailed model architecture", "Split quantization", "Global and local
representations", "Identification pretext task") and Fig. 1b; where the authors' later PyTorch
port differs, the paper is followed and the port's choice is a flag of :class:`CytoselfConfig`.

    x (B, C, S, S) --encoder1--> z1 (B, D1, s1, s1) --vq1--> q1 = local representation
                                  z1 --encoder2--> z2 (B, n*D2, s2, s2) --split vq2--> q2 = global
    q2 --decoder2--> z1_hat  (target: the *unquantised* z1, paper; or q1, port)
    concat(q1, resize(q2 -> s1)) --decoder1--> x_hat
    fc1(flatten q1), fc2(flatten q2) -> protein-identity logits

Read top to bottom: the config and its presets, vector quantisation, the encoder blocks
(EfficientNet-B0's MBConv), the decoders, the model, the loss. ``model(x)`` returns everything the
loss needs; ``model(x, output_layer="vqvec2")`` stops at one named intermediate (the port's
layer-exit API), which is how every analysis of the chapter asks the model for a representation.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from ...nn.fast_cpu import fast_on_cpu

Stage = tuple[int, int, int, int, int]   # kernel, out channels, repeats, stride, expansion

# ------------------------------------------------------------------- configuration and presets

# EfficientNet-B0 cut in two (Methods, "Computational efficiency"; Suppl. Fig. 9):
# (kernel, channels, repeats, stride, expansion) per stage.
B0_ENCODER1: tuple[Stage, ...] = ((3, 16, 1, 1, 1), (3, 24, 2, 2, 6), (5, 40, 2, 1, 6))
# The second 112-channel stage strides by 2 (it is 1 in B0) so that 25 -> 13 -> 7 -> 4.
B0_ENCODER2: tuple[Stage, ...] = ((3, 80, 3, 2, 6), (5, 112, 3, 2, 6), (5, 192, 4, 2, 6),
                                  (3, 320, 1, 1, 6))

HEADS = ("fc1", "fc2")
EXITS = ("encoder1", "vqvec1", "vqind1", "vqindhist1", "encoder2", "vqvec2", "vqind2",
         "vqindhist2", "fc1", "fc2", "decoder2", "decoder1")


@dataclass(frozen=True)
class CytoselfConfig:
    """Every architectural knob; the paper's values are the ``paper`` preset."""

    input_size: int = 100
    in_channels: int = 2                    # protein + nuclear distance (1: protein only)
    stem_channels: int = 32
    encoder1_stages: tuple[Stage, ...] = B0_ENCODER1
    encoder2_stages: tuple[Stage, ...] = B0_ENCODER2
    local_dim: int = 64                     # D1: channels of z1 and of a local code
    global_dim: int = 64                    # D2: channels of one global code
    global_splits: int = 9                  # n: pieces per global vector (1 = no split)
    local_codes: int = 2048                 # K1
    global_codes: int = 2048                # K2
    commitment: float = 0.25                # beta
    quantize: bool = True                   # False: the "without VQ" ablation
    decoders: bool = True                   # False: the "without decoder" ablation
    decoder_width: int = 64
    decoder_min_width: int = 32
    residual_units: int = 2
    decoder2_target: str = "z1"             # paper / TF: unquantised z1; port: "q1"
    global_upsampling: str = "bilinear"     # TF; the port uses "nearest"
    heads: tuple[str, ...] = HEADS          # () : the "without identification task" ablation
    head_hidden: int = 1000
    head_dropout: float = 0.5
    n_classes: int = 1311

    def __post_init__(self):
        unknown = set(self.heads) - set(HEADS)
        if unknown:
            raise ValueError(f"unknown heads {sorted(unknown)}; choose from {HEADS}")
        if self.decoder2_target not in ("z1", "q1"):
            raise ValueError(f"decoder2_target is 'z1' (paper) or 'q1' (PyTorch port), "
                             f"got {self.decoder2_target!r}")

    @property
    def local_size(self) -> int:
        return _after_strides(self.input_size, [2] + [s[3] for s in self.encoder1_stages])

    @property
    def global_size(self) -> int:
        return _after_strides(self.local_size, [s[3] for s in self.encoder2_stages])

    @property
    def global_channels(self) -> int:
        return self.global_dim * self.global_splits

    def as_dict(self) -> dict:
        return asdict(self)

    def ablate(self, variant: str) -> CytoselfConfig:
        """The config of one of the paper's ablations (Supp. Table 1), by name."""
        if variant not in ABLATIONS:
            raise KeyError(f"unknown ablation {variant!r}; choose from {sorted(ABLATIONS)}")
        return ABLATIONS[variant](self)


def _after_strides(size: int, strides) -> int:
    for stride in strides:
        size = math.ceil(size / stride)
    return size


ABLATIONS = {
    "full": lambda c: c,
    "no_id_task": lambda c: replace(c, heads=()),
    # Without split, each global vector keeps all n * D2 channels (Methods, "Split quantization").
    "no_split": lambda c: replace(c, global_dim=c.global_channels, global_splits=1),
    "no_vq": lambda c: replace(c, quantize=False),
    "no_decoder": lambda c: replace(c, decoders=False),
    # The channel ablations change the data, and the model's input width with it.
    "no_nuclear_channel": lambda c: replace(c, in_channels=1),
    "raw_nucleus": lambda c: c,
}


PRESETS = {
    # The paper: 100x100 crops, B0 halves, 2048 x 64 codebooks, split 9, 1000-unit heads.
    "paper": CytoselfConfig(),
    # A CPU-sized model with the same wiring: 32x32 crops, local 8x8x16, global 2x2x(16*4), 128 codes.
    "cpu": CytoselfConfig(
        input_size=32, stem_channels=16,
        encoder1_stages=((3, 16, 1, 1, 1), (3, 24, 2, 2, 4)),
        encoder2_stages=((3, 40, 2, 2, 4), (3, 64, 1, 2, 4)),
        local_dim=16, global_dim=16, global_splits=4, local_codes=128, global_codes=128,
        decoder_width=32, decoder_min_width=16, residual_units=1, head_hidden=128, n_classes=40),
    # The official PyTorch port's small example configuration, for side-by-side speed:
    # 64x64 input, maps 16x16 / 2x2, 128 x 16 codebooks without split, fc2 only, and the port's
    # default decoders: as wide as their input, halving at every stage.
    "small": CytoselfConfig(
        input_size=64, encoder1_stages=((3, 16, 1, 1, 1), (3, 24, 2, 2, 6), (5, 40, 2, 1, 6)),
        encoder2_stages=((3, 80, 3, 2, 6), (5, 112, 3, 2, 6), (5, 192, 4, 2, 6), (3, 320, 1, 1, 6)),
        local_dim=16, global_dim=16, global_splits=1, local_codes=128, global_codes=128,
        decoder_width=32, decoder_min_width=1, heads=("fc2",), n_classes=40),
    "smoke": CytoselfConfig(
        input_size=32, stem_channels=8,
        encoder1_stages=((3, 8, 1, 1, 1), (3, 16, 1, 2, 4)),
        encoder2_stages=((3, 24, 1, 2, 4), (3, 32, 1, 2, 4)),
        local_dim=8, global_dim=8, global_splits=4, local_codes=64, global_codes=64,
        decoder_width=16, decoder_min_width=8, residual_units=1, head_hidden=64, n_classes=40),
}


def preset(name: str, **overrides) -> CytoselfConfig:
    try:
        return replace(PRESETS[name], **overrides)
    except KeyError:
        raise KeyError(f"unknown cytoself preset {name!r}; choose from {sorted(PRESETS)}") from None


# --------------------------------------------------------------------- vector quantisation
# As in VQ-VAE (van den Oord et al. 2017): the codebook is learned by gradient, not by moving
# averages. The codebook term ||sg(z) - e||^2 moves codes towards encoder outputs, the commitment
# term beta * ||z - sg(e)||^2 (beta = 0.25) keeps the encoder near its codes, and the
# straight-through estimator z + sg(e - z) passes the decoder's and the heads' gradients to the
# encoder unchanged. *Split quantisation* (Methods, "Split quantization"; Fig. 1c) cuts every
# C = s * D channel vector into s contiguous D-channel pieces quantised against one shared
# codebook, so a 4 x 4 x 576 global map gives 4 * 4 * 9 = 144 codes instead of 16.

def split_vectors(z: torch.Tensor, splits: int) -> torch.Tensor:
    """(B, s*D, H, W) -> (B, s, H, W, D): the D-dim vectors that are quantised, split by split."""
    batch, channels, height, width = z.shape
    if channels % splits:
        raise ValueError(f"{channels} channels cannot be split into {splits} equal parts")
    return z.view(batch, splits, channels // splits, height, width).permute(0, 1, 3, 4, 2)


def unsplit_vectors(vectors: torch.Tensor) -> torch.Tensor:
    """(B, s, H, W, D) -> (B, s*D, H, W), the exact inverse of :func:`split_vectors`."""
    batch, splits, height, width, dim = vectors.shape
    return vectors.permute(0, 1, 4, 2, 3).reshape(batch, splits * dim, height, width)


@dataclass
class Quantized:
    """What one quantiser returns; every diagnostic comes with the quantised tensor."""

    vectors: torch.Tensor          # (B, s*D, H, W) straight-through quantised map
    indices: torch.Tensor | None   # (B, s, H, W) code index of every vector (None: no VQ)
    histogram: torch.Tensor | None  # (B, K) code counts per image, summing to s*H*W
    codebook_loss: torch.Tensor    # ||sg(z) - e||^2
    commitment_loss: torch.Tensor  # ||z - sg(e)||^2 (unweighted)
    loss: torch.Tensor             # codebook_loss + beta * commitment_loss
    perplexity: torch.Tensor       # exp(entropy of the batch's code usage), in [1, K]


def perplexity_of(indices: torch.Tensor, n_codes: int) -> torch.Tensor:
    """exp(-sum p log p) of the code usage p over all vectors: 1 for one code, K for uniform use."""
    # A scatter, not bincount: bincount's length depends on the data, which breaks torch.compile's graph.
    usage = code_histogram(indices.reshape(1, -1), n_codes)[0]
    usage = usage / usage.sum()
    return torch.exp(-(usage * torch.log(usage.clamp_min(1e-12))).sum())


class VectorQuantizer(nn.Module):
    """A codebook of ``n_codes`` vectors of ``dim`` channels; ``splits`` pieces per input vector.

    Initialised uniformly in +-sqrt(3/K) (the PyTorch port's choice).
    """

    def __init__(self, n_codes: int, dim: int, *, splits: int = 1, commitment: float = 0.25):
        super().__init__()
        self.n_codes, self.dim, self.splits, self.commitment = n_codes, dim, splits, commitment
        bound = (3 / n_codes) ** 0.5
        self.codebook = nn.Parameter(torch.empty(n_codes, dim).uniform_(-bound, bound))

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code (squared Euclidean distance) for each row of ``flat``."""
        codebook = self.codebook.to(flat.dtype)
        distances = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codebook.t()
                     + codebook.pow(2).sum(1)[None])
        return distances.argmin(1)

    def forward(self, z: torch.Tensor) -> Quantized:
        vectors = split_vectors(z, self.splits)                 # (B, s, H, W, D)
        if vectors.shape[-1] != self.dim:
            raise ValueError(f"expected {self.splits} x {self.dim} = {self.splits * self.dim} "
                             f"channels to quantise, got {z.shape[1]}")
        flat = vectors.reshape(-1, self.dim)
        # Distances and losses in fp32 even under autocast: argmin over codes is precision-sensitive.
        flat32 = flat.float()
        with torch.no_grad():
            indices = self.nearest(flat32)
        codes = F.embedding(indices, self.codebook)             # (N, D), gradient to the codebook
        codebook_loss = F.mse_loss(codes, flat32.detach())
        commitment_loss = F.mse_loss(flat32, codes.detach())
        straight_through = flat32 + (codes - flat32).detach()
        quantized = unsplit_vectors(straight_through.view(vectors.shape)).to(z.dtype)
        indices = indices.view(vectors.shape[:-1])              # (B, s, H, W)
        histogram = code_histogram(indices, self.n_codes)
        return Quantized(quantized, indices, histogram, codebook_loss, commitment_loss,
                         codebook_loss + self.commitment * commitment_loss,
                         perplexity_of(indices, self.n_codes))


def code_histogram(indices: torch.Tensor, n_codes: int) -> torch.Tensor:
    """(B, ...) code indices -> (B, K) counts per image, in one scatter (no per-image loop)."""
    flat = indices.reshape(indices.shape[0], -1)
    counts = torch.zeros(flat.shape[0], n_codes, device=indices.device)
    return counts.scatter_add_(1, flat, torch.ones_like(flat, dtype=counts.dtype))


class IdentityQuantizer(nn.Module):
    """The "without vector quantization" ablation: passes vectors through, with zero VQ loss."""

    def __init__(self, n_codes: int = 1, dim: int = 0, *, splits: int = 1, commitment: float = 0.25):
        super().__init__()
        self.n_codes, self.dim, self.splits = n_codes, dim, splits

    def forward(self, z: torch.Tensor) -> Quantized:
        zero = z.new_zeros((), dtype=torch.float32)
        return Quantized(z, None, None, zero, zero, zero, zero + 1)


# ----------------------------------------------------------------- encoder and decoder blocks
# Convolutions are "same"-padded, so a stride of 2 maps n pixels to ceil(n / 2): 100 -> 50 -> 25
# and 25 -> 13 -> 7 -> 4 as in the paper's maps. The encoders are EfficientNet-B0's mobile
# inverted bottlenecks (1x1 expansion, depthwise k x k, squeeze-and-excitation, 1x1 projection,
# residual when the shape allows) with swish (SiLU); the decoders are residual (Suppl. Fig. 9).

class ConvBNAct(nn.Sequential):
    """Conv (same padding, no bias) -> BatchNorm -> SiLU (or no activation); depthwise when
    ``groups`` equals the channel count."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, *, groups: int = 1,
                 activation: bool = True):
        layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                  nn.BatchNorm2d(cout)]
        if activation:
            layers.append(nn.SiLU(inplace=True))
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    """Channel gating from globally pooled features (ratio of the block's *input* width)."""

    def __init__(self, channels: int, squeezed: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.expand = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x):
        gate = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.expand(F.silu(self.reduce(gate))))


class MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expansion: int,
                 se_ratio: float = 0.25):
        super().__init__()
        hidden = cin * expansion
        layers = [ConvBNAct(cin, hidden, 1)] if expansion != 1 else []
        layers += [ConvBNAct(hidden, hidden, kernel, stride, groups=hidden),
                   SqueezeExcite(hidden, max(1, int(cin * se_ratio))),
                   ConvBNAct(hidden, cout, 1, activation=False)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


def efficientnet_stages(cin: int, stages: Sequence[Stage]) -> tuple[nn.Sequential, int]:
    """MBConv stages; only the first block of a stage strides. Returns (module, out channels)."""
    blocks = []
    for kernel, cout, repeats, stride, expansion in stages:
        for r in range(repeats):
            blocks.append(MBConv(cin, cout, kernel, stride if r == 0 else 1, expansion))
            cin = cout
    return nn.Sequential(*blocks), cin


class ResidualUnit(nn.Module):
    """x + BN(conv3x3(SiLU(BN(conv3x3(x))))), then SiLU."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(ConvBNAct(channels, channels, 3),
                                  ConvBNAct(channels, channels, 3, activation=False))

    def forward(self, x):
        return F.silu(x + self.body(x))


def upsampling_sizes(size_in: int, size_out: int) -> list[int]:
    """Intermediate sizes from ``size_in`` to ``size_out`` by (about) doubling: 4 -> 7, 13, 25.

    The sizes mirror a stride-2 encoder (25 -> 13 -> 7 -> 4), so a decoder retraces the
    encoder's maps; there are ceil(log2(out / in)) stages, as in cytoself's decoders.
    """
    if size_out <= size_in:
        return []
    sizes = [size_out]
    while math.ceil(sizes[-1] / 2) > size_in:
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes[::-1]


class ResidualDecoder(nn.Module):
    """Entry conv to ``width`` channels, then per stage: resize, residual units, conv halving the
    width (not below ``min_width``). Ends with a linear 3x3 conv to ``cout`` (``linear_head``)
    or with BN + SiLU (cytoself's decoder2, whose target is an encoder activation)."""

    def __init__(self, cin: int, cout: int, size_in: int, size_out: int, *, width: int = 64,
                 min_width: int = 32, residual_units: int = 2, linear_head: bool = True,
                 upsample_mode: str = "bilinear"):
        super().__init__()
        self.sizes, self.mode = upsampling_sizes(size_in, size_out), upsample_mode
        self.entry = ConvBNAct(cin, width, 3)
        self.stages = nn.ModuleList()
        for _ in self.sizes:
            narrower = max(width // 2, min_width)
            self.stages.append(nn.Sequential(*[ResidualUnit(width) for _ in range(residual_units)],
                                             ConvBNAct(width, narrower, 3)))
            width = narrower
        self.head = (nn.Conv2d(width, cout, 3, padding=1) if linear_head
                     else ConvBNAct(width, cout, 3))

    def forward(self, x):
        x = self.entry(x)
        for size, stage in zip(self.sizes, self.stages):
            x = stage(F.interpolate(x, size=(size, size), mode=self.mode,
                                    **({"align_corners": False} if self.mode == "bilinear" else {})))
        return self.head(x)


# ------------------------------------------------------------------------------- the model

class IdentificationHead(nn.Sequential):
    """Flatten -> Linear(hidden) -> ReLU -> Dropout -> Linear(classes): the paper's 2-layer
    perceptron, dropout after the hidden layer as in the authors' TensorFlow code."""

    def __init__(self, inputs: int, hidden: int, classes: int, dropout: float):
        super().__init__(nn.Flatten(), nn.Linear(inputs, hidden), nn.ReLU(inplace=True),
                         nn.Dropout(dropout), nn.Linear(hidden, classes))


@dataclass
class CytoselfOutput:
    z1: torch.Tensor
    z2: torch.Tensor
    local: Quantized
    global_: Quantized
    logits: dict[str, torch.Tensor] = field(default_factory=dict)
    z1_hat: torch.Tensor | None = None
    z1_target: torch.Tensor | None = None   # what z1_hat is trained towards (config.decoder2_target)
    reconstruction: torch.Tensor | None = None


class Cytoself(nn.Module):
    def __init__(self, config: CytoselfConfig):
        super().__init__()
        self.config = c = config
        body1, width1 = efficientnet_stages(c.stem_channels, c.encoder1_stages)
        self.encoder1 = nn.Sequential(ConvBNAct(c.in_channels, c.stem_channels, 3, 2), body1,
                                      ConvBNAct(width1, c.local_dim, 1))
        body2, width2 = efficientnet_stages(c.local_dim, c.encoder2_stages)
        self.encoder2 = nn.Sequential(body2, ConvBNAct(width2, c.global_channels, 1))
        quantizer = VectorQuantizer if c.quantize else IdentityQuantizer
        self.vq1 = quantizer(c.local_codes, c.local_dim, commitment=c.commitment)
        self.vq2 = quantizer(c.global_codes, c.global_dim, splits=c.global_splits,
                             commitment=c.commitment)
        decoder = dict(width=c.decoder_width, min_width=c.decoder_min_width,
                       residual_units=c.residual_units)
        if c.decoders:
            self.decoder2 = ResidualDecoder(c.global_channels, c.local_dim, c.global_size,
                                            c.local_size, linear_head=False, **decoder)
            self.decoder1 = ResidualDecoder(c.local_dim + c.global_channels, c.in_channels,
                                            c.local_size, c.input_size, linear_head=True, **decoder)
        inputs = {"fc1": c.local_dim * c.local_size ** 2, "fc2": c.global_channels * c.global_size ** 2}
        self.heads = nn.ModuleDict({name: IdentificationHead(inputs[name], c.head_hidden, c.n_classes,
                                                             c.head_dropout) for name in c.heads})
        fast_on_cpu(self)   # channels-last and a faster depthwise gradient; same parameters

    def forward(self, x: torch.Tensor, output_layer: str | None = None):
        c = self.config
        if x.ndim != 4 or x.shape[1] != c.in_channels or x.shape[-1] != c.input_size:
            raise ValueError(f"expected images (B, {c.in_channels}, {c.input_size}, {c.input_size}), "
                             f"got {tuple(x.shape)}")
        if output_layer is not None and output_layer not in EXITS:
            raise ValueError(f"unknown output_layer {output_layer!r}; choose from {EXITS}")
        z1 = self.encoder1(x)                                   # (B, D1, s1, s1)
        if output_layer == "encoder1":
            return z1
        local = self.vq1(z1)
        if output_layer in ("vqvec1", "vqind1", "vqindhist1"):
            return _exit(local, output_layer)
        z2 = self.encoder2(z1)                                  # unquantised z1 in (paper)
        if output_layer == "encoder2":
            return z2
        global_ = self.vq2(z2)                                  # (B, n*D2, s2, s2)
        if output_layer in ("vqvec2", "vqind2", "vqindhist2"):
            return _exit(global_, output_layer)
        logits = {name: head(local.vectors if name == "fc1" else global_.vectors)
                  for name, head in self.heads.items()}
        if output_layer in HEADS:
            if output_layer not in logits:
                raise ValueError(f"this model has no {output_layer} head (heads: {c.heads})")
            return logits[output_layer]
        out = CytoselfOutput(z1, z2, local, global_, logits)
        if c.decoders:
            out.z1_hat = self.decoder2(global_.vectors)
            out.z1_target = z1 if c.decoder2_target == "z1" else local.vectors
            if output_layer == "decoder2":
                return out.z1_hat
            out.reconstruction = self.decode(local.vectors, global_.vectors)
            if output_layer == "decoder1":
                return out.reconstruction
        elif output_layer in ("decoder1", "decoder2"):
            raise ValueError("this model was built without decoders (the no_decoder ablation)")
        return out

    def decode(self, local: torch.Tensor, global_: torch.Tensor) -> torch.Tensor:
        """decoder1 on concat(local, global resized to the local map): also for edited codes."""
        size = (self.config.local_size,) * 2
        mode = self.config.global_upsampling
        upsampled = F.interpolate(global_, size=size, mode=mode,
                                  **({"align_corners": False} if mode == "bilinear" else {}))
        return self.decoder1(torch.cat([local, upsampled], 1))


def _exit(quantized: Quantized, name: str):
    value = {"vqvec": quantized.vectors, "vqind": quantized.indices,
             "vqindhist": quantized.histogram}[name[:-1]]
    if value is None:
        raise ValueError(f"{name} does not exist without vector quantisation (the no_vq ablation)")
    return value


# -------------------------------------------------------------------------------- the loss

@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms; all 1 in the authors' code."""

    reconstruction1: float = 1.0     # image MSE / variance of the training images
    reconstruction2: float = 1.0     # MSE(z1_hat, z1)
    vq: float = 1.0                  # codebook + beta * commitment, both levels
    identification: float = 1.0      # cross-entropy of each head


def cytoself_loss(out: CytoselfOutput, images: torch.Tensor, labels: torch.Tensor, *,
                  image_variance: float, weights: LossWeights = LossWeights()
                  ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The total loss and its (unweighted) terms:

    L = MSE(x_hat, x) / Var(x_train) + MSE(z1_hat, z1) + sum_l (codebook_l + beta commitment_l)
        + CE(fc1) + CE(fc2)

    decoder 2's target is the one the model's config names (``out.z1_target``): the unquantised
    z1 of the paper, or the port's q1.
    """
    terms: dict[str, torch.Tensor] = {}
    total = images.new_zeros((), dtype=torch.float32)
    if out.reconstruction is not None:
        terms["reconstruction1"] = F.mse_loss(out.reconstruction.float(), images.float()) / image_variance
        terms["reconstruction2"] = F.mse_loss(out.z1_hat.float(), out.z1_target.float())
        total = total + weights.reconstruction1 * terms["reconstruction1"]
        total = total + weights.reconstruction2 * terms["reconstruction2"]
    for level, quantized in (("vq1", out.local), ("vq2", out.global_)):
        terms[level] = quantized.loss
        total = total + weights.vq * quantized.loss
    for name, logits in out.logits.items():
        terms[f"{name}_ce"] = F.cross_entropy(logits.float(), labels)
        total = total + weights.identification * terms[f"{name}_ce"]
    return total, terms


def parameter_counts(model: Cytoself) -> dict[str, int]:
    """Trainable parameters per part and in total."""
    parts = {"encoder1": model.encoder1, "encoder2": model.encoder2, "vq1": model.vq1,
             "vq2": model.vq2, **{name: head for name, head in model.heads.items()}}
    if model.config.decoders:
        parts |= {"decoder1": model.decoder1, "decoder2": model.decoder2}
    counts = {name: sum(p.numel() for p in part.parameters()) for name, part in parts.items()}
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts
