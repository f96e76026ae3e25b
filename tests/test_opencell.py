"""Specification of the OpenCell reader, on tiny files written in both published layouts.

Every pixel of the fake shards encodes where it came from (crop, channel, y, x), so a test can
tell a wrong shard order, channel order or axis order from a right one at a glance.
"""
import pickle
import re

import numpy as np
import pandas as pd
import pytest

from cellnb.data.imageset import ImageSet
from cellnb.data.opencell import (
    DEFAULT_CHANNELS,
    LABEL_COLUMNS,
    OpenCellCrops,
    detect_layout,
    find_opencell,
)
from cellnb.data.registry import ManualDownloadRequired, dataset_cache_dir
from cellnb.data.splits import grouped_split
from cellnb.data.validation import DataFormatError

SIZE = 12
SHARD_SIZES = (5, 3)
# Proteins (name, id) and FOV ids of the 8 crops. FOV 1 of A and FOV 1 of B are different
# fields; A's FOV 2 continues from shard 00 into shard 01.
SHARD_LABELS = [("A", 3, 1), ("A", 3, 1), ("A", 3, 2), ("B", 7, 1), ("B", 7, 1),
                ("C", 5, 9), ("C", 5, 9), ("A", 3, 2)]


def pixel_values(crop: int, channel: int, size: int = SIZE) -> np.ndarray:
    """What the fake data stores: crop*100 + channel*10 + a ramp that tells y from x."""
    ramp = (np.arange(size)[:, None] * size + np.arange(size)[None, :]) / 1000
    return (crop * 100 + channel * 10 + ramp).astype(np.float32)


def write_shards(directory, sizes=SHARD_SIZES, numbers=None):
    directory.mkdir(parents=True, exist_ok=True)
    numbers = range(len(sizes)) if numbers is None else numbers
    crop = 0
    for number, n in zip(numbers, sizes):
        images = np.stack([np.stack([pixel_values(crop + i, c) for c in range(4)], axis=-1)
                           for i in range(n)])                                   # (n, H, W, 4)
        np.save(directory / f"Image_data{number:02d}.npy", images)
        rows = [SHARD_LABELS[(crop + i) % len(SHARD_LABELS)] for i in range(n)]
        pd.DataFrame({
            "ensg": [f"ENSG{pid:011d}" for _, pid, _ in rows],
            "name": [name for name, _, _ in rows],
            "loc_grade1": [f"loc_{name}" for name, _, _ in rows],
            "loc_grade2": "cytoplasmic", "loc_grade3": "",
            "protein_id": [pid for _, pid, _ in rows],
            "FOV_id": [fov for _, _, fov in rows],
        }).to_csv(directory / f"Label_data{number:02d}.csv", index=False)
        crop += n
    return directory


PROTEINS = {"LMNB1": 3, "ACTB": 4}   # name -> number of crops; files sort as ACTB, LMNB1


def write_per_protein(directory, size=8, proteins=PROTEINS):
    directory.mkdir(parents=True, exist_ok=True)
    crop = 0
    for name in sorted(proteins):
        n = proteins[name]
        planes = [np.stack([pixel_values(crop + i, c, size) for i in range(n)]) for c in range(3)]
        np.save(directory / f"{name}_pro.npy", planes[0])                     # (n, H, W)
        np.save(directory / f"{name}_nuc.npy", planes[1][..., None])          # (n, H, W, 1)
        np.save(directory / f"{name}_nucdist.npy", planes[2])
        labels = np.array([[f"ENSG_{name}", name, f"loc_{name}"]] * n, dtype=object)
        np.save(directory / f"{name}_label.npy", labels, allow_pickle=True)
        crop += n
    return directory


@pytest.fixture
def shards(tmp_path):
    return write_shards(tmp_path / "shards")


@pytest.fixture
def per_protein(tmp_path):
    return write_per_protein(tmp_path / "sample")


