"""Training throughput of cellnb's BioGANs: generator iterations/s, GFLOP/s, share of peak.

    python benchmarks/biogans_throughput.py [--presets cpu paper] [--kinds separable star gan]
        [--batch N] [--iterations N] [--warmup 2] [--threads N] [--device auto]
        [--precision fp32|bf16] [--compile] [--json OUT] [--official DIR]

Why: the chapter on Osokin et al., "GANs for Biological Image Synthesis" (ICCV 2017) trains
every model for minutes on a CPU and for hours at the paper's size, and the targets in
``shared/notes/performance_targets.md`` ask a training step for >= 30 % of the machine's matmul
peak where the architecture allows. This reports how far each model is from that, measured the
way the other benchmarks here measure (``benchmarks/measure.py``).

One iteration is exactly one generator iteration of the chapter's training:
``cellnb.papers.biogans.train.AdversarialIteration``, i.e. ``n_critic`` critic steps (WGAN-GP:
eq. 4's critic loss with the gradient penalty, its double backward included), then one generator
step, each with its Adam. The configs are the chapter's (``profiles.model_config``):

* presets: ``cpu`` is the chapter's cpu profile (24x40, nz 32, widths 16, 3 proteins, batch 16,
  per class for the star model); ``paper`` its gpu profile, the paper's sizes (48x80, nz 100,
  widths 64, 6 proteins, batch 64). ``--batch`` replaces the batch.
* kinds: ``separable`` (Section 4.2, one critic, WGAN-GP, n_critic 5), ``star`` (one red tower,
  K green towers, K critics each judging its class's (red, green_k) pairs) and ``gan``: the
  separable generator trained as the GAN baseline (BatchNorm discriminator, n_critic 1,
  DCGAN's Adam; ``model.GAN_TRAINING``).

Method: the real batches are random, uniform in [-1, 1] (the generators' tanh range), in the
iteration's layout: (n_critic, B, 2, H, W), or (n_critic, K, B, 2, H, W) for the star model. No
simulator and no loader, so the networks alone are measured. Median of ``--iterations`` timed
iterations (default 10; 3 for ``paper``) after ``--warmup`` (default 2).

FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` over the whole first warm-up iteration, not
3x a forward pass as the other benchmarks estimate, because the gradient penalty differentiates
the critic twice and 3x forward would miss that. These networks have no grouped convolutions, so
the counter's backward formula (which ignores ``groups``) is exact here. The peak is a 2048^2
(4096^2 on GPU) matmul measured in the same run (in bf16 runs on a GPU: an 8192^2 bf16 matmul).

Switches: ``--precision bf16`` runs the iteration under autocast (the penalty itself stays in
float32, as ``losses.gradient_penalty`` does); fp16 is not offered because the iteration has no
loss scaler. ``--compile`` compiles the generator on a GPU, and the critic too for the GAN: the
WGAN-GP critic stays eager, because the penalty's double backward is not supported by
torch.compile. On a CPU it is a no-op (``cellnb.train.precision.maybe_compile``).

``--official DIR`` also times the authors' networks (github.com/aosokin/biogans, a checkout the
user supplies; third-party code, never part of this repository) in the same run and with the
same iteration, loss and optimisers, because a ratio is only meaningful on one machine in one
run. DIR, DIR/code and DIR/code/models are put on ``sys.path``; ``dcgan`` provides
``DCGAN_G(isize, nz, nc, ngf, red_portion=...)`` (separable with a red portion) and
``DCGAN_D(isize, nz, nc, ndf, use_batch_norm=...)``; ``dcgan_starshaped`` provides
``DCGAN_G_starShaped`` and ``DCGAN_D_starShaped`` (it also imports torchvision). Parameter counts
are printed for both, so a mismatched configuration shows. If the import or the construction
fails, the benchmark says what was missing and exits with status 2 before timing anything.

``--json OUT`` writes the header numbers and one record per measured model.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from importlib import import_module
from pathlib import Path

import torch
from measure import open_device, sync
from torch.utils.flop_counter import FlopCounterMode

from cellnb.papers.biogans.model import (
    build_critic,
    build_generator,
    count_parameters,
    make_optimizers,
    sample_latent,
)
from cellnb.papers.biogans.profiles import chapter_settings, model_config
from cellnb.papers.biogans.train import AdversarialIteration
from cellnb.train.precision import maybe_compile, precision_context

PRESETS = {"cpu": "cpu", "paper": "gpu"}      # benchmark preset -> the chapter's run profile
KINDS = {"separable": ("separable", "wgan_gp"),   # kind -> (generator_kind, algorithm)
         "star": ("star", "wgan_gp"),
         "gan": ("separable", "gan")}
OFFICIAL_REPOSITORY = "github.com/aosokin/biogans"


def benchmark_config(preset: str, kind: str, batch: int | None = None):
    """The chapter's config of ``kind`` at ``preset``'s profile; ``batch`` (per class for the
    star model) replaces the profile's."""
    generator_kind, algorithm = KINDS[kind]
    overrides = {} if batch is None else {"batch_size": batch}
    return model_config(chapter_settings(PRESETS[preset]), generator_kind, algorithm=algorithm,
                        **overrides)


