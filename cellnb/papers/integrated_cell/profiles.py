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
