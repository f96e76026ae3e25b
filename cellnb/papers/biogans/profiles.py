"""The BioGANs chapter's knobs per run profile: what ``smoke``, ``cpu`` and ``gpu`` mean.

Each profile names the toy cells (``classes``: SynthPombe protein classes; ``cells_per_class``;
``test_fraction`` held out by the salted hash of the cell index), the model preset (``model``: a
key of ``model.PRESETS``, which fixes the image size and the widths), the WGAN-GP training
(``batch_size``, per class for the star model; ``n_critic``; ``lr``; ``iterations``: generator
iterations of each WGAN-GP model; ``iterations_per_epoch``), ``gan_iterations`` for the GAN
baseline (DCGAN's optimiser and one discriminator step, ``model.GAN_TRAINING``) and
``snapshots``: the generator iterations whose weights are kept for the two-sample test along
training (Fig. 3), the same for both algorithms (the GAN's last iteration is scored too).
The evaluations: the two-sample test's critic (``c2st_steps`` Adam steps on batches of
``c2st_batch``, ``c2st_splits`` random halvings for Tables 1-2 and ``c2st_curve_splits`` for
each point of Fig. 3, Adam at ``c2st_lr``; the paper's 5000, 64, 10 and 1e-4, Section 5.1:
the cpu profile's 300-step critic at 1e-4 told no class from another, at 4e-4 it ranks them as
the paper's does, twins nearest, measured on TipDots against itself, TipDots2, ActinLike,
ActinLike2 and RingOnly: -0.60, 0.73, 1.79, 2.40, 15.3), the
reconstructions (``recon_cells`` held-out cells, ``recon_restarts`` starts of ``recon_outer``
L-BFGS steps of up to ``recon_inner`` iterations; the paper's every test cell, 5, 50 and 20,
Section 5.2), Table 1's classes (``twin_classes``, scored with ``c2st_table1_splits``
halvings), whether Table 2 also trains the non-separable models (``non_separable``), the
cell-cycle walk (``walk_candidates`` draws, ``walk_steps`` frames per segment; the paper's 64
and 64, Section 5.3) and ``workers``: processes for the simulator, the trainings and the
evaluations (the cpu profile's two: small models gain little from a second thread, much from a
second process; one on a GPU). The numbers do not depend on how the jobs are spread over
processes, only, in the last digits that then grow through training, on the torch threads
each job gets (``workers`` 2 on 2 cores: one each).

The paper (Sections 3.3, 4, 5; the authors' scripts): 48x80 cells of 6 proteins, nz 100, widths
64, batch 64, n_critic 5, Adam 1e-4 (0.0, 0.9), 50k iterations for the class-conditional models
and checkpoints scored at 1k, 5k and 50k (Fig. 3). The ``gpu`` profile keeps all of it on about
as many toy cells as the paper's 26,909 (not run yet: no GPU was lent while this was written).
The CPU profiles shrink scale, not wiring: 24x40 cells (the same 3x5 first map, one doubling
fewer), nz 32, widths 16, 3 proteins, and, on the ``cpu`` profile, **batch 16 per class, Adam
at 4e-4 and 500 iterations** for WGAN-GP, 2,000 for the GAN.

Why those, measured (1,209 training cells, WGAN-GP with n_critic 5, cells read back with
:mod:`cellnb.sim.pombe_measure`; the real training cells: length 10.56 +- 2.09 um, 20.6 %
dividing, class rules kept by 99-100 %):

* the star model (3 classes) at batch 16 and 4e-4 drew cells of the right length by iteration
  450 with seed 0 (10.61 +- 1.38 um; rules kept by 80 / 92 / 88 % for ActinLike / RingOnly /
  TipDots) and by 400 with seed 1 (10.69 +- 1.83 um; 70 / 90 / 86 %, 74 / 91 / 93 % at 500);
  at 2e-4 it needed about 900 (at 600: 14.5 um, rules 40 / 56 / 28 %), the pace of a batch-32
  pilot at 2e-4; at 300 both seeds still drew blobs (14.7-15.5 um);
* the separable model of the 3 pooled classes at batch 16 and 4e-4: 10.84 +- 1.60 um at 400,
  10.65 +- 1.56 at 500;
* the separable GAN at batch 16 still drew full-width blobs at 1,000 iterations (15.8 um) and
  cells from 1,500 on (10.74 +- 1.54 um; 10.81 +- 1.59 at 2,000), hence its 2,000;
* all under-produce dividing cells (7-17 %): the mode dropping the chapter shows.

Cost per generator iteration on the 2-core machine, 2 torch threads (1 thread in brackets; the
machine was shared with other jobs at times, so treat these as +-20 %): star, 3 classes, batch
16: 0.37 s (0.42-0.50 s; batch 32: 0.55 s); separable, batch 16: 0.135 s (0.12-0.16 s; batch
32: 0.21 s); the separable GAN: 0.032 s. So the cpu profile trains its star model in about 3
minutes, a separable WGAN-GP in about 70 s and the GAN in about 65 s, where the batch-32 pilot
at 2e-4 took 7.3 minutes for 1,200 iterations of the star model; simulating the cells takes 3 s.
Two torch threads gain little over one on models this small, so the chapter trains its three
models in two processes of one thread: 3 min 50 s for all three instead of 5 min 50 s in turn
(measured 2026-11-28; the whole chapter: 5 min 50 s with an empty cache).
"""
from __future__ import annotations

from dataclasses import replace

from ...profiles import Settings, select
from .model import GAN_TRAINING, BioGanConfig, preset
from .train import GanTrainSettings

