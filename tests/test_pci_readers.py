"""Specification of the paired-cell-inpainting readers, on tiny files written in each real format.

The fake Chong HDF5 stores GFP = 10 * cell + 1 and RFP = 10 * cell + 2 everywhere, and the fake
TIFFs store a value that names protein, field, cell and channel, so a wrong row, pairing or
channel order shows at once.
"""
import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from cellnb.data.imageset import ImageSet
from cellnb.data.pci_readers import (
    HPA_CHANNELS,
    YEAST_CHANNELS,
    read_chong_hdf5,
    read_hpa_composites,
    read_yeast_tiff_pairs,
)
from cellnb.data.validation import DataFormatError

CLASSES = ["ACTIN", "BUDNECK", "ER", "NUCLEUS"]


# ------------------------------------------------------------------------------ Chong HDF5

def write_chong(path, labels, *, first_cell=0, class_key="bytes"):
    """A DeepLoc-style file: data1 rows of 2*64*64 (GFP then RFP), Index1 one-hot."""
    n = len(labels)
    cells = np.arange(first_cell, first_cell + n, dtype=np.float32)[:, None, None, None]
    data = np.concatenate([np.broadcast_to(10 * cells + 1, (n, 1, 64, 64)),
                           np.broadcast_to(10 * cells + 2, (n, 1, 64, 64))], axis=1)
    with h5py.File(path, "w") as file:
        file["data1"] = data.reshape(n, -1)
        file["Index1"] = np.eye(len(CLASSES), dtype=np.float32)[labels]
        if class_key == "bytes":
            file["Index1_columns"] = np.array(CLASSES, dtype="S")
        elif class_key == "deepdish_list":       # deepdish stores a Python list as a group
            group = file.create_group("Index1_columns")
            for i, name in enumerate(CLASSES):
                group[f"i{i}"] = np.bytes_(name)
    return path


def test_chong_reads_cells_protein_first_with_labels(tmp_path):
    path = write_chong(tmp_path / "Chong_test_set.hdf5", [2, 0, 3])
    cells = read_chong_hdf5(path)
    assert isinstance(cells, ImageSet)
    assert cells.images.shape == (3, 2, 64, 64) and cells.images.dtype == np.float32
    assert cells.channels == YEAST_CHANNELS == ("protein", "marker")
    assert np.all(cells.channel("protein")[1] == 11) and np.all(cells.channel("marker")[1] == 12)
    assert list(cells.metadata["label"]) == ["ER", "ACTIN", "NUCLEUS"]
    assert list(cells.metadata["label_index"]) == [2, 0, 3]
    assert cells.attrs["class_names"] == CLASSES


def test_chong_concatenates_files_and_reads_only_the_subset(tmp_path):
    train = write_chong(tmp_path / "Chong_train_set.hdf5", [0, 1, 2], class_key="deepdish_list")
    test = write_chong(tmp_path / "Chong_test_set.hdf5", [3, 3], first_cell=3)
    cells = read_chong_hdf5([train, test], indices=[4, 0, 3])     # any order, across files
    assert cells.images[:, 0, 0, 0].tolist() == [41, 1, 31]
    assert list(cells.metadata["file"]) == ["Chong_test_set.hdf5", "Chong_train_set.hdf5",
                                            "Chong_test_set.hdf5"]
    assert cells.metadata["row"].tolist() == [1, 0, 0]
    assert list(cells.metadata["label"]) == ["NUCLEUS", "ACTIN", "NUCLEUS"]
    mask = np.array([False, True, False, False, True])
    assert read_chong_hdf5([train, test], indices=mask).metadata["position"].tolist() == [1, 4]


