"""Convolutional building blocks shared by the book's models.

* :class:`MBConv` - EfficientNet's mobile inverted bottleneck (1x1 expansion, depthwise k x k,
  squeeze-and-excitation, 1x1 projection, residual when the shape allows), with swish (SiLU)
  activations; cytoself's encoders are the two halves of an EfficientNet-B0 (notes §1.2).
* :func:`efficientnet_stages` - a stack of MBConv stages from a compact table of
  ``(kernel, channels, repeats, stride, expansion)`` rows.
* :class:`ResidualDecoder` - the decoders of cytoself: an entry convolution, then per stage a
  resize, residual units and a convolution that halves the width down to a floor (notes §1.2).

Convolutions are "same"-padded, so a stride of 2 maps n pixels to ceil(n / 2): 100 -> 50 -> 25
and 25 -> 13 -> 7 -> 4 as in the paper's maps.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

Stage = tuple[int, int, int, int, int]   # kernel, out channels, repeats, stride, expansion


class ConvBNAct(nn.Sequential):
    """Conv (same padding, no bias) -> BatchNorm -> SiLU (or no activation)."""

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
