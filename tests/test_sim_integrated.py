"""Toy integrated cells: determinism, the designed classes and states, and the ground truth that
the Integrated Cell chapters' criteria (R3, I1, V1, V2) are measured against."""
import numpy as np
import pytest
from scipy import ndimage

from cellnb.sim import (
    INTEGRATED_CHANNELS,
    RARE_STRUCTURE,
    STRUCTURE_CLASSES,
    IntegratedCellConfig,
    generate_integrated_cells,
    resample_structure,
    structure_table,
    toy_cell,
)

CONFIG = IntegratedCellConfig(seed=3, n_cells=200)
TINY = IntegratedCellConfig(seed=5, n_cells=16)


@pytest.fixture(scope="module")
def cells():
    return generate_integrated_cells(CONFIG, progress=False)


def first(cells, structure, mitotic=False, n=1):
    """Positions of the first ``n`` cells of one class and state."""
    md = cells.metadata
    return md.index[(md.structure == structure) & (md.mitotic == mitotic)][:n].tolist()


def mean_pairwise_correlation(draws: np.ndarray) -> float:
    corr = np.corrcoef(draws.reshape(len(draws), -1))
    return float(corr[~np.eye(len(draws), dtype=bool)].mean())


def test_same_seed_gives_identical_cells_and_another_seed_does_not():
    a = generate_integrated_cells(TINY, progress=False)
    b = generate_integrated_cells(TINY, progress=False)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    assert a.metadata.equals(b.metadata)
    other = generate_integrated_cells(IntegratedCellConfig(seed=6, n_cells=16), progress=False)
    assert not np.array_equal(a.images, other.images)


def test_cells_do_not_depend_on_the_number_of_workers():
    parallel = generate_integrated_cells(TINY, progress=False, workers=2)
    np.testing.assert_array_equal(generate_integrated_cells(TINY, progress=False).images,
                                  parallel.images)


def test_images_are_named_channels_in_the_unit_range(cells):
    assert cells.channels == INTEGRATED_CHANNELS == ("membrane", "structure", "dna")
    assert cells.mask_names == ("cell", "nucleus")
    assert cells.images.shape == (200, 3, 64, 64) and cells.images.dtype == np.float32
    assert cells.images.min() >= 0 and cells.images.max() <= 1
    # The papers' normalisation: every channel of every cell peaks at exactly 1.
    np.testing.assert_allclose(cells.images.max(axis=(2, 3)), 1)
    assert cells.attrs["generator_version"] and cells.attrs["config"] == CONFIG.as_dict()
    assert set(cells.tables["structures"].structure) == set(STRUCTURE_CLASSES)


def test_every_cell_is_different(cells):
    flat = cells.images.reshape(len(cells), -1)
    distinct = {row.tobytes() for row in flat}
    assert len(distinct) == len(cells)
    assert cells.metadata.cell_major.nunique() == len(cells)


def test_class_frequencies_and_mitotic_fraction_hold_to_rounding(cells):
    counts = cells.metadata.structure.value_counts(normalize=True)
    for name, frequency in zip(CONFIG.classes, CONFIG.frequencies):
        assert abs(counts[name] - frequency) <= 1 / CONFIG.n_cells, name
    assert abs(counts[RARE_STRUCTURE] - 0.03) <= 0.005
    assert cells.metadata.mitotic.mean() == pytest.approx(0.1)
    # the classes are imbalanced, as in the papers' tables
    assert counts.max() / counts.min() > 5


def test_cells_are_centred_aligned_and_canonically_flipped(cells):
    cell, nucleus = cells.mask("cell").astype(bool), cells.mask("nucleus").astype(bool)
    assert not cell[:, [0, -1]].any() and not cell[:, :, [0, -1]].any()   # inside the image
    assert (nucleus <= cell).all()
    nucleus_centre = np.array([ndimage.center_of_mass(m) for m in nucleus])
    np.testing.assert_allclose(nucleus_centre, 31.5, atol=0.6)
    interphase = ~cells.metadata.mitotic.to_numpy()
    spread = np.array([np.nonzero(m)[1].var() - np.nonzero(m)[0].var() for m in cell])
    assert (spread[interphase] > 0).all()                    # major axis horizontal
    md = cells.metadata
    assert (md.nucleus_offset <= 0).all()
    cell_x = np.array([np.nonzero(m)[1].mean() for m in cell])
    clear = (md.nucleus_offset < -2).to_numpy()
    assert clear.sum() > 20 and (cell_x[clear] > nucleus_centre[clear, 1]).all()