def expected(crops, channels, distance_scale=0.01):
    """The crops' values as the fake data encodes them, channel-first."""
    index = {"protein": 0, "nucleus": 1, "nuclear_distance": 2, "nuclear_segmentation": 3}
    out = []
    for crop in crops:
        planes = []
        for name in channels:
            plane = pixel_values(crop, index[name])
            planes.append(plane * np.float32(distance_scale) if name == "nuclear_distance" else plane)
        out.append(np.stack(planes))
    return np.stack(out)


# --- the full data: shards -------------------------------------------------------------------

def test_shards_are_concatenated_in_shard_order(shards):
    crops = OpenCellCrops(shards)
    assert crops.layout == "shards" and len(crops) == 8
    assert crops.channels == DEFAULT_CHANNELS == ("protein", "nuclear_distance")
    assert crops.spatial_shape == (SIZE, SIZE)
    assert crops.files == ("Image_data00.npy", "Image_data01.npy")
    assert list(crops.metadata["file"]) == ["Image_data00.npy"] * 5 + ["Image_data01.npy"] * 3
    assert list(crops.metadata["row"]) == [0, 1, 2, 3, 4, 0, 1, 2]
    images = crops.images()
    assert images.dtype == np.float32 and images.shape == (8, 2, SIZE, SIZE)
    np.testing.assert_allclose(images, expected(range(8), crops.channels), rtol=1e-6)
    np.testing.assert_allclose(crops[6], expected([6], crops.channels)[0], rtol=1e-6)
    np.testing.assert_array_equal(crops[-1], crops[7])


def test_crops_are_read_lazily_from_memory_maps(shards):
    crops = OpenCellCrops(shards)
    arrays = crops.memory_maps()
    assert set(arrays) == {"Image_data00.npy", "Image_data01.npy"}
    assert all(isinstance(array, np.memmap) for array in arrays.values())
    assert arrays["Image_data00.npy"].shape == (5, SIZE, SIZE, 4)
    # Pickling (what a spawned DataLoader worker receives) carries paths and labels, not pixels.
    assert len(pickle.dumps(crops._reader)) < 2000
    clone = pickle.loads(pickle.dumps(crops))
    np.testing.assert_array_equal(clone.images([7, 0]), crops.images([7, 0]))


def test_any_subset_of_shards_works(tmp_path):
    directory = write_shards(tmp_path / "only01", sizes=(3,), numbers=(1,))
    crops = OpenCellCrops(directory)
    assert len(crops) == 3 and crops.files == ("Image_data01.npy",)
    assert crops.metadata["protein"].tolist() == ["A", "A", "A"]


def test_batches_come_back_in_the_order_asked_for(shards):
    crops = OpenCellCrops(shards)
    order = [7, 0, 5, 0, 3]                         # across shards, unsorted, with a repeat
    batch = crops.images(order)
    np.testing.assert_array_equal(batch, np.stack([crops[i] for i in order]))
    np.testing.assert_array_equal(crops.images(np.arange(8) >= 6), crops.images([6, 7]))
    np.testing.assert_array_equal(crops[2:4], crops.images([2, 3]))
    assert crops.images([]).shape == (0, 2, SIZE, SIZE)
    with pytest.raises(IndexError, match=r"indices must lie in \[-8, 8\)"):
        crops.images([8])


def test_channels_are_chosen_and_ordered_by_name(shards):
    crops = OpenCellCrops(shards, channels=("nuclear_segmentation", "nucleus", "protein"))
    np.testing.assert_array_equal(crops.images([1, 6]),
                                  expected([1, 6], ("nuclear_segmentation", "nucleus", "protein")))
    single = OpenCellCrops(shards, channels="nucleus")
    assert single.channels == ("nucleus",) and single[0].shape == (1, SIZE, SIZE)