def test_chong_without_class_names_needs_class_names_argument(tmp_path):
    path = write_chong(tmp_path / "Chong_valid_set.hdf5", [1, 0], class_key=None)
    with pytest.raises(DataFormatError, match=r"Chong_valid_set.hdf5 has no Index1_columns.*"
                                              r"class_names="):
        read_chong_hdf5(path)
    names = ["a", "b", "c", "d"]
    assert list(read_chong_hdf5(path, class_names=names).metadata["label"]) == ["b", "a"]
    with pytest.raises(DataFormatError, match="4 columns but 2 class names"):
        read_chong_hdf5(path, class_names=["a", "b"])


def test_chong_missing_key_names_file_and_keys(tmp_path):
    path = tmp_path / "Chong_test_set.hdf5"
    with h5py.File(path, "w") as file:
        file["data1"] = np.zeros((2, 2 * 64 * 64), dtype=np.float32)
    with pytest.raises(DataFormatError, match=r"Chong_test_set.hdf5 lacks the required "
                                              r"entries \['Index1'\]"):
        read_chong_hdf5(path)


def test_chong_wrong_shape_says_what_rows_should_be(tmp_path):
    path = tmp_path / "bad.hdf5"
    with h5py.File(path, "w") as file:
        file["data1"] = np.zeros((2, 64 * 64), dtype=np.float32)      # one channel only
        file["Index1"] = np.eye(4)[[0, 1]]
        file["Index1_columns"] = np.array(CLASSES, dtype="S")
    with pytest.raises(DataFormatError, match=r"bad.hdf5: data1 should have shape \(n, 8192\).*"
                                              r"got \(2, 4096\).*DeepLoc_full_datasets.zip"):
        read_chong_hdf5(path)


def test_chong_labels_must_be_one_hot(tmp_path):
    path = write_chong(tmp_path / "c.hdf5", [0, 1])
    with h5py.File(path, "a") as file:
        file["Index1"][1] = 0                                            # a cell with no class
    with pytest.raises(DataFormatError, match=r"c.hdf5: Index1 rows \[1\].*one-hot"):
        read_chong_hdf5(path)


def test_chong_not_hdf5_and_truncated(tmp_path):
    page = tmp_path / "page.hdf5"
    page.write_bytes(b"<!DOCTYPE html><html>quota exceeded</html>")
    with pytest.raises(DataFormatError, match=r"page.hdf5 is not an HDF5 file.*web page"):
        read_chong_hdf5(page)
    whole = write_chong(tmp_path / "whole.hdf5", [0, 1, 2]).read_bytes()
    cut = tmp_path / "cut.hdf5"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataFormatError, match=r"cut.hdf5 .*(truncated|corrupt)"):
        read_chong_hdf5(cut)


# ------------------------------------------------------------------------ yeast TIFF pairs

def yeast_value(protein, field, cell, channel):
    return 1000 * protein + 100 * field + cell + (0.5 if channel == "rfp" else 0.0)


def write_yeast(root, layout=None, size=8):
    """layout: protein name -> {field: number of cells}."""
    layout = layout or {"AAC1": {1: 2, 2: 1}, "AAR2": {1: 3}}
    for p, (protein, fields) in enumerate(layout.items()):
        folder = root / protein
        folder.mkdir(parents=True, exist_ok=True)
        for field, n in fields.items():
            for cell in range(n):
                for channel in ("gfp", "rfp"):
                    value = yeast_value(p, field, cell, channel)
                    tifffile.imwrite(folder / f"{protein}_{field}_rfp_{cell}_{channel}.tif",
                                     np.full((size, size), value, dtype=np.float32))
    return root


