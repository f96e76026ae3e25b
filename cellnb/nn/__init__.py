"""Network helpers every paper's model can use; nothing here knows a paper.

* :mod:`.inference` - ``infer``: one named output of a model over many images, batched.
* :mod:`.fast_cpu` - ``fast_on_cpu``: channels-last layout and a faster depthwise-convolution
  gradient on CPUs, switched on in one line by a model's constructor.
"""
from .fast_cpu import DepthwiseConv2d, fast_on_cpu
from .inference import infer

__all__ = ["DepthwiseConv2d", "fast_on_cpu", "infer"]
