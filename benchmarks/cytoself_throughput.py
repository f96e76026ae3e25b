"""Training throughput of cellnb's cytoself: images/s, achieved FLOP/s and the share of peak.

    python benchmarks/cytoself_throughput.py [--presets smoke cpu paper] [--steps 10]
        [--device auto] [--precision fp32|bf16|fp16] [--compile] [--channels-last]
        [--official DIR]

Method: random inputs, forward + backward + Adam step,
median of ``--steps`` timed steps after two warm-up steps. FLOPs are counted on the forward pass
with ``torch.utils.flop_counter.FlopCounterMode`` and a training step is taken as 3x forward
(the counter's backward formula for grouped convolutions ignores ``groups`` and would overcount
the depthwise MBConv layers). The peak is a 2048^2 (4096^2 on GPU) matmul measured in the same
run, so the ratio is against what this machine does now, not a datasheet.

``--official DIR`` also times the official PyTorch port (royerlab/cytoself ``main``) in the same
run, because our target is a ratio to it on the same machine (">= 2x its images/s"), and numbers
from another run or machine do not compare. DIR must make the port's ``cytoself`` package (and
the torchvision it needs) importable; the port is third-party code and is never part of this
repository. Its ``CytoselfFull`` is built at the configuration matching the preset ("paper",
"small"; other presets have no counterpart), timed with the same loop, and its loss is the one its
``CytoselfFullTrainer`` composes: both reconstruction MSEs + both VQ losses + the fc
cross-entropies, all with weight 1.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from measure import forward_flops, open_device, sync

from cellnb.papers.cytoself.model import Cytoself, cytoself_loss, preset
from cellnb.train.precision import maybe_compile, precision_context

# The official PyTorch port on a 2-core CI-like machine (performance_targets.md), images/s.
OFFICIAL_CPU_REFERENCE = {"paper": (100, 32, 4.5), "small (128x16 codes, 64x64 input)": (64, 64, 40.0)}

# Presets with a counterpart in the official port, and its decoders' widths there: the paper config
# uses the TF decoders' widths (64 halving to 32, as ours); the small config keeps the port's
# default (as wide as the decoder's input, halving at every stage).
OFFICIAL_DECODER_ARGS = {"paper": {"num_hiddens": 64, "min_hiddens": 32}, "small": {}}


def ours_step_factory(name: str):
    """Our model for preset ``name`` and its training loss ``loss_fn(output, images, labels)``."""
    model = Cytoself(preset(name))
    return model, lambda out, x, labels: cytoself_loss(out, x, labels, image_variance=1.0)[0]


def official_step_factory(directory: str, name: str):
    """The official port's ``CytoselfFull`` at the configuration matching preset ``name`` and its
    training loss ``loss_fn(output, images, labels)``, or ``None`` where the port has no
    counterpart. Shapes, codebooks, split and classes are read from our preset, so both models
    solve the same problem."""
    if name not in OFFICIAL_DECODER_ARGS:
        return None
    if directory not in sys.path:
        sys.path.insert(0, directory)
    from cytoself.trainer.autoencoder.cytoselffull import CytoselfFull

    c = preset(name)
    model = CytoselfFull(
        input_shape=(c.in_channels, c.input_size, c.input_size),
        emb_shapes=((c.local_size, c.local_size), (c.global_size, c.global_size)),
        vq_args=[dict(num_embeddings=c.local_codes, embedding_dim=c.local_dim, commitment_cost=c.commitment),
                 dict(num_embeddings=c.global_codes, embedding_dim=c.global_dim,
                      channel_split=c.global_splits, commitment_cost=c.commitment)],
        num_class=c.n_classes, fc_output_idx=[int(head[-1]) for head in c.heads],
        fc_args=dict(num_layers=2, num_features=c.head_hidden),
        decoder_args=[dict(OFFICIAL_DECODER_ARGS[name]) for _ in range(2)])

    def loss_fn(out, x, labels):
        # decoder1's MSE (data variance 1) + decoder2's, which the model stores in ``mse_loss``.
        reconstruction = F.mse_loss(out[0], x) + sum(model.mse_loss.values())
        vq = sum(terms["loss"] for terms in model.vq_loss.values())
        return reconstruction + vq + sum(F.cross_entropy(logits, labels) for logits in out[1:])

    return model, loss_fn


def measure(name: str, device, *, batch: int, steps: int, precision: str, compile_model: bool,
            channels_last: bool, official: str | None = None) -> dict | None:
    """Time preset ``name``: ours, or with ``official`` (a DIR) the official port's counterpart."""
    config = preset(name)
    built = official_step_factory(official, name) if official else ours_step_factory(name)
    if built is None:
        return None
    model, loss_fn = built
    model = model.to(device)
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
        sync(device)
        start = time.perf_counter()
        with precision_context(device, precision):
            loss = loss_fn(network(x), x, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        sync(device)
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


def _rate(row: dict, peak: float) -> str:
    return (f"{row['images_per_s']:8.1f} images/s, {row['gflop_per_image']:.3f} GFLOP/image (3x forward), "
            f"{row['achieved_gflops']:.0f} GFLOP/s = {row['achieved_gflops'] * 1e9 / peak:.0%} of peak")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["cpu", "paper"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--channels-last", action="store_true",
                        help="channels-last model and input for the official port too (ours always is)")
    parser.add_argument("--batch", type=int, default=None, help="default: 64 (cpu/smoke), 32 (paper)")
    parser.add_argument("--official", metavar="DIR", default=None,
                        help="also time the official port, importing its cytoself package from DIR")
    args = parser.parse_args(argv)
    device, peak, header = open_device(args.device, precision=args.precision,
                                       compiled=args.compile)
    print(header)
    for name in args.presets:
        batch = args.batch or (32 if name == "paper" else 64)
        timing = dict(batch=batch, steps=args.steps, precision=args.precision,
                      compile_model=args.compile, channels_last=args.channels_last)
        row = measure(name, device, **timing)
        print(f"{name:6s} {row['input']}x{row['input']} batch {batch}: {_rate(row, peak)}; "
              f"input pipeline {data_rate(preset(name), batch):.0f} images/s")
        if args.official:
            official = measure(name, device, official=args.official, **timing)
            if official is None:
                print(f"       official port: no counterpart for preset {name!r}")
            else:
                print(f"       official port, same config: {_rate(official, peak)}; "
                      f"ours/official = {row['images_per_s'] / official['images_per_s']:.2f}x")
    print("official PyTorch port on a 2-core CPU (performance_targets.md): "
          + "; ".join(f"{k}: {v[2]} images/s" for k, v in OFFICIAL_CPU_REFERENCE.items()))


if __name__ == "__main__":
    main()