def test_yeast_pairs_gfp_with_rfp_protein_first_and_groups_by_field(tmp_path):
    root = write_yeast(tmp_path / "yeast")
    cells = read_yeast_tiff_pairs(root)
    assert cells.images.shape == (6, 2, 8, 8) and cells.channels == ("protein", "marker")
    meta = cells.metadata
    assert list(meta["protein"]) == ["AAC1"] * 3 + ["AAR2"] * 3
    assert list(meta["image_id"]) == ["AAC1_1", "AAC1_1", "AAC1_2"] + ["AAR2_1"] * 3
    for i, row in meta.iterrows():
        p, field, cell = ["AAC1", "AAR2"].index(row.protein), int(row.field), int(row.cell)
        assert cells.images[i, 0, 0, 0] == yeast_value(p, field, cell, "gfp")
        assert cells.images[i, 1, 0, 0] == yeast_value(p, field, cell, "rfp")
    by_protein = read_yeast_tiff_pairs(root, image_id="protein", proteins=["AAR2"])
    assert list(by_protein.metadata["image_id"]) == ["AAR2"] * 3


def test_yeast_cells_sort_numerically(tmp_path):
    root = write_yeast(tmp_path / "yeast", {"AAH1": {1: 12}})
    assert read_yeast_tiff_pairs(root).metadata["cell"].tolist() == [str(c) for c in range(12)]


def test_yeast_orphan_gfp_is_reported(tmp_path):
    root = write_yeast(tmp_path / "yeast")
    (root / "AAR2" / "AAR2_1_rfp_2_rfp.tif").unlink()
    with pytest.raises(DataFormatError, match=r"1 cell\(s\) have only one.*AAR2_1_rfp_2_gfp.tif"
                                              r".*on_orphan='skip'"):
        read_yeast_tiff_pairs(root)
    cells = read_yeast_tiff_pairs(root, on_orphan="skip")
    assert len(cells) == 5 and cells.attrs["orphans"][0].endswith("AAR2_1_rfp_2_gfp.tif")


def test_yeast_empty_folder(tmp_path):
    (tmp_path / "yeast" / "AAC1").mkdir(parents=True)
    (tmp_path / "yeast" / "AAC1" / "notes.tif").write_bytes(b"")
    with pytest.raises(DataFormatError, match=r"yeast holds no per-cell TIFF pairs.*notes.tif"
                                              r".*<PROTEIN>_<field>_rfp_<cell>_gfp.tif"):
        read_yeast_tiff_pairs(tmp_path / "yeast")


def test_yeast_truncated_tiff_named(tmp_path):
    root = write_yeast(tmp_path / "yeast", {"AAC1": {1: 1}}, size=64)
    path = root / "AAC1" / "AAC1_1_rfp_0_rfp.tif"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match=r"AAC1_1_rfp_0_rfp.tif could not be read as a "
                                              r"TIFF.*truncated"):
        read_yeast_tiff_pairs(root)


def test_yeast_wrong_shape_named(tmp_path):
    root = write_yeast(tmp_path / "yeast", {"AAC1": {1: 2}})
    tifffile.imwrite(root / "AAC1" / "AAC1_1_rfp_1_gfp.tif", np.zeros((2, 8, 8), np.float32))
    with pytest.raises(DataFormatError, match=r"AAC1_1_rfp_1_gfp.tif should hold one 2-D "
                                              r"channel.*\(2, 8, 8\)"):
        read_yeast_tiff_pairs(root)
    tifffile.imwrite(root / "AAC1" / "AAC1_1_rfp_1_gfp.tif", np.zeros((9, 9), np.float32))
    with pytest.raises(DataFormatError, match=r"AAC1_1_rfp_1_gfp.tif is \(9, 9\) px.*\(8, 8\)"):
        read_yeast_tiff_pairs(root)


# ---------------------------------------------------------------------- HPA RGB composites

def hpa_field(centres, *, size=96, radius=7):
    """RGB uint8: a bright blue disc per nucleus; green (protein) and red (tubulin) ramps."""
    yy, xx = np.mgrid[:size, :size]
    rgb = np.zeros((size, size, 3), dtype=np.uint8)
    for y, x in centres:
        rgb[..., 2][(yy - y) ** 2 + (xx - x) ** 2 <= radius ** 2] = 200
    rgb[..., 1] = (xx * 2).astype(np.uint8)                 # protein: varies along x
    rgb[..., 0] = (yy * 2).astype(np.uint8)                 # microtubules: varies along y
    return rgb


