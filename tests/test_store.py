"""Specification of the HDF5 store: faithful round trips, atomic writes, clear errors, and a
dataset that reads lazily and gives the same samples with or without DataLoader workers."""
import json
import os
import pickle

import h5py
import numpy as np
import pandas as pd
import pytest

from cellnb.data import store
from cellnb.data.imageset import ImageSet
from cellnb.data.store import (
    CorruptImageSetError,
    ImageSetDataset,
    LazyArray,
    read_imageset,
    write_imageset,
)

CHANNELS = ("protein", "nucleus", "nuclear_distance")


def make_imageset(seed=0, n=10, size=8, masks=True) -> ImageSet:
    rng = np.random.default_rng(seed)
    protein = rng.choice(["α-tubulin", "lamin", "orphan"], size=n)
    metadata = pd.DataFrame({
        "protein": protein,                                    # pandas' default string dtype
        "field": rng.integers(0, 4, size=n).astype(np.int64),
        "angle": np.where(rng.random(n) < 0.3, np.nan, rng.normal(size=n)),
        "in_focus": rng.random(n) < 0.5,
    })
    cells = pd.DataFrame({"area": rng.integers(10, 100, size=3 * n).astype(np.int32),
                          "label": [f"cell {i}" for i in range(3 * n)]},
                         index=pd.Index(np.arange(100, 100 + 3 * n), name="cell_id"))
    return ImageSet(
        images=rng.normal(size=(n, 3, size, size)).astype(np.float32),
        channels=CHANNELS,
        metadata=metadata,
        masks=rng.integers(0, 5, size=(n, 2, size, size)).astype(np.int32) if masks else None,
        mask_names=("cells", "nuclei") if masks else (),
        tables={"cells": cells, "empty": pd.DataFrame({"x": np.array([], dtype=np.float64)})},
        attrs={"generator": {"seed": seed, "sigma": 1.5, "names": ["a", "b"]}, "version": "0.1"},
    )


def assert_same_imageset(actual: ImageSet, expected: ImageSet):
    np.testing.assert_array_equal(np.asarray(actual.images), expected.images)
    assert np.asarray(actual.images).dtype == expected.images.dtype
    assert actual.channels == expected.channels
    assert actual.mask_names == expected.mask_names
    if expected.masks is None:
        assert actual.masks is None
    else:
        np.testing.assert_array_equal(np.asarray(actual.masks), expected.masks)
        assert np.asarray(actual.masks).dtype == expected.masks.dtype
    pd.testing.assert_frame_equal(actual.metadata, expected.metadata, check_exact=True)
    assert actual.tables.keys() == expected.tables.keys()
    for name, table in expected.tables.items():
        pd.testing.assert_frame_equal(actual.tables[name], table, check_exact=True)
    assert actual.attrs == expected.attrs


# ---------------------------------------------------------------------------------- round trip


def test_round_trip_is_identical(tmp_path):
    original = make_imageset()
    path = write_imageset(original, tmp_path / "set.h5")
    assert_same_imageset(read_imageset(path), original)


def test_round_trip_without_masks_or_tables(tmp_path):
    original = make_imageset(masks=False)
    original.tables = {}
    assert_same_imageset(read_imageset(write_imageset(original, tmp_path / "s.h5")), original)