CPU_CLASSES = ("TipDots", "ActinLike", "RingOnly")
ALL_CLASSES = ("TipDots", "ActinLike", "RingOnly", "Diffuse", "ActinLike2", "TipDots2")
# Table 1's toy classes: two proteins and their designed near-twins (cellnb.sim.pombe.POMBE_TWINS)
TWIN_CLASSES = ("TipDots", "TipDots2", "ActinLike", "ActinLike2")

CHAPTER = {
    # Seconds, for the tests: 2 proteins, 48 cells each, the smoke model, 20 iterations.
    "smoke": dict(classes=CPU_CLASSES[:2], cells_per_class=48, test_fraction=0.2,
                  model="smoke", batch_size=4, n_critic=5, lr=2e-4, iterations=20,
                  gan_iterations=20, iterations_per_epoch=10, snapshots=(10, 20),
                  c2st_steps=20, c2st_splits=2, c2st_curve_splits=1, c2st_batch=16,
                  c2st_lr=4e-4,
                  recon_cells=4, recon_restarts=1, recon_outer=3, recon_inner=5,
                  walk_candidates=64, walk_steps=8, twin_classes=("TipDots", "TipDots2"),
                  c2st_table1_splits=1, non_separable=False, workers=1),
    # Minutes on 2 cores (see the module docstring): 1,500 cells of 24x40, batch 16 at 4e-4.
    "cpu": dict(classes=CPU_CLASSES, cells_per_class=500, test_fraction=0.2, model="cpu",
                batch_size=16, n_critic=5, lr=4e-4, iterations=500, gan_iterations=2000,
                iterations_per_epoch=100, snapshots=(100, 500),
                c2st_steps=300, c2st_splits=2, c2st_curve_splits=1, c2st_batch=32,
                c2st_lr=4e-4,
                recon_cells=15, recon_restarts=2, recon_outer=15, recon_inner=10,
                walk_candidates=64, walk_steps=32, twin_classes=TWIN_CLASSES,
                c2st_table1_splits=1, non_separable=False, workers=2),
    # The paper's sizes and training (see the module docstring).
    "gpu": dict(classes=ALL_CLASSES, cells_per_class=4500, test_fraction=0.2, model="paper",
                batch_size=64, n_critic=5, lr=1e-4, iterations=50_000, gan_iterations=50_000,
                iterations_per_epoch=1000, snapshots=(1000, 5000, 50_000),
                c2st_steps=5000, c2st_splits=10, c2st_curve_splits=10, c2st_batch=64,
                c2st_lr=1e-4,
                recon_cells=384, recon_restarts=5, recon_outer=50, recon_inner=20,
                walk_candidates=64, walk_steps=64, twin_classes=TWIN_CLASSES,
                c2st_table1_splits=10, non_separable=True, workers=1),
}


def chapter_settings(profile: str, **overrides) -> Settings:
    """The chapter's settings for ``profile``; None overrides keep the profile's value."""
    return select(CHAPTER, profile, **overrides)


def pombe_config(settings: Settings, *, seed: int = 0, classes=None):
    """The SynthPombe config of the profile: its classes (or ``classes``), ``cells_per_class``
    of each, at the model preset's image size."""
    from ...sim.pombe import PombeConfig

    classes = tuple(classes or settings.classes)
    return PombeConfig(seed=seed, n_cells=settings.cells_per_class * len(classes),
                       size=tuple(preset(settings.model).image_size), classes=classes)


def model_config(settings: Settings, generator_kind: str = "separable", *,
                 algorithm: str = "wgan_gp", n_classes: int | None = None,
                 **overrides) -> BioGanConfig:
    """The config of one of the chapter's models: the profile's preset, classes, batch and
    training, for ``generator_kind`` and ``algorithm``: ``"wgan_gp"``, or ``"gan"`` with
    ``GAN_TRAINING``'s optimiser and single discriminator step for ``gan_iterations``.
    ``n_classes``: the star model's towers (default: the profile's classes). ``overrides``
    replace any field last."""
    if algorithm not in ("wgan_gp", "gan"):
        raise ValueError(f"algorithm is 'wgan_gp' or 'gan', got {algorithm!r}")
    config = preset(settings.model, generator_kind=generator_kind,
                    n_classes=n_classes or len(settings.classes),
                    batch_size=settings.batch_size, n_critic=settings.n_critic, lr=settings.lr,
                    iterations=settings.iterations)
    if algorithm == "gan":
        config = replace(config, iterations=settings.gan_iterations, **GAN_TRAINING)
    return replace(config, **overrides)


def train_settings(settings: Settings, **overrides) -> GanTrainSettings:
    """How the chapter runs its training: the profile's epochs and snapshots."""
    return replace(GanTrainSettings(iterations_per_epoch=settings.iterations_per_epoch,
                                    snapshots=tuple(settings.snapshots)), **overrides)


def multichannel_config(settings: Settings, generator_kind: str = "separable", *,
                        n_classes: int | None = None, **overrides) -> BioGanConfig:
    """Table 2's multi-channel baseline at the profile's scale: red + K greens in one image,
    noise and widths scaled by (K + 1) / 2 so that each output channel has the width a
    two-channel model gives it (the paper's 7-channel model: 350 and 224 for 100 and 64), one
    red output and K greens (``red_fraction`` 1 / (K + 1)) for the separable version."""
    k = n_classes or len(settings.classes)
    base = model_config(settings, generator_kind, n_classes=k)
    scale = (k + 1) / 2
    config = replace(base, image_channels=k + 1, nz=round(base.nz * scale),
                     ngf=round(base.ngf * scale), ndf=round(base.ndf * scale),
                     red_fraction=1 / (k + 1))
    return replace(config, **overrides)
