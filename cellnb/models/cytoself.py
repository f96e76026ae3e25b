"""cytoself: a two-level VQ-VAE with split quantisation and protein-identification heads.

Kobayashi, Cheveralls, Leonetti & Royer, "Self-supervised deep learning encodes high-resolution
features of protein subcellular localization" (Nature Methods 2022; preprint text in
``shared/papers/cytoself.txt``). Architecture as in the paper's Methods and Supp. Fig. 9, checked
against the TensorFlow code behind its figures (our notes §1.2); where the later PyTorch port
differs (notes §1.4) the paper is followed and the port's choice is a flag.

    x (B, C, S, S) --encoder1--> z1 (B, D1, s1, s1) --vq1--> q1 = local representation
                                  z1 --encoder2--> z2 (B, n*D2, s2, s2) --split vq2--> q2 = global
    q2 --decoder2--> z1_hat  (target: the *unquantised* z1, paper; or q1, port)
    concat(q1, resize(q2 -> s1)) --decoder1--> x_hat
    fc1(flatten q1), fc2(flatten q2) -> protein-identity logits

``model(x)`` returns everything the loss needs; ``model(x, output_layer="vqvec2")`` stops at
and returns one named intermediate (the layer-exit API of the cytoself port), which is how every
analysis in the chapter asks the model for a representation.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ConvBNAct, ResidualDecoder, Stage, efficientnet_stages
from .vq import IdentityQuantizer, Quantized, VectorQuantizer

# EfficientNet-B0 cut in two (notes §1.2): (kernel, channels, repeats, stride, expansion).
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
    # Without split, each global vector keeps all n * D2 channels (notes §1.2: "too many dimensions").
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
    # Notes §4.2's CPU mini model: 32x32 crops, local 8x8x16, global 2x2x(16*4), 128 codes.
    "cpu": CytoselfConfig(
        input_size=32, stem_channels=16,
        encoder1_stages=((3, 16, 1, 1, 1), (3, 24, 2, 2, 4)),
        encoder2_stages=((3, 40, 2, 2, 4), (3, 64, 1, 2, 4)),
        local_dim=16, global_dim=16, global_splits=4, local_codes=128, global_codes=128,
        decoder_width=32, decoder_min_width=16, residual_units=1, head_hidden=128, n_classes=40),
    # The official port's small example config (performance_targets.md), for side-by-side speed:
    # 64x64 input, maps 16x16 / 2x2, 128 x 16 codebooks without split, fc2 only, and the port's
    # default decoders: as wide as their input, halving at every stage (notes §1.4).
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


class IdentificationHead(nn.Sequential):
    """Flatten -> Linear(hidden) -> ReLU -> Dropout -> Linear(classes): the paper's 2-layer
    perceptron, dropout after the hidden layer as in the TF code (notes §1.2)."""

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
        # Channels-last weights and maps: oneDNN's and cuDNN's faster layout (on 2 CPU cores the
        # paper preset trains 1.3x faster), and the one DepthwiseConv2d's fast gradient needs.
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor, output_layer: str | None = None):
        c = self.config
        if x.ndim != 4 or x.shape[1] != c.in_channels or x.shape[-1] != c.input_size:
            raise ValueError(f"expected images (B, {c.in_channels}, {c.input_size}, {c.input_size}), "
                             f"got {tuple(x.shape)}")
        if output_layer is not None and output_layer not in EXITS:
            raise ValueError(f"unknown output_layer {output_layer!r}; choose from {EXITS}")
        z1 = self.encoder1(x.contiguous(memory_format=torch.channels_last))   # (B, D1, s1, s1)
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


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms; all 1 in the paper's code (notes §1.2)."""

    reconstruction1: float = 1.0     # image MSE / variance of the training images
    reconstruction2: float = 1.0     # MSE(z1_hat, z1)
    vq: float = 1.0                  # codebook + beta * commitment, both levels
    identification: float = 1.0      # cross-entropy of each head


def cytoself_loss(out: CytoselfOutput, images: torch.Tensor, labels: torch.Tensor, *,
                  image_variance: float, weights: LossWeights = LossWeights(),
                  decoder2_target: str = "z1") -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The total loss and its (unweighted) terms:

    L = MSE(x_hat, x) / Var(x_train) + MSE(z1_hat, z1) + sum_l (codebook_l + beta commitment_l)
        + CE(fc1) + CE(fc2)
    """
    terms: dict[str, torch.Tensor] = {}
    total = images.new_zeros((), dtype=torch.float32)
    if out.reconstruction is not None:
        terms["reconstruction1"] = F.mse_loss(out.reconstruction.float(), images.float()) / image_variance
        target = out.z1 if decoder2_target == "z1" else out.local.vectors
        terms["reconstruction2"] = F.mse_loss(out.z1_hat.float(), target.float())
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
