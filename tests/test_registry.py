"""Specification of the real-dataset registry and of fetch; no test touches the network."""
import hashlib
import re

import pytest

from cellnb.data import registry
from cellnb.data.registry import (
    DataFile,
    Dataset,
    ManualDownloadRequired,
    describe,
    fetch,
    list_datasets,
    list_files,
)

PAPER_DATASETS = {"opencell_cytoself", "hpa_v18", "yeast_deeploc_chong", "yeast_cyclops_wt2",
                  "allen_integrated_cell_2d", "allen_integrated_cell_3d", "lin_fission_yeast"}


# --- the registry's content -------------------------------------------------------------------

def test_every_paper_dataset_is_listed():
    table = list_datasets()
    assert set(table["name"]) == PAPER_DATASETS
    assert {"title", "used_by", "n_files", "manual_download", "licence", "doi"} <= set(table)
    assert (table["n_files"] > 0).all()


def test_every_file_is_either_downloadable_or_comes_with_instructions():
    for dataset in registry.DATASETS.values():
        for data_file in dataset.files:
            assert data_file.format, (dataset.name, data_file.name)
            # Checksums are never invented: unknown ones are None, known ones real sha256 hex.
            assert data_file.sha256 is None or re.fullmatch("[0-9a-f]{64}", data_file.sha256)
            if data_file.manual_download:
                assert len(data_file.how_to_get) > 40, (dataset.name, data_file.name)
            else:
                assert data_file.url.startswith(("http://", "https://")), data_file.url


def test_hosts_that_need_a_person_are_marked_manual():
    frame = list_datasets().set_index("name")
    # Google Drive (cytoself), S3 buckets (Allen), per-gene web pages (HPA), directory listings.
    for name in ("opencell_cytoself", "hpa_v18", "allen_integrated_cell_2d",
                 "allen_integrated_cell_3d", "yeast_cyclops_wt2"):
        assert frame.loc[name, "manual_download"], name
    assert not frame.loc["yeast_deeploc_chong", "manual_download"]
    assert not frame.loc["lin_fission_yeast", "manual_download"]


def test_entries_carry_the_facts_of_the_notes():
    opencell = list_files("opencell_cytoself")
    shards = [name for name in opencell["file"] if name.startswith("Image_data")]
    assert shards == [f"Image_data{i:02d}.npy" for i in range(10)]
    assert "Label_data09.csv" in set(opencell["file"])
    deeploc = list_files("yeast_deeploc_chong").set_index("file")
    assert deeploc.loc["DeepLoc_full_datasets.zip", "url"] == (
        "http://spidey.ccbr.utoronto.ca/~okraus/DeepLoc_full_datasets.zip")
    lin = list_files("lin_fission_yeast").set_index("file")
    assert lin.loc["LIN_Normalized_WT_size-48-80.zip", "approx_size"] == "438 MB"
    assert registry.DATASETS["lin_fission_yeast"].doi == "10.1101/116749"


def test_describe_says_what_where_and_under_which_terms():
    text = describe("lin_fission_yeast")
    assert "Osokin" in text and "Dodgson" in text
    assert "contact the authors" in text
    assert "http://www.di.ens.fr/sierra/research/biogans/LIN_Normalized_WT_size-48-80.zip" in text
    assert "R = Bgs4" in text
    manual = describe("allen_integrated_cell_2d")
    assert "manual download" in manual and "--no-sign-request" in manual


def test_unknown_names_list_the_known_ones():
    with pytest.raises(KeyError, match="known datasets: .*lin_fission_yeast"):
        describe("lin")
    with pytest.raises(KeyError, match="has no file 'cells.zip'; its files are"):
        fetch("lin_fission_yeast", "cells.zip")


# --- fetch ------------------------------------------------------------------------------------

@pytest.fixture
def no_download(monkeypatch):
    """Fail the test if fetch tries to download anything."""
    def refuse(*args, **kwargs):
        raise AssertionError("fetch tried to download")
    monkeypatch.setattr(registry, "_download", refuse)


