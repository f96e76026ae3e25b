"""SynthPombe, the biogans chapter's toy fission yeast: determinism, the designed stages and
class rules, the star-shaped ground truth, and the measurements that read them back from pixels
(of real, simulated or generated cells alike)."""
import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.distance import cdist

from cellnb.sim import (
    POMBE_CHANNELS,
    POMBE_CLASSES,
    POMBE_TWINS,
    PombeConfig,
    generate_pombe_cells,
    measure_pombe,
    pombe_cell,
    render_all_greens,
    rule_consistency,
    rule_consistency_rates,
)

PAPER = PombeConfig(seed=3, n_cells=240)                    # the paper's 48 x 80
CPU = PombeConfig(seed=4, n_cells=600, size=(24, 40))       # the CPU preset's 24 x 40
TINY = PombeConfig(seed=5, n_cells=12, size=(24, 40))


@pytest.fixture(scope="module")
def paper_cells():
    return generate_pombe_cells(PAPER, progress=False)


@pytest.fixture(scope="module")
def cpu_cells():
    return generate_pombe_cells(CPU, progress=False)


@pytest.fixture(scope="module")
def cpu_readings(cpu_cells):
    return measure_pombe(cpu_cells.images)


def of_class(cells, readings, name):
    rows = (cells.metadata.class_name == name).to_numpy()
    return readings[rows], cells.metadata[rows]


# --- the images -------------------------------------------------------------------------------

def test_images_are_red_green_pairs_in_minus_one_to_one_on_a_minus_one_background(paper_cells):
    assert paper_cells.channels == POMBE_CHANNELS == ("red", "green")
    assert paper_cells.images.shape == (240, 2, 48, 80)
    assert paper_cells.images.dtype == np.float32
    assert paper_cells.images.min() == -1 and paper_cells.images.max() == 1
    # Masked cells: outside the outline every pixel is exactly -1; each channel peaks at 1.
    outside = np.broadcast_to(paper_cells.mask("cell")[:, None] == 0, paper_cells.images.shape)
    assert (paper_cells.images[outside] == -1).all()
    np.testing.assert_allclose(paper_cells.images.max(axis=(2, 3)), 1)


def test_metadata_holds_the_ground_truth_and_tables_the_rules(paper_cells):
    md = paper_cells.metadata
    for column in ("cell", "class_name", "class_id", "t", "stage", "length_um", "width_um",
                   "flip_horizontal", "flip_vertical", "old_end"):
        assert column in md
    # Classes are dealt in turn, so they are balanced to one cell.
    assert md.class_name.tolist() == [PAPER.classes[i % 6] for i in range(240)]
    table = paper_cells.tables["classes"]
    assert table.class_name.tolist() == list(POMBE_CLASSES)
    twins = {name: twin for name, twin in zip(table.class_name, table.twin_of) if twin}
    assert twins == POMBE_TWINS == {"ActinLike2": "ActinLike", "TipDots2": "TipDots"}
    stages = paper_cells.tables["stages"]
    np.testing.assert_allclose(stages.frequency, [0.3, 0.5, 0.2])


def test_the_cpu_size_has_bigger_pixels_not_smaller_cells():
    big = generate_pombe_cells(PombeConfig(seed=1, n_cells=6), progress=False)
    small = generate_pombe_cells(PombeConfig(seed=1, n_cells=6, size=(24, 40)), progress=False)
    assert PombeConfig().pixel_size_um == pytest.approx(0.2)
    assert PombeConfig(size=(24, 40)).pixel_size_um == pytest.approx(0.4)
    # The same cells (phase, length), drawn at half the resolution.
    np.testing.assert_array_equal(big.metadata.t, small.metadata.t)
    np.testing.assert_array_equal(big.metadata.length_um, small.metadata.length_um)
    np.testing.assert_allclose(small.metadata.length_px * 2, big.metadata.length_px)
    assert small.images.shape == (6, 2, 24, 40)


def test_length_grows_from_birth_to_division_with_the_phase(cpu_cells):
    md = cpu_cells.metadata
    assert md.t.min() >= 0 and md.t.max() < 1
    np.testing.assert_allclose(md.length_um, 7 + 7 * md.t, rtol=0.08)
    np.testing.assert_allclose(md.width_um, 4, rtol=0.15)


def test_stage_frequencies_are_the_designed_ones(cpu_cells):
    md = cpu_cells.metadata
    expected = np.select([md.t < 0.3, md.t < 0.8], ["monopolar", "bipolar"], "dividing")
    assert (md.stage == expected).all()
    frequency = md.stage.value_counts(normalize=True)
    assert frequency["monopolar"] == pytest.approx(0.3, abs=0.05)
    assert frequency["bipolar"] == pytest.approx(0.5, abs=0.05)
    assert frequency["dividing"] == pytest.approx(0.2, abs=0.05)


# --- determinism ------------------------------------------------------------------------------

