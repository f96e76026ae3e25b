"""Paired cell inpainting: predict a target cell's protein from a source cell of the same image.

Lu, Kraus, Cooper & Moses, "Learning unsupervised feature representations for single cell
microscopy images with paired cell inpainting", PLoS Computational Biology 2019. The architecture
is the paper's Fig 1C and Methods ("Architecture"): an AlexNet-like *source cell encoder* with all
kernels 3x3 and batch normalisation after each convolution, a smaller *target marker encoder*
(16, 32 and 32 filters), and a decoder that "reverses the AlexNet architecture". Where the paper's
text leaves a detail open (the order of ReLU and batch normalisation, Adam's beta1), the authors'
Keras code is followed and the alternative is a flag of :class:`InpaintingConfig`.

    source (B, Zs, S, S) --source encoder--> (B, 256, S/4, S/4) --+
                                                                  concat (B, 288, S/4, S/4)
    target marker (B, Zt, S, S) --target marker encoder--> (B, 32, S/4, S/4) --+
    --decoder--> predicted target protein (B, 1, S, S)

Read top to bottom: the config and its presets, the convolution block, the two encoders, the
decoder, the model, the loss and the optimiser. ``model(source, target_marker)`` is the prediction
the loss needs; ``model(source, output_layer="conv3")`` is the paper's feature read-out (Methods:
"maximum pooling the output of an intermediate convolutional layer, across spatial dimensions"),
which needs no target cell: after training only the source encoder is kept.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from ...nn.fast_cpu import fast_on_cpu

# ------------------------------------------------------------------- configuration and presets

# AlexNet's five convolutions with every kernel 3x3 (Methods, "Architecture"; Fig 1C).
SOURCE_WIDTHS = (96, 256, 384, 384, 256)
# "Three convolutional layers, with 16, 32, and 32 filters" (Methods, "Architecture").
TARGET_WIDTHS = (16, 32, 32)
# "For the decoder, we reverse the AlexNet architecture" (Fig 1C), before a 1x1 linear output conv.
DECODER_WIDTHS = (256, 384, 384, 256, 96)

LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")
# conv1..conv5: the paper's features, (B, C) spatial maxima of a source conv's ReLU output;
# conv1_map..conv5_map: the same activations before the maximum, (B, C, h, w);
# source_encoding: the source encoder's output, the decoder's input from the source (B, C, S/4, S/4).
EXITS = LAYERS + tuple(f"{name}_map" for name in LAYERS) + ("source_encoding",)
INITS = ("glorot", "torch")


@dataclass(frozen=True)
class InpaintingConfig:
    """Every architectural knob; the paper's yeast model is the ``paper`` preset."""

    crop_size: int = 64                    # S: square crops (Methods: 64x64 yeast, human resized)
    source_channels: int = 2               # Zs: protein first, then markers (yeast 2, human 3)
    target_marker_channels: int = 1        # Zt: the target's structural markers (yeast 1, human 2)
    protein_channels: int = 1              # channels predicted: the target's protein
    width: float = 1.0                     # multiplies the source encoder's and decoder's widths
    decoder_width: float | None = None     # the decoder's own multiplier (None: same as width)
    source_widths: tuple[int, ...] = SOURCE_WIDTHS
    target_widths: tuple[int, ...] = TARGET_WIDTHS     # not scaled by ``width``
    decoder_widths: tuple[int, ...] = DECODER_WIDTHS
    bn_eps: float = 1e-3                   # Keras' BatchNormalization defaults: eps 1e-3 and
    bn_momentum: float = 0.01              # momentum 0.99, i.e. 0.01 in PyTorch's convention
    bn_after_relu: bool = True             # authors' code: conv -> ReLU -> BN; False: conv -> BN -> ReLU
    init: str = "glorot"                   # "glorot": Keras' defaults (code); "torch": PyTorch's

    def __post_init__(self):
        if self.crop_size % 4 or self.crop_size < 4:
            raise ValueError(f"crop_size must be a positive multiple of 4 (two 2x2 pools and two "
                             f"x2 upsamplings), got {self.crop_size}")
        for name in ("source_channels", "target_marker_channels", "protein_channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if len(self.source_widths) != 5 or len(self.decoder_widths) != 5 or len(self.target_widths) != 3:
            raise ValueError("expected 5 source widths, 3 target-marker widths and 5 decoder widths "
                             f"(Fig 1C), got {len(self.source_widths)}, {len(self.target_widths)} "
                             f"and {len(self.decoder_widths)}")
        if self.width <= 0 or (self.decoder_width is not None and self.decoder_width <= 0):
            raise ValueError(f"width multipliers must be positive, got width={self.width}, "
                             f"decoder_width={self.decoder_width}")
        if self.init not in INITS:
            raise ValueError(f"init is one of {INITS}, got {self.init!r}")

    @property
    def source_channels_per_layer(self) -> tuple[int, ...]:
        """Filters of conv1..conv5 after the width multiplier: 24-64-96-96-64 at 0.25."""
        return _scaled(self.source_widths, self.width)

    @property
    def decoder_channels_per_layer(self) -> tuple[int, ...]:
        """Filters of the decoder's conv6..conv10 after the decoder's multiplier."""
        return _scaled(self.decoder_widths, self.width if self.decoder_width is None
                       else self.decoder_width)

    @property
    def bottleneck_size(self) -> int:
        return self.crop_size // 4

    def as_dict(self) -> dict:
        return asdict(self)


def _scaled(widths, multiplier: float) -> tuple[int, ...]:
    return tuple(max(1, round(w * multiplier)) for w in widths)


PRESETS = {
    # The paper's yeast model (Methods; Fig 1C): 64x64 crops, GFP protein + RFP marker -> GFP.
    # 7,320,609 trainable parameters.
    "paper": InpaintingConfig(),
    # The paper's human model: antibody + nucleus + microtubules -> antibody. 7,321,617 parameters.
    "paper_human": InpaintingConfig(source_channels=3, target_marker_channels=2),
    # CPU-sized, same wiring: 32x32 crops (bottleneck 8x8), encoder 24-64-96-96-64, target encoder
    # unchanged; the decoder, discarded after training, is cut to an eighth (32-48-48-32-12).
    "cpu": InpaintingConfig(crop_size=32, width=0.25, decoder_width=0.125),
    # The smallest model with the same wiring, for tests.
    "smoke": InpaintingConfig(crop_size=16, width=0.0625, target_widths=(4, 8, 8)),
}


def preset(name: str, **overrides) -> InpaintingConfig:
    try:
        return replace(PRESETS[name], **overrides)
    except KeyError:
        raise KeyError(f"unknown paired-inpainting preset {name!r}; choose from {sorted(PRESETS)}") from None


# ------------------------------------------------------------------------ convolution block
# Every convolution is 3x3, stride 1, "same" padding, with a ReLU (Fig 1C). In the encoders the
# paper adds "batch normalization after each convolutional layer"; the authors' Keras layers carry
# the ReLU inside the convolution, so the order there is conv -> ReLU -> BN (``bn_after_relu``).

class ConvBlock(nn.Sequential):
    """3x3 conv -> ReLU, with BatchNorm after the ReLU (authors' code) or before it, or none.

    :meth:`activation_and_output` also returns the ReLU's output, which is what the paper reads
    features from (pre-BN in the authors' order).
    """

    def __init__(self, cin: int, cout: int, *, batch_norm: bool, bn_after_relu: bool = True,
                 eps: float = 1e-3, momentum: float = 0.01):
        conv = nn.Conv2d(cin, cout, 3, padding=1)
        relu = nn.ReLU()   # not in place: its output is a feature read-out
        if not batch_norm:
            layers = [("conv", conv), ("relu", relu)]
        else:
            bn = nn.BatchNorm2d(cout, eps=eps, momentum=momentum)
            layers = ([("conv", conv), ("relu", relu), ("bn", bn)] if bn_after_relu
                      else [("conv", conv), ("bn", bn), ("relu", relu)])
        super().__init__(OrderedDict(layers))

    def activation_and_output(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        activation = None
        for name, layer in self.named_children():
            x = layer(x)
            if name == "relu":
                activation = x
        return activation, x


# ---------------------------------------------------------------------------- the encoders

class SourceEncoder(nn.Module):
    """conv1 -> pool -> conv2 -> pool -> conv3 -> conv4 -> conv5, BN after every conv.

    Two 2x2 max-pools only (after conv1 and conv2; Fig 1C), so S -> S/2 -> S/4.
    """

    def __init__(self, cin: int, widths: tuple[int, ...], **bn):
        super().__init__()
        self.layers = nn.ModuleDict()
        for name, cout in zip(LAYERS, widths):
            self.layers[name] = ConvBlock(cin, cout, batch_norm=True, **bn)
            cin = cout
        self.pool = nn.MaxPool2d(2)
        self.out_channels = cin

    def forward(self, x: torch.Tensor, stop_at: str | None = None) -> torch.Tensor:
        """The encoder's output, or with ``stop_at`` the ReLU output of that conv."""
        for name, block in self.layers.items():
            activation, x = block.activation_and_output(x)   # (B, C_k, s, s)
            if name == stop_at:
                return activation
            if name in ("conv1", "conv2"):
                x = self.pool(x)                              # s -> s / 2
        return x                                              # (B, C5, S/4, S/4)


class TargetMarkerEncoder(nn.Sequential):
    """Three convs with BN, 2x2 max-pools after the first two: (B, Zt, S, S) -> (B, 32, S/4, S/4)."""

    def __init__(self, cin: int, widths: tuple[int, ...], **bn):
        first, second, third = widths
        super().__init__(OrderedDict([
            ("conv1", ConvBlock(cin, first, batch_norm=True, **bn)), ("pool1", nn.MaxPool2d(2)),
            ("conv2", ConvBlock(first, second, batch_norm=True, **bn)), ("pool2", nn.MaxPool2d(2)),
            ("conv3", ConvBlock(second, third, batch_norm=True, **bn))]))
        self.out_channels = third


# ------------------------------------------------------------------------------ the decoder

class Decoder(nn.Sequential):
    """conv6, conv7, conv8 at S/4 -> nearest x2 -> conv9 -> nearest x2 -> conv10 -> linear 1x1.

    No batch normalisation; the output conv has no activation, so predictions are unbounded.
    """

    def __init__(self, cin: int, widths: tuple[int, ...], cout: int):
        c6, c7, c8, c9, c10 = widths
        super().__init__(OrderedDict([
            ("conv6", ConvBlock(cin, c6, batch_norm=False)),
            ("conv7", ConvBlock(c6, c7, batch_norm=False)),
            ("conv8", ConvBlock(c7, c8, batch_norm=False)),
            ("up1", nn.Upsample(scale_factor=2, mode="nearest")),    # S/4 -> S/2
            ("conv9", ConvBlock(c8, c9, batch_norm=False)),
            ("up2", nn.Upsample(scale_factor=2, mode="nearest")),    # S/2 -> S
            ("conv10", ConvBlock(c9, c10, batch_norm=False)),
            ("output", nn.Conv2d(c10, cout, 1))]))


# -------------------------------------------------------------------------------- the model

class PairedInpainting(nn.Module):
    """f(x_s, y_s, x_t) = predicted y_t (Methods, "Paired cell inpainting")."""

    def __init__(self, config: InpaintingConfig):
        super().__init__()
        self.config = c = config
        bn = dict(bn_after_relu=c.bn_after_relu, eps=c.bn_eps, momentum=c.bn_momentum)
        self.source_encoder = SourceEncoder(c.source_channels, c.source_channels_per_layer, **bn)
        self.target_encoder = TargetMarkerEncoder(c.target_marker_channels, c.target_widths, **bn)
        self.decoder = Decoder(self.source_encoder.out_channels + self.target_encoder.out_channels,
                               c.decoder_channels_per_layer, c.protein_channels)
        if c.init == "glorot":
            self.apply(_keras_init)
        # Channels-last (there are no depthwise convs to swap): one forward + backward of the
        # cpu preset at batch 32 on 2 shared CPU cores took 78 ms channels-last against 102 ms
        # in the default layout (medians of 40 interleaved steps; minima 68 vs 85 ms; torch 2.13).
        fast_on_cpu(self)

    def forward(self, source: torch.Tensor, target_marker: torch.Tensor | None = None,
                output_layer: str | None = None) -> torch.Tensor:
        """The predicted target protein (B, protein_channels, S, S); or, with ``output_layer``,
        that exit of the source encoder (no target marker needed)."""
        self._check(source, self.config.source_channels, "source (protein, then markers)")
        if output_layer is not None:
            return self.features(source, output_layer)
        if target_marker is None:
            raise ValueError("the prediction needs the target cell's marker channels "
                             f"(B, {self.config.target_marker_channels}, S, S); pass target_marker, "
                             "or output_layer=... for the source encoder's features")
        self._check(target_marker, self.config.target_marker_channels, "target marker")
        if target_marker.shape[0] != source.shape[0]:
            raise ValueError(f"source and target marker must pair up one to one, got batches of "
                             f"{source.shape[0]} and {target_marker.shape[0]}")
        fused = torch.cat([self.source_encoder(source), self.target_encoder(target_marker)], 1)
        return self.decoder(fused)                          # (B, 256 + 32, S/4, S/4) -> (B, 1, S, S)

    def features(self, source: torch.Tensor, output_layer: str = "conv5") -> torch.Tensor:
        """The paper's read-out: the spatial maximum of a source conv's ReLU output, (B, C).

        The tap is the ReLU output, which the authors' conv -> ReLU -> BN order puts before
        batch normalisation. ``"convK_map"`` returns the map before the maximum.
        """
        if output_layer not in EXITS:
            raise ValueError(f"unknown output_layer {output_layer!r}; choose from {EXITS}")
        self._check(source, self.config.source_channels, "source (protein, then markers)")
        if output_layer == "source_encoding":
            return self.source_encoder(source)
        activation = self.source_encoder(source, stop_at=output_layer.removesuffix("_map"))
        if output_layer.endswith("_map"):
            return activation                               # (B, C_k, s, s)
        return activation.amax(dim=(2, 3))                  # (B, C_k)

    def _check(self, x: torch.Tensor, channels: int, what: str):
        size = self.config.crop_size
        if x.ndim != 4 or x.shape[1] != channels or x.shape[-2:] != (size, size):
            raise ValueError(f"expected {what} images (B, {channels}, {size}, {size}), "
                             f"got {tuple(x.shape)}")


def _keras_init(module: nn.Module):
    """Keras' Conv2D defaults: glorot-uniform kernels, zero biases (the authors' code)."""
    if isinstance(module, nn.Conv2d):
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


# ------------------------------------------------------------------- the loss and optimiser

def inpainting_loss(prediction: torch.Tensor, target_protein: torch.Tensor) -> torch.Tensor:
    """Pixel-wise mean squared error (Methods, "Paired cell inpainting"), averaged over the batch."""
    if prediction.shape != target_protein.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target protein "
                         f"{tuple(target_protein.shape)} must have the same shape")
    return F.mse_loss(prediction.float(), target_protein.float())


def make_optimizer(model: nn.Module, lr: float = 1e-4,
                   betas: tuple[float, float] = (0.5, 0.999)) -> torch.optim.Adam:
    """Adam with the paper's learning rate 1e-4 (Methods, "Datasets, preprocessing, and
    training"); beta1 = 0.5 is the authors' code's choice, the paper names only Adam."""
    return torch.optim.Adam(model.parameters(), lr=lr, betas=betas)


def parameter_counts(model: PairedInpainting) -> dict[str, int]:
    """Trainable parameters per part and in total (BN running statistics are buffers)."""
    parts = {"source_encoder": model.source_encoder, "target_encoder": model.target_encoder,
             "decoder": model.decoder}
    counts = {name: sum(p.numel() for p in part.parameters() if p.requires_grad)
              for name, part in parts.items()}
    counts["total"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return counts
