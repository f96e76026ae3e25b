"""CPU speed-ups that leave a model's architecture, parameters and results unchanged.

A model file reads as its paper's architecture and calls :func:`fast_on_cpu` once at the end of
its constructor. That call

* stores weights and activations channels-last (oneDNN's and cuDNN's faster layout; on 2 CPU
  cores cytoself's paper preset trains 1.3x faster) and converts the input of each of the
  model's top-level parts to it, and
* swaps every depthwise ``nn.Conv2d`` for :class:`DepthwiseConv2d`, whose weight gradient on
  small maps is computed 3-10x faster on a CPU than by PyTorch's kernel.

The state dict is unchanged (same parameter names and values) and no random number is drawn, so a
model builds with the same weights with or without it.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

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

    def __init__(self, channels: int, kernel: int, stride: int = 1, device=None):
        super().__init__(channels, channels, kernel, stride, kernel // 2, groups=channels, bias=False,
                         device=device)

    def forward(self, x):
        out_pixels = math.ceil(x.shape[-2] / self.stride[0]) * math.ceil(x.shape[-1] / self.stride[0])
        if (x.device.type == "cpu" and out_pixels <= SMALL_MAP_PIXELS and torch.is_grad_enabled()
                and x.is_contiguous(memory_format=torch.channels_last)
                and not torch.is_autocast_enabled("cpu") and not torch.compiler.is_compiling()):
            return _SmallMapDepthwiseConv.apply(x, self.weight, self.stride[0], self.padding[0])
        return super().forward(x)


def _is_depthwise(conv: nn.Module) -> bool:
    return (type(conv) is nn.Conv2d and conv.groups > 1 and conv.groups == conv.in_channels
            == conv.out_channels and conv.bias is None and conv.dilation == (1, 1)
            and conv.stride[0] == conv.stride[1] and conv.kernel_size[0] == conv.kernel_size[1]
            and conv.padding == (conv.kernel_size[0] // 2,) * 2 and conv.padding_mode == "zeros")


def _channels_last_input(module, args):
    x, *rest = args
    if not (isinstance(x, torch.Tensor) and x.ndim == 4):
        return None    # the model's own shape check reports the bad input
    return (x.contiguous(memory_format=torch.channels_last), *rest)


def fast_on_cpu(model: nn.Module) -> nn.Module:
    """Channels-last layout and the fast depthwise gradient for ``model`` (in place; returned)."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if _is_depthwise(child):
                # skip_init builds the module without drawing initial weights, so the global
                # random state (dropout, later models) is the same as without this call.
                fast = nn.utils.skip_init(DepthwiseConv2d, child.in_channels, child.kernel_size[0],
                                          child.stride[0], device=child.weight.device)
                fast.weight = child.weight
                setattr(parent, name, fast)
    model.to(memory_format=torch.channels_last)
    # On the top-level children rather than the model itself: torch.compile inlines a submodule's
    # hooks into the model's graph, but runs the top-level module's hooks outside it.
    for child in model.children():
        child.register_forward_pre_hook(_channels_last_input)
    return model
