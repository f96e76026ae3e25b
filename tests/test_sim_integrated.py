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
    IntegratedCellConfig(size=(16, 24, 32)).validate()     # volumes (Z, Y, X) are rendered
    with pytest.raises(KeyError):
        resample_structure(CONFIG, 0, "golgi", 2)
    assert IntegratedCellConfig(classes=["envelope"], frequencies=[1.0]) == IntegratedCellConfig(
        classes=("envelope",), frequencies=(1.0,))
    assert list(structure_table().structure) == list(STRUCTURE_CLASSES)


# --- volumes (Z, Y, X): the 3D chapter's cells -------------------------------------------------

VOLUME = IntegratedCellConfig(seed=5, n_cells=12, size=(8, 24, 32))
# Large enough in-plane (scale 0.75) and in z (cubic voxels) to resolve the nuclear surface.
ROOMY = IntegratedCellConfig(seed=4, n_cells=12, size=(32, 48, 48), mitosis_fraction=0.25)


@pytest.fixture(scope="module")
def volumes():
    return generate_integrated_cells(VOLUME, progress=False)


@pytest.fixture(scope="module")
def roomy():
    return generate_integrated_cells(ROOMY, progress=False)


def interphase(cells, n=2):
    return cells.metadata.index[~cells.metadata.mitotic][:n].tolist()


def test_volumes_are_named_channels_in_the_unit_range(volumes):
    assert volumes.images.shape == (12, 3, 8, 24, 32) and volumes.images.dtype == np.float32
    assert volumes.masks.shape == (12, 2, 8, 24, 32) and volumes.masks.dtype == np.uint8
    assert volumes.channels == INTEGRATED_CHANNELS and volumes.mask_names == ("cell", "nucleus")
    assert volumes.images.min() >= 0 and volumes.images.max() <= 1
    np.testing.assert_allclose(volumes.images.max(axis=(2, 3, 4)), 1)
    assert volumes.attrs["config"]["size"] == (8, 24, 32)
    assert "volume_rule" in volumes.tables["structures"]
    assert "volume_rule" not in structure_table(CONFIG)      # the 2D table is unchanged


def test_volume_cells_are_the_2d_cells_of_the_same_plane(volumes):
    """Same seed, same (Y, X): same classes, states, shapes, microscope and 2D masks."""
    flat = generate_integrated_cells(IntegratedCellConfig(seed=5, n_cells=12, size=(24, 32)),
                                     progress=False)
    # every 2D column (class, state, shape, areas, microscope) is equal; volumes add z columns
    assert volumes.metadata[flat.metadata.columns].equals(flat.metadata)
    assert {"cell_height_voxels", "nucleus_z", "cell_volume"} <= set(volumes.metadata.columns)
    assert toy_cell(VOLUME, 3) == toy_cell(IntegratedCellConfig(seed=5, n_cells=12,
                                                                size=(24, 32)), 3)
    # the masks' maximum projections along z are the 2D masks
    np.testing.assert_array_equal(volumes.masks.max(axis=2), flat.masks)
    # cells sit on the coverslip (z = 0) and hold their nuclei
    np.testing.assert_array_equal(volumes.masks[:, 0, 0], flat.masks[:, 0])
    assert (volumes.masks[:, 1] <= volumes.masks[:, 0]).all()


def test_volume_heights_fill_most_of_the_slices(volumes, roomy):
    for cells in (volumes, roomy):
        md, depth = cells.metadata, cells.spatial_shape[0]
        fraction = md.cell_height_voxels / depth
        assert fraction.between(0.5, 0.9).all()
        assert (md.nucleus_height_voxels < md.cell_height_voxels).all()
        # the tallest column of each mask matches its height (to a voxel)
        tallest = cells.mask("cell").sum(axis=1).max(axis=(1, 2))
        np.testing.assert_allclose(tallest, md.cell_height_voxels, atol=1.01)
        nuclear = cells.mask("nucleus").sum(axis=1).max(axis=(1, 2))
        np.testing.assert_allclose(nuclear, md.nucleus_height_voxels, atol=1.01)
    # rounded mitotic cells are taller than interphase ones
    md = roomy.metadata
    assert md.cell_height_voxels[md.mitotic].min() > md.cell_height_voxels[~md.mitotic].max()


def _surface_distance(nucleus: np.ndarray, z_step: float) -> np.ndarray:
    """Distance (pixels) from every voxel to the nuclear mask's surface voxels."""
    rim = nucleus ^ ndimage.binary_erosion(nucleus)
    return ndimage.distance_transform_edt(~rim, sampling=(z_step, 1, 1))


