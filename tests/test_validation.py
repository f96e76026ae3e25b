"""Specification of the real-data checks: each failure names the problem and the fix."""
import h5py
import numpy as np
import pandas as pd
import pytest

from cellnb.data.validation import DataFormatError, check_array, check_columns, open_hdf5

CROPS = np.zeros((5, 100, 100, 4), dtype=np.float32)


def test_check_array_accepts_a_matching_array_and_returns_it():
    out = check_array(CROPS, name="crops", ndim=4, shape=(None, 100, 100, 4),
                      channels=(-1, ("protein", "nucleus", "distance", "segmentation")),
                      dtype_kind="f")
    assert out is CROPS


def test_check_array_rejects_a_non_array():
    with pytest.raises(DataFormatError, match="crops should be a numpy array, got list; load"):
        check_array([1, 2], name="crops")


def test_check_array_wrong_ndim():
    with pytest.raises(DataFormatError,
                       match=r"crops should have 3 dimensions, got 4 .*axis order"):
        check_array(CROPS, name="crops", ndim=3)


def test_check_array_wrong_shape_shows_wildcards():
    with pytest.raises(DataFormatError,
                       match=r"should have shape \(\*, 64, 64, 4\) \(\* = any\), got \(5, 100"):
        check_array(CROPS, name="crops", shape=(None, 64, 64, 4))
    with pytest.raises(DataFormatError, match="should have shape"):
        check_array(CROPS, name="crops", shape=(None, 100, 100))     # one axis short


def test_check_array_wrong_channel_count_names_the_channels():
    cells = np.zeros((3, 2, 64, 64))
    with pytest.raises(DataFormatError, match=r"should have 3 channels \(membrane, structure, "
                                              r"DNA\) on axis 1, got 2"):
        check_array(cells, name="cells", channels=(1, ("membrane", "structure", "DNA")))
    with pytest.raises(DataFormatError, match="no channel axis 5"):
        check_array(cells, name="cells", channels=(5, ("GFP", "RFP")))


def test_check_array_wrong_dtype_kind():
    with pytest.raises(DataFormatError, match=r"floating point values, got dtype uint8; "
                                              r"convert it explicitly"):
        check_array(np.zeros(3, np.uint8), name="image", dtype_kind="f")
    check_array(np.zeros(3, np.uint8), name="image", dtype_kind="iu")


def test_check_columns():
    labels = pd.DataFrame(columns=["ensg", "name", "loc_grade1"])
    check_columns(labels, ["ensg", "name"], name="Label_data00.csv")
    with pytest.raises(DataFormatError, match=r"Label_data00.csv is missing column\(s\) "
                                              r"\['FOV_id'\]; it has \['ensg', 'name', "):
        check_columns(labels, ["ensg", "FOV_id"], name="Label_data00.csv")


@pytest.fixture
def hdf5_file(tmp_path):
    path = tmp_path / "Chong_test_set.hdf5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as file:
        file["data1"] = rng.random((50, 2 * 64 * 64)).astype(np.float32)
        file["Index1"] = np.eye(17)[rng.integers(0, 17, 50)]
    return path


def test_open_hdf5_opens_a_good_file(hdf5_file):
    with open_hdf5(hdf5_file, required=["data1", "Index1"]) as file:
        assert file["data1"].shape == (50, 8192)


def test_open_hdf5_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no HDF5 file at .*missing.h5; download it"):
        open_hdf5(tmp_path / "missing.h5")


def test_open_hdf5_a_saved_web_page(tmp_path):
    page = tmp_path / "DeepLoc.hdf5"
    page.write_text("<!DOCTYPE html><html>Too many users have viewed this file</html>")
    with pytest.raises(DataFormatError, match="not an HDF5 file .* web page.*download the file"):
        open_hdf5(page)


def test_open_hdf5_a_zip_archive(tmp_path):
    import zipfile
    archive = tmp_path / "DeepLoc_full_datasets.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("Chong_test_set.hdf5", b"x")
    with pytest.raises(DataFormatError, match="zip archive: unpack it"):
        open_hdf5(archive)


def test_open_hdf5_truncated_file(hdf5_file, tmp_path):
    truncated = tmp_path / "truncated.hdf5"
    truncated.write_bytes(hdf5_file.read_bytes()[: hdf5_file.stat().st_size // 2])
    with pytest.raises(DataFormatError, match="probably truncated or corrupt.*download it again"):
        open_hdf5(truncated)


def test_open_hdf5_missing_key(hdf5_file):
    with pytest.raises(DataFormatError,
                       match=r"lacks the required entries \['Info1'\]; its top level holds "
                             r"\['Index1', 'data1'\]"):
        open_hdf5(hdf5_file, required=["data1", "Info1"])


def test_open_hdf5_directory(tmp_path):
    with pytest.raises(DataFormatError, match="is a directory"):
        open_hdf5(tmp_path)
