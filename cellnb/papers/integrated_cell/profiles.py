"""The Integrated Cell chapter's knobs per run profile: what ``smoke``, ``cpu`` and ``gpu`` mean.

Each profile names the toy cells (``cells``, ``size``: :class:`cellnb.sim.IntegratedCellConfig`),
the model preset (``model``: a key of ``model.PRESETS``; its image shape and class count follow
the data), the training of each stage (``reference_epochs``, ``conditional_epochs``,
``batch_size``, ``precision``), the adversarial weights ``gamma_enc`` / ``gamma_dec`` and
``encd_ablation``: whether to train a second reference model without the latent discriminator
(gamma_enc = 0), to see what it does. The test split is the 2D paper's 5 % (``hold_out``).

Deviations from the 2D paper (256x256 cells, six levels of 64..1024 channels, 150 + 220 epochs
of about 180 iterations, Adam at 2e-4, gamma_E = 1e-4 and gamma_D = 1e-5; Section 3.3) are in
the CPU profiles only: 32-px toy cells, the ``smoke`` / ``cpu`` presets (whose output starts at
the data's mean intensity and whose Adam rate is 1e-3), and **gamma_D = 1e-2** (gamma_E keeps
the paper's 1e-4). Measured on the cpu profile's cells (one seed, 20 + 20 epochs): with the
paper's gamma_D the conditional decoder all but ignored its class input (decoded structures
varied less between classes than between cells, 0.015 vs 0.024 mean SD per pixel) because the
class also leaks into z^s (a logistic regression reads it from z^s with 88 % accuracy) and the
K + 1-way DecD, the one term that asks a generated cell to look like its class (eq. 14), weighed
1e-5; with 1e-2 the classes separated (0.055 vs 0.015). Raising gamma_E to 1e-2 as well moved
the codes *away* from the prior (a dimension's mean 0.8; MMD^2 0.043 with EncD, 0.031
without). The ``gpu`` profile keeps the paper's values; the notebook's ``gamma_enc`` /
``gamma_dec`` parameters set any.

Measured on a busy 2-core CPU with one torch thread: ``smoke`` trains both stages in a few
seconds; ``cpu`` (1,500 cells, batch 32, about 45 iterations per epoch) about 0.08 s per
iteration, so about 70 s per stage (the 2D paper's 27k + 40k iterations would take hours here).
"""
from __future__ import annotations

from ...data.ic_readers import HOLD_OUT_3D
from ...profiles import Settings, select
from .model import GAMMA_DEC, GAMMA_ENC

SHORT_RUN_GAMMA_DEC = 1e-2   # gamma_D of the CPU profiles (see the module docstring)

CHAPTER = {
    # Seconds, for the tests: 96 cells of 32 px, 3 iterations per epoch, 4 epochs per stage.
    "smoke": dict(cells=96, size=32, model="smoke", hold_out=0.05, reference_epochs=4,
                  conditional_epochs=4, batch_size=24, precision="fp32",
                  gamma_enc=GAMMA_ENC, gamma_dec=SHORT_RUN_GAMMA_DEC, encd_ablation=True),
    # A few minutes on 2 cores: 1,500 cells of 32 px (about 45 iterations per epoch), 20 epochs
    # per stage, about 900 iterations each.
    "cpu": dict(cells=1500, size=32, model="cpu", hold_out=0.05, reference_epochs=20,
                conditional_epochs=20, batch_size=32, precision="fp32",
                gamma_enc=GAMMA_ENC, gamma_dec=SHORT_RUN_GAMMA_DEC, encd_ablation=True),
    # The paper's architecture, batch, epochs and weights (Section 3.3) on 6,000 toy cells of
    # 256 px.
    "gpu": dict(cells=6000, size=256, model="paper", hold_out=0.05, reference_epochs=150,
                conditional_epochs=220, batch_size=32, precision="bf16",
                gamma_enc=GAMMA_ENC, gamma_dec=GAMMA_DEC, encd_ablation=True),
}


def chapter_settings(profile: str, **overrides) -> Settings:
    """The chapter's settings for ``profile``; None overrides keep the profile's value."""
    return select(CHAPTER, profile, **overrides)