def real_batches(config, device) -> torch.Tensor:
    """One iteration's real cells, uniform in [-1, 1]: (n_critic, [K,] B, C, H, W)."""
    classes = (config.n_classes,) if config.generator_kind == "star" else ()
    shape = (config.n_critic, *classes, config.batch_size, config.image_channels,
             *config.image_size)
    return torch.rand(shape, device=device) * 2 - 1


# ------------------------------------------------------------------ the authors' networks

class OfficialUnavailable(RuntimeError):
    """The authors' networks could not be imported or built from the --official directory."""


class OfficialIteration(AdversarialIteration):
    """The same iteration on the authors' networks. Their generators take z as one
    (B, nz, 1, 1) map whose first ``nz * red_portion`` entries are z_red (our split), and their
    star-shaped generator returns the (K, B, 2, H, W) pairs its critics take."""

    def generated(self, n: int, *, keep_graph: bool) -> torch.Tensor:
        device = next(self.generator.parameters()).device
        latent = sample_latent(self.config, n, self.noise, device=device)
        z = torch.cat(list(latent.values()), 1)[:, :, None, None]     # (B, nz, 1, 1)
        with torch.set_grad_enabled(keep_graph):
            return self.generator(z)


def _official_hint(directory) -> str:
    return (f"point --official at a checkout of {OFFICIAL_REPOSITORY} (the folder holding "
            f"code/dcgan.py and code/dcgan_starshaped.py), in an environment with its "
            f"dependencies (torchvision for the star-shaped model); --official was {directory}")


