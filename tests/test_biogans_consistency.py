"""The ground-truth consistency report of generated cells, on SynthPombe cells whose truth is
known: real cells against themselves agree exactly; shortened cells, a dropped stage and greens
swapped between classes are each caught by the check made for them."""
import numpy as np
import pytest
import torch
from scipy import ndimage

from cellnb.papers import biogans as bg
from cellnb.sim.pombe import CPU_SIZE, PombeConfig, generate_pombe_cells, render_all_greens

CLASSES = ("TipDots", "ActinLike", "RingOnly")


@pytest.fixture(scope="module")
def cells():
    config = PombeConfig(seed=3, n_cells=240, size=CPU_SIZE, classes=CLASSES)
    return config, generate_pombe_cells(config, progress=False)


@pytest.fixture(scope="module")
def real_by_class(cells):
    _, data = cells
    return {name: data.images[(data.metadata.class_name == name).to_numpy()]
            for name in CLASSES}


@pytest.fixture(scope="module")
def multi_green(cells):
    """Ground-truth star-like outputs (B, K + 1, H, W): every class's green in the same cell."""
    config, _ = cells
    pairs = np.stack([render_all_greens(config, i, with_red=True) for i in range(90)])
    return np.concatenate([pairs[:, 0, :1], pairs[:, :, 1]], axis=1)


def shortened(images, factor=0.7):
    """Cells squeezed along their long axis (the width), padded back with background."""
    squeezed = ndimage.zoom(images, (1, 1, 1, factor), order=1)
    missing = images.shape[-1] - squeezed.shape[-1]
    padding = ((0, 0), (0, 0), (0, 0), (missing // 2, missing - missing // 2))
    return np.pad(squeezed, padding, constant_values=-1.0)


def test_real_cells_against_themselves_agree_exactly(real_by_class):
    report = bg.consistency_report(real_by_class, real_by_class)
    summary = report["summary"]
    assert list(summary.index) == [*CLASSES, "all"]
    assert np.allclose(summary.length_w1_um, 0) and np.allclose(summary.length_ks, 0)
    assert np.allclose(summary.dividing_generated, summary.dividing_real)
    assert np.allclose(summary.stage_total_variation, 0)
    assert np.allclose(report["rules"].generated, report["rules"].real)
    # The real data follow their rules (the readings are good, not perfect) and divide ~20 %.
    assert (report["rules"].real > 0.9).all()
    assert 0.1 < summary.dividing_real["all"] < 0.3


def test_tensors_and_readings_are_accepted(real_by_class):
    images = real_by_class["TipDots"]
    readings = bg.consistency.readings_of(images)
    assert bg.length_comparison(torch.from_numpy(images), readings)["w1_um"] == 0
    assert bg.rule_rate(readings, "TipDots") == bg.rule_rate(images, "TipDots")


def test_shortened_cells_move_the_length_distribution_down(real_by_class):
    real = np.concatenate(list(real_by_class.values()))
    result = bg.length_comparison(shortened(real), real)
    # Lengths of 7-14 um shrink by 30 %: about 3 um on average.
    assert result["w1_um"] > 2.0
    assert result["mean_shift_um"] < -2.0
    assert result["ks"] > 0.5 and result["ks_pvalue"] < 1e-6
    assert result["unmeasured_generated"] == 0


def test_a_dropped_stage_is_reported_as_under_covered(cells):
    _, data = cells
    growing = data.images[(data.metadata.stage != "dividing").to_numpy()]
    coverage = bg.stage_coverage(growing, data.images)
    assert coverage["dividing_real"] > 0.1
    assert coverage["dividing_generated"] < 0.02 and coverage["dividing_coverage"] < 0.1
    assert coverage["under_covered"] == ["dividing"]
    table = bg.stage_comparison(growing, data.images)
    assert np.isclose(table.generated.sum(), 1) and table.loc["dividing", "difference"] < -0.1


def test_greens_that_fit_the_shared_red_pass_and_swapped_ones_fail(multi_green):
    true_rates = bg.cross_class_rates(multi_green, CLASSES)
    # Swap the greens between classes: TipDots's channel shows ActinLike's green, and so on.
    swapped = multi_green[:, [0, 2, 3, 1]]
    swapped_rates = bg.cross_class_rates(swapped, CLASSES)
    assert (true_rates[list(CLASSES)] > 0.7).all()
    assert swapped_rates["all"] < true_rates["all"] - 0.4
    assert swapped_rates[list(CLASSES)].mean() < true_rates[list(CLASSES)].mean() - 0.3


def test_composite_greens_from_other_cells_fit_the_red_less_often(multi_green):
    """Like the multi-channel model's nearest-neighbour composites (Section 4.2), whose greens
    come from other cells: here, another cell's greens under each red."""
    composite = np.concatenate([multi_green[:, :1], np.roll(multi_green[:, 1:], 1, axis=0)],
                               axis=1)
    true_rates = bg.cross_class_rates(multi_green, CLASSES)
    composite_rates = bg.cross_class_rates(composite, CLASSES)
    assert composite_rates["all"] < true_rates["all"] - 0.2


def test_report_with_multi_green_output_has_the_cross_class_table(real_by_class, multi_green):
    generated = {name: bg.class_pairs(torch.from_numpy(multi_green))[k].numpy()
                 for k, name in enumerate(CLASSES)}
    report = bg.consistency_report(generated, real_by_class, CLASSES, multi_green=multi_green,
                                   real_multi_green=multi_green)
    cross = report["cross_class"]
    assert list(cross.index) == [*CLASSES, "all"]
    assert np.allclose(cross.generated, cross.real)
    assert np.allclose(report["summary"].loc[list(CLASSES), "cross_class_generated"],
                       report["rules"].generated[list(CLASSES)])
    assert report["stages"].loc[("TipDots", "dividing"), "real"] > 0


def test_wrong_shapes_and_names_are_explained():
    with pytest.raises(ValueError, match="one name per green"):
        bg.cross_class_rates(np.zeros((2, 4, 24, 40), np.float32), ["TipDots"])
    with pytest.raises(ValueError, match="multi-green images"):
        bg.cross_class_rates(np.zeros((2, 24, 40), np.float32), CLASSES)