@pytest.fixture
def toy_dataset(monkeypatch, tmp_path):
    """A registered dataset served from a local file:// URL, with its true checksum."""
    source = tmp_path / "server" / "cells.bin"
    source.parent.mkdir()
    source.write_bytes(b"\x00\x01 real pixels " * 100)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    dataset = Dataset(
        name="toy", title="toy", used_by="tests", citation="none", doi=None, licence="CC0",
        layout="flat", source="tests",
        files=(DataFile(name="cells.bin", format="bytes", url=source.as_uri(), sha256=digest),
               DataFile(name="by_hand.npy", format="npy", manual_download=True,
                        how_to_get="Ask the lab for the by-hand file.")))
    monkeypatch.setitem(registry.DATASETS, "toy", dataset)
    return source


def test_a_file_in_data_dir_is_returned_without_any_download(tmp_path, no_download):
    own = tmp_path / "my_data" / "lin_fission_yeast"
    own.mkdir(parents=True)
    (own / "LIN_Normalized_WT_size-48-80.zip").write_bytes(b"zip")
    paths = fetch("lin_fission_yeast", "LIN_Normalized_WT_size-48-80.zip",
                  data_dir=tmp_path / "my_data")
    assert paths == {"LIN_Normalized_WT_size-48-80.zip": own / "LIN_Normalized_WT_size-48-80.zip"}
    # A flat folder (the file directly in data_dir) works too.
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "DeepLoc_full_datasets.zip").write_bytes(b"zip")
    paths = fetch("yeast_deeploc_chong", data_dir=tmp_path / "flat")
    assert paths["DeepLoc_full_datasets.zip"] == tmp_path / "flat" / "DeepLoc_full_datasets.zip"


def test_a_file_in_the_cache_is_returned_without_any_download(no_download):
    cached = registry.dataset_cache_dir("lin_fission_yeast") / "LIN_Normalized_WT_size-96-160.zip"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"zip")
    assert fetch("lin_fission_yeast", ["LIN_Normalized_WT_size-96-160.zip"]) == {
        "LIN_Normalized_WT_size-96-160.zip": cached}


def test_cache_location_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CELLNB_DATA", str(tmp_path / "elsewhere"))
    assert registry.dataset_cache_dir("toy") == tmp_path / "elsewhere" / "real" / "toy"
    monkeypatch.delenv("CELLNB_DATA")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home_cache = tmp_path / "home" / ".cache" / "cellnb"
    assert registry.dataset_cache_dir("toy") == home_cache / "real" / "toy"


def test_fetch_downloads_into_the_cache_once(toy_dataset):
    paths = fetch("toy", "cells.bin", progress=False)
    path = paths["cells.bin"]
    assert path == registry.dataset_cache_dir("toy") / "cells.bin"
    assert path.read_bytes() == toy_dataset.read_bytes()
    # The second call finds the cached copy: the source may vanish.
    toy_dataset.unlink()
    assert fetch("toy", "cells.bin", progress=False) == {"cells.bin": path}


def test_a_corrupted_download_is_rejected_by_its_checksum(toy_dataset):
    toy_dataset.write_bytes(b"an error page, not the data")
    with pytest.raises(ValueError, match="(?i)hash"):
        fetch("toy", "cells.bin", progress=False)
    assert not (registry.dataset_cache_dir("toy") / "cells.bin").exists()


def test_an_unreachable_host_says_how_to_work_offline(toy_dataset):
    toy_dataset.unlink()
    with pytest.raises(ConnectionError, match="could not download cells.bin.*data_dir"):
        fetch("toy", "cells.bin", progress=False)


def test_a_missing_manual_file_says_where_to_get_it_and_where_to_put_it(toy_dataset, tmp_path):
    with pytest.raises(ManualDownloadRequired) as info:
        fetch("toy", "by_hand.npy", data_dir=tmp_path / "mine")
    message = str(info.value)
    assert "Ask the lab for the by-hand file." in message
    assert str(tmp_path / "mine" / "toy" / "by_hand.npy") in message
    assert str(registry.dataset_cache_dir("toy") / "by_hand.npy") in message


def test_real_manual_entries_raise_with_their_instructions(no_download):
    with pytest.raises(ManualDownloadRequired, match="Google Drive links .* cytoself"):
        fetch("opencell_cytoself", "Image_data00.npy")
    # Callers that only know FileNotFoundError still catch it.
    with pytest.raises(FileNotFoundError, match="aws s3 cp"):
        fetch("allen_integrated_cell_2d")
