"""Specification of the LIN reader of the biogans chapter, on tiny PNG trees in the release's
layout: ``LIN_Normalized_WT_size-48-80_{train,test}/<protein>/cellN.png``.

Every fake cell stores red (Bgs4) = 10 * N and green (protein) = 10 * N + 5 everywhere, with
blue empty, so a wrong channel, cell or scaling shows at once.
"""
import re

import numpy as np
import pytest
from PIL import Image

from cellnb.data.ic_readers import list_ic2d_pngs
from cellnb.data.imageset import ImageSet
from cellnb.data.lin_readers import (
    LIN_CHANNELS,
    PAPER_PROTEINS,
    PAPER_SIZE,
    TABLE1_PROTEINS,
    list_lin_pngs,
    read_lin_png,
    read_lin_pngs,
)
from cellnb.data.validation import DataFormatError

RELEASE = "LIN_Normalized_WT_size-48-80"
# (split, protein, cell number N); written out of order to show the reader sorts.
CELLS = [("train", "Tea1", 1), ("train", "Alp14", 10), ("train", "Alp14", 2),
         ("train", "Arp3", 5), ("test", "Alp14", 3), ("test", "Arp3", 7), ("test", "Tea1", 4)]


def write_cell(path, red, green, *, blue=0, size=PAPER_SIZE):
    """An RGB PNG of ``size`` (height, width) with constant red, green and blue."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.zeros((*size, 3), dtype=np.uint8)
    pixels[...] = [red, green, blue]
    Image.fromarray(pixels, mode="RGB").save(path)
    return path


def scaled(value):
    return value / 127.5 - 1


@pytest.fixture
def lin_root(tmp_path):
    """The folder the zip was unpacked into: both split folders, three proteins each."""
    root = tmp_path / "lin_fission_yeast"
    for split, protein, number in CELLS:
        write_cell(root / f"{RELEASE}_{split}" / protein / f"cell{number}.png",
                   10 * number, 10 * number + 5)
    return root


# ------------------------------------------------------------------ channels, scaling, labels

def test_cells_come_as_red_bgs4_and_green_protein_scaled_to_minus_one_one(lin_root):
    cells = read_lin_pngs(lin_root)
    assert isinstance(cells, ImageSet)
    assert cells.channels == LIN_CHANNELS == ("red", "green")
    assert cells.images.shape == (7, 2, 48, 80) and cells.images.dtype == np.float32
    # Train before test, then protein, then natural order of names: cell2 before cell10.
    numbers = [2, 10, 5, 1, 3, 7, 4]
    assert list(cells.metadata["cell_id"]) == [
        "train/Alp14/cell2", "train/Alp14/cell10", "train/Arp3/cell5", "train/Tea1/cell1",
        "test/Alp14/cell3", "test/Arp3/cell7", "test/Tea1/cell4"]
    for i, number in enumerate(numbers):
        np.testing.assert_allclose(cells.channel("red")[i], scaled(10 * number), rtol=1e-6)
        np.testing.assert_allclose(cells.channel("green")[i], scaled(10 * number + 5),
                                   rtol=1e-6)
    assert list(cells.metadata.columns) == ["protein", "class_index", "split", "file", "cell_id"]
    assert list(cells.metadata["split"]) == ["train"] * 4 + ["test"] * 3
    assert list(cells.metadata["protein"]) == ["Alp14", "Alp14", "Arp3", "Tea1",
                                               "Alp14", "Arp3", "Tea1"]
    assert list(cells.metadata["class_index"]) == [0, 0, 1, 2, 0, 1, 2]
    assert cells.metadata["file"][1] == f"{RELEASE}_train/Alp14/cell10.png"
    assert cells.attrs["class_names"] == ["Alp14", "Arp3", "Tea1"]
    assert cells.attrs["directory"] == str(lin_root)


def test_black_is_minus_one_and_full_intensity_is_one_exactly(tmp_path):
    path = write_cell(tmp_path / "cell.png", red=0, green=255)
    red, green = read_lin_png(path)
    assert red.dtype == np.float32 and np.all(red == -1.0) and np.all(green == 1.0)


def test_the_papers_proteins_are_named():
    assert PAPER_PROTEINS == ("Alp14", "Arp3", "Cki2", "Mkh1", "Sid2", "Tea1")   # Sec. 3.3
    assert TABLE1_PROTEINS[6:] == ("Fim1", "Tea4")                               # Table 1
    assert PAPER_SIZE == (48, 80)


# ------------------------------------------------------------------------ splits and ids

def test_one_split_is_read_from_the_parent_or_its_own_folder_with_the_same_ids(lin_root):
    from_parent = read_lin_pngs(lin_root, split="test")
    from_folder = read_lin_pngs(lin_root / f"{RELEASE}_test")
    assert set(from_parent.metadata["split"]) == {"test"}
    for column in ("file", "cell_id", "class_index"):
        assert list(from_parent.metadata[column]) == list(from_folder.metadata[column])
    np.testing.assert_array_equal(from_parent.images, from_folder.images)
    # The ids are those of reading everything: they do not depend on the root passed.
    everything = list_lin_pngs(lin_root)
    assert list(everything.loc[everything["split"] == "test", "cell_id"]) == list(
        from_folder.metadata["cell_id"])
    with pytest.raises(DataFormatError, match=r"is the test split folder.*split='test'"):
        read_lin_pngs(lin_root / f"{RELEASE}_test", split="train")
    with pytest.raises(ValueError, match="split must be"):
        list_lin_pngs(lin_root, split="valid")


def test_a_folder_whose_name_gives_no_split_needs_split(lin_root, tmp_path):
    mine = lin_root / f"{RELEASE}_train"
    renamed = mine.rename(tmp_path / "my_cells")
    with pytest.raises(DataFormatError, match=r"my_cells.*split is unknown.*split='train'"):
        list_lin_pngs(renamed)
    table = list_lin_pngs(renamed, split="train")
    assert list(table["cell_id"])[:2] == ["train/Alp14/cell2", "train/Alp14/cell10"]


def test_proteins_select_and_number_the_proteins_read_alike_in_both_splits(lin_root):
    table = list_lin_pngs(lin_root, proteins=["Tea1", "Alp14"])
    assert list(table["protein"]) == ["Alp14", "Alp14", "Tea1", "Alp14", "Tea1"]
    assert list(table["class_index"]) == [0, 0, 1, 0, 1]      # sorted over the proteins read
    assert list(table["protein"].cat.categories) == ["Alp14", "Tea1"]
    with pytest.raises(DataFormatError, match=r"\['Cki2'\].*Pass proteins="):
        list_lin_pngs(lin_root, proteins=["Alp14", "Cki2"])


def test_indices_read_a_subset_of_the_listing(lin_root):
    table = list_lin_pngs(lin_root)
    test_rows = np.flatnonzero(table["split"] == "test")
    cells = read_lin_pngs(lin_root, indices=test_rows[::-1])
    assert list(cells.metadata["cell_id"]) == list(table["cell_id"][test_rows[::-1]])
    np.testing.assert_allclose(cells.channel("red")[0], scaled(40), rtol=1e-6)     # cell4
    with pytest.raises(MemoryError, match="indices="):
        read_lin_pngs(lin_root, max_bytes=10_000)


def test_the_release_of_the_size_asked_is_picked_when_two_were_unpacked(lin_root):
    for split in ("train", "test"):
        write_cell(lin_root / f"LIN_Normalized_WT_size-96-160_{split}" / "Alp14" / "cell1.png",
                   10, 15, size=(96, 160))
    assert len(read_lin_pngs(lin_root)) == 7
    large = read_lin_pngs(lin_root, size=(96, 160))
    assert large.images.shape == (2, 2, 96, 160)
    assert list(large.metadata["file"]) == ["LIN_Normalized_WT_size-96-160_train/Alp14/cell1.png",
                                            "LIN_Normalized_WT_size-96-160_test/Alp14/cell1.png"]


# ------------------------------------------------------------------------------- sizes

def test_cells_of_another_size_are_refused_naming_the_file_or_padded_when_asked(lin_root):
    small = write_cell(lin_root / f"{RELEASE}_test" / "Arp3" / "cell8.png", 80, 85,
                       size=(40, 76))
    with pytest.raises(DataFormatError, match=r"cell8\.png is 40x76 px.*pad=True"):
        read_lin_pngs(lin_root)
    cells = read_lin_pngs(lin_root, split="test", pad=True)
    padded = cells.images[list(cells.metadata["cell_id"]).index("test/Arp3/cell8")]
    assert padded.shape == (2, 48, 80)
    np.testing.assert_allclose(padded[0, 4:44, 2:78], scaled(80), rtol=1e-6)   # centred
    assert np.all(padded[:, :4] == -1) and np.all(padded[:, :, :2] == -1)      # black border
    small.unlink()
    write_cell(lin_root / f"{RELEASE}_test" / "Arp3" / "big.png", 1, 1, size=(96, 160))
    with pytest.raises(DataFormatError, match=r"big\.png is 96x160 px.*size=\(96, 160\)"):
        read_lin_pngs(lin_root, split="test", pad=True)


# ------------------------------------------------------------------------------- errors

def test_a_png_with_a_non_empty_blue_channel_is_refused(lin_root):
    write_cell(lin_root / f"{RELEASE}_train" / "Tea1" / "cell9.png", 10, 20, blue=30)
    with pytest.raises(DataFormatError, match=r"cell9\.png has a non-empty blue channel"):
        read_lin_pngs(lin_root)


def test_a_grey_png_is_refused_naming_the_file(lin_root):
    grey = lin_root / f"{RELEASE}_train" / "Tea1" / "grey.png"
    Image.fromarray(np.zeros(PAPER_SIZE, dtype=np.uint8), mode="L").save(grey)
    with pytest.raises(DataFormatError, match=r"grey\.png has mode L.*R = Bgs4"):
        read_lin_pngs(lin_root)


def test_a_truncated_png_is_refused_but_listing_does_not_read_pixels(lin_root):
    broken = lin_root / f"{RELEASE}_test" / "Tea1" / "cell9.png"
    noise = np.random.default_rng(0).integers(0, 256, (*PAPER_SIZE, 3), dtype=np.uint8)
    Image.fromarray(noise, mode="RGB").save(broken)    # noise: the pixel data spans the file
    broken.write_bytes(broken.read_bytes()[:100])
    assert len(list_lin_pngs(lin_root)) == 8
    with pytest.raises(DataFormatError, match=r"cell9\.png.*truncated.*unzip it again"):
        read_lin_pngs(lin_root)


def test_an_empty_protein_folder_is_refused_unless_left_out(lin_root):
    empty = lin_root / f"{RELEASE}_test" / "Cki2"
    empty.mkdir()
    (empty / ".DS_Store").write_bytes(b"")
    with pytest.raises(DataFormatError, match=r"Cki2 is an empty protein folder.*proteins="):
        list_lin_pngs(lin_root)
    assert len(list_lin_pngs(lin_root, proteins=["Alp14", "Arp3", "Tea1"])) == 7


def test_a_missing_split_folder_says_what_was_expected_and_what_to_do(lin_root):
    for path in sorted((lin_root / f"{RELEASE}_test").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (lin_root / f"{RELEASE}_test").rmdir()
    with pytest.raises(DataFormatError,
                       match=rf"no test split folder: expected .*{RELEASE}_test.*split='train'"):
        read_lin_pngs(lin_root)
    assert len(read_lin_pngs(lin_root, split="train")) == 4


def test_a_protein_missing_from_one_split_is_refused_when_asked_for(lin_root):
    (lin_root / f"{RELEASE}_test" / "Tea1" / "cell4.png").unlink()
    (lin_root / f"{RELEASE}_test" / "Tea1").rmdir()
    with pytest.raises(DataFormatError, match=r"_test has no folder for protein\(s\) \['Tea1'\]"):
        list_lin_pngs(lin_root, proteins=["Tea1"])
    assert list(list_lin_pngs(lin_root, proteins=["Tea1"], split="train")["cell_id"]) == [
        "train/Tea1/cell1"]


def test_wrong_roots_name_the_folder_and_the_one_to_pass(lin_root, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere.*_train/ and \.\.\._test/"):
        list_lin_pngs(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match=r"empty holds neither.*unzip"):
        list_lin_pngs(tmp_path / "empty")
    # One level too high: the error names the folder to pass instead.
    with pytest.raises(DataFormatError, match=f"deeper down; pass {re.escape(str(lin_root))} "):
        list_lin_pngs(tmp_path)
    split_folder = re.escape(str(lin_root / RELEASE))
    with pytest.raises(DataFormatError, match=f"PNGs deeper down.*pass {split_folder}"):
        list_lin_pngs(tmp_path, split="train")


# ------------------------------------------------------------------------- shared listing

def test_the_lin_and_integrated_cell_readers_list_a_class_folder_alike(lin_root):
    """Both readers list per-class folders of PNGs with the same code (png_folders)."""
    folder = lin_root / f"{RELEASE}_train"
    lin, ic = list_lin_pngs(folder), list_ic2d_pngs(folder)
    assert list(lin["protein"]) == list(ic["class"])
    assert list(lin["class_index"]) == list(ic["class_index"])
    assert list(lin["path"]) == list(ic["path"])
