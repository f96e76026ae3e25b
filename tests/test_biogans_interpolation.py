"""A cell cycle along a latent walk (Section 5.3, Fig. 7): slerp and its paths; anchors picked by
measuring generated cells; the frames; and the check that turns Fig. 7's visual validation into
numbers, tried on a "walk" whose truth is known: SynthPombe cells sorted by their phase t, each
with every class's green painted in the same cell.
"""
import numpy as np
import pytest
import torch
from torch import nn

from cellnb.papers import biogans as bg
from cellnb.sim.pombe import CPU_SIZE, PombeConfig, pombe_cell, render_all_greens

CLASSES = ("TipDots", "ActinLike", "RingOnly")
POMBE = PombeConfig(size=CPU_SIZE, classes=CLASSES, seed=0)
N_CELLS = 60                 # about 12 of them dividing (t >= 0.8)


@pytest.fixture(scope="module")
def cycle_frames() -> np.ndarray:
    """(S, 1 + K, H, W): the red, then TipDots, ActinLike and RingOnly greens of one cell per
    frame, frames in order of the cells' phase t."""
    order = np.argsort([pombe_cell(POMBE, i).t for i in range(N_CELLS)])
    frames = []
    for i in order:
        pairs = render_all_greens(POMBE, int(i), with_red=True)       # (K, 2, H, W)
        frames.append(np.concatenate([pairs[0, :1], pairs[:, 1]]))
    return np.stack(frames)


# ---------------------------------------------------------------------------- slerp and paths

def test_slerp_starts_and_ends_at_its_endpoints():
    a, b = torch.randn(2, 10, generator=torch.Generator().manual_seed(0))
    path = bg.slerp(a, b, 7)
    assert path.shape == (7, 10)
    torch.testing.assert_close(path[0], a, rtol=0, atol=1e-6)
    torch.testing.assert_close(path[-1], b, rtol=0, atol=1e-6)


def test_slerp_keeps_the_norm_between_endpoints_of_equal_norm():
    a, b = torch.randn(2, 100, generator=torch.Generator().manual_seed(1))
    a, b = 10 * a / a.norm(), 10 * b / b.norm()
    norms = bg.slerp(a, b, 33).norm(dim=1)
    torch.testing.assert_close(norms, torch.full_like(norms, 10.0), rtol=1e-5, atol=0)
    # Orthogonal unit vectors: the midpoint is their normalised sum, not half of it.
    midpoint = bg.slerp(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), 3)[1]
    torch.testing.assert_close(midpoint, torch.tensor([1.0, 1.0]) / 2 ** 0.5)


def test_slerp_of_batches_and_of_parallel_vectors():
    a, b = torch.randn(2, 4, 8, generator=torch.Generator().manual_seed(2))
    assert bg.slerp(a, b, 5).shape == (5, 4, 8)
    line = bg.slerp(a[0], 2 * a[0], 3)            # parallel: the straight line, no NaN
    torch.testing.assert_close(line[1], 1.5 * a[0])


def test_a_path_through_three_anchors_has_fig7_length():
    """64 steps a segment, the middle anchor once: 127 frames through all three anchors."""
    anchors = torch.randn(3, 100, generator=torch.Generator().manual_seed(3))
    path = bg.slerp_path(anchors, 64)
    assert path.shape == (127, 100)
    for frame, anchor in zip((0, 63, 126), anchors):
        torch.testing.assert_close(path[frame], anchor, rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------- the check

def test_check_on_cells_sorted_by_phase(cycle_frames):
    """The known cycle passes: length rises with the step, the septum appears at the first cell
    of phase t >= 0.8, ActinLike leaves the tips for the middle right then, TipDots stays at the
    tips (measured: Spearman 0.99; septum at step 49 of 60; ActinLike central share 0.05 before
    and 0.69 over the dividing frames, lag 0; TipDots at the tips in every frame)."""
    check = bg.interpolation_check(cycle_frames, CLASSES)
    assert check.length_spearman > 0.9
    phases = np.sort([pombe_cell(POMBE, i).t for i in range(N_CELLS)])
    assert check.septum_step == np.argmax(phases >= 0.8)
    assert check.actin_switched and check.tips_stay
    actin = check.actin.set_index("class_name").loc["ActinLike"]
    assert actin.central_before < 0.25 and actin.central_dividing >= 0.4
    assert abs(actin.lag) <= 3
    assert set(check.readings.class_name) == set(CLASSES)
    assert len(check.readings) == len(cycle_frames) * len(CLASSES)


def test_check_on_the_cycle_run_backwards(cycle_frames):
    """Backwards, the length falls and the septum comes first: nothing to switch from."""
    check = bg.interpolation_check(cycle_frames[::-1], CLASSES)
    assert check.length_spearman < -0.9
    assert check.septum_step == 0
    assert not check.actin_switched


def test_check_wants_one_green_per_class_name(cycle_frames):
    with pytest.raises(ValueError, match="one green per class name"):
        bg.interpolation_check(cycle_frames, CLASSES[:2])


# ------------------------------------------------------------------------ anchors and frames

class LookupGenerator(nn.Module):
    """A stand-in for a trained generator: z's first coordinate picks one of a bank of cells
    (through the normal CDF, so every cell is as likely)."""

    def __init__(self, bank: np.ndarray):
        super().__init__()
        self.register_buffer("bank", torch.as_tensor(bank))
        self.unused = nn.Parameter(torch.zeros(1))       # gives the module a device

    def forward(self, z):
        index = (torch.special.ndtr(z[:, 0]) * len(self.bank)).long()
        return self.bank[index.clamp(max=len(self.bank) - 1)]


def test_anchors_are_a_short_cell_a_middle_one_and_a_dividing_one(cycle_frames):
    """From 64 draws (measured: 25 monopolar, 22 bipolar, 17 dividing): a 7.0 um monopolar
    start, a 10.6 um bipolar middle, a 14.0 um dividing end; the path's frames pass through
    them."""
    config = bg.preset("smoke")                            # 24x40, 2 channels, nz 8
    generator = LookupGenerator(cycle_frames[:, [0, 2]])   # (red, ActinLike) cells
    anchors = bg.pick_cell_cycle_anchors(generator, config, n_candidates=64, seed=42)
    chosen = anchors.chosen
    assert list(chosen.stage != "dividing") == [True, True, False]
    assert chosen.length_um.is_monotonic_increasing
    growing = anchors.readings[anchors.readings.stage != "dividing"]
    assert chosen.length_um.loc["start"] == growing.length_um.min()
    assert anchors.latents.shape == (3, 8)

    path = bg.slerp_path(anchors.latents, 9)
    frames = bg.interpolation_frames(generator, config, path)
    assert frames.shape == (17, 2, 24, 40)
    with torch.no_grad():
        torch.testing.assert_close(frames[[0, 8, 16]], generator(anchors.latents))


def test_star_frames_hold_red_and_every_green_in_evaluation_mode():
    config = bg.preset("smoke", generator_kind="star", n_classes=3)
    torch.manual_seed(0)
    generator = bg.build_generator(config).train()
    path = bg.slerp_path(torch.randn(3, bg.latent_size(config)), 4)
    frames = bg.interpolation_frames(generator, config, path)
    assert frames.shape == (7, 4, 24, 40)
    assert generator.training                               # restored after sampling
    generator.eval()
    with torch.no_grad():
        torch.testing.assert_close(frames, generator(**bg.split_latent(config, path)))