def official_networks(directory, config) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The authors' generator and critic(s) at ``config``'s sizes, or OfficialUnavailable."""
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise OfficialUnavailable(f"{root} is not a directory; {_official_hint(directory)}")
    for folder in (root, root / "code", root / "code" / "models"):   # the last is searched first
        if folder.is_dir() and str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    star = config.generator_kind == "star"
    name = "dcgan_starshaped" if star else "dcgan"
    try:
        module = import_module(name)
    except Exception as error:     # any failure to import it (a missing dependency too)
        raise OfficialUnavailable(f"importing the authors' module {name!r} failed: {error!r}; "
                                  f"{_official_hint(directory)}") from error
    size, batch_norm = tuple(config.image_size), config.critic_kind == "gan"
    try:
        if star:
            generator = module.DCGAN_G_starShaped(size, config.nz, 2, config.ngf,
                                                  config.n_classes, red_portion=config.red_fraction)
            critic = module.DCGAN_D_starShaped(size, config.nz, 2, config.ndf, config.n_classes,
                                               use_batch_norm=batch_norm)
        else:
            generator = module.DCGAN_G(size, config.nz, config.image_channels, config.ngf,
                                       red_portion=config.red_fraction)
            critic = module.DCGAN_D(size, config.nz, config.image_channels, config.ndf,
                                    use_batch_norm=batch_norm)
    except Exception as error:     # a class missing or a signature that differs
        raise OfficialUnavailable(f"building the authors' networks from {module.__file__} "
                                  f"failed: {error!r}; {_official_hint(directory)}") from error
    return generator, critic


# ------------------------------------------------------------------------------ measuring

class _GlobalOnly(contextlib.nullcontext):
    """Stands in for FlopCounterMode's per-module tracker, whose hooks make torch.autograd.grad
    fail on a leaf input such as the penalty's interpolated images (pytorch/pytorch#131753):
    every FLOP is counted under "Global" only, which is all this report reads."""

    parents = {"Global"}


def iteration_flop_counter() -> FlopCounterMode:
    """A FlopCounterMode that can count a WGAN-GP iteration, double backward included."""
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _GlobalOnly()
    return counter


def measure(config, device, *, iterations: int, warmup: int, precision: str = "fp32",
            compile_model: bool = False, official: str | None = None) -> dict:
    """Median seconds of one generator iteration of ``config`` (ours, or with ``official`` a
    DIR the authors' networks), and the FLOPs counted over the first of ``warmup`` (>= 1)
    untimed iterations."""
    torch.manual_seed(0)
    if official:
        generator, critic = official_networks(official, config)
        iteration_class = OfficialIteration
    else:
        generator, critic = build_generator(config), build_critic(config)
        iteration_class = AdversarialIteration
    generator, critic = generator.to(device).train(), critic.to(device).train()
    optimizers = make_optimizers(generator, critic, config)
    noise = torch.Generator(device=device).manual_seed(1)
    real = real_batches(config, device)
    # FlopCounterMode counts the plain networks; the timed iterations run the compiled ones,
    # which share their parameters and optimisers.
    counted = iteration_class(config, generator, critic, optimizers, noise)
    compile_critic = compile_model and config.critic_kind == "gan"    # no double backward
    timed = iteration_class(config, maybe_compile(generator, compile_model),
                            maybe_compile(critic, compile_critic), optimizers, noise)
    counter = iteration_flop_counter()
    times = []
    for i in range(warmup + iterations):
        sync(device)
        start = time.perf_counter()
        with counter if i == 0 else contextlib.nullcontext(), \
                precision_context(device, precision):
            (counted if i == 0 else timed)(real)
        sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    flops = float(counter.get_total_flops())
    return dict(iteration_s=seconds, iterations_per_s=1 / seconds,
                gflop_per_iteration=flops / 1e9, achieved_gflops=flops / seconds / 1e9,
                generator_parameters=count_parameters(generator),
                critic_parameters=count_parameters(critic))


def _rate(row: dict) -> str:
    return (f"{row['iterations_per_s']:7.2f} it/s ({row['iteration_s']:.3f} s/iteration), "
            f"{row['gflop_per_iteration']:.2f} GFLOP/iteration, {row['achieved_gflops']:.1f} "
            f"GFLOP/s = {row['share_of_peak']:.1%} of peak")


def _parameters(row: dict) -> str:
    return f"{row['generator_parameters']:,} + {row['critic_parameters']:,} parameters"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS),
                        help="gan: the separable generator trained as the GAN baseline")
    parser.add_argument("--batch", type=int, default=None,
                        help="per class for star; default the profile's: 16 (cpu), 64 (paper)")
    parser.add_argument("--iterations", type=int, default=None,
                        help="timed generator iterations; default 10 (cpu), 3 (paper)")
    parser.add_argument("--warmup", type=int, default=2, help="at least 1: the first counts FLOPs")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                        help="bf16: the iteration under autocast")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the generator (and the GAN's discriminator) on a GPU")
    parser.add_argument("--json", metavar="OUT", default=None, help="also write the report here")
    parser.add_argument("--official", metavar="DIR", default=None,
                        help=f"also time the authors' networks from a checkout of "
                             f"{OFFICIAL_REPOSITORY} at DIR")
    args = parser.parse_args(argv)
    if args.warmup < 1:
        parser.error(f"--warmup must be at least 1 (the first iteration counts FLOPs), got "
                     f"{args.warmup}")
    configs = [(name, kind, benchmark_config(name, kind, args.batch))
               for name in args.presets for kind in args.kinds]
    if args.official:     # fail before any timing, not after minutes of it
        try:
            for _, _, config in configs:
                official_networks(args.official, config)
        except OfficialUnavailable as error:
            parser.exit(2, f"--official: {error}\n")
    device, peak, header = open_device(args.device, precision=args.precision,
                                       threads=args.threads, compiled=args.compile)
    print(header + f"; median after {args.warmup} warm-up iterations")
    rows = []
    for name, kind, config in configs:
        timing = dict(iterations=args.iterations or (3 if name == "paper" else 10),
                      warmup=args.warmup, precision=args.precision, compile_model=args.compile)
        row = measure(config, device, **timing)
        row.update(preset=name, kind=kind, generator_kind=config.generator_kind,
                   critic_kind=config.critic_kind, n_critic=config.n_critic,
                   n_classes=config.n_classes, image_size=list(config.image_size),
                   batch=config.batch_size, timed_iterations=timing["iterations"],
                   share_of_peak=row["achieved_gflops"] * 1e9 / peak)
        per_class = " per class" if config.generator_kind == "star" else ""
        classes = f", K {config.n_classes}" if config.generator_kind == "star" else ""
        print(f"{name:5s} {kind:9s} {config.image_size[0]}x{config.image_size[1]} batch "
              f"{config.batch_size}{per_class}, {config.critic_kind} n_critic {config.n_critic}"
              f"{classes}, {_parameters(row)}: {_rate(row)}")
        if args.official:
            theirs = measure(config, device, official=args.official, **timing)
            theirs["share_of_peak"] = theirs["achieved_gflops"] * 1e9 / peak
            row["official"] = theirs
            row["ours_over_official"] = row["iterations_per_s"] / theirs["iterations_per_s"]
            print(f"      official networks, same iteration, {_parameters(theirs)}: "
                  f"{_rate(theirs)}; ours/official = {row['ours_over_official']:.2f}x")
        rows.append(row)
    if args.json:
        report = dict(header=header, device=str(device), threads=torch.get_num_threads(),
                      precision=args.precision, compiled=args.compile,
                      matmul_peak_gflops=peak / 1e9, warmup=args.warmup, rows=rows)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"report written to {args.json}")


if __name__ == "__main__":
    main()