# --- the 3D chapter ------------------------------------------------------------------------------
# Volumes keep the 3D paper's 4:3:2 aspect (128 x 96 x 64 voxels, Sec. 3.1), named by their width:
# ``width`` 32 is (Z, Y, X) = (16, 24, 32). Besides the training knobs above, ``variation_cells``
# held-out cells per state (interphase, mitotic) get Algorithm 4's statistic from
# ``variation_samples`` decoded and as many true structures each (the paper: n = 1000 per cell),
# and the walk between the states' medoids has ``walk_steps`` points per leg. The 3D paper holds
# out 10 % (Table S11: 2,212 of 21,967 cells; its code's split). The leakage notebook trains one
# conditional stage of ``conditional_epochs`` per EncD^s design (findings.LEAKAGE_VARIANTS).
#
# Unlike the 2D chapter's, the cpu profile keeps the paper's gamma_D = 1e-5 (Sec. 3.3).
# Measured on its 1,000 volumes (one seed, batch 16, 8 + 10 epochs), the conditional model's
# held-out MSE against the mean volume's was 0.55x with gamma_D = 1e-5, 0.62x with 1e-4 and 1.12x
# with 1e-2, and the Spearman correlation of its per-class variation with the truth's (criterion
# V1) 0.86, 0.68 and 0.25: here the strong image discriminator costs more than it gives. Batch 16
# (the 2D chapter: 32) gives twice the updates for about the same time; at batch 32 and
# gamma_D = 1e-2 the decoded volumes were worse than the mean volume (1.76x).
#
# Measured on 2 cores (cpu_3d at 16 x 24 x 32, batch 16: about 0.2 s per reference and 0.3 s per
# conditional iteration), the cpu profile's 8 + 10 epochs of 56 iterations train in about 4
# minutes. The gpu profile is the paper's network (about 254 M parameters per stage, Tables
# S1-S8) at the paper's shape, batch 30 and 150 + 150 epochs (Sec. 3.3) on 2,000 toy volumes of
# 64 x 96 x 128, which take about 19 GB as float32 (the paper's 21,967 cells would not fit in
# memory this way); it has not been run (no GPU was lent while this was written). Its Algorithm 4
# stays small (12 cells per state, n = 100): the simulator draws each true structure on the CPU
# (about 0.08 s at that size), 16,800 of them: about 20 minutes.
CHAPTER_3D = {
    "smoke": dict(cells=96, width=32, model="smoke_3d", hold_out=HOLD_OUT_3D,
                  reference_epochs=2, conditional_epochs=2, batch_size=16, precision="fp32",
                  gamma_enc=GAMMA_ENC, gamma_dec=GAMMA_DEC, variation_cells=3,
                  variation_samples=12, walk_steps=3),
    "cpu": dict(cells=1000, width=32, model="cpu_3d", hold_out=HOLD_OUT_3D,
                reference_epochs=8, conditional_epochs=10, batch_size=16, precision="fp32",
                gamma_enc=GAMMA_ENC, gamma_dec=GAMMA_DEC, variation_cells=12,
                variation_samples=48, walk_steps=5),
    "gpu": dict(cells=2000, width=128, model="paper_3d", hold_out=HOLD_OUT_3D,
                reference_epochs=150, conditional_epochs=150, batch_size=30, precision="bf16",
                gamma_enc=GAMMA_ENC, gamma_dec=GAMMA_DEC, variation_cells=12,
                variation_samples=100, walk_steps=8),
}


def volume_shape(width: int) -> tuple[int, int, int]:
    """(Z, Y, X) of a volume ``width`` voxels long at the 3D paper's 4:3:2 aspect."""
    if width < 8 or width % 4:
        raise ValueError(f"a volume's width must be a multiple of 4 (for the 4:3:2 aspect), at "
                         f"least 8; got {width}")
    return width // 2, 3 * width // 4, width


def chapter_3d_settings(profile: str, **overrides) -> Settings:
    """The 3D chapter's settings for ``profile``; None overrides keep the profile's value."""
    return select(CHAPTER_3D, profile, **overrides)
