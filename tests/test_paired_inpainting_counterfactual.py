"""The counterfactual check of paired cell inpainting (the quantitative form of the paper's S1 Fig).

The test atlas is small, seeded and simulated: the smoke atlas's 160-px fields of three proteins
whose patterns are set by the cell's structure (nucleoplasm, cytoplasm, nuclear envelope). Their
per-cell randomness is small, so a crop repainted with its own protein must look like the real
crop. Textured classes (mitochondria, speckles) redraw their puncta on every repaint and would
test the simulator's randomness rather than the alignment.
"""
import numpy as np
import pandas as pd
import pytest
import torch

from cellnb.data.segmentation import crop_windows
from cellnb.papers.paired_inpainting import counterfactual as cf
from cellnb.papers.paired_inpainting.data import pairs_from_fields
from cellnb.papers.paired_inpainting.model import PairedInpainting, preset
from cellnb.papers.paired_inpainting.pairs import PairDataset
from cellnb.sim import atlas_config, generate_fields, repaint_field

PROTEINS = ["NPL1", "CYT1", "NEN1"]
CROP, OUTPUT = 32, 16
N_PAIRS = 60


@pytest.fixture(scope="module")
def fields():
    return generate_fields(atlas_config("smoke", fields_per_protein=4), progress=False,
                           proteins=PROTEINS)


@pytest.fixture(scope="module")
def data(fields):
    return pairs_from_fields(fields, crop_size=CROP, min_cells=8, output_size=OUTPUT,
                             fractions=(0.5, 0.0, 0.5))


@pytest.fixture(scope="module")
def cells(data):
    return data.evaluation_cells("test")


def on_a_cell(metadata: pd.DataFrame) -> pd.DataFrame:
    return metadata[metadata["true_cell"] > 0]


def positions(frame: pd.DataFrame) -> np.ndarray:
    return np.array(frame.index, dtype=np.int64)   # a writable copy, for torch indexing


# --- windows and geometry ------------------------------------------------------------------

def test_the_windows_cut_the_data_crops_exactly(fields, data):
    """Same window and resize as pairs_from_fields: the original fields give the crops bit for
    bit, so a repainted field cut the same way is aligned with them."""
    row_of_field = {field: i for i, field in enumerate(fields.metadata["field"])}
    for image, rows in data.metadata.groupby("image"):
        windows = cf.crop_window_table(rows, CROP)
        crops = cf.cut_like_data(fields.images[row_of_field[image]], windows, CROP, OUTPUT)
        assert torch.equal(crops, data.crops[positions(rows)])


def test_the_repainted_field_has_the_original_cells_and_nuclei(fields):
    """repaint_field takes the atlas's field index (the ``field`` / ``image`` value, which
    generate_fields(proteins=...) keeps): its cell and nucleus labels are the field's own."""
    position = len(fields) - 1
    field = int(fields.metadata["field"].iloc[position])
    assert field != position   # fields of later proteins keep their index in the whole atlas
    painted = repaint_field(atlas_config("smoke", fields_per_protein=4), field, PROTEINS[0])
    np.testing.assert_array_equal(painted.cells, fields.mask("cells")[position])
    np.testing.assert_array_equal(painted.nuclei, fields.mask("nuclei")[position])


def test_the_repainted_nucleus_matches_the_crop_and_a_shifted_window_does_not(fields, data):
    """The nucleus channel is drawn again (DNA content, noise), so it matches closely but not
    exactly. The median correlation must exceed 0.95. A window shifted by 2 field pixels, one
    pixel of the 16-px crop, already falls to about 0.8, so this catches any misalignment."""
    rows = on_a_cell(data.metadata).iloc[::3]
    nucleus = data.crops[positions(rows), 1]

    def alignment(shift):
        moved = rows.assign(centroid_y=rows["centroid_y"] + shift)
        crops = cf.counterfactual_crops(fields, moved, rows["protein"], crop_size=CROP,
                                        output_size=OUTPUT, channels=("protein", "nucleus"))
        return np.median(cf.pearson_rows(crops[:, 1], nucleus))

    aligned = alignment(0)
    assert aligned > 0.95
    assert alignment(2) < aligned - 0.1


# --- the counterfactual itself ----------------------------------------------------------------

