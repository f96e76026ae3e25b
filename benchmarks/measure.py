"""What every throughput benchmark measures the same way: a device sync, the machine's matmul
peak (to report a training step as a share of it) and the FLOPs of one forward pass.

The benchmarks run as scripts (``python benchmarks/NAME.py``), so this folder is on the path and
they import it as ``measure``.
"""
from __future__ import annotations

import time

import torch


def sync(device) -> None:
    """Wait for queued GPU work, so a timer measures it; a no-op on the CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


PEAK_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def matmul_peak(device, size: int | None = None, repeats: int = 5,
                precision: str = "fp32") -> float:
    """FLOP/s of a square matmul in ``precision`` (fp32 with TF32 off), the best of ``repeats``:
    the peak a training step in that precision is measured against."""
    device = torch.device(device)
    size = size or (4096 if device.type == "cuda" else 2048)
    if device.type == "cuda" and precision != "fp32":
        size = max(size, 8192)        # half-precision tensor cores need more work to saturate
    dtype = PEAK_DTYPES[precision] if device.type == "cuda" else torch.float32
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    best = float("inf")
    for _ in range(repeats + 1):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best


def forward_flops(model, *inputs) -> float:
    """FLOPs of ``model(*inputs)`` counted by ``FlopCounterMode`` (a training step is ~3x this;
    the counter's backward formula for grouped convolutions ignores ``groups``)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(*inputs)
    return float(counter.get_total_flops())


def open_device(name: str = "auto", *, precision: str = "fp32", threads: int | None = None,
                compiled: bool = False) -> tuple[torch.device, float, str]:
    """The benchmarks' common start: threads, the device, TF32 off for fp32 matmuls, the matmul
    peak in ``precision`` measured now, and a header line describing all of it."""
    from cellnb.runtime import resolve_device

    if threads:
        torch.set_num_threads(threads)
    device = torch.device(resolve_device(name))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
    peak = matmul_peak(device, precision=precision)
    where = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    header = (f"device {device} ({where}), {torch.get_num_threads()} threads, {precision}"
              f"{', compiled' if compiled else ''}; matmul peak {peak / 1e9:.0f} GFLOP/s")
    return device, peak, header
