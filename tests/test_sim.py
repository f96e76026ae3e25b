"""The synthetic atlas: determinism, geometry, ground truth and the catalogue's special cases."""
import numpy as np
import pytest
from scipy import stats

from cellnb.sim import BASE_CLASSES, AtlasConfig, build_catalogue, generate_crops, generate_fields
from cellnb.sim.patterns import PATTERNS, render_pattern

SMALL = AtlasConfig(n_proteins=32, fields_per_protein=1, rare_fields=1, crops_per_field=4,
                    cells_per_field=12, field_size=160)


@pytest.fixture(scope="module")
def crops():
    return generate_crops(SMALL, progress=False)


@pytest.fixture(scope="module")
def fields():
    return generate_fields(SMALL, progress=False)


def test_same_config_gives_identical_data_and_another_seed_does_not(crops):
    again = generate_crops(SMALL, progress=False)
    np.testing.assert_array_equal(crops.images, again.images)
    np.testing.assert_array_equal(crops.masks, again.masks)
    assert crops.metadata.equals(again.metadata)
    other = generate_crops(AtlasConfig(**{**SMALL.as_dict(), "seed": 1}), progress=False)
    assert other.images.shape[1:] == crops.images.shape[1:]
    assert not np.array_equal(other.images[:5], crops.images[:5])


def test_data_do_not_depend_on_the_number_of_worker_processes(crops):
    parallel = generate_crops(SMALL, workers=2, progress=False)
    np.testing.assert_array_equal(crops.images, parallel.images)
    assert crops.metadata.equals(parallel.metadata)


def test_crops_have_the_documented_channels_masks_and_range(crops):
    assert crops.channels == ("protein", "nucleus", "nuclear_distance")
    assert crops.mask_names == ("cell", "nucleus", "pattern", "cells")
    assert crops.images.shape[1:] == (3, 64, 64) and crops.images.dtype == np.float32
    light = crops.images[:, :2]
    assert light.min() >= 0 and light.max() <= 1
    assert np.isfinite(crops.images).all()


def test_each_crop_is_centred_on_the_nucleus_of_its_cell(crops):
    centre = 32
    jitter = int(np.ceil(SMALL.crop_jitter)) + 1
    nucleus = crops.mask("nucleus").astype(bool)
    for mask in nucleus:
        ys, xs = np.nonzero(mask)
        # The nucleus is in the crop and its centroid is within the jitter of the crop centre.
        assert abs(ys.mean() - centre) <= jitter + 3 and abs(xs.mean() - centre) <= jitter + 3
    assert (crops.mask("nucleus") <= crops.mask("cell")).all(), "a nucleus lies outside its cell"


def test_nuclear_distance_is_positive_exactly_inside_nuclei(crops):
    distance = crops.channel("nuclear_distance")
    cells = crops.mask("cells")
    nucleus = crops.mask("nucleus").astype(bool)
    assert (distance[nucleus] > 0).all()
    assert np.abs(distance).max() < 1.0, "scaled by the crop size, the map stays within [-1, 1]"
    # Background (no cell) is outside every nucleus.
    assert (distance[cells == 0] <= 0).all()


def test_most_crops_show_at_most_two_partial_neighbours():
    crops = generate_crops(AtlasConfig(fields_per_protein=1, n_proteins=32), progress=False)
    neighbours = crops.metadata.n_cells_in_crop - 1
    assert neighbours.min() >= 0
    assert (neighbours <= 2).mean() >= 0.8, neighbours.value_counts()
    assert (neighbours >= 1).mean() >= 0.5, "crops are not isolated cells: neighbours are common"


