"""Training throughput of cellnb's paired cell inpainting: images/s, GFLOP/image, share of peak.

    python benchmarks/paired_inpainting_throughput.py [--presets cpu paper] [--steps 10]
        [--batch N] [--threads N] [--device auto] [--precision fp32|bf16|fp16] [--compile]
        [--no-keras]

Method (as benchmarks/cytoself_throughput.py): random source, target-marker and target-protein
tensors, forward + MSE + backward + Adam step (``make_optimizer``: lr 1e-4, betas (0.5, 0.999)),
median of ``--steps`` timed steps after two warm-up steps. One "image" is one (source, target)
pair. FLOPs are counted on the forward pass with ``torch.utils.flop_counter.FlopCounterMode`` and
a training step is taken as 3x forward. The peak is a 2048^2 (4096^2 on GPU) fp32 matmul measured
in the same run (on a GPU in bf16/fp16 runs: an 8192^2 matmul in that precision), so the share is
against what this machine does now, not a datasheet.

Where TensorFlow is importable, the same layer stack is also built in Keras at the paper's
configuration (Lu et al. 2019, Fig 1C; the authors trained in Keras) and timed with the same loop
(``train_on_batch``), so both frameworks are compared on the same machine in the same run.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from measure import forward_flops, open_device, sync

from cellnb.papers.paired_inpainting.model import (
    PairedInpainting,
    inpainting_loss,
    make_optimizer,
    parameter_counts,
    preset,
)
from cellnb.train.precision import maybe_compile, precision_context

WARMUP = 2


def random_batch(config, batch: int, device):
    """(source, target marker, target protein) of the preset's shapes, uniform in [0, 1]."""
    s = config.crop_size
    return (torch.rand(batch, config.source_channels, s, s, device=device),
            torch.rand(batch, config.target_marker_channels, s, s, device=device),
            torch.rand(batch, config.protein_channels, s, s, device=device))


def measure(name: str, device, *, batch: int, steps: int, precision: str,
            compile_model: bool = False) -> dict:
    """Median training-step time of preset ``name`` at ``batch`` (ours, PyTorch)."""
    config = preset(name)
    torch.manual_seed(0)
    model = PairedInpainting(config).to(device)
    source, target_marker, target_protein = random_batch(config, batch, device)
    flops_per_image = 3 * forward_flops(model.eval(), source[:1], target_marker[:1])
    model.train()
    optimizer = make_optimizer(model)
    network = maybe_compile(model, compile_model)
    times = []
    for step in range(steps + WARMUP):
        sync(device)
        start = time.perf_counter()
        with precision_context(device, precision):
            loss = inpainting_loss(network(source, target_marker), target_protein)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        sync(device)
        if step >= WARMUP:
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return dict(preset=name, crop=config.crop_size, batch=batch, step_s=seconds,
                images_per_s=batch / seconds, gflop_per_image=flops_per_image / 1e9,
                achieved_gflops=flops_per_image * batch / seconds / 1e9,
                parameters=parameter_counts(model)["total"])


def keras_model(config):
    """The same layer stack in Keras (channels-last), following the authors' order: every conv
    carries its ReLU, BN (eps 1e-3, momentum 0.99) after it in the encoders; Keras' defaults
    initialise (glorot-uniform kernels, zero biases)."""
    from tensorflow import keras
    from tensorflow.keras import layers

    def conv(x, filters, batch_norm):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        return layers.BatchNormalization(epsilon=config.bn_eps, momentum=1 - config.bn_momentum)(x) \
            if batch_norm else x

    s = config.crop_size
    source = keras.Input((s, s, config.source_channels))
    target_marker = keras.Input((s, s, config.target_marker_channels))
    x = source
    for i, width in enumerate(config.source_channels_per_layer):
        x = conv(x, width, True)
        if i < 2:
            x = layers.MaxPooling2D(2)(x)
    y = target_marker
    for i, width in enumerate(config.target_widths):
        y = conv(y, width, True)
        if i < 2:
            y = layers.MaxPooling2D(2)(y)
    z = layers.Concatenate()([x, y])
    c6, c7, c8, c9, c10 = config.decoder_channels_per_layer
    for width in (c6, c7, c8):
        z = conv(z, width, False)
    z = conv(layers.UpSampling2D(2)(z), c9, False)
    z = conv(layers.UpSampling2D(2)(z), c10, False)
    output = layers.Conv2D(config.protein_channels, 1)(z)
    model = keras.Model([source, target_marker], output)
    model.compile(optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5), loss="mse")
    return model


def measure_keras(name: str, *, batch: int, steps: int) -> dict:
    import numpy as np

    config = preset(name)
    model = keras_model(config)
    s = config.crop_size
    rng = np.random.default_rng(0)
    source = rng.random((batch, s, s, config.source_channels), dtype=np.float32)
    target_marker = rng.random((batch, s, s, config.target_marker_channels), dtype=np.float32)
    target_protein = rng.random((batch, s, s, config.protein_channels), dtype=np.float32)
    times = []
    for step in range(steps + WARMUP):
        start = time.perf_counter()
        model.train_on_batch([source, target_marker], target_protein)
        if step >= WARMUP:
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return dict(images_per_s=batch / seconds, step_s=seconds, parameters=model.count_params())


def _rate(row: dict, peak: float) -> str:
    return (f"{row['images_per_s']:8.1f} images/s ({row['step_s'] * 1e3:.0f} ms/step), "
            f"{row['gflop_per_image']:.3f} GFLOP/image (3x forward), "
            f"{row['achieved_gflops']:.1f} GFLOP/s = {row['achieved_gflops'] * 1e9 / peak:.0%} of peak")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["cpu", "paper"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=None, help="default: 64 (cpu/smoke), 32 (paper)")
    parser.add_argument("--threads", type=int, default=None, help="torch (and TF) CPU threads")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--no-keras", action="store_true", help="skip the Keras comparison")
    args = parser.parse_args(argv)
    device, peak, header = open_device(args.device, precision=args.precision,
                                       threads=args.threads, compiled=args.compile)
    print(header + f"; median of {args.steps} steps after {WARMUP} warm-up")
    tensorflow = None
    if not args.no_keras:
        try:
            import tensorflow
            if args.threads:
                tensorflow.config.threading.set_intra_op_parallelism_threads(args.threads)
                tensorflow.config.threading.set_inter_op_parallelism_threads(1)
        except ImportError:
            print("Keras comparison skipped: TensorFlow is not importable here")
    for name in args.presets:
        batch = args.batch or (32 if name.startswith("paper") else 64)
        row = measure(name, device, batch=batch, steps=args.steps, precision=args.precision,
                      compile_model=args.compile)
        print(f"{name:6s} {row['crop']}x{row['crop']} batch {batch}, {row['parameters']:,} "
              f"parameters: {_rate(row, peak)}")
        if tensorflow is not None and name.startswith("paper"):
            keras = measure_keras(name, batch=batch, steps=args.steps)
            print(f"       Keras {tensorflow.__version__}, same stack ({keras['parameters']:,} "
                  f"parameters, fp32, its own device placement): {keras['images_per_s']:8.1f} "
                  f"images/s; ours/Keras = {row['images_per_s'] / keras['images_per_s']:.2f}x")


if __name__ == "__main__":
    main()