def test_nuclear_distance_is_scaled_as_cytoself_does(shards):
    raw = OpenCellCrops(shards, channels=["nuclear_distance"], distance_scale=1.0)
    scaled = OpenCellCrops(shards, channels=["nuclear_distance"])    # default 0.01
    np.testing.assert_array_equal(raw[3][0], pixel_values(3, 2))
    np.testing.assert_allclose(scaled[3], raw[3] * 0.01, rtol=1e-6)


def test_minmax_normalisation_is_per_crop_and_only_where_asked(shards):
    crops = OpenCellCrops(shards, channels=("protein", "nucleus"), minmax_channels=("protein",))
    images = crops.images()
    assert np.allclose(images[:, 0].min(axis=(1, 2)), 0) and np.allclose(images[:, 0].max(axis=(1, 2)), 1)
    np.testing.assert_array_equal(images[:, 1], expected(range(8), ("nucleus",))[:, 0])
    with pytest.raises(ValueError, match="not among the channels read"):
        OpenCellCrops(shards, minmax_channels=("nucleus",))


def test_shard_metadata_has_the_published_and_the_book_columns(shards):
    metadata = OpenCellCrops(shards).metadata
    assert set(LABEL_COLUMNS) <= set(metadata.columns)
    assert metadata["protein"].dtype == "category" and metadata["localization"].dtype == "category"
    for column in ("protein_id", "protein_index", "field", "row"):
        assert metadata[column].dtype == np.int64, column
    assert metadata["protein"].tolist() == [name for name, _, _ in SHARD_LABELS]
    assert metadata["localization"].tolist() == [f"loc_{name}" for name, _, _ in SHARD_LABELS]
    assert metadata["protein_id"].tolist() == [pid for _, pid, _ in SHARD_LABELS]
    # Ids 3, 5, 7 become class indices 0, 1, 2.
    assert metadata["protein_index"].tolist() == [0, 0, 0, 2, 2, 1, 1, 0]
    # A field is a (protein, FOV) pair: B's FOV 1 is not A's, A's FOV 2 spans both shards.
    assert metadata["field"].tolist() == [0, 0, 1, 2, 2, 3, 3, 1]


def test_a_grouped_split_keeps_each_field_in_one_split(shards):
    metadata = OpenCellCrops(shards).metadata
    parts = grouped_split(metadata["field"], strata=metadata["protein"], fractions=(0.5, 0.5),
                          names=("train", "test"))
    fields = [set(metadata["field"].iloc[part]) for part in parts.values()]
    assert not fields[0] & fields[1]
    assert sorted(np.concatenate(list(parts.values()))) == list(range(8))


def test_a_subset_becomes_an_imageset_within_a_memory_budget(shards):
    crops = OpenCellCrops(shards)
    subset = crops.to_imageset([6, 1])
    assert isinstance(subset, ImageSet) and subset.channels == crops.channels
    np.testing.assert_array_equal(subset.images, crops.images([6, 1]))
    assert subset.metadata["row"].tolist() == [1, 1] and subset.metadata.index.tolist() == [0, 1]
    assert subset.attrs["layout"] == "shards" and subset.attrs["distance_scale"] == 0.01
    one_crop = 2 * SIZE * SIZE * 4
    assert len(crops.to_imageset(max_bytes=8 * one_crop)) == 8
    with pytest.raises(MemoryError, match=r"8 crops of 2x12x12 float32 need 0.0 MiB.*crops.dataset"):
        crops.to_imageset(max_bytes=8 * one_crop - 1)


# --- the sample data: one set of files per protein -------------------------------------------

def test_per_protein_files_are_read_in_name_order(per_protein):
    crops = OpenCellCrops(per_protein, channels=("nucleus", "protein", "nuclear_distance"))
    assert crops.layout == "per_protein" and len(crops) == 7 and crops.spatial_shape == (8, 8)
    assert crops.metadata["file"].tolist() == ["ACTB"] * 4 + ["LMNB1"] * 3
    # _nuc.npy is stored [n, H, W, 1], the others [n, H, W]: both read the same way.
    want = np.stack([np.stack([pixel_values(i, 1, 8), pixel_values(i, 0, 8),
                               pixel_values(i, 2, 8) * np.float32(0.01)]) for i in range(7)])
    np.testing.assert_allclose(crops.images(), want, rtol=1e-6)
    assert all(isinstance(array, np.memmap) for array in crops.memory_maps().values())