def _random_column(kind, rng, n):
    """A column of ``kind`` with random values and, where the type can, missing values."""
    missing = rng.random(n) < 0.25
    if kind in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint64"):
        info = np.iinfo(kind)
        return pd.Series(rng.integers(info.min, info.max, size=n, dtype=kind, endpoint=True))
    if kind in ("float16", "float32", "float64"):
        values = rng.normal(scale=1e3, size=n).astype(kind)
        values[missing] = np.nan
        values[:2] = [np.inf, -np.inf][: min(2, n)]
        return pd.Series(values)
    if kind == "complex128":
        return pd.Series(rng.normal(size=n) + 1j * rng.normal(size=n))
    if kind == "bool":
        return pd.Series(rng.random(n) < 0.5)
    words = ["GFP", "α-tubulin", "", "nucleolus 2", "ER/Golgi", "日本"]
    strings = [words[i] for i in rng.integers(0, len(words), size=n)]
    if kind == "str":
        return pd.Series(strings, dtype="str").mask(missing)
    if kind == "string":
        return pd.Series(strings, dtype="string").mask(missing)
    if kind == "object":
        return pd.Series([None if m else s for s, m in zip(strings, missing)], dtype=object)
    if kind == "category":
        return pd.Series(pd.Categorical(strings, categories=sorted(set(words))))
    if kind == "category_int":
        return pd.Series(pd.Categorical(rng.integers(0, 3, size=n), ordered=True))
    if kind == "Int64":
        return pd.Series(rng.integers(-5, 5, size=n), dtype="Int64").mask(missing)
    if kind == "boolean":
        return pd.Series(rng.random(n) < 0.5, dtype="boolean").mask(missing)
    if kind == "datetime":
        return pd.Series(pd.to_datetime(rng.integers(0, 2**40, size=n), unit="ms"))
    raise AssertionError(kind)


KINDS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint64", "float16", "float32",
         "float64", "complex128", "bool", "str", "string", "object", "category", "category_int",
         "Int64", "boolean", "datetime"]


@pytest.mark.parametrize("seed", range(3))
def test_every_column_dtype_round_trips(tmp_path, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    metadata = pd.DataFrame({kind: _random_column(kind, rng, n) for kind in KINDS})
    # A second table with the columns shuffled and integer column names: order and names survive.
    order = rng.permutation(len(KINDS))
    extra = pd.DataFrame({int(i): _random_column(KINDS[i], rng, 2 * n) for i in order})
    original = ImageSet(images=rng.random((n, 1, 4, 4), dtype=np.float32), channels=("protein",),
                        metadata=metadata, tables={"extra": extra})
    restored = read_imageset(write_imageset(original, tmp_path / "dtypes.h5"))
    assert_same_imageset(restored, original)
    assert list(restored.metadata.dtypes) == list(metadata.dtypes)
    assert restored.tables["extra"].isna().sum().tolist() == extra.isna().sum().tolist()


def test_meaningful_index_and_zero_row_tables_round_trip(tmp_path):
    original = make_imageset()
    original.tables["by_two"] = pd.DataFrame(
        {"v": [1.0, 2.0]}, index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)],
                                                           names=["protein", "field"]))
    original.tables["no_columns"] = pd.DataFrame(index=pd.RangeIndex(3))
    assert_same_imageset(read_imageset(write_imageset(original, tmp_path / "s.h5")), original)


def test_layout_is_one_compressed_chunk_per_image_with_versions(tmp_path):
    original = make_imageset(n=6, size=16)
    path = write_imageset(original, tmp_path / "s.h5")
    with h5py.File(path, "r") as f:
        assert f["images"].chunks == (1, 3, 16, 16)
        assert f["masks"].chunks == (1, 2, 16, 16)
        assert f["images"].compression == store.DEFAULT_COMPRESSION
        assert f.attrs["format_version"] == store.FORMAT_VERSION
        assert f.attrs["cellnb_version"] == __import__("cellnb").__version__
        assert json.loads(f.attrs["attrs"]) == original.attrs
        assert f.attrs[store.COMPLETE_ATTR]


def test_written_file_has_ordinary_permissions(tmp_path):
    # A cache shared between users needs the umask's mode, not a private temporary file's 0600.
    umask = os.umask(0o022)
    try:
        path = write_imageset(make_imageset(), tmp_path / "sub" / "s.h5")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_gzip_and_uncompressed_also_round_trip(tmp_path):
    original = make_imageset()
    for compression in ("gzip", None):
        path = write_imageset(original, tmp_path / f"{compression}.h5", compression=compression)
        assert_same_imageset(read_imageset(path), original)