def test_same_seed_gives_the_same_pixels_and_another_seed_does_not():
    a = generate_pombe_cells(TINY, progress=False)
    b = generate_pombe_cells(TINY, progress=False)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.metadata.equals(b.metadata)
    other = generate_pombe_cells(PombeConfig(seed=6, n_cells=12, size=(24, 40)), progress=False)
    assert not np.array_equal(a.images, other.images)


def test_cell_i_does_not_depend_on_how_many_cells_are_made():
    few = generate_pombe_cells(TINY, progress=False)
    more = generate_pombe_cells(PombeConfig(seed=5, n_cells=30, size=(24, 40)), progress=False)
    np.testing.assert_array_equal(few.images, more.images[:12])
    assert few.metadata.equals(more.metadata.iloc[:12])
    assert pombe_cell(TINY, 20).t == more.metadata.t[20]     # beyond n_cells too


def test_worker_processes_do_not_change_a_pixel():
    parallel = generate_pombe_cells(TINY, progress=False, workers=2)
    np.testing.assert_array_equal(generate_pombe_cells(TINY, progress=False).images,
                                  parallel.images)


def test_flips_are_random_and_are_only_flips():
    flipped = generate_pombe_cells(TINY, progress=False)
    upright = generate_pombe_cells(PombeConfig(seed=5, n_cells=12, size=(24, 40), flips=False),
                                   progress=False)
    md = flipped.metadata
    assert 0 < md.flip_horizontal.sum() < 12 and 0 < md.flip_vertical.sum() < 12
    assert not upright.metadata.flip_horizontal.any()
    assert (md.old_end == np.where(md.flip_horizontal, "left", "right")).all()
    for i in range(12):
        image = upright.images[i]
        if md.flip_horizontal[i]:
            image = image[..., ::-1]
        if md.flip_vertical[i]:
            image = image[..., ::-1, :]
        np.testing.assert_array_equal(flipped.images[i], image)


def test_more_variability_means_no_near_duplicates():
    def nearest_neighbour_rmse(variability):
        config = PombeConfig(seed=2, n_cells=150, size=(24, 40), classes=("TipDots",),
                             variability=variability)
        x = generate_pombe_cells(config, progress=False).images.reshape(150, -1)
        distance = cdist(x, x) / np.sqrt(x.shape[1])
        np.fill_diagonal(distance, np.inf)
        return distance.min(axis=1)

    jittered, uniform = nearest_neighbour_rmse(1.0), nearest_neighbour_rmse(0.0)
    assert np.median(jittered) > 1.2 * np.median(uniform)
    assert jittered.min() > 0.03        # no two cells alike, even among 150 of one class


# --- the star-shaped ground truth -------------------------------------------------------------

def test_render_all_greens_paints_every_class_in_the_very_same_cell():
    cells = generate_pombe_cells(TINY, progress=False)
    for i in (0, 7):
        greens = render_all_greens(TINY, i)
        assert greens.shape == (6, 24, 40) and greens.dtype == np.float32
        own = TINY.classes.index(cells.metadata.class_name[i])
        np.testing.assert_array_equal(greens[own], cells.images[i, 1])
        pairs = render_all_greens(TINY, i, with_red=True)
        assert pairs.shape == (6, 2, 24, 40)
        np.testing.assert_array_equal(pairs[:, 0], np.broadcast_to(cells.images[i, 0], (6, 24, 40)))
        # One outline for all: every green is -1 exactly where the cell is not.
        outside = cells.mask("cell")[i] == 0
        assert (greens[:, outside] == -1).all()


def test_designed_twins_are_each_others_nearest_class_but_not_copies(cpu_cells, cpu_readings):
    readings = cpu_readings.assign(class_name=cpu_cells.metadata.class_name,
                                   true_stage=cpu_cells.metadata.stage)
    columns = ["green_central_fraction", "green_tip_fraction", "green_tip_asymmetry"]
    profile = readings.groupby(["class_name", "true_stage"])[columns].mean().unstack()
    distance = cdist(profile.to_numpy(), profile.to_numpy())
    names = profile.index.tolist()
    np.fill_diagonal(distance, np.inf)
    for twin, original in POMBE_TWINS.items():
        row = names.index(twin)
        assert names[int(np.argmin(distance[row]))] == original
        assert distance[row, names.index(original)] > 0.05
    greens = render_all_greens(CPU, 3)
    for twin, original in POMBE_TWINS.items():
        assert not np.allclose(greens[CPU.classes.index(twin)],
                               greens[CPU.classes.index(original)], atol=0.1)


# --- measurements -----------------------------------------------------------------------------

@pytest.mark.parametrize("cells_name", ["paper_cells", "cpu_cells"])
def test_measurements_recover_length_and_stage(cells_name, request):
    cells = request.getfixturevalue(cells_name)
    readings = measure_pombe(cells.images)
    md = cells.metadata
    assert np.corrcoef(readings.length_um, md.t)[0, 1] > 0.95
    assert abs((readings.length_um - md.length_um).mean()) < 0.3
    assert (readings.stage == md.stage).mean() > 0.95