def test_per_protein_metadata_says_there_are_no_fields(per_protein):
    crops = OpenCellCrops(per_protein)
    metadata = crops.metadata
    assert not crops.has_fields
    assert metadata["protein"].tolist() == ["ACTB"] * 4 + ["LMNB1"] * 3
    assert metadata["ensg"].tolist()[0] == "ENSG_ACTB"
    assert metadata["localization"].tolist()[-1] == "loc_LMNB1"
    assert metadata["protein_id"].tolist() == metadata["protein_index"].tolist() == [0] * 4 + [1] * 3
    # Every crop is its own pseudo-field, so a grouped split is a stratified random split.
    assert metadata["field"].tolist() == list(range(7))
    for column in ("protein_id", "protein_index", "field", "row"):
        assert metadata[column].dtype == np.int64, column
    parts = grouped_split(metadata["field"], strata=metadata["protein"],
                          fractions=(0.5, 0.5), names=("a", "b"))
    assert set(metadata["protein"].iloc[parts["a"]]) == set(metadata["protein"].iloc[parts["b"]])


def test_a_channel_the_layout_lacks_is_refused_by_name(per_protein):
    with pytest.raises(DataFormatError, match=r"'nuclear_segmentation' is not in the per_protein "
                                              r"layout, which provides protein, nucleus, "
                                              r"nuclear_distance"):
        OpenCellCrops(per_protein, channels=("protein", "nuclear_segmentation"))
    with pytest.raises(ValueError, match=r"unknown channel\(s\) \['dna'\]"):
        OpenCellCrops(per_protein, channels=("dna",))


def test_only_the_files_of_the_chosen_channels_are_needed(per_protein):
    for path in per_protein.glob("*_nuc.npy"):
        path.unlink()
    assert len(OpenCellCrops(per_protein)) == 7          # protein + nuclear_distance
    with pytest.raises(DataFormatError, match=r"'nucleus' needs ACTB_nuc.npy"):
        OpenCellCrops(per_protein, channels=("nucleus",))


def test_the_layout_is_detected_or_given(shards, per_protein, tmp_path):
    assert detect_layout(shards) == "shards" and detect_layout(per_protein) == "per_protein"
    with pytest.raises(DataFormatError, match="holds no OpenCell files"):
        detect_layout(tmp_path)
    write_per_protein(shards)
    with pytest.raises(DataFormatError, match="both layouts.*layout='shards'"):
        OpenCellCrops(shards)
    assert len(OpenCellCrops(shards, layout="shards")) == 8
    assert len(OpenCellCrops(shards, layout="per_protein")) == 7
    only_shards = write_shards(tmp_path / "only_shards")
    with pytest.raises(DataFormatError, match="holds no per-protein files"):
        OpenCellCrops(only_shards, layout="per_protein")
    with pytest.raises(DataFormatError, match="holds no shards of the full data"):
        OpenCellCrops(write_per_protein(tmp_path / "only_sample"), layout="shards")


# --- a torch dataset --------------------------------------------------------------------------

