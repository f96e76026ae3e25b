"""The Integrated Cell chapter's knobs per run profile: what ``smoke``, ``cpu`` and ``gpu`` mean.

Each profile names the toy cells (``cells``, ``size``: :class:`cellnb.sim.IntegratedCellConfig`),
the model preset (``model``: a key of ``model.PRESETS``; its image shape and class count follow
the data), the training of each stage (``reference_epochs``, ``conditional_epochs``,
``batch_size``, ``precision``) and the adversarial weights ``gamma_enc`` / ``gamma_dec`` (both
papers' 1e-4 / 1e-5, Section 3.3). The test split is the 2D paper's 5 % (``hold_out``).

Deviations from the 2D paper (256x256 cells, six levels of 64..1024 channels, 150 + 220 epochs
of about 180 iterations) are in the CPU profiles only: 32- or 64-px toy cells and the ``smoke`` /
``cpu`` model presets. Measured on a busy 2-core CPU with one torch thread (history's epoch
seconds / iterations): ``smoke`` (32 px, batch 24) about 0.05 s per reference iteration and
0.08 s per conditional one, both stages in about 4 s; ``cpu`` (64 px, batch 32) about 0.35 s and
0.37 s, so about 95 s per stage of ~260 iterations (the 2D paper's 150 + 220 epochs would take
hours here).
"""
from __future__ import annotations

from ...profiles import Settings, select
from .model import GAMMA_DEC, GAMMA_ENC

CHAPTER = {
    # Seconds, for the tests: 96 cells of 32 px, 3 iterations per epoch, 4 epochs per stage.
    "smoke": dict(cells=96, size=32, model="smoke", hold_out=0.05, reference_epochs=4,
                  conditional_epochs=4, batch_size=24, precision="fp32",
                  gamma_enc=GAMMA_ENC, gamma_dec=GAMMA_DEC),
    # A few minutes on 2 cores: 1,500 cells of 64 px (about 44 iterations per epoch), 6 epochs
    # per stage, about 260 iterations each.
    "cpu": dict(cells=1500, size=64, model="cpu", hold_out=0.05, reference_epochs=6,
                conditional_epochs=6, batch_size=32, precision="fp32",
                gamma_enc=GAMMA_ENC, gamma_dec=GAMMA_DEC),
    # The paper's architecture, batch and epochs (Section 3.3) on 6,000 toy cells of 256 px.
    "gpu": dict(cells=6000, size=256, model="paper", hold_out=0.05, reference_epochs=150,
                conditional_epochs=220, batch_size=32, precision="bf16",
                gamma_enc=GAMMA_ENC, gamma_dec=GAMMA_DEC),
}


def chapter_settings(profile: str, **overrides) -> Settings:
    """The chapter's settings for ``profile``; None overrides keep the profile's value."""
    return select(CHAPTER, profile, **overrides)