def test_unstorable_column_and_attrs_are_refused_with_the_culprit_named(tmp_path):
    original = make_imageset()
    original.metadata["mixed"] = pd.Series([1, "a"] * 5, dtype=object)
    with pytest.raises(TypeError, match="metadata.mixed"):
        write_imageset(original, tmp_path / "a.h5")
    original = make_imageset()
    original.attrs["callback"] = object()
    with pytest.raises(TypeError, match="cannot be stored as JSON"):
        write_imageset(original, tmp_path / "b.h5")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ atomic writing


@pytest.mark.parametrize("failure", [RuntimeError, KeyboardInterrupt])
def test_interrupted_write_leaves_nothing_behind(tmp_path, monkeypatch, failure):
    path = tmp_path / "set.h5"
    written = []

    def failing_write_table(parent, name, table):
        written.append(name)
        if name == "cells":  # images, masks and metadata are already in the file by now
            raise failure("disk full")
        original_write_table(parent, name, table)

    original_write_table = store._write_table
    monkeypatch.setattr(store, "_write_table", failing_write_table)
    with pytest.raises(failure):
        write_imageset(make_imageset(), path)
    assert written == ["metadata", "cells"]
    assert list(tmp_path.iterdir()) == []  # neither the target nor a stray temporary file


def test_interrupted_overwrite_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "set.h5"
    old = make_imageset(seed=1)
    write_imageset(old, path)
    old_bytes = path.read_bytes()

    def fail_at_fsync(fd):
        raise OSError("I/O error")

    monkeypatch.setattr(store.os, "fsync", fail_at_fsync)  # after the whole file is written
    with pytest.raises(OSError, match="I/O error"):
        write_imageset(make_imageset(seed=2), path)
    assert [p.name for p in tmp_path.iterdir()] == ["set.h5"]
    assert path.read_bytes() == old_bytes
    monkeypatch.undo()
    assert_same_imageset(read_imageset(path), old)


def test_a_file_without_completion_marker_is_refused(tmp_path):
    path = write_imageset(make_imageset(), tmp_path / "set.h5")
    with h5py.File(path, "r+") as f:
        del f.attrs[store.COMPLETE_ATTR]
    with pytest.raises(CorruptImageSetError, match="completion marker.*delete it and regenerate"):
        read_imageset(path)


# ------------------------------------------------------------------------------------- errors


def test_missing_file_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no dataset at .*cellnb sim.*data_dir"):
        read_imageset(tmp_path / "absent.h5")


def test_garbage_bytes_are_reported_as_not_hdf5(tmp_path):
    path = tmp_path / "garbage.h5"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(CorruptImageSetError, match="not a readable HDF5 file.*regenerate"):
        read_imageset(path)


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.01])
def test_truncated_file_is_reported_as_corrupt(tmp_path, keep):
    path = write_imageset(make_imageset(n=20, size=16), tmp_path / "set.h5")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CorruptImageSetError, match="regenerate"):
        read_imageset(path)


def test_missing_dataset_is_named(tmp_path):
    path = write_imageset(make_imageset(), tmp_path / "set.h5")
    with h5py.File(path, "r+") as f:
        del f["masks"]
    with pytest.raises(CorruptImageSetError, match="lacks masks.*delete it and regenerate"):
        read_imageset(path)