def test_dataloader_workers_give_the_same_batches_as_the_main_process(shards):
    import torch
    from torch.utils.data import DataLoader

    crops = OpenCellCrops(shards)
    dataset = crops.dataset([7, 0, 2, 5, 6, 3])
    crops[0]  # maps opened before the workers fork must not be a problem

    def batches(workers):
        loader = DataLoader(dataset, batch_size=4, num_workers=workers, shuffle=False)
        return list(loader)

    serial, parallel = batches(0), batches(2)
    assert len(serial) == len(parallel) == 2
    for (a_images, a_labels), (b_images, b_labels) in zip(serial, parallel):
        assert a_images.dtype == torch.float32 and a_images.shape[1:] == (2, SIZE, SIZE)
        assert torch.equal(a_images, b_images) and torch.equal(a_labels, b_labels)
    images = torch.cat([images for images, _ in serial]).numpy()
    np.testing.assert_array_equal(images, crops.images([7, 0, 2, 5, 6, 3]))
    labels = torch.cat([labels for _, labels in serial]).tolist()
    assert labels == crops.metadata["protein_index"].iloc[[7, 0, 2, 5, 6, 3]].tolist()


def test_spawned_workers_receive_paths_not_pixels(shards):
    # "spawn" (the default on Windows and macOS) pickles the dataset into each worker.
    import torch
    from torch.utils.data import DataLoader

    dataset = OpenCellCrops(shards).dataset()
    assert len(pickle.dumps(dataset)) < 4000
    loader = DataLoader(dataset, batch_size=8, num_workers=1, multiprocessing_context="spawn")
    (images, _labels), = list(loader)
    assert torch.equal(images, torch.from_numpy(OpenCellCrops(shards).images()))


def test_dataset_items_labels_and_transforms(per_protein):
    crops = OpenCellCrops(per_protein)
    image, label = crops.dataset(label_column="protein")[5]
    assert image.shape == (2, 8, 8) and label == "LMNB1"
    flipped = crops.dataset([5], transform=lambda x: x.flip(-1), label_column=None)[0]
    np.testing.assert_array_equal(flipped.numpy(), crops[5][..., ::-1])
    with pytest.raises(KeyError, match="no metadata column 'fov'"):
        crops.dataset(label_column="fov")


# --- errors that say what is wrong and what to do ----------------------------------------------

def test_a_shard_of_the_wrong_shape_is_named(tmp_path):
    directory = write_shards(tmp_path / "d")
    np.save(directory / "Image_data01.npy", np.zeros((3, SIZE, SIZE, 3), np.float32))
    with pytest.raises(DataFormatError, match=r"Image_data01.npy.*should have 4 channels \(protein, "
                                              r"nucleus, nuclear_distance, nuclear_segmentation\).*"
                                              r"got 3"):
        OpenCellCrops(directory)
    np.save(directory / "Image_data01.npy", np.zeros((3, SIZE, SIZE), np.float32))
    with pytest.raises(DataFormatError, match=r"Image_data01.npy should have 4 dimensions, got 3"):
        OpenCellCrops(directory)


def test_a_label_file_without_its_columns_names_them(shards):
    table = pd.read_csv(shards / "Label_data01.csv").drop(columns=["FOV_id", "loc_grade3"])
    table.to_csv(shards / "Label_data01.csv", index=False)
    with pytest.raises(DataFormatError, match=r"Label_data01.csv is missing column\(s\) "
                                              r"\['loc_grade3', 'FOV_id'\]; expected the 7 "
                                              r"columns \['ensg', 'name'"):
        OpenCellCrops(shards)


def test_a_pandas_index_column_in_a_label_file_is_ignored(shards):
    table = pd.read_csv(shards / "Label_data00.csv")
    table.to_csv(shards / "Label_data00.csv")           # index=True adds "Unnamed: 0"
    assert list(OpenCellCrops(shards).metadata.columns[:7]) == list(LABEL_COLUMNS)


def test_rows_and_crops_must_match_one_to_one(shards):
    table = pd.read_csv(shards / "Label_data00.csv")
    table.iloc[:4].to_csv(shards / "Label_data00.csv", index=False)
    with pytest.raises(DataFormatError, match=r"Label_data00.csv has 4 rows but Image_data00.npy "
                                              r"holds 5 crops"):
        OpenCellCrops(shards)