def test_the_protein_lies_where_its_class_says(crops):
    md = crops.metadata
    protein = crops.channel("protein")
    nucleus = crops.mask("nucleus").astype(bool)
    cytoplasm = crops.mask("cell").astype(bool) & ~nucleus
    nuclear_mean = (protein * nucleus).sum((1, 2)) / nucleus.sum((1, 2))
    cytoplasmic_mean = (protein * cytoplasm).sum((1, 2)) / np.maximum(cytoplasm.sum((1, 2)), 1)
    ratio = np.log((nuclear_mean + 1e-3) / (cytoplasmic_mean + 1e-3))
    nuclear = md.cell_localization.isin(["nucleoplasm", "nucleolus", "nuclear_speckles"]).values
    cytoplasmic = md.cell_localization.isin(["cytoplasm", "er", "mitochondria", "vesicles"]).values
    assert np.median(ratio[nuclear]) > 0.5 > np.median(ratio[cytoplasmic]) + 0.5


def test_pattern_masks_match_compartments(crops):
    md = crops.metadata
    pattern = crops.mask("pattern").astype(bool)
    nucleus = crops.mask("nucleus").astype(bool)
    inside = (pattern & nucleus).sum((1, 2)) / np.maximum(pattern.sum((1, 2)), 1)
    for name in ("nucleoplasm", "nucleolus", "nuclear_speckles"):
        assert inside[md.cell_localization.values == name].mean() > 0.9, name
    for name in ("cytoplasm", "mitochondria", "vesicles", "plasma_membrane"):
        assert inside[md.cell_localization.values == name].mean() < 0.2, name


def test_catalogue_holds_every_class_and_the_special_cases():
    catalogue = build_catalogue(40, seed=0)
    table = catalogue.table()
    assert len(table) == 40 and table.protein.is_unique
    assert set(BASE_CLASSES) <= set(table.localization)
    assert table.rare.sum() == 1 and table.orphan.sum() == 1
    assert (table.kind == "mixed").sum() >= 2 and (table.kind == "variable").sum() >= 2
    orphan = table[table.orphan].iloc[0]
    assert orphan.kind == "single" and not orphan.complex
    assert (table.localization == orphan.localization).sum() >= 3, "its class keeps other members"
    # Proteins of a complex are generated with identical parameters; others differ.
    complexes = table[table.complex != ""].groupby("complex")
    assert len(complexes) >= 3
    for _, members in complexes:
        assert len(members) >= 2 and members.parameters.nunique() == 1
        assert members.expression.nunique() == 1
    singles = table[(table.complex == "") & (table.kind == "single")]
    assert singles.parameters.is_unique
    assert build_catalogue(40, seed=0).table().equals(table)


def test_catalogue_refuses_too_few_proteins():
    with pytest.raises(ValueError, match="n_proteins=10"):
        build_catalogue(10)


def test_mixed_proteins_carry_alpha_that_the_pixels_reflect():
    config = AtlasConfig(n_proteins=32, fields_per_protein=3, crops_per_field=12, cells_per_field=14,
                         field_size=192)
    crops = generate_crops(config, progress=False)
    md = crops.metadata
    mixed = (md.localization == "mixed").values
    assert np.isfinite(md.alpha[mixed]).all() and md.alpha[~mixed].isna().all()
    assert ((md.alpha[mixed] > 0) & (md.alpha[mixed] < 1)).all()
    assert (np.abs(md.alpha[mixed] - md.protein_alpha[mixed]) < 0.25).all()
    protein = crops.channel("protein")[mixed]
    nucleus = crops.mask("nucleus")[mixed].astype(bool)
    cell = crops.mask("cell")[mixed].astype(bool)
    nuclear_fraction = (protein * nucleus).sum((1, 2)) / (protein * cell).sum((1, 2))
    rho = stats.spearmanr(nuclear_fraction, md.alpha[mixed]).statistic
    assert rho > 0.5, rho


def test_variable_proteins_show_two_subpopulations(crops):
    catalogue = SMALL.catalogue()
    md = crops.metadata
    for name in md.protein[md.localization == "variable"].unique():
        rows = md[md.protein == name]
        assert set(rows.subpopulation) <= {0, 1}
        shown = set(rows.cell_localization)
        assert shown <= set(catalogue[name].classes)
    assert (md.subpopulation[md.localization != "variable"] == -1).all()