def test_other_hdf5_files_and_newer_formats_are_refused(tmp_path):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["images"] = np.zeros((1, 1, 2, 2))
    with pytest.raises(CorruptImageSetError, match="not a cellnb ImageSet"):
        read_imageset(foreign)
    path = write_imageset(make_imageset(), tmp_path / "set.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = store.FORMAT_VERSION + 1
    with pytest.raises(CorruptImageSetError, match="upgrade cellnb"):
        read_imageset(path)


# ---------------------------------------------------------------------------------- lazy reads


def test_lazy_arrays_index_like_numpy_and_pickle_without_a_handle(tmp_path):
    original = make_imageset(n=12)
    lazy = read_imageset(write_imageset(original, tmp_path / "s.h5"), lazy=True)
    assert isinstance(lazy.images, LazyArray)
    images = original.images
    keys = [3, -1, np.int64(5), slice(2, 7), slice(None, None, 3), slice(None, None, -2),
            np.array([7, 2, 2, 0]), np.arange(12) % 3 == 0, (4, 1), (slice(1, 3), 2, 0),
            (np.array([5, 1]), slice(0, 2)), np.array([], dtype=int)]
    for key in keys:
        np.testing.assert_array_equal(lazy.images[key], images[key], err_msg=str(key))
    with pytest.raises(IndexError):
        lazy.images[12]
    np.testing.assert_array_equal(np.asarray(lazy.masks), original.masks)
    assert_same_imageset(lazy.subset([4, 1]), original.subset([4, 1]))
    copy = pickle.loads(pickle.dumps(lazy.images))  # after use: the open handle is not pickled
    np.testing.assert_array_equal(copy[[1, 0]], images[[1, 0]])


# ------------------------------------------------------------------------------- torch dataset


def test_dataset_items_are_float32_channel_first_with_targets(tmp_path):
    import torch

    original = make_imageset(n=8)
    path = write_imageset(original, tmp_path / "s.h5")
    for source in (path, original):
        plain = ImageSetDataset(source)
        assert len(plain) == 8
        item = plain[3]
        assert isinstance(item, torch.Tensor) and item.dtype == torch.float32
        np.testing.assert_array_equal(item.numpy(), original.images[3])

        picked = ImageSetDataset(source, channels=["nuclear_distance", "protein"],
                                 target="protein", indices=[6, 2])
        assert len(picked) == 2
        image, protein = picked[1]
        np.testing.assert_array_equal(image.numpy(), original.images[2][[2, 0]])
        assert protein == original.metadata["protein"][2] and isinstance(protein, str)

        several = ImageSetDataset(source, target=["field", "angle"], transform=lambda x: 2 * x)
        image, targets = several[5]
        np.testing.assert_array_equal(image.numpy(), 2 * original.images[5])
        assert targets["field"] == original.metadata["field"][5]
        np.testing.assert_equal(targets["angle"], original.metadata["angle"][5])


def test_dataset_errors_list_what_is_available(tmp_path):
    original = make_imageset()
    with pytest.raises(KeyError, match=r"\['actin'\].*available: \['protein', 'nucleus'"):
        ImageSetDataset(original, channels=["protein", "actin"])
    with pytest.raises(KeyError, match=r"unknown target.*'size'.*metadata has"):
        ImageSetDataset(original, target="size")
    with pytest.raises(IndexError, match="indices must lie in"):
        ImageSetDataset(original, indices=[0, 10])
    with pytest.raises(FileNotFoundError, match="no dataset at"):
        ImageSetDataset(tmp_path / "absent.h5")


def test_dataloader_workers_give_the_same_samples_as_the_main_process(tmp_path):
    import torch
    from torch.utils.data import DataLoader

    original = make_imageset(n=24, size=8)
    dataset = ImageSetDataset(write_imageset(original, tmp_path / "s.h5"),
                              channels=["nucleus", "protein"], target=["field", "protein"],
                              indices=np.arange(1, 24, 2))
    dataset[0]  # the main process opens the file before workers fork: they must not reuse it

    def batches(workers):
        loader = DataLoader(dataset, batch_size=5, num_workers=workers, shuffle=False)
        return [(images, targets["field"], targets["protein"]) for images, targets in loader]

    serial, parallel = batches(0), batches(2)
    assert len(serial) == len(parallel) == 3
    for (a_images, a_field, a_protein), (b_images, b_field, b_protein) in zip(serial, parallel):
        assert a_images.dtype == torch.float32 and a_images.shape[1:] == (2, 8, 8)
        assert torch.equal(a_images, b_images)
        assert torch.equal(a_field, b_field) and a_protein == b_protein
    all_images = torch.cat([images for images, _, _ in serial]).numpy()
    np.testing.assert_array_equal(all_images, original.images[1::2][:, [1, 0]])
