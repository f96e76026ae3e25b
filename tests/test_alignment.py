"""The Integrated Cell papers' single-cell preprocessing (Johnson et al. 2017, Section 3.1 of the
2-D and the 3-D paper): mode background, [0, 1] scaling, major-axis alignment, nuclear centring,
flips by skew and padding, in 2-D and 3-D.

Synthetic cells have a known geometry: an egg-shaped body, wider at one end and with a lobe
on one side, so that the skews along both axes have a clear sign, plus an off-centre nucleus.
Each is drawn at a random angle and position. The real-pixel tests use the one Allen Cell
hiPSC (membrane + DNA, 3-D) that the napari-ndev wheel ships among its test resources.
"""
import numpy as np
import pytest
from scipy import ndimage as ndi

from cellnb.data import alignment, samples
from cellnb.data.validation import DataFormatError

CHANNELS = {"membrane": 0, "dna": 1}
SHAPE_2D = (72, 80)
SHAPE_3D = (20, 64, 72)
TARGET_2D = (64, 64)
TARGET_3D = (24, 48, 64)


# --- synthetic cells ----------------------------------------------------------------------------

def cell_frame(shape_yx, angle_deg, centre_yx):
    """(u, v) of every pixel: u along the cell's long axis at ``angle_deg``, v across it."""
    y, x = np.meshgrid(*[np.arange(size, dtype=float) for size in shape_yx], indexing="ij")
    dy, dx = y - centre_yx[0], x - centre_yx[1]
    radians = np.radians(angle_deg)
    u = dx * np.cos(radians) + dy * np.sin(radians)
    v = -dx * np.sin(radians) + dy * np.cos(radians)
    return u, v


def cell_and_nucleus(u, v, shrink=1.0):
    """Body tapering from the -u end, a lobe at (-u, +v), a nucleus towards -u; ``shrink`` <= 1."""
    u, v = u / shrink, v / shrink
    width = 10.0 * (1 - 0.35 * np.clip(u / 22.0, -1, 1))
    body = (u / 22.0) ** 2 + (v / width) ** 2 <= 1
    lobe = ((u + 4) / 8) ** 2 + ((v - 11) / 8) ** 2 <= 1
    nucleus = ((u + 6) / 7) ** 2 + ((v + 1.5) / 5) ** 2 <= 1
    return body | lobe, nucleus


def render(cell, nucleus, rng):
    """uint16 membrane (bright rim, dim cytoplasm) and DNA channels on a background of 100."""
    rim = cell & ~ndi.binary_erosion(cell, iterations=2)
    membrane = 100 + 900 * rim + 150 * cell
    dna = 100 + 800 * nucleus.astype(float)
    return rng.poisson(np.stack([membrane, dna])).astype(np.uint16)


def synthetic_cell_2d(rng, angle_deg=None, mirror=False):
    """A 2-D cell at a random (or given) angle and position; returns image, cell, nucleus, angle."""
    angle_deg = rng.uniform(-180, 180) if angle_deg is None else angle_deg
    centre = np.array(SHAPE_2D) / 2 + rng.uniform(-6, 6, size=2)
    u, v = cell_frame(SHAPE_2D, angle_deg, centre)
    cell, nucleus = cell_and_nucleus(u, -v if mirror else v)
    return render(cell, nucleus, rng), cell, nucleus, angle_deg


def synthetic_cell_3d(rng, angle_deg=None, mirror=False):
    """The 2-D cell as a dome in z (cross-sections shrink away from mid-height)."""
    angle_deg = rng.uniform(-180, 180) if angle_deg is None else angle_deg
    centre = np.array(SHAPE_3D[1:]) / 2 + rng.uniform(-6, 6, size=2)
    mid_z = SHAPE_3D[0] / 2 + rng.uniform(-2, 2)
    u, v = cell_frame(SHAPE_3D[1:], angle_deg, centre)
    v = -v if mirror else v
    cells, nuclei = [], []
    for z in range(SHAPE_3D[0]):
        shrink = np.sqrt(max(1 - ((z - mid_z) / 8.0) ** 2, 1e-6))
        cell, _ = cell_and_nucleus(u, v, shrink)
        _, nucleus = cell_and_nucleus(u, v)
        cells.append(cell)
        nuclei.append(nucleus & (abs(z - mid_z) <= 3.5))
    cell, nucleus = np.stack(cells), np.stack(nuclei)
    return render(cell, nucleus, rng), cell, nucleus, angle_deg


def angle_difference(a, b):
    """a - b for axes (defined modulo 180 degrees), in (-90, 90]."""
    return (a - b + 90) % 180 - 90