def test_a_crop_repainted_with_its_own_protein_looks_like_the_real_one(fields, data):
    """Repainted with its own protein, a crop correlates highly with the real one. The threshold
    is a mean of 0.75, not 1: per-cell expression, small pattern randomness and the noise are
    drawn again. Repainted with another class, the crop correlates clearly less: the classes
    share the cells' outline, so the correlation does not fall to 0."""
    rows = on_a_cell(data.metadata).iloc[::2]
    real = data.crops[positions(rows), 0]
    other = {p: PROTEINS[(PROTEINS.index(p) + 1) % len(PROTEINS)] for p in PROTEINS}
    own = cf.pearson_rows(cf.counterfactual_crops(fields, rows, rows["protein"], crop_size=CROP,
                                                  output_size=OUTPUT)[:, 0], real)
    swapped = cf.pearson_rows(cf.counterfactual_crops(fields, rows, rows["protein"].map(other),
                                                      crop_size=CROP, output_size=OUTPUT)[:, 0],
                              real)
    assert own.mean() > 0.75
    assert own.mean() - swapped.mean() > 0.2
    assert (own > swapped).mean() > 0.85


def test_counterfactual_crops_are_seeded(fields, data):
    rows = on_a_cell(data.metadata).iloc[:6]
    proteins = ["CYT1"] * len(rows)
    first = cf.counterfactual_crops(fields, rows, proteins, crop_size=CROP, output_size=OUTPUT)
    assert first.shape == (len(rows), 1, OUTPUT, OUTPUT) and first.dtype == torch.float32
    again = cf.counterfactual_crops(fields, rows, proteins, crop_size=CROP, output_size=OUTPUT)
    other_seed = cf.counterfactual_crops(fields, rows, proteins, crop_size=CROP,
                                         output_size=OUTPUT, seed=1)
    assert torch.equal(first, again) and not torch.equal(first, other_seed)


def test_painting_only_the_target_leaves_its_neighbours_dark(fields, data):
    """Compared on the pixels of the other cells in each window (at field resolution)."""
    rows = on_a_cell(data.metadata).iloc[::4]
    row_of_field = {field: i for i, field in enumerate(fields.metadata["field"])}
    labels = np.concatenate([
        crop_windows(fields.mask("cells")[row_of_field[image]],
                        cf.crop_window_table(rows.iloc[[k]], CROP), CROP)
        for k, image in enumerate(rows["image"])])
    neighbours = (labels > 0) & (labels != rows["true_cell"].to_numpy()[:, None, None])
    some = neighbours.sum((1, 2)) >= 50
    assert some.sum() >= 10

    def on_neighbours(paint_neighbours):
        crops = cf.counterfactual_crops(fields, rows, ["CYT1"] * len(rows), crop_size=CROP,
                                        paint_neighbours=paint_neighbours)[:, 0].numpy()
        return np.array([crop[mask].mean() for crop, mask in zip(crops[some], neighbours[some])])

    assert (on_neighbours(False) < 0.5 * on_neighbours(True)).mean() > 0.9


# --- mismatched pairs -------------------------------------------------------------------------

def test_mismatched_pairs_have_different_classes_and_come_from_the_given_cells(cells):
    pairs = cf.sample_mismatched_pairs(cells.metadata, 200, seed=3)
    assert pairs.shape == (200, 2) and pairs.dtype == np.int64
    assert pairs.min() >= 0 and pairs.max() < len(cells)
    classes = cf.single_classes(cells.metadata)
    assert (classes[pairs[:, 0]] != classes[pairs[:, 1]]).all()
    assert (cells.metadata["true_cell"].to_numpy()[pairs[:, 1]] > 0).all()
    images = cells.metadata["image"].to_numpy()
    assert (images[pairs[:, 0]] != images[pairs[:, 1]]).all()
    np.testing.assert_array_equal(pairs, cf.sample_mismatched_pairs(cells.metadata, 200, seed=3))


def test_cells_without_a_single_class_are_never_paired(cells):
    metadata = cells.metadata.copy()
    unlabelled = metadata["protein"] == "NEN1"   # as if it were a mixed protein
    metadata.loc[unlabelled, "label"] = None
    pairs = cf.sample_mismatched_pairs(metadata, 100)
    assert not unlabelled.to_numpy()[pairs.ravel()].any()
    only_one_class = metadata[metadata["protein"] == "NPL1"]
    with pytest.raises(ValueError, match="two single classes"):
        cf.sample_mismatched_pairs(only_one_class, 10)


# --- the check ----------------------------------------------------------------------------------

class Lookup(torch.nn.Module):
    """A fake model that answers each (source, target marker) input with a stored image."""

    def __init__(self, cells, pairs, images):
        super().__init__()
        source, marker, _ = PairDataset(cells.crops, cells.channels, flip=False).batch(
            torch.as_tensor(pairs))
        self.answers = {self.key(s, m): image for s, m, image in zip(source, marker, images)}

    @staticmethod
    def key(source, marker):
        return source.numpy().tobytes(), marker.numpy().tobytes()

    def forward(self, source, target_marker):
        return torch.stack([self.answers[self.key(s, m)]
                            for s, m in zip(source, target_marker)])[:, None]


