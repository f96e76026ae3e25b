"""Training throughput of cellnb's Integrated Cell: s/iteration per stage, GFLOP/s, share of peak.

    python benchmarks/integrated_cell_throughput.py [--presets cpu paper]
        [--stages reference conditional] [--steps N] [--batch 32]
        [--threads N] [--device auto] [--precision fp32|bf16|fp16] [--compile]

Method (as benchmarks/paired_inpainting_throughput.py): one iteration is the training step itself,
``reference_step`` (Algorithm 1) or ``conditional_step`` (Algorithm 2) of
``cellnb.papers.integrated_cell.train``, with its arguments built as ``train_reference`` /
``train_conditional`` build them (the four networks, one Adam each from ``make_optimizers``, the
loss scaler, the prior's generator) on random inputs of the preset's shape: images uniform in
[0, 1], random class labels and random frozen z^r for the conditional stage. Median of
``--steps`` timed iterations (default 10; 3 for ``paper``) after two warm-up iterations.

FLOPs (an approximation): the first warm-up iteration records every forward call of the four
networks (in 2D: Enc once, Dec twice, EncD three times, DecD four times); each call's forward
FLOPs are counted per image with ``torch.utils.flop_counter.FlopCounterMode`` (eval mode) and
scaled by the batch, and an iteration is taken as 3x the sum. Errors go both ways: the
discriminators' updates need no gradient for their (detached) inputs and the autoencoder's update
none for the discriminators' weights (fewer), but the routed backward runs the decoder's backward
twice (more); FlopCounterMode over one whole iteration found 2% more than this estimate (paper,
conditional) and 12% more (cpu, reference). The peak is a 2048^2 (4096^2 on GPU) fp32 matmul
measured in the same run (on a GPU in bf16/fp16 runs: an 8192^2 matmul in that precision), so the
share is against what this machine does now, not a datasheet.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from measure import forward_flops, open_device, sync
from torch import nn

from cellnb.papers.integrated_cell.model import (
    ConditionalModel,
    ReferenceModel,
    make_optimizers,
    networks,
    parameter_counts,
    preset,
)
from cellnb.papers.integrated_cell.train import (
    _compiled,
    _Updates,
    conditional_step,
    reference_step,
)
from cellnb.train import grad_scaler

WARMUP = 2
STAGES = ("reference", "conditional")


class _Recorded(nn.Module):
    """A network that records the inputs of its calls (for the FLOP count); same parameters and
    attributes (``n_out``), so the step's losses and routed backward treat it as the network."""

    def __init__(self, net: nn.Module, calls: list):
        super().__init__()
        self.net, self.calls = net, calls

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("net"), name)

    def forward(self, x):
        self.calls.append(x.detach()[:1])
        return self.net(x)


def _iteration_flops(model, calls: dict, batch: int) -> float:
    """3x the forward FLOPs of every recorded call, counted on one image and scaled by batch."""
    model.eval()
    try:
        forward = sum(forward_flops(networks(model)[name], x) for name, xs in calls.items()
                      for x in xs)
    finally:
        model.train()
    return 3 * forward * batch


def measure(name: str, stage: str, device, *, batch: int, steps: int, precision: str,
            compile_model: bool = False) -> dict:
    """Median time of one training iteration of ``stage`` for preset ``name`` at ``batch``."""
    config = preset(name)
    torch.manual_seed(0)
    model = (ReferenceModel if stage == "reference" else ConditionalModel)(config).to(device)
    nets = _compiled(model, compile_model)
    updates = _Updates(make_optimizers(model), grad_scaler(device, precision))
    noise = torch.Generator(device=device).manual_seed(1)
    x = torch.rand(batch, model.in_channels, *config.image_shape, device=device)
    if stage == "reference":
        def step(nets):
            return reference_step(model, nets, updates, x, noise, device=device,
                                  precision=precision)
    else:
        labels = torch.randint(0, config.n_classes, (batch,), device=device)
        zr = torch.randn(batch, config.latent_reference, device=device)

        def step(nets):
            return conditional_step(model, nets, updates, x, labels, zr, noise, device=device,
                                    precision=precision)
    calls = {net: [] for net in nets}
    recorded = {net: _Recorded(module, calls[net]) for net, module in nets.items()}
    times = []
    for i in range(steps + WARMUP):
        sync(device)
        start = time.perf_counter()
        step(recorded if i == 0 else nets)
        sync(device)
        if i >= WARMUP:
            times.append(time.perf_counter() - start)
    flops = _iteration_flops(model, calls, batch)
    seconds = statistics.median(times)
    return dict(preset=name, stage=stage, shape=config.image_shape, batch=batch, step_s=seconds,
                images_per_s=batch / seconds, gflop_per_iteration=flops / 1e9,
                achieved_gflops=flops / seconds / 1e9,
                calls={net: len(xs) for net, xs in calls.items()},
                parameters=parameter_counts(model)["total"])


def _rate(row: dict, peak: float) -> str:
    return (f"{row['step_s']:7.3f} s/iteration, {row['images_per_s']:7.1f} images/s, "
            f"{row['gflop_per_iteration']:.1f} GFLOP/iteration (3x forward), "
            f"{row['achieved_gflops']:.1f} GFLOP/s = {row['achieved_gflops'] * 1e9 / peak:.0%} of peak")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["cpu", "paper"])
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--steps", type=int, default=None, help="default: 10 (cpu), 3 (paper)")
    parser.add_argument("--batch", type=int, default=32, help="the paper's 32 (Section 3.3)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--compile", action="store_true", help="torch.compile the four networks")
    args = parser.parse_args(argv)
    device, peak, header = open_device(args.device, precision=args.precision,
                                       threads=args.threads, compiled=args.compile)
    print(header + f"; median after {WARMUP} warm-up iterations")
    for name in args.presets:
        steps = args.steps or (3 if name.startswith("paper") else 10)
        for stage in args.stages:
            row = measure(name, stage, device, batch=args.batch, steps=steps,
                          precision=args.precision, compile_model=args.compile)
            shape = "x".join(map(str, row["shape"]))
            calls = ", ".join(f"{net} {n}" for net, n in row["calls"].items())
            print(f"{name:6s} {stage:11s} {shape} batch {args.batch}, {row['parameters']:,} "
                  f"parameters, {steps} steps: {_rate(row, peak)} [forward calls: {calls}]")


if __name__ == "__main__":
    main()