def test_every_shard_needs_both_files(shards):
    (shards / "Label_data00.csv").rename(shards / "Label_data02.csv")
    with pytest.raises(DataFormatError, match=r"Label_data02.csv has no image shard.*"
                                              r"put Image_data02.npy in"):
        OpenCellCrops(shards)
    (shards / "Label_data02.csv").unlink()
    with pytest.raises(DataFormatError, match=r"Image_data00.npy has no label file.*"
                                              r"put Label_data00.csv in"):
        OpenCellCrops(shards)


def test_per_protein_files_must_agree_on_the_number_of_crops(per_protein):
    np.save(per_protein / "ACTB_nucdist.npy", np.zeros((3, 8, 8), np.float32))
    with pytest.raises(DataFormatError, match=r"ACTB_nucdist.npy holds 3 crops but ACTB_label.npy "
                                              r"has 4 labels"):
        OpenCellCrops(per_protein)
    (per_protein / "LMNB1_label.npy").unlink()
    with pytest.raises(DataFormatError, match=r"no LMNB1_label.npy"):
        OpenCellCrops(per_protein, channels=("protein",))


def test_truncated_or_foreign_npy_files_are_named(shards):
    path = shards / "Image_data01.npy"
    content = path.read_bytes()
    path.write_bytes(content[:-100])                  # an interrupted download
    with pytest.raises(DataFormatError, match=r"Image_data01.npy could not be read.*truncated"):
        OpenCellCrops(shards)
    path.write_bytes(content[:60])                    # cut inside the header
    with pytest.raises(DataFormatError, match=r"Image_data01.npy could not be read"):
        OpenCellCrops(shards)
    path.write_bytes(b"<!DOCTYPE html><html>Too many users have viewed this file")
    with pytest.raises(DataFormatError, match=r"Image_data01.npy is not a NumPy .npy file: it is "
                                              r"a web page.*Google Drive"):
        OpenCellCrops(shards)


def test_crops_of_different_sizes_are_refused(tmp_path):
    directory = write_shards(tmp_path / "d", sizes=(2,))
    np.save(directory / "Image_data01.npy", np.zeros((1, 10, 10, 4), np.float32))
    write_shards(tmp_path / "other", sizes=(1,))
    (tmp_path / "other" / "Label_data00.csv").rename(directory / "Label_data01.csv")
    with pytest.raises(DataFormatError, match=r"Image_data01.npy has crops of \(10, 10\) px but "
                                              r"Image_data00.npy has \(12, 12\)"):
        OpenCellCrops(directory)


# --- where the files are -----------------------------------------------------------------------

def test_missing_files_raise_instructions_naming_them(tmp_path):
    with pytest.raises(ManualDownloadRequired) as caught:
        OpenCellCrops(tmp_path / "nowhere")
    message = str(caught.value)
    for name in ("Image_data00.npy", "Label_data00.csv", "<protein>_pro.npy",
                 "<protein>_label.npy", "royerlab/cytoself",      # the registry's how_to_get
                 str(tmp_path / "nowhere" / "opencell_cytoself"), str(tmp_path / "nowhere")):
        assert name in message, name
    with pytest.raises(ManualDownloadRequired, match=re.escape(str(dataset_cache_dir("opencell_cytoself")))):
        OpenCellCrops()                               # nothing in the (per-test) cache either
    (tmp_path / "empty").mkdir()
    with pytest.raises(ManualDownloadRequired, match="no OpenCell crops found"):
        find_opencell(tmp_path / "empty")


def test_the_folder_is_found_where_the_registry_keeps_datasets(tmp_path):
    write_shards(tmp_path / "mine" / "opencell_cytoself")
    assert find_opencell(tmp_path / "mine") == tmp_path / "mine" / "opencell_cytoself"
    write_per_protein(tmp_path / "flat")
    assert find_opencell(tmp_path / "flat") == tmp_path / "flat"
    cached = write_shards(dataset_cache_dir("opencell_cytoself"), sizes=(2,))
    assert find_opencell() == cached
    assert len(OpenCellCrops()) == 2
