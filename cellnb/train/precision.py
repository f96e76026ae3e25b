"""Mixed precision and ``torch.compile``, as helpers the user's step calls.

On a GPU, bf16 or fp16 autocast roughly doubles throughput and halves activation memory;
``torch.compile`` fuses kernels. On a CPU neither pays off for the book's small models (and
compiling costs minutes), so the same notebook code becomes a no-op there, except bf16 autocast,
which CPUs support and a reader may ask for explicitly::

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


def precision_context(device, precision: str = "fp32"):
    """The autocast context for ``precision`` on ``device``: bf16 anywhere, fp16 on CUDA only.

    fp16 elsewhere runs in fp32 (a no-op context), so a notebook written for a GPU still runs
    on a CPU runtime; fp32 is always a no-op.
    """
    _check(precision)
    device_type = torch.device(device).type
    if precision == "bf16":
        return torch.autocast(device_type, dtype=torch.bfloat16)
    if precision == "fp16" and device_type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def grad_scaler(device, precision: str = "fp32") -> torch.amp.GradScaler:
    """A GradScaler that is active only for fp16 on CUDA and passes everything through otherwise.

    bf16 has fp32's exponent range, so its gradients need no scaling.
    """
    _check(precision)
    device_type = torch.device(device).type
    return torch.amp.GradScaler(device_type, enabled=precision == "fp16" and device_type == "cuda")


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
