"""Building blocks: the depthwise convolution's fast CPU gradient is PyTorch's gradient."""
import pytest
import torch
import torch.nn.functional as F

from cellnb.nn.fast_cpu import DepthwiseConv2d, _SmallMapDepthwiseConv


@pytest.mark.parametrize("size, kernel, stride", [(2, 5, 1), (4, 5, 1), (4, 5, 2), (3, 3, 1), (7, 3, 2)])
def test_small_map_depthwise_gradients_equal_pytorchs(size, kernel, stride):
    torch.manual_seed(0)
    conv = DepthwiseConv2d(6, kernel, stride).to(memory_format=torch.channels_last)
    x = torch.randn(5, 6, size, size).contiguous(memory_format=torch.channels_last).requires_grad_()
    out = conv(x)
    assert type(out.grad_fn).__name__ == "_SmallMapDepthwiseConvBackward"   # the fast path ran
    reference_x = x.detach().clone().requires_grad_()
    reference_w = conv.weight.detach().clone().requires_grad_()
    reference = F.conv2d(reference_x, reference_w, None, stride, kernel // 2, 1, 6)
    torch.testing.assert_close(out, reference)
    grad = torch.randn_like(out)
    out.backward(grad)
    expected_x, expected_w = torch.autograd.grad(reference, [reference_x, reference_w], grad)
    torch.testing.assert_close(x.grad, expected_x)
    torch.testing.assert_close(conv.weight.grad, expected_w)


def test_small_map_depthwise_passes_gradcheck_in_double_precision():
    x = torch.randn(2, 3, 4, 4, dtype=torch.double).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(3, 1, 5, 5, dtype=torch.double)
    assert torch.autograd.gradcheck(lambda a, w: _SmallMapDepthwiseConv.apply(a, w, 2, 2),
                                    (x.requires_grad_(), weight.requires_grad_()))


def test_large_maps_the_default_layout_and_inference_use_pytorchs_convolution():
    conv = DepthwiseConv2d(4, 3)
    assert conv.state_dict().keys() == {"weight"}
    large = torch.randn(2, 4, 8, 8).contiguous(memory_format=torch.channels_last)
    nchw_small = torch.randn(2, 4, 4, 4)
    for x in (large, nchw_small):
        assert type(conv(x).grad_fn).__name__ == "ConvolutionBackward0"
    with torch.no_grad():
        assert conv(large[..., :4, :4].contiguous(memory_format=torch.channels_last)).grad_fn is None


def test_fast_on_cpu_changes_layout_and_kernels_but_not_parameters_or_randomness():
    """The model file switches the speed-ups on in one line; with or without that line the model
    has the same parameters, and the random state after building it is the same."""
    from torch import nn

    from cellnb.nn import fast_on_cpu

    def build():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(3, 8, 1), nn.Conv2d(8, 8, 3, 2, 1, groups=8, bias=False),
                             nn.Conv2d(8, 8, 3, 1, 1), nn.Flatten())

    plain = build()
    after_plain = torch.rand(1)
    fast = fast_on_cpu(build())
    after_fast = torch.rand(1)
    assert torch.equal(after_plain, after_fast)
    assert plain.state_dict().keys() == fast.state_dict().keys()
    for a, b in zip(plain.state_dict().values(), fast.state_dict().values()):
        assert torch.equal(a, b)
    assert type(fast[1]) is DepthwiseConv2d and type(fast[2]) is nn.Conv2d   # only depthwise
    assert fast[2].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(fast(x), plain(x))
