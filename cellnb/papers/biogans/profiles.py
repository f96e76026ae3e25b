"""The BioGANs chapter's knobs per run profile: what ``smoke``, ``cpu`` and ``gpu`` mean.

Each profile names the toy cells (``classes``: SynthPombe protein classes; ``cells_per_class``;
``test_fraction`` held out by the salted hash of the cell index), the model preset (``model``: a
key of ``model.PRESETS``, which fixes the image size and the widths), the WGAN-GP training
(``batch_size`` per class for the star model, ``n_critic``, ``lr``, ``iterations`` generator
iterations per model, ``iterations_per_epoch``) and ``snapshots``: the generator iterations
whose weights are kept for the two-sample test along training (Fig. 3). The GAN baseline trains
as many iterations with DCGAN's optimiser and one discriminator step (``model.GAN_TRAINING``).

The paper (Sections 3.3, 4, 5; the authors' scripts): 48x80 cells of 6 proteins, nz 100, widths
64, batch 64, n_critic 5, Adam 1e-4 (0.0, 0.9), 50k iterations for the class-conditional models
and checkpoints scored at 1k, 5k and 50k (Fig. 3). The ``gpu`` profile keeps all of it on about
as many toy cells as the paper's 26,909. The CPU profiles shrink scale, not wiring: 24x40 cells
(the same 3x5 first map, one doubling fewer), nz 32, widths 16, 3 proteins, Adam at 2e-4.

MEASURED_SECONDS_PER_ITERATION (below) holds the cpu profile's cost on the 2-core machine this
was written on, with 2 torch threads, while the machine was otherwise idle.
"""
from __future__ import annotations

from dataclasses import replace

from ...profiles import Settings, select
from .model import GAN_TRAINING, BioGanConfig, preset
from .train import GanTrainSettings

CPU_CLASSES = ("TipDots", "ActinLike", "RingOnly")
ALL_CLASSES = ("TipDots", "ActinLike", "RingOnly", "Diffuse", "ActinLike2", "TipDots2")

CHAPTER = {
    # Seconds, for the tests: 2 proteins, 48 cells each, the smoke model, 20 iterations.
    "smoke": dict(classes=CPU_CLASSES[:2], cells_per_class=48, test_fraction=0.2,
                  model="smoke", batch_size=4, n_critic=5, lr=2e-4, iterations=20,
                  iterations_per_epoch=10, snapshots=(0, 10, 20)),
    # Minutes on 2 cores: see MEASURED_SECONDS_PER_ITERATION.
    "cpu": dict(classes=CPU_CLASSES, cells_per_class=500, test_fraction=0.2, model="cpu",
                batch_size=32, n_critic=5, lr=2e-4, iterations=800, iterations_per_epoch=100,
                snapshots=(0, 100, 200, 400, 800)),
    # The paper's sizes and training (see the module docstring).
    "gpu": dict(classes=ALL_CLASSES, cells_per_class=4500, test_fraction=0.2, model="paper",
                batch_size=64, n_critic=5, lr=1e-4, iterations=50_000,
                iterations_per_epoch=1000, snapshots=(0, 1000, 5000, 10_000, 50_000)),
}

# Seconds per generator iteration of the cpu profile (WGAN-GP, n_critic 5, batch 32 per class).
MEASURED_SECONDS_PER_ITERATION = {"separable, one class": None, "star, 3 classes": None}


def chapter_settings(profile: str, **overrides) -> Settings:
    """The chapter's settings for ``profile``; None overrides keep the profile's value."""
    return select(CHAPTER, profile, **overrides)


def pombe_config(settings: Settings, *, seed: int = 0):
    """The SynthPombe config of the profile: its classes, ``cells_per_class`` of each, at the
    model preset's image size."""
    from ...sim.pombe import PombeConfig

    return PombeConfig(seed=seed, n_cells=settings.cells_per_class * len(settings.classes),
                       size=tuple(preset(settings.model).image_size),
                       classes=tuple(settings.classes))


def model_config(settings: Settings, generator_kind: str = "separable", *,
                 algorithm: str = "wgan_gp", n_classes: int | None = None,
                 **overrides) -> BioGanConfig:
    """The config of one of the chapter's models: the profile's preset, classes, batch and
    training, for ``generator_kind`` and ``algorithm`` (``"wgan_gp"`` or ``"gan"``, whose
    optimiser and single discriminator step are ``GAN_TRAINING``'s). ``n_classes``: the star
    model's towers (default: the profile's classes). ``overrides`` replace any field last."""
    if algorithm not in ("wgan_gp", "gan"):
        raise ValueError(f"algorithm is 'wgan_gp' or 'gan', got {algorithm!r}")
    config = preset(settings.model, generator_kind=generator_kind,
                    n_classes=n_classes or len(settings.classes),
                    batch_size=settings.batch_size, n_critic=settings.n_critic, lr=settings.lr,
                    iterations=settings.iterations)
    if algorithm == "gan":
        config = replace(config, **GAN_TRAINING)
    return replace(config, **overrides)


def train_settings(settings: Settings, **overrides) -> GanTrainSettings:
    """How the chapter runs its training: the profile's epochs and snapshots."""
    return replace(GanTrainSettings(iterations_per_epoch=settings.iterations_per_epoch,
                                    snapshots=tuple(settings.snapshots)), **overrides)