def shape_angle_at_zero(ndim):
    """The major-axis angle of the synthetic cell drawn at angle 0 (the lobe tilts it a little)."""
    rng = np.random.default_rng(0)
    make = synthetic_cell_2d if ndim == 2 else synthetic_cell_3d
    _, cell, _, _ = make(rng, angle_deg=0.0)
    return alignment.major_axis_angle(cell)[0]


def centroid_error(nucleus, record):
    """Distance (px) from the output centre to the nucleus mask carried through the alignment."""
    carried = alignment.apply_alignment(nucleus.astype(np.float32), record, order=1)
    centre = alignment.centre_of(record.output_shape)
    return float(np.linalg.norm(np.array(ndi.center_of_mass(carried)) - centre))


def correlation(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


# --- intensities --------------------------------------------------------------------------------

def test_mode_background_of_a_constant_plus_blob_is_the_constant():
    image = np.full((2, 40, 50), 100, dtype=np.uint16)
    image[0, 10:20, 10:25] = 700
    image[1] = 30
    image[1, 30:35, 5:9] = 80
    cleaned, modes = alignment.subtract_mode_background(image)
    assert modes.tolist() == [100.0, 30.0]
    assert cleaned.dtype == np.float32
    assert cleaned[0, 10:20, 10:25].min() == 600 and cleaned[1, 30:35, 5:9].min() == 50
    blob = np.zeros(image.shape[1:], bool)
    blob[10:20, 10:25] = True
    assert (cleaned[0][~blob] == 0).all()


def test_mode_background_clips_below_the_mode_and_handles_floats():
    rng = np.random.default_rng(1)
    image = (5.0 + rng.normal(0, 0.01, (1, 60, 60))).astype(np.float32)
    image[0, :10] = 1.0                      # darker than the background: clipped to 0
    image[0, 20:30, 20:30] = 9.0
    cleaned, modes = alignment.subtract_mode_background(image)
    assert abs(modes[0] - 5.0) < 0.05
    assert (cleaned >= 0).all() and (cleaned[0, :10] == 0).all()
    assert abs(cleaned[0, 20:30, 20:30].mean() - 4.0) < 0.05


def test_float_mode_is_exact_where_one_level_dominates():
    rng = np.random.default_rng(2)
    isolated = np.zeros((1, 50, 50), np.float32)          # a masked cell: zeros around it
    isolated[0, 10:30, 10:30] = rng.uniform(0.2, 1.0, (20, 20))
    assert alignment.mode_intensity(isolated[0]) == 0.0
    assert alignment.mode_intensity(np.array([3, 7, 7, 2], np.uint8)) == 7.0


def test_scaling_puts_each_channel_in_unit_range_and_keeps_blank_channels_zero():
    image = np.zeros((3, 8, 8), np.float32)
    image[0, 2, 3], image[1, 5, 5] = 40.0, 0.5
    scaled, maxima = alignment.scale_to_unit_range(image)
    assert maxima.tolist() == [40.0, 0.5, 0.0]
    assert scaled[0].max() == 1.0 and scaled[1].max() == 1.0 and not scaled[2].any()


# --- geometry pieces ----------------------------------------------------------------------------

@pytest.mark.parametrize("angle", [-75.0, -30.0, 0.0, 20.0, 60.0, 90.0])
def test_major_axis_angle_of_an_ellipse(angle):
    u, v = cell_frame((81, 81), angle, (40, 40))
    ellipse = (u / 30) ** 2 + (v / 12) ** 2 <= 1
    measured, elongation = alignment.major_axis_angle(ellipse)
    assert abs(angle_difference(measured, angle)) < 1.0
    assert 2.2 < elongation < 2.8


def test_skew_is_positive_towards_the_thin_tail():
    weights = np.zeros((20, 40))
    weights[:, 5:15] = 3.0                    # bulk on the left
    weights[:, 15:35] = 1.0                   # thin tail to the right
    assert alignment.skew_along(weights, 0.0) > 0
    assert alignment.skew_along(weights[:, ::-1], 0.0) < 0
    assert abs(alignment.skew_along(weights, 90.0)) < 1e-9


def test_pad_or_crop_keeps_the_centre():
    image = np.arange(2 * 5 * 7, dtype=float).reshape(2, 5, 7)
    padded = alignment.pad_or_crop(image, (9, 9))
    assert padded.shape == (2, 9, 9)
    assert np.array_equal(padded[:, 2:7, 1:8], image)
    cropped = alignment.pad_or_crop(image, (3, 3))
    assert np.array_equal(cropped, image[:, 1:4, 2:5])


def test_pixel_size_rescales_to_the_papers_pixel():
    assert np.allclose(alignment.pixel_scale(0.317, 2), 1.0)
    assert np.allclose(alignment.pixel_scale((0.29, 0.26, 0.26), 3),
                       np.array([0.29, 0.26, 0.26]) / 0.317)


# --- the whole preprocessing, 2-D ---------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_2d_cell_is_aligned_centred_and_canonically_flipped(seed):
    image, cell, nucleus, angle = synthetic_cell_2d(np.random.default_rng(seed))
    out, record = alignment.preprocess_cell(image, channels=CHANNELS, target_shape=TARGET_2D)

    assert out.shape == (2, *TARGET_2D) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert record.masks == "derived"
    true_axis = angle + shape_angle_at_zero(2)
    assert abs(angle_difference(record.major_axis_angle_deg, true_axis)) < 5.0
    carried_cell = alignment.apply_alignment(cell.astype(np.float32), record, order=1)
    assert abs(alignment.major_axis_angle(carried_cell)[0]) < 5.0
    assert centroid_error(nucleus, record) < 1.0
    assert alignment.skew_along(out[0], 0.0) > 0 and alignment.skew_along(out[0], 90.0) > 0


@pytest.mark.parametrize("seed", range(3))
def test_2d_cell_and_its_mirror_image_give_the_same_output(seed):
    rng = np.random.default_rng(10 + seed)
    image, *_ = synthetic_cell_2d(rng)
    mirror, *_ = synthetic_cell_2d(rng, mirror=True)        # drawn anew: other angle and place
    out, _ = alignment.preprocess_cell(image, channels=CHANNELS, target_shape=TARGET_2D)
    out_mirror, _ = alignment.preprocess_cell(mirror, channels=CHANNELS, target_shape=TARGET_2D)
    same = correlation(out[0], out_mirror[0])
    assert same > 0.8
    # ...and clearly closer than either flip of it: the flips are what made them agree
    assert same > correlation(out[0], out_mirror[0, :, ::-1]) + 0.2
    assert same > correlation(out[0], out_mirror[0, ::-1, :]) + 0.2
    # mirroring the very same pixels gives the very same output
    flipped, _ = alignment.preprocess_cell(image[:, :, ::-1], channels=CHANNELS,
                                           target_shape=TARGET_2D)
    assert np.allclose(flipped, out, atol=1e-5)


def test_given_masks_are_used_and_the_geometry_can_be_undone():
    image, cell, nucleus, angle = synthetic_cell_2d(np.random.default_rng(7))
    out, record = alignment.preprocess_cell(image, channels=CHANNELS, target_shape=(96, 96),
                                            cell_mask=cell, nucleus_mask=nucleus)
    assert record.masks == "given"
    assert abs(angle_difference(record.major_axis_angle_deg, angle + shape_angle_at_zero(2))) < 1
    centroid = alignment.nuclear_centroid(nucleus)
    assert np.allclose(record.to_output(centroid), alignment.centre_of((96, 96)))
    assert np.allclose(record.to_input(record.to_output(centroid)), centroid)
    restored = alignment.restore_input_geometry(out, record)
    assert restored.shape == image.shape
    expected = alignment.isolate_cell(
        alignment.scale_to_unit_range(alignment.subtract_mode_background(image)[0])[0], cell)
    assert correlation(restored[0], expected[0]) > 0.9
    assert set(record.as_dict()) >= {"major_axis_angle_deg", "rotation_deg", "flipped_major",
                                     "nucleus_offset", "forward"}


# --- the whole preprocessing, 3-D ---------------------------------------------------------------

@pytest.mark.parametrize("seed", range(2))
def test_3d_cell_is_aligned_in_plane_centred_and_flipped(seed):
    image, cell, nucleus, angle = synthetic_cell_3d(np.random.default_rng(20 + seed))
    out, record = alignment.preprocess_cell(image, channels=CHANNELS, target_shape=TARGET_3D)

    assert out.shape == (2, *TARGET_3D) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert abs(angle_difference(record.major_axis_angle_deg, angle + shape_angle_at_zero(3))) < 5
    carried_cell = alignment.apply_alignment(cell.astype(np.float32), record, order=1)
    assert abs(alignment.major_axis_angle(carried_cell)[0]) < 5.0
    assert centroid_error(nucleus, record) < 1.0
    assert alignment.skew_along(out[0], 0.0) > 0 and alignment.skew_along(out[0], 90.0) > 0
    assert record.matrix[0, 0] == 1.0          # z is never rotated nor flipped


def test_3d_cell_and_its_mirror_image_give_the_same_output():
    rng = np.random.default_rng(30)
    image, *_ = synthetic_cell_3d(rng)
    mirror, *_ = synthetic_cell_3d(rng, mirror=True)
    out, _ = alignment.preprocess_cell(image, channels=CHANNELS, target_shape=TARGET_3D)
    out_mirror, _ = alignment.preprocess_cell(mirror, channels=CHANNELS, target_shape=TARGET_3D)
    same = correlation(out[0], out_mirror[0])
    assert same > 0.8
    assert same > correlation(out[0], out_mirror[0, :, :, ::-1]) + 0.2
    assert same > correlation(out[0], out_mirror[0, :, ::-1, :]) + 0.2


# --- errors say what is wrong and what to do ----------------------------------------------------

@pytest.mark.parametrize("image, channels, words", [
    (np.zeros((40, 40)), CHANNELS, "(C, Y, X)"),
    (np.zeros((2, 40, 40)), {"membrane": 0}, "'dna'"),
    (np.zeros((2, 40, 40)), {"membrane": 0, "dna": 2}, "has 2 channels"),
])
def test_bad_images_are_named(image, channels, words):
    with pytest.raises(DataFormatError) as error:
        alignment.preprocess_cell(image, channels=channels)
    assert words in str(error.value)


def test_bad_masks_and_shapes_are_named():
    image, cell, nucleus, _ = synthetic_cell_2d(np.random.default_rng(3))
    with pytest.raises(DataFormatError, match="cell_mask is empty"):
        alignment.preprocess_cell(image, channels=CHANNELS, cell_mask=np.zeros_like(cell),
                                  nucleus_mask=nucleus)
    with pytest.raises(DataFormatError, match="spatial shape"):
        alignment.preprocess_cell(image, channels=CHANNELS, nucleus_mask=nucleus[:-1])
    with pytest.raises(DataFormatError, match="PAPER_SHAPE_2D"):
        alignment.preprocess_cell(image, channels=CHANNELS, target_shape=(64, 64, 64))
    blank_dna = image.copy()
    blank_dna[1] = 100
    with pytest.raises(DataFormatError, match="nuclear stain"):
        alignment.preprocess_cell(blank_dna, channels=CHANNELS)


# --- the real hiPSC of the napari-ndev wheel ---------------------------------------------------

@pytest.fixture(scope="module")
def real_hipsc():
    """(2, 60, 66, 85) uint16 membrane + DNA of one Allen Cell hiPSC, and its voxel size (um)."""
    pytest.importorskip("tifffile")
    try:
        return samples.allen_hipsc()
    except samples.MissingSampleError as error:
        pytest.skip(f"{error} (make setup does)")


def real_masks(image):
    """The real cell in [0, 1] and its 3-D cell and nucleus masks, derived as preprocess_cell
    derives them."""
    scaled = alignment.scale_to_unit_range(alignment.subtract_mode_background(image)[0])[0]
    nucleus = alignment.nucleus_mask_from_dna(scaled[1])
    return scaled, alignment.cell_mask_from_membrane(scaled[0], nucleus), nucleus


def check_real_output(out, record, cell, nucleus, target_shape):
    assert out.shape == (2, *target_shape)
    assert out.min() >= 0.0 and out.max() <= 1.0 and out[1].max() > 0.5
    carried_cell = alignment.apply_alignment(cell.astype(np.float32), record, order=1)
    assert abs(alignment.major_axis_angle(carried_cell)[0]) < 5.0
    assert centroid_error(nucleus, record) < 1.0


def test_real_hipsc_3d(real_hipsc):
    image, voxel_um = real_hipsc
    assert image.shape == (2, 60, 66, 85)
    _, cell, nucleus = real_masks(image)
    out, record = alignment.preprocess_cell(image, channels=CHANNELS, pixel_size_um=voxel_um)
    check_real_output(out, record, cell, nucleus, alignment.PAPER_SHAPE_3D)
    assert record.masks == "derived"
    # the crop is tight around a rounded, dividing cell: barely elongated
    assert 1.0 < record.elongation < 1.6


def test_real_hipsc_2d_by_maximum_projection(real_hipsc):
    image, voxel_um = real_hipsc
    scaled, cell, nucleus = real_masks(image)
    # the 2-D paper projects the segmented 3-D cell, so segment in 3-D and project the masks
    projected = alignment.max_project(alignment.isolate_cell(scaled, cell))
    cell_2d, nucleus_2d = cell.any(axis=0), nucleus.any(axis=0)
    out, record = alignment.preprocess_cell(projected, channels=CHANNELS,
                                            pixel_size_um=voxel_um[1:], cell_mask=cell_2d,
                                            nucleus_mask=nucleus_2d)
    check_real_output(out, record, cell_2d, nucleus_2d, alignment.PAPER_SHAPE_2D)
