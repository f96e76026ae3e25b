"""Convolutional building blocks shared by the book's models.

* :class:`DepthwiseConv2d` - a depthwise ``nn.Conv2d`` whose weight gradient on small maps is
  computed in a way the CPU does 3-10x faster than PyTorch's kernel (same parameters, same result).
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


# Output maps up to this many pixels take the small-map weight gradient (measured on 2 cores:
# 5x5 kernels on 2x2 and 4x4 maps 3-10x faster; at 8x8 PyTorch's kernel is faster again).
SMALL_MAP_PIXELS = 16


class _SmallMapDepthwiseConv(torch.autograd.Function):
    """Depthwise convolution whose weight gradient is a sum of k*k shifted products.

    On a CPU, PyTorch's depthwise weight gradient takes 30-60 ms per call on the 2x2 and 4x4 maps
    at the end of an EfficientNet encoder, about ten times the forward pass. For each kernel
    offset the gradient is the sum over batch and pixels of the output gradient times the
    shifted input; on channels-last views that sum runs with channels innermost, which is fast
    when maps are small. The input gradient and the forward pass stay PyTorch's.
    """

    @staticmethod
    def forward(ctx, x, weight, stride: int, padding: int):
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding = stride, padding
        return F.conv2d(x, weight, None, stride, padding, 1, weight.shape[0])

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        stride, padding, kernel = ctx.stride, ctx.padding, weight.shape[-1]
        grad_x = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad, x, weight, None, [stride] * 2, [padding] * 2, [1, 1], False, [0, 0],
                weight.shape[0], [True, False, False])[0]
        if ctx.needs_input_grad[1]:
            padded = F.pad(x, (padding,) * 4).permute(0, 2, 3, 1)       # (B, H, W, C) views
            g = grad.permute(0, 2, 3, 1)
            span_h, span_w = stride * (g.shape[1] - 1) + 1, stride * (g.shape[2] - 1) + 1
            grad_weight = torch.stack(
                [(padded[:, u:u + span_h:stride, v:v + span_w:stride] * g).sum((0, 1, 2))
                 for u in range(kernel) for v in range(kernel)], 1).view_as(weight)
        return grad_x, grad_weight, None, None


class DepthwiseConv2d(nn.Conv2d):
    """A depthwise, bias-free, "same"-padded ``nn.Conv2d`` (state dict unchanged) that trains
    faster on a CPU: small output maps take :class:`_SmallMapDepthwiseConv`'s weight gradient.
    It needs channels-last input (in the default layout the shifted sums are slower than PyTorch's
    kernel); GPUs, autocast and ``torch.compile`` use PyTorch's convolution as is."""

    def __init__(self, channels: int, kernel: int, stride: int = 1):
        super().__init__(channels, channels, kernel, stride, kernel // 2, groups=channels, bias=False)

    def forward(self, x):
        out_pixels = math.ceil(x.shape[-2] / self.stride[0]) * math.ceil(x.shape[-1] / self.stride[0])
        if (x.device.type == "cpu" and out_pixels <= SMALL_MAP_PIXELS and torch.is_grad_enabled()
                and x.is_contiguous(memory_format=torch.channels_last)
                and not torch.is_autocast_enabled("cpu") and not torch.compiler.is_compiling()):
            return _SmallMapDepthwiseConv.apply(x, self.weight, self.stride[0], self.padding[0])
        return super().forward(x)


class ConvBNAct(nn.Sequential):
    """Conv (same padding, no bias) -> BatchNorm -> SiLU (or no activation); depthwise when
    ``groups`` equals the channel count."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, *, groups: int = 1,
                 activation: bool = True):
        conv = (DepthwiseConv2d(cin, kernel, stride) if groups == cin == cout and groups > 1 else
                nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False))
        layers = [conv, nn.BatchNorm2d(cout)]
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