@pytest.fixture(scope="module")
def pair_images(fields, cells):
    pairs = cf.sample_mismatched_pairs(cells.metadata, N_PAIRS, seed=0)
    return cf.pair_images(lambda source, marker: source[:, :1], cells, pairs, fields,
                          crop_size=CROP)


def test_a_model_that_paints_the_counterfactual_passes(fields, cells, pair_images):
    oracle = Lookup(cells, pair_images.pairs, pair_images.counterfactual)
    table = cf.counterfactual_check(oracle, cells, fields, crop_size=CROP, n_pairs=N_PAIRS)
    np.testing.assert_array_equal(table[["source", "target"]].to_numpy(), pair_images.pairs)
    np.testing.assert_allclose(table["corr_counterfactual"], 1, atol=1e-6)
    summary = cf.summarise(table)
    assert summary["holds"] and summary["fraction_counterfactual_wins"] == 1
    assert summary["wilcoxon_p_greater"] < 1e-6 and summary["mean_alignment"] > 0.9
    assert summary["fraction_beats_copy"] == 1


def test_a_model_that_paints_the_real_target_fails(fields, cells, pair_images):
    """The model the paper rules out: one that reproduces the target's own protein
    (memorised, or read off its markers)."""
    copier = Lookup(cells, pair_images.pairs, pair_images.real)
    summary = cf.summarise(cf.counterfactual_check(copier, cells, fields, crop_size=CROP,
                                                   n_pairs=N_PAIRS))
    assert not summary["holds"] and summary["fraction_counterfactual_wins"] == 0
    assert summary["mean_corr_real"] == pytest.approx(1)
    assert summary["wilcoxon_p_greater"] > 0.99


def test_a_centre_blob_ties_unless_the_neighbours_are_left_dark(fields, cells):
    """Why the neighbours are painted: with the target cell alone bright, a prediction that is
    merely bright in the middle matches the counterfactual better, whatever it paints."""
    grid = torch.arange(OUTPUT, dtype=torch.float32) - (OUTPUT - 1) / 2
    blob = torch.exp(-(grid[:, None] ** 2 + grid[None, :] ** 2) / (2 * (OUTPUT / 5) ** 2))

    def centre_blob(source, target_marker):
        return blob.expand(len(source), 1, OUTPUT, OUTPUT)

    def difference(paint_neighbours):
        table = cf.counterfactual_check(centre_blob, cells, fields, crop_size=CROP, n_pairs=40,
                                        paint_neighbours=paint_neighbours)
        return cf.summarise(table)["mean_difference"]

    fair, dark = difference(True), difference(False)
    assert abs(fair) < 0.05
    assert dark > fair + 0.05


def test_the_check_runs_a_real_model_and_restores_its_mode(fields, data, cells):
    torch.manual_seed(0)
    model = PairedInpainting(preset("smoke", source_channels=3, target_marker_channels=2))
    model.train()
    table = cf.counterfactual_check(model, data, fields, crop_size=CROP, n_pairs=12)
    assert model.training
    assert len(table) == 12 and not table.isna().any().any()
    assert {"source_class", "target_class", "corr_counterfactual", "corr_real",
            "corr_source", "corr_copy"} <= set(table.columns)
    assert set(cf.summarise(table)) >= {"mean_corr_counterfactual", "mean_corr_real",
                                        "fraction_counterfactual_wins", "wilcoxon_p_greater"}


def test_examples_show_one_source_class_per_row(fields, cells):
    examples = cf.counterfactual_examples(lambda s, m: s[:, :1] * m[:, :1], cells, fields,
                                          crop_size=CROP, n=3)
    for images in (examples.source, examples.prediction, examples.counterfactual, examples.real):
        assert images.shape == (3, OUTPUT, OUTPUT)
        assert images.min() >= 0 and images.max() <= 1
    assert examples.target_marker.shape == (3, 2, OUTPUT, OUTPUT)
    assert examples.table["source_class"].nunique() == 3
    assert list(examples.columns()) == ["source protein", "target nucleus", "prediction",
                                        "counterfactual", "real target"]


def test_the_atlas_is_read_from_a_config_its_dict_or_the_fields(fields):
    config = atlas_config("smoke", fields_per_protein=4)
    assert cf.atlas_config_of(fields) == config
    assert cf.atlas_config_of(config.cache_config()) == config
    stale = type("Fields", (), {"attrs": dict(fields.attrs, generator_version="0")})()
    with pytest.raises(ValueError, match="simulator version"):
        cf.atlas_config_of(stale)