def test_fields_carry_instance_labels_and_a_cell_table(fields):
    assert fields.channels == ("protein", "nucleus", "cell_marker")
    assert fields.mask_names == ("cells", "nuclei", "pattern")
    cells_table = fields.tables["cells"]
    for i in range(len(fields)):
        cells, nuclei = fields.masks[i, 0], fields.masks[i, 1]
        assert ((nuclei == 0) | (nuclei == cells)).all(), "every nucleus lies in its own cell"
        rows = cells_table[cells_table.field == fields.metadata.field[i]]
        assert len(rows) == fields.metadata.n_cells[i]
        assert set(rows.cell) <= set(np.unique(cells)) - {0}
    # one protein per field, as in a screen
    assert fields.metadata.groupby("field").protein.nunique().max() == 1


def test_crops_are_cut_from_the_same_fields(fields):
    """A crop and the field it was cut from share geometry: the crop's nucleus lies on the
    field's nucleus of the same cell (fields are painted with every cell, crops only with
    those they show, so only the geometry - not the noise - is shared)."""
    crops = generate_crops(SMALL, progress=False)
    for i in range(0, len(crops), 7):
        row = crops.metadata.iloc[i]
        field = fields.metadata.index[fields.metadata.field == row.field][0]
        window = (slice(row.crop_top, row.crop_top + 64), slice(row.crop_left, row.crop_left + 64))
        field_nucleus = fields.masks[field, 1][window] == row.cell
        np.testing.assert_array_equal(field_nucleus, crops.mask("nucleus")[i].astype(bool))


def test_paper_crop_size_scales_cells_with_the_crop():
    config = AtlasConfig(n_proteins=32, fields_per_protein=1, crops_per_field=2, crop_size=100)
    crops = generate_crops(config, progress=False)
    assert crops.images.shape[1:] == (3, 100, 100)
    small = generate_crops(AtlasConfig(n_proteins=32, fields_per_protein=1, crops_per_field=2),
                           progress=False)
    ratio = crops.mask("cell").sum((1, 2)).mean() / small.mask("cell").sum((1, 2)).mean()
    assert 1.8 < ratio < 3.4, "area grows with the square of the scale (100/64)^2 = 2.4"


def test_no_nuisance_gives_a_clean_microscope():
    clean = AtlasConfig(n_proteins=32, fields_per_protein=1, crops_per_field=3, nuisance=0.0)
    crops = generate_crops(clean, progress=False)
    assert crops.metadata.psf_sigma.nunique() == 1
    assert crops.metadata.photons.min() > 10_000
    background = crops.channel("protein")[crops.mask("cells") == 0]
    assert background.std() < 0.01


@pytest.mark.parametrize("field, value, message", [
    ("crop_size", 16, "crop_size"), ("cell_lines", 3, "cell_lines"),
    ("field_size", 40, "field_size"), ("fields_per_protein", 0, "fields_per_protein")])
def test_invalid_configs_are_refused_with_a_reason(field, value, message):
    with pytest.raises(ValueError, match=message):
        generate_crops(AtlasConfig(**{field: value}), progress=False)


def test_every_pattern_renders_inside_its_cell():
    from cellnb.sim.geometry import MORPHOLOGIES, cell_layers, sample_cell, tessellate
    rng = np.random.default_rng(0)
    cell = sample_cell((40.0, 40.0), MORPHOLOGIES["round"], 1.0, rng)
    tessellation = tessellate([cell], (80, 80))
    layers = cell_layers(tessellation, 0, [cell], 1.0)
    for name, pattern in PATTERNS.items():
        density = render_pattern(name, layers, pattern.sample_params(rng), rng)
        assert density.shape == layers.shape and np.isfinite(density).all(), name
        assert density.max() > 0, f"{name} drew nothing"
        assert density[~layers.cell].sum() == 0, name
    with pytest.raises(KeyError, match="unknown localisation pattern 'golgi2'"):
        render_pattern("golgi2", layers, {}, rng)