def test_measurements_do_not_care_about_flips(cpu_cells, cpu_readings):
    flipped = measure_pombe(cpu_cells.images[..., ::-1, ::-1])
    for column in ("length_um", "red_central_fraction", "red_tip_asymmetry",
                   "green_central_fraction", "green_tip_fraction"):
        np.testing.assert_allclose(flipped[column], cpu_readings[column], atol=1e-4)
    assert (flipped.stage == cpu_readings.stage).all()
    swapped = {"left": "right", "right": "left"}
    assert (flipped.red_brighter_end == cpu_readings.red_brighter_end.map(swapped)).mean() > 0.99


def test_measurements_work_on_a_lifted_noisy_blurred_background(cpu_cells):
    # A generator's cells: background well above -1, noisy, edges soft.
    rng = np.random.default_rng(0)
    blurred = ndimage.gaussian_filter(cpu_cells.images, (0, 0, 0.7, 0.7))
    lifted = np.clip(0.8 * blurred + 0.1 + rng.normal(0, 0.03, blurred.shape), -1, 1)
    readings = measure_pombe(lifted.astype(np.float32))
    md = cpu_cells.metadata
    assert np.corrcoef(readings.length_um, md.t)[0, 1] > 0.95
    assert (readings.stage == md.stage).mean() > 0.95
    assert rule_consistency_rates(readings, md.class_name).min() > 0.85


def test_actin_moves_from_the_growing_tips_to_the_middle_only_when_dividing(cpu_cells,
                                                                           cpu_readings):
    readings, md = of_class(cpu_cells, cpu_readings, "ActinLike")
    dividing = (md.stage == "dividing").to_numpy()
    assert readings.green_central_fraction[dividing].min() > 0.4
    assert readings.green_central_fraction[~dividing].quantile(0.95) < 0.15
    # Monopolar: the patches sit at the red's growing end.
    monopolar = (readings.stage == "monopolar").to_numpy()
    assert (readings.green_brighter_end[monopolar]
            == readings.red_brighter_end[monopolar]).mean() > 0.95


def test_tip_dots_stay_at_the_tips_at_every_stage(cpu_cells, cpu_readings):
    readings, md = of_class(cpu_cells, cpu_readings, "TipDots")
    for stage in ("monopolar", "bipolar", "dividing"):
        at_stage = (md.stage == stage).to_numpy()
        assert readings.green_tip_fraction[at_stage].quantile(0.05) > 0.5
        assert readings.green_central_fraction[at_stage].max() < 0.16


def test_the_ring_appears_only_when_dividing(cpu_cells, cpu_readings):
    readings, md = of_class(cpu_cells, cpu_readings, "RingOnly")
    dividing = (md.stage == "dividing").to_numpy()
    assert readings.green_central_fraction[dividing].min() > 0.3
    assert readings.green_central_fraction[~dividing].max() < 0.27


def test_every_class_follows_its_rule_and_foreign_greens_do_not(cpu_cells, cpu_readings):
    rates = rule_consistency_rates(cpu_readings, cpu_cells.metadata.class_name)
    assert set(rates.index) == set(POMBE_CLASSES)
    assert rates.min() > 0.9
    # The rules carry information: a class's rule on another class's greens mostly fails.
    wrong = np.roll(np.asarray(POMBE_CLASSES), 2)[cpu_cells.metadata.class_id]
    assert rule_consistency(cpu_readings, wrong).mean() < 0.5


def test_measurements_flag_images_without_a_cell_and_refuse_wrong_shapes():
    blank = np.full((2, 2, 24, 40), -1, np.float32)
    readings = measure_pombe(blank)
    assert (readings.stage == "unknown").all() and readings.length_um.isna().all()
    assert not rule_consistency(readings, "TipDots").any()
    with pytest.raises(ValueError, match=r"\(N, 2, H, W\)"):
        measure_pombe(blank[0])
    with pytest.raises(ValueError, match="no rule"):
        rule_consistency(readings, "Tea1")


# --- configs ----------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, message", [
    (dict(size=48), r"size must be \(H, W\)"),
    (dict(size=(12, 20)), "too small"),
    (dict(size=(80, 48)), "aspect"),
    (dict(classes=("TipDots", "Tea1")), r"unknown protein classes \['Tea1'\]; choose from"),
    (dict(classes=("TipDots", "TipDots")), "twice"),
    (dict(classes=()), "non-empty"),
    (dict(n_cells=0), "n_cells must be >= 1"),
    (dict(nuisance=1.5), r"nuisance must be in \[0, 1\]"),
    (dict(variability=-1), r"variability must be in \[0, 2\]"),
    (dict(psf_sigma_um=0), "psf_sigma_um"),
])
def test_bad_configs_say_what_is_wrong_and_what_to_use(overrides, message):
    with pytest.raises(ValueError, match=message):
        generate_pombe_cells(PombeConfig(**overrides), progress=False)


def test_configs_from_json_compare_equal_and_key_the_cache():
    config = PombeConfig(size=[24, 40], classes=["TipDots", "ActinLike"])
    assert config == PombeConfig(size=(24, 40), classes=("TipDots", "ActinLike"))
    key = config.cache_config()
    assert key["generator"] == "cellnb.sim.pombe" and "generator_version" in key