def test_envelope_lies_on_the_nuclear_boundary(cells):
    for i in first(cells, "envelope", n=5):
        nucleus = cells.masks[i, 1].astype(bool)
        rim = nucleus ^ ndimage.binary_erosion(nucleus)
        distance = ndimage.distance_transform_edt(~rim)
        bright = cells.images[i, 1] > 0.5
        assert (distance[bright] <= 2.5).mean() > 0.95


def test_nucleolus_lies_inside_the_nucleus(cells):
    for i in first(cells, "nucleolus", n=5):
        bright = cells.images[i, 1] > 0.5
        assert bright.any() and (cells.masks[i, 1][bright] > 0).mean() > 0.95


def test_resamples_keep_the_reference_and_vary_only_the_structure(cells):
    i = first(cells, "puncta")[0]
    full = resample_structure(CONFIG, i, "puncta", 4, with_reference=True)
    for channel in (0, 2):
        for draw in full:
            np.testing.assert_array_equal(draw[channel], cells.images[i, channel])
    assert not np.array_equal(full[0, 1], full[1, 1])
    # deterministic per seed, other seeds other draws; classes by name or index alike
    np.testing.assert_array_equal(full[:, 1], resample_structure(CONFIG, i, 3, 4))
    assert not np.array_equal(full[:, 1], resample_structure(CONFIG, i, "puncta", 4, seed=1))
    assert resample_structure(CONFIG, i, "envelope", 2, imaging=False).max() == 1


def test_variability_ordering_of_the_classes(cells):
    """V1's ground truth: deterministic classes are stereotyped, puncta vary most."""
    by_class = {k: np.mean([mean_pairwise_correlation(resample_structure(CONFIG, i, k, 12))
                            for i in first(cells, "envelope", n=2)])
                for k in STRUCTURE_CLASSES}
    assert by_class["cytoplasm"] > 0.9 and by_class["envelope"] > 0.9
    assert min(by_class, key=by_class.get) == "puncta"
    assert by_class["puncta"] < 0.5


def test_mitosis_shifts_variability_in_the_designed_directions(cells):
    """V2's ground truth: envelope and puncta fragment (vary more), fibres form a spindle."""
    inter, mitotic = first(cells, "cytoplasm", n=2), first(cells, "cytoplasm", True, n=2)

    def variability(k, group):
        return np.mean([mean_pairwise_correlation(resample_structure(CONFIG, i, k, 12))
                        for i in group])

    for k in ("envelope", "puncta", "nucleolus"):
        assert variability(k, mitotic) < variability(k, inter) - 0.05, k
    assert variability("fibres", mitotic) > variability("fibres", inter) + 0.2


def test_mitotic_cells_are_round_with_small_nuclei(cells):
    md = cells.metadata
    aspect = np.array([_aspect_ratio(m) for m in cells.mask("cell")])
    mitotic = md.mitotic.to_numpy()
    assert aspect[mitotic].max() < 1.25 < np.median(aspect[~mitotic])
    assert md.nucleus_area[mitotic].mean() < 0.6 * md.nucleus_area[~mitotic].mean()


def _aspect_ratio(mask: np.ndarray) -> float:
    y, x = np.nonzero(mask)
    eigenvalues = np.linalg.eigvalsh(np.cov(np.stack([y, x])))
    return float(np.sqrt(eigenvalues[1] / eigenvalues[0]))


def test_shape_parameters_predict_the_membrane_area(cells):
    """R3's premise: the metadata's parameters are visible in the reference channels."""
    membrane = cells.channel("membrane") > 0.1
    area = np.array([ndimage.binary_fill_holes(m).sum() for m in membrane])
    md = cells.metadata
    assert np.corrcoef(area, md.cell_major * md.cell_minor)[0, 1] > 0.9


def test_toy_cell_matches_the_metadata(cells):
    cell = toy_cell(CONFIG, 7)
    row = cells.metadata.iloc[7]
    assert cell.structure == row.structure and cell.mitotic == row.mitotic
    assert cell.cell_major == row.cell_major and cell.nucleus_offset == row.nucleus_offset


def test_config_validation():
    with pytest.raises(KeyError):
        IntegratedCellConfig(classes=("envelope", "golgi"), frequencies=(0.5, 0.5)).validate()
    with pytest.raises(ValueError):
        IntegratedCellConfig(classes=("envelope",), frequencies=(0.5,)).validate()
    with pytest.raises(NotImplementedError):
        IntegratedCellConfig(size=(16, 24, 32)).validate()
    with pytest.raises(KeyError):
        resample_structure(CONFIG, 0, "golgi", 2)
    assert IntegratedCellConfig(classes=["envelope"], frequencies=[1.0]) == IntegratedCellConfig(
        classes=("envelope",), frequencies=(1.0,))
    assert list(structure_table().structure) == list(STRUCTURE_CLASSES)