def test_volume_envelope_lies_on_the_nuclear_surface(roomy):
    z_step = roomy.metadata.z_step[0]
    for i in interphase(roomy, 3):
        envelope = resample_structure(ROOMY, i, "envelope", 1)[0]
        nucleus = roomy.masks[i, 1].astype(bool)
        distance = _surface_distance(nucleus, z_step)
        bright = envelope > 0.5
        assert (distance[bright] <= 2.5).mean() > 0.9
        deep = nucleus & (distance > 3)
        assert envelope[distance <= 1].mean() > 3 * envelope[deep].mean()


def test_volume_nucleolus_lies_inside_the_nuclear_ellipsoid(roomy):
    for i in interphase(roomy, 3):
        nucleolus = resample_structure(ROOMY, i, "nucleolus", 2)
        bright = nucleolus > 0.5
        assert bright.any() and (roomy.masks[i, 1][None].repeat(2, 0)[bright] > 0).mean() > 0.9


def test_volume_cap_lies_above_the_nucleus(roomy):
    md = roomy.metadata
    z = np.arange(ROOMY.depth)[:, None, None]
    for i in range(6):
        cap = resample_structure(ROOMY, i, "perinuclear_cap", 1, imaging=False)[0]
        centre = md.nucleus_z[i] - 0.5                     # the nuclear centre's z index
        assert (cap * z).sum() / cap.sum() > centre + 1
        # over the nucleus, the fibres run above its top
        nucleus = roomy.masks[i, 1].astype(bool)
        top = ROOMY.depth - 1 - np.argmax(nucleus[::-1], axis=0)
        over = cap * nucleus.any(axis=0)
        assert (over * (z > top)).sum() / over.sum() > 0.8


def test_volume_resamples_keep_the_reference_and_vary_only_the_structure(roomy):
    i = interphase(roomy, 1)[0]
    full = resample_structure(ROOMY, i, "puncta", 4, with_reference=True)
    assert full.shape == (4, 3) + ROOMY.shape
    for channel in (0, 2):
        for draw in full:
            np.testing.assert_array_equal(draw[channel], roomy.images[i, channel])
    np.testing.assert_array_equal(full[:, 1], resample_structure(ROOMY, i, "puncta", 4))
    assert mean_pairwise_correlation(full[:, 1]) < 0.5
    envelope = resample_structure(ROOMY, i, "envelope", 4)
    assert envelope.shape == (4,) + ROOMY.shape
    assert mean_pairwise_correlation(envelope) > 0.9
    # the generated structure channel is one draw of the cell's own class
    own = roomy.metadata.structure[i]
    assert resample_structure(ROOMY, i, own, 1, imaging=False).max() == 1


def test_volume_mitosis_shifts_variability_in_the_designed_directions(roomy):
    """V2's ground truth holds in 3D: envelope, puncta and nucleoli vary more in mitosis, the
    fibres (a spindle) less."""
    md = roomy.metadata
    inter, mitotic = interphase(roomy, 2), md.index[md.mitotic][:2].tolist()

    def variability(k, group):
        return np.mean([mean_pairwise_correlation(resample_structure(ROOMY, i, k, 8))
                        for i in group])

    for k in ("envelope", "nucleolus"):
        assert variability(k, mitotic) < variability(k, inter) - 0.2, k
    assert variability("puncta", mitotic) < variability("puncta", inter)   # both near 0
    assert variability("fibres", mitotic) > variability("fibres", inter) + 0.2


def test_volumes_are_deterministic_and_do_not_depend_on_workers():
    config = IntegratedCellConfig(seed=2, n_cells=6, size=(12, 24, 24))
    a = generate_integrated_cells(config, progress=False)
    b = generate_integrated_cells(config, progress=False, workers=2)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    assert a.metadata.equals(b.metadata)
    again = generate_integrated_cells(config, progress=False)
    np.testing.assert_array_equal(a.images, again.images)


def test_volume_config_validation():
    IntegratedCellConfig(size=(8, 24, 24)).validate()
    assert IntegratedCellConfig(size=[16, 24, 32]).scale == IntegratedCellConfig(size=24).scale
    for size in [(7, 24, 24), (16, 23, 32), (16, 24, 32, 4)]:
        with pytest.raises(ValueError):
            IntegratedCellConfig(size=size).validate()