@pytest.mark.parametrize("morphology", ["round", "elongated"])
def test_cell_windows_enclose_every_pixel_of_the_cell(morphology):
    from cellnb.sim.geometry import MORPHOLOGIES, sample_cells, window_of

    cells = sample_cells(np.full((200, 2), 60.0), MORPHOLOGIES[morphology], 1.5, np.random.default_rng(0))
    yy, xx = np.arange(120, dtype=np.float32)[:, None], np.arange(120, dtype=np.float32)[None, :]
    for cell in cells:
        inside = cell.cell.normalised_radius(yy, xx) < 1
        window = window_of(cell.cell, inside.shape)
        assert inside[window].sum() == inside.sum()
        # ... and the window is a box around the cell, not a square around its longest axis.
        assert inside[window].mean() > 0.3


def test_textures_repeat_only_beyond_twice_the_crop_size():
    from cellnb.sim.atlas import _field_rng, field_specs, layout_field

    config = AtlasConfig(crop_size=48)
    layout = layout_field(field_specs(config, config.catalogue())[0], config, _field_rng(config, 0))
    texture = layout.maps.texture("smooth", 1.5)
    period = 2 * config.crop_size
    assert texture.shape == layout.shape
    np.testing.assert_array_equal(texture[:, :period], texture[:, period:2 * period])
    np.testing.assert_array_equal(texture[:period], texture[period:2 * period])
    assert not np.allclose(texture[:, : period // 2], texture[:, period // 2: period])


def test_simulator_throughput_is_far_from_a_regression():
    from cellnb.sim import measure_throughput

    # The figure of merit (>= 300 crops/s per core) is measured and recorded by the data
    # chapter; here a loose floor catches a gross slow-down even on a busy CI machine.
    figures = measure_throughput(AtlasConfig(), n_fields=12, repeats=1)
    assert figures["crops"] > 150
    assert figures["crops_per_cpu_second"] > 100


def test_repainting_a_field_keeps_its_cells_and_microscope_and_changes_only_the_protein():
    """The counterfactual target of paired cell inpainting: the same cells showing another
    protein. A nuclear protein's signal then sits in the field's own nuclei, a plasma-membrane
    protein's away from them; painting one cell leaves the others dark."""
    from cellnb.sim import repaint_field

    config = AtlasConfig(crop_size=32, n_proteins=40, fields_per_protein=1, cells_per_field=12,
                         field_size=160, nuisance=0.2)
    catalogue = config.catalogue().table()
    field = 0
    generated = generate_fields(config, proteins=[catalogue.protein[0]], progress=False)
    cells, nuclei = generated.mask("cells")[0], generated.mask("nuclei")[0]
    def first_of(localization):
        return catalogue.protein[catalogue.localization == localization].iloc[0]

    nuclear = repaint_field(config, field, first_of("nucleoplasm"))
    membrane_name = first_of("plasma_membrane")
    membrane = repaint_field(config, field, membrane_name)
    assert np.array_equal(nuclear.cells, cells) and np.array_equal(nuclear.nuclei, nuclei)
    inside = nuclei > 0

    def share(image):   # nuclear over cytoplasmic signal
        return image[inside].mean() / image[(cells > 0) & ~inside].mean()

    assert share(nuclear.images[0]) > 2 > 0.5 > share(membrane.images[0])
    one = repaint_field(config, field, membrane_name, cells=[1])
    assert one.cell_table.cell.tolist() == [1]
    assert one.images[0][cells == 1].mean() > 3 * one.images[0][(cells > 1)].mean()
    with pytest.raises(KeyError, match="unknown protein"):
        repaint_field(config, field, "NOPE")
