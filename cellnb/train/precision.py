"""Mixed precision and ``torch.compile``, as helpers the user's step calls.

On a GPU, bf16 or fp16 autocast roughly doubles throughput and halves activation memory;
``torch.compile`` fuses kernels. On a CPU neither pays off for the book's small models (and
compiling costs minutes), so ``maybe_compile`` is a no-op there. Autocast works on both (a CPU
runs bf16 and fp16 through oneDNN, slower than fp32 on most CPUs but numerically the same
recipe), which lets the tests exercise the GPU recipe, fp16 loss scaling included, on a CPU::

    scaler = grad_scaler(device, precision)
    def step(batch):
        with precision_context(device, precision):
            loss = model(batch.to(device)).mean()
        optimizer.zero_grad()
        scaler.scale(loss).backward()   # fp16 gradients underflow without the scaling
        scaler.step(optimizer)
        scaler.update()
        return {"loss": loss.item()}

Register the scaler with the Trainer (``schedulers={"scaler": scaler}``): its scale is state that
an exact resume needs.
"""
from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("fp32", "bf16", "fp16")


def _check(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def precision_context(device, precision: str = "fp32"):
    """The autocast context for ``precision`` on ``device`` (fp32: a no-op context)."""
    _check(precision)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=_AUTOCAST_DTYPES[precision])


def grad_scaler(device, precision: str = "fp32") -> torch.amp.GradScaler:
    """A GradScaler that is active for fp16 and passes everything through otherwise.

    fp16 gradients underflow below 6e-8; the scaler multiplies the loss so they do not, and skips
    the steps whose gradients overflowed. bf16 has fp32's exponent range and needs no scaling.
    """
    _check(precision)
    return torch.amp.GradScaler(torch.device(device).type, enabled=precision == "fp16")


def maybe_compile(model: torch.nn.Module, enabled: bool = True) -> torch.nn.Module:
    """``torch.compile(model)`` if ``enabled`` and the model lives on a CUDA GPU, else ``model``.

    The compiled module shares its parameters with ``model``; checkpoints store the original's
    weights (see :func:`uncompiled`), so they load with or without compilation.
    """
    parameter = next(model.parameters(), None)
    if enabled and parameter is not None and parameter.is_cuda:
        return torch.compile(model)
    return model


def uncompiled(model: torch.nn.Module) -> torch.nn.Module:
    """The module ``torch.compile`` wrapped (whose state-dict keys lack the ``_orig_mod.`` prefix)."""
    return getattr(model, "_orig_mod", model)
