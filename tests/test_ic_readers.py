"""Specification of the Integrated Cell readers, on tiny files written in the real formats.

The fake PNGs store membrane (R) = 10 * cell + 1, structure (G) = 10 * cell + 2 and DNA (B) =
10 * cell + 3, and the fake TIFFs store 10 * channel + z in each z-slice, so a wrong channel,
plane or projection shows at once.
"""
import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image

from cellnb.data.ic_readers import (
    HOLD_OUT_2D,
    HOLD_OUT_3D,
    IC_CHANNELS,
    hash_numbers,
    list_ic2d_pngs,
    read_allen_manifest,
    read_allen_single_cells,
    read_ic2d_pngs,
    salted_hash_split,
)
from cellnb.data.imageset import ImageSet
from cellnb.data.validation import DataFormatError

# ------------------------------------------------------------------------------- 2D PNGs


def write_png(path, cell: int, size=(6, 8)):
    """An RGB PNG whose R, G, B are 10 * cell + 1, + 2, + 3 everywhere."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.empty((*size, 3), dtype=np.uint8)
    pixels[...] = [10 * cell + 1, 10 * cell + 2, 10 * cell + 3]
    Image.fromarray(pixels, mode="RGB").save(path)
    return path


@pytest.fixture
def png_root(tmp_path):
    root = tmp_path / "2D"
    write_png(root / "Lamin B1" / "cell10.png", 3)
    write_png(root / "Lamin B1" / "cell2.png", 2)
    write_png(root / "Alpha tubulin" / "cell1.png", 1)
    write_png(root / "TOM20" / "cell7.png", 4)
    return root


def test_pngs_read_membrane_structure_dna_from_rgb_in_unit_range(png_root):
    cells = read_ic2d_pngs(png_root)
    assert isinstance(cells, ImageSet)
    assert cells.channels == IC_CHANNELS == ("membrane", "structure", "dna")
    assert cells.images.shape == (4, 3, 6, 8) and cells.images.dtype == np.float32
    # Sorted by class, then natural order of names: cell2 before cell10.
    assert list(cells.metadata["cell_id"]) == ["cell1", "cell2", "cell10", "cell7"]
    assert list(cells.metadata["class"]) == ["Alpha tubulin", "Lamin B1", "Lamin B1", "TOM20"]
    assert list(cells.metadata["class_index"]) == [0, 1, 1, 2]
    assert cells.metadata["file"][2] == "Lamin B1/cell10.png"
    for i, cell in enumerate([1, 2, 3, 4]):
        for c in range(3):
            np.testing.assert_allclose(cells.images[i, c], (10 * cell + c + 1) / 255, rtol=1e-6)
    assert cells.images.min() >= 0 and cells.images.max() <= 1


def test_pngs_classes_and_indices_select_without_changing_class_codes(png_root):
    table = list_ic2d_pngs(png_root, classes=["TOM20", "Lamin B1"])
    assert list(table["class"]) == ["Lamin B1", "Lamin B1", "TOM20"]
    cells = read_ic2d_pngs(png_root, classes=["TOM20", "Lamin B1"], indices=[2, 0])
    assert list(cells.metadata["cell_id"]) == ["cell7", "cell2"]
    assert list(cells.metadata["class_index"]) == [2, 1]      # codes over all classes found
    with pytest.raises(DataFormatError, match="Golgi"):
        read_ic2d_pngs(png_root, classes=["Golgi"])


def test_pngs_of_mixed_sizes_name_the_files_and_pad_when_asked(png_root):
    write_png(png_root / "TOM20" / "cell8.png", 5, size=(9, 8))
    with pytest.raises(DataFormatError, match=r"cell8\.png.*pad_to=\(9, 8\)"):
        read_ic2d_pngs(png_root)
    cells = read_ic2d_pngs(png_root, pad_to=(10, 10))
    assert cells.images.shape == (5, 3, 10, 10)
    small = cells.images[0]                        # 6x8 padded to 10x10: rows 2..7, cols 1..8
    assert np.all(small[:, 2:8, 1:9] > 0) and small[:, :2].sum() == 0 and small[:, 8:].sum() == 0
    with pytest.raises(DataFormatError, match="larger than pad_to"):
        read_ic2d_pngs(png_root, pad_to=(8, 8))


def test_png_errors_name_the_file_or_folder(tmp_path, png_root):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_ic2d_pngs(tmp_path / "nowhere")
    with pytest.raises(DataFormatError, match="pass .*2D"):
        read_ic2d_pngs(tmp_path)                      # one level too high
    broken = png_root / "TOM20" / "cell9.png"
    noise = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    Image.fromarray(noise, mode="RGB").save(broken)   # noise: the pixel data spans the file
    broken.write_bytes(broken.read_bytes()[:100])
    with pytest.raises(DataFormatError, match=r"cell9\.png.*truncated"):
        read_ic2d_pngs(png_root)
    broken.unlink()
    grey = png_root / "TOM20" / "grey.png"
    Image.fromarray(np.zeros((6, 8), dtype=np.uint8), mode="L").save(grey)
    with pytest.raises(DataFormatError, match=r"grey\.png has mode L"):
        read_ic2d_pngs(png_root)


# ---------------------------------------------------------------- Allen manifest + OME-TIFFs

Z, Y, X = 4, 5, 6


def volume(channel: int, cell: int = 0) -> np.ndarray:
    """(Z, Y, X) uint8 with value 10 * channel + z + 100 * cell in slice z."""
    values = 10 * channel + np.arange(Z) + 100 * cell
    return np.broadcast_to(values[:, None, None], (Z, Y, X)).astype(np.uint8)


def write_ome(path, names, *, cell=0, shape=None):
    data = np.stack([volume(c, cell) for c in range(len(names))])
    if shape is not None:
        data = data[:, :shape[0], :shape[1], :shape[2]]
    tifffile.imwrite(path, data, metadata={"axes": "CZYX", "Channel": {"Name": list(names)}},
                     ome=True, photometric="minisblack")
    return path


@pytest.fixture
def ome_manifest(tmp_path):
    """A successor-style manifest: CellId, StructureId/Name, save_reg_path (+ no ch_ columns)."""
    folder = tmp_path / "cells"
    folder.mkdir()
    names = ["dna", "membrane", "structure"]              # not the papers' order on purpose
    rows = []
    for cell, structure in enumerate(["TOM20", "Lamin B1", "TOM20"]):
        write_ome(folder / f"cell{cell}.ome.tif", names, cell=cell)
        rows.append({"CellId": 1000 + cell, "StructureId/Name": structure,
                     "save_reg_path": f"cells/cell{cell}.ome.tif"})
    manifest = tmp_path / "metadata.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def test_ome_channels_are_picked_by_name_in_the_papers_order(ome_manifest):
    cells = read_allen_single_cells(ome_manifest, dims=3)
    assert cells.images.shape == (3, 3, Z, Y, X) and cells.channels == IC_CHANNELS
    # File channels: dna = 0, membrane = 1, structure = 2.
    for i in range(3):
        for c, file_channel in enumerate([1, 2, 0]):
            np.testing.assert_allclose(cells.images[i, c], volume(file_channel, i) / 255)
    assert list(cells.metadata["structure"]) == ["TOM20", "Lamin B1", "TOM20"]
    assert list(cells.metadata["structure_index"]) == [1, 0, 1]
    assert list(cells.metadata["cell_id"]) == ["1000", "1001", "1002"]
    assert cells.attrs["cell_id_column"] == "CellId"


def test_dims_2_is_the_maximum_projection_of_the_volume(ome_manifest):
    volumes = read_allen_single_cells(ome_manifest, dims=3)
    flat = read_allen_single_cells(ome_manifest, dims=2)
    assert flat.images.shape == (3, 3, Y, X)
    np.testing.assert_array_equal(flat.images, volumes.images.max(axis=2))
    np.testing.assert_allclose(flat.images[0, 0], (10 + Z - 1) / 255)       # top slice
    mean = read_allen_single_cells(ome_manifest, dims=2, projection="mean")
    np.testing.assert_allclose(mean.images, volumes.images.mean(axis=2), rtol=1e-6)


def test_rows_structures_and_per_row_channel_indices(tmp_path, ome_manifest):
    cells = read_allen_single_cells(ome_manifest, rows=[2, 0], structures=["TOM20"], dims=2)
    assert list(cells.metadata["manifest_row"]) == [2, 0]
    table = pd.read_csv(ome_manifest)
    table["ch_memb"], table["ch_struct"], table["ch_dna"] = 2, 0, 1   # override the names
    indexed = tmp_path / "indexed.csv"
    table.to_csv(indexed, index=False)
    cells = read_allen_single_cells(indexed, dims=3, rows=[0])
    np.testing.assert_allclose(cells.images[0, 0], volume(2) / 255)   # membrane from index 2
    explicit = read_allen_single_cells(ome_manifest, rows=[0], dims=3, channels=("dna",),
                                       channel_indices={"dna": 2})
    np.testing.assert_allclose(explicit.images[0, 0], volume(2) / 255)


def test_paper_era_manifest_with_one_plain_tiff_per_channel(tmp_path):
    columns = {"membrane": "save_memb_reg_path", "structure": "save_struct_reg_path",
               "dna": "save_dna_reg_path"}
    row = {"structureProteinName": "Sec61B", "save_h5_reg_path": "h5/cell0.h5"}
    for c, (name, column) in enumerate(columns.items()):
        tifffile.imwrite(tmp_path / f"cell0_{name}.tif", volume(c),       # plain ZYX TIFF
                         photometric="minisblack")
        row[column] = f"/allen/internal/release/cell0_{name}.tif"        # authors' own paths
    pd.DataFrame([row]).to_csv(tmp_path / "data_jobs_out.csv", index=False)
    cells = read_allen_single_cells(tmp_path / "data_jobs_out.csv", dims=3)
    for c in range(3):
        np.testing.assert_allclose(cells.images[0, c], volume(c) / 255)
    assert cells.metadata["cell_id"][0] == "h5/cell0.h5"
    maxed = read_allen_single_cells(tmp_path / "data_jobs_out.csv", scale="cell_max")
    assert maxed.images.max() == 1.0


def test_mixed_volume_sizes_error_or_pad(tmp_path, ome_manifest):
    write_ome(tmp_path / "cells" / "cell1.ome.tif", ["dna", "membrane", "structure"],
              cell=1, shape=(3, 5, 4))
    with pytest.raises(DataFormatError, match=r"cell1\.ome\.tif.*pad_to=\(4, 5, 6\)"):
        read_allen_single_cells(ome_manifest)
    cells = read_allen_single_cells(ome_manifest, pad_to=(4, 6, 6))
    assert cells.images.shape == (3, 3, 4, 6, 6)


def test_manifest_errors_name_the_file_and_the_fix(tmp_path, ome_manifest):
    with pytest.raises(FileNotFoundError, match=r"no manifest CSV at .*absent\.csv"):
        read_allen_single_cells(tmp_path / "absent.csv")
    (tmp_path / "cells" / "cell1.ome.tif").unlink()
    with pytest.raises(FileNotFoundError, match=r"row 1, save_reg_path: cells/cell1\.ome\.tif"):
        read_allen_single_cells(ome_manifest)
    skipped = read_allen_single_cells(ome_manifest, on_missing="skip", dims=2)
    assert list(skipped.metadata["manifest_row"]) == [0, 2]
    assert skipped.attrs["missing"] == ["row 1: cells/cell1.ome.tif"]
    odd = tmp_path / "odd.csv"
    pd.DataFrame({"gene": ["x"], "where": ["cells/cell0.ome.tif"]}).to_csv(odd, index=False)
    with pytest.raises(DataFormatError, match=r"odd\.csv .*columns="):
        read_allen_manifest(odd)
    cells = read_allen_single_cells(odd, columns={"structure": "gene", "image": "where"},
                                    dims=2)
    assert cells.metadata["cell_id"][0] == "cells/cell0.ome.tif"    # no id column: the path
    gaps = pd.read_csv(ome_manifest)
    gaps["CellId"] = [1000, None, 1002]              # read back as floats 1000.0, NaN, 1002.0
    gaps.to_csv(odd, index=False)
    with pytest.raises(DataFormatError, match=r"odd\.csv: column 'CellId' is empty in .*\[1\]"):
        read_allen_manifest(odd)
    assert list(read_allen_manifest(odd.parent / "metadata.csv")["cell_id"]) == [
        "1000", "1001", "1002"]
    gaps["CellId"] = [1000.0, 1001.0, 1002.5]
    gaps.to_csv(odd, index=False)
    assert list(read_allen_manifest(odd)["cell_id"]) == ["1000", "1001", "1002.5"]


def test_truncated_tiff_and_missing_channel_name_the_file(tmp_path, ome_manifest):
    path = tmp_path / "cells" / "cell2.ome.tif"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataFormatError, match=r"cell2\.ome\.tif.*truncated"):
        read_allen_single_cells(ome_manifest)
    write_ome(path, ["dna", "membrane", "egfp-tom20"], cell=2)
    with pytest.raises(DataFormatError, match=r"cell2\.ome\.tif has no structure channel"):
        read_allen_single_cells(ome_manifest)
    cells = read_allen_single_cells(ome_manifest, channel_names={"structure": ["EGFP-TOM20"]})
    assert cells.images.shape[0] == 3


# ------------------------------------------------------------------------------ the split

def test_split_is_deterministic_and_partitions_the_ids():
    ids = [f"cell{i}" for i in range(500)]
    first, second = salted_hash_split(ids), salted_hash_split(ids)
    np.testing.assert_array_equal(first.test, second.test)
    together = np.sort(np.concatenate([first.train, first.val, first.test]))
    np.testing.assert_array_equal(together, np.arange(500))
    assert len(first.val) == 0
    other = salted_hash_split(ids, salt="another")
    assert not np.array_equal(first.test, other.test)
    assert "test" in str(first) and f"{100 * first.test_fraction:.2f} %" in str(first)


def test_split_sides_survive_added_removed_and_reordered_ids():
    rng = np.random.default_rng(0)
    ids = [f"/data/cell_{i}.h5" for i in range(300)]
    side = dict(zip(ids, salted_hash_split(ids, hold_out=HOLD_OUT_2D).number <= HOLD_OUT_2D))
    for _ in range(5):
        grown = ids + [f"/data/new_{rng.integers(10**9)}.h5" for _ in range(50)]
        kept = list(rng.permutation(grown)[:320])
        split = salted_hash_split(kept, hold_out=HOLD_OUT_2D)
        test = {kept[i] for i in split.test}
        assert all((old in test) == side[old] for old in kept if old in side)


def test_split_fraction_is_close_to_hold_out_on_many_ids():
    ids = np.arange(20_000)
    for hold_out in (HOLD_OUT_2D, HOLD_OUT_3D):
        split = salted_hash_split(ids, hold_out=hold_out, validate=0.1)
        assert abs(split.test_fraction - hold_out) < 0.01
        assert abs(split.val_fraction - 0.1) < 0.01
    numbers = hash_numbers(["a", "b"], salt="1")
    assert np.all((numbers >= 0) & (numbers < 1))


def test_split_number_follows_the_official_rule():
    # sha512("1cell0") = e6f2037c8cd08ca5...: its first five decimal digits are 6, 2, 0, 3, 7.
    # Pinned, so that a change of the rule (which would move cells between sides) shows.
    assert hash_numbers(["cell0"], salt="1")[0] == 0.62037
    assert hash_numbers([0], salt="1")[0] == hash_numbers(["0"], salt="1")[0]


def test_split_refuses_missing_ids_and_bad_fractions():
    with pytest.raises(ValueError, match=r"positions \[1\] are missing"):
        salted_hash_split(["a", None])
    with pytest.raises(ValueError, match="hold_out"):
        salted_hash_split(["a"], hold_out=0.95, validate=0.1)
