"""Training throughput of cellnb's cytoself: images/s, achieved FLOP/s and the share of peak.

    python benchmarks/cytoself_throughput.py [--presets smoke cpu paper] [--steps 10]
        [--device auto] [--precision fp32|bf16|fp16] [--compile] [--channels-last]

Method (``shared/notes/performance_targets.md``): random inputs, forward + backward + Adam step,
median of ``--steps`` timed steps after two warm-up steps. FLOPs are counted on the forward pass
with ``torch.utils.flop_counter.FlopCounterMode`` and a training step is taken as 3x forward
(the counter's backward formula for grouped convolutions ignores ``groups`` and would overcount
the depthwise MBConv layers). The peak is a 2048^2 (4096^2 on GPU) matmul measured in the same
run, so the ratio is against what this machine does now, not a datasheet.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from cellnb.models import Cytoself, cytoself_loss, preset
from cellnb.runtime import resolve_device
from cellnb.train.precision import maybe_compile, precision_context

# The official PyTorch port on a 2-core CI-like machine (performance_targets.md), images/s.
OFFICIAL_CPU_REFERENCE = {"paper": (100, 32, 4.5), "small (128x16 codes, 64x64 input)": (64, 64, 40.0)}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device, size: int | None = None, repeats: int = 5) -> float:
    """FLOP/s of a square fp32 matmul (TF32 off), the best of ``repeats``."""
    size = size or (4096 if device.type == "cuda" else 2048)
    a, b = (torch.randn(size, size, device=device) for _ in range(2))
    best = float("inf")
    for _ in range(repeats + 1):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best


def forward_flops(model, x) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return float(counter.get_total_flops())


def measure(name: str, device, *, batch: int, steps: int, precision: str, compile_model: bool,
            channels_last: bool) -> dict:
    config = preset(name)
    model = Cytoself(config).to(device)
    x = torch.rand(batch, config.in_channels, config.input_size, config.input_size, device=device)
    labels = torch.randint(0, config.n_classes, (batch,), device=device)
    flops_per_image = 3 * forward_flops(model.eval(), x[:1])
    model.train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    network = maybe_compile(model, compile_model)
    optimizer = torch.optim.Adam(model.parameters(), 4e-4)
    times = []
    for step in range(steps + 2):
        _sync(device)
        start = time.perf_counter()
        with precision_context(device, precision):
            out = network(x)
            loss, _ = cytoself_loss(out, x, labels, image_variance=1.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        _sync(device)
        if step >= 2:
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return dict(preset=name, input=config.input_size, batch=batch, images_per_s=batch / seconds,
                gflop_per_image=flops_per_image / 1e9,
                achieved_gflops=flops_per_image * batch / seconds / 1e9)


def data_rate(config, batch: int, n_images: int = 8192) -> float:
    """Images/s of the chapter's input pipeline: shuffled in-memory loader + dihedral augmentation."""
    from torch.utils.data import DataLoader, TensorDataset

    from cellnb.data.transforms import random_dihedral_batch

    images = torch.rand(n_images, config.in_channels, config.input_size, config.input_size)
    loader = DataLoader(TensorDataset(images, torch.zeros(n_images, dtype=torch.long)),
                        batch_size=batch, shuffle=True)
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for x, _ in loader:
        random_dihedral_batch(x, generator)
    return n_images / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["cpu", "paper"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--batch", type=int, default=None, help="default: 64 (cpu/smoke), 32 (paper)")
    args = parser.parse_args(argv)
    device = torch.device(resolve_device(args.device))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
    peak = matmul_peak(device)
    print(f"device {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'}), "
          f"{torch.get_num_threads()} threads; fp32 matmul peak {peak / 1e9:.0f} GFLOP/s")
    for name in args.presets:
        batch = args.batch or (32 if name == "paper" else 64)
        row = measure(name, device, batch=batch, steps=args.steps, precision=args.precision,
                      compile_model=args.compile, channels_last=args.channels_last)
        print(f"{name:6s} {row['input']}x{row['input']} batch {batch}: {row['images_per_s']:8.1f} images/s, "
              f"{row['gflop_per_image']:.3f} GFLOP/image (3x forward), "
              f"{row['achieved_gflops']:.0f} GFLOP/s = {row['achieved_gflops'] * 1e9 / peak:.0%} of peak; "
              f"input pipeline {data_rate(preset(name), batch):.0f} images/s")
    print("official PyTorch port on a 2-core CPU (performance_targets.md): "
          + "; ".join(f"{k}: {v[2]} images/s" for k, v in OFFICIAL_CPU_REFERENCE.items()))


if __name__ == "__main__":
    main()