SMALL = {"min_area": 50}       # the paper's 400 px suits full-size fields, not 96 px test ones


def test_hpa_crops_one_cell_per_nucleus_grouped_by_experiment(tmp_path):
    root = tmp_path / "images"
    (root / "ENSG01" / "123_A1").mkdir(parents=True)
    (root / "ENSG02" / "456_B2").mkdir(parents=True)
    Image.fromarray(hpa_field([(30, 30), (60, 60)])).save(root / "ENSG01" / "123_A1" / "1.png")
    Image.fromarray(hpa_field([(48, 40)])).save(root / "ENSG01" / "123_A1" / "2.png")
    Image.fromarray(hpa_field([(40, 50), (70, 20), (5, 5)])).save(
        root / "ENSG02" / "456_B2" / "1.jpg", quality=95)
    cells = read_hpa_composites(root, crop_size=32, output_size=16, segmentation=SMALL)
    assert cells.channels == HPA_CHANNELS == ("protein", "nucleus", "microtubules")
    # (5, 5) sits too near the border for a 32 px window and is skipped, as in the paper's code
    assert cells.images.shape == (5, 3, 16, 16) and cells.images.dtype == np.float32
    meta = cells.metadata
    assert list(meta["image_id"]) == ["ENSG01/123_A1"] * 3 + ["ENSG02/456_B2"] * 2
    assert list(meta["protein"]) == ["ENSG01"] * 3 + ["ENSG02"] * 2
    first = cells.images[0]
    # the nucleus (blue) is bright at the centre, the protein (green) ramps along x
    assert first[1, 8, 8] > 0.7 and first[1, 0, 0] < 0.1
    assert first[0, 8, 12] > first[0, 8, 3] and np.allclose(first[0, 3, 8], first[0, 12, 8],
                                                            atol=0.02)
    assert np.allclose(meta.loc[0, ["centroid_y", "centroid_x"]].astype(float), [30, 30],
                       atol=0.5)


def test_hpa_paper_settings_drop_small_nuclei(tmp_path):
    (tmp_path / "E" / "x").mkdir(parents=True)
    Image.fromarray(hpa_field([(48, 48)], radius=7)).save(tmp_path / "E" / "x" / "f.png")
    cells = read_hpa_composites(tmp_path, crop_size=32, output_size=None)   # min_area 400
    assert len(cells) == 0 and cells.images.shape == (0, 3, 32, 32)
    assert cells.attrs["fields_without_cells"] == ["E/x/f.png"]


def test_hpa_grayscale_file_is_missing_channels(tmp_path):
    (tmp_path / "E").mkdir()
    Image.fromarray(hpa_field([(48, 48)])[..., 2]).save(tmp_path / "E" / "blue.png")
    with pytest.raises(DataFormatError, match=r"blue.png is a single-channel.*channels are "
                                              r"missing.*blue_red_green"):
        read_hpa_composites(tmp_path)


def test_hpa_blank_channel_named(tmp_path):
    (tmp_path / "E").mkdir()
    rgb = hpa_field([(48, 48)])
    rgb[..., 2] = 0
    Image.fromarray(rgb).save(tmp_path / "E" / "f.png")
    with pytest.raises(DataFormatError, match=r"f.png: the nucleus channel \(B\) is blank"):
        read_hpa_composites(tmp_path)


def test_hpa_truncated_image_named(tmp_path):
    (tmp_path / "E").mkdir()
    path = tmp_path / "E" / "f.jpg"
    Image.fromarray(hpa_field([(48, 48)])).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match=r"f.jpg could not be read.*truncated"):
        read_hpa_composites(tmp_path)


def test_hpa_empty_folder(tmp_path):
    (tmp_path / "ENSG01").mkdir()
    with pytest.raises(DataFormatError, match=r"holds no RGB composites \(\*.jpg"):
        read_hpa_composites(tmp_path)
