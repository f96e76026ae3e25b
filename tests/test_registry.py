"""Specification of the real-dataset registry, its data file and of fetch; no test touches the
network."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cellnb.data import registry
from cellnb.data.registry import (
    DataFile,
    Dataset,
    ManualDownloadRequired,
    RegistryError,
    describe,
    fetch,
    list_datasets,
    list_files,
    load_registry,
)

REPO = Path(__file__).resolve().parents[1]
REGISTRY_FILE = REPO / "data" / "datasets.yml"
PAPER_DATASETS = {"opencell_cytoself", "hpa_v18", "yeast_deeploc_chong", "yeast_cyclops_wt2",
                  "pci_toy_dataset", "allen_integrated_cell_2d", "allen_integrated_cell_3d",
                  "lin_fission_yeast"}


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
    # Google Drive (cytoself), S3 buckets (Allen), per-gene web pages (HPA), directory listings,
    # folders of a code repository (paired cell inpainting's examples).
    for name in ("opencell_cytoself", "hpa_v18", "allen_integrated_cell_2d",
                 "allen_integrated_cell_3d", "yeast_cyclops_wt2", "pci_toy_dataset"):
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
    assert "Kraus OZ" in registry.DATASETS["yeast_deeploc_chong"].citation     # DeepLoc, 2017
    examples = registry.DATASETS["pci_toy_dataset"]
    assert [f.name for f in examples.files] == ["yeast", "human"]
    assert "1,642 cells" in examples.layout and examples.licence.startswith("GPL-2.0")
    assert "yeast_model/toy_dataset/images" in examples.file("yeast").how_to_get


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
    # These tests run from a checkout, whose cache is data/cache (see test_cache.py).
    assert registry.dataset_cache_dir("toy") == REPO / "data" / "cache" / "real" / "toy"


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


# --- the registry file: data/datasets.yml ----------------------------------------------------

def test_the_registry_is_the_data_file_at_the_top_of_the_checkout():
    assert registry.registry_path() == REGISTRY_FILE
    assert load_registry(REGISTRY_FILE) == registry.DATASETS
    # Its header documents every field an entry may have.
    header = REGISTRY_FILE.read_text().split("\ndatasets:")[0]
    for field in (*registry._DATASET_FIELDS, *registry._FILE_FIELDS,
                  *registry._FILE_OPTIONAL_FIELDS):
        assert re.search(rf"^#\s+{field}\s", header, re.MULTILINE), field


def test_the_data_readme_lists_the_datasets_of_the_registry():
    readme = (REPO / "data" / "README.md").read_text()
    listed = re.findall(r"^### `([^`]+)`$", readme, re.MULTILINE)
    assert sorted(listed) == sorted(registry.DATASETS), (
        "data/README.md and data/datasets.yml list different datasets; run "
        "python -m cellnb.data.registry")
    assert registry.update_readme(readme, registry.readme_section()) == readme, (
        "the dataset list in data/README.md is out of date; run python -m cellnb.data.registry")
    assert registry.main(["--check"]) == 0


VALID_REGISTRY = """\
datasets:
  - name: toy
    title: Toy cells
    used_by: tests
    citation: Nobody (2024)
    doi:
    licence: CC0
    source: tests
    layout: flat
    files:
      - name: cells.zip
        format: zip of PNGs
        url: https://example.org/cells.zip
        sha256:
        manual_download: false
      - name: by_hand.npy
        format: NumPy array
        manual_download: true
        how_to_get: Ask the lab.
"""

# Each edit of VALID_REGISTRY, and what the error must name besides the file.
BAD_REGISTRIES = {
    "missing field": (("    licence: CC0\n", ""), ["dataset 'toy'", "missing field 'licence'"]),
    "unknown field": (("licence:", "license:"),
                      ["dataset 'toy'", "unknown field 'license'", "did you mean 'licence'"]),
    "unknown file field": (("        sha256:\n", "        checksum:\n"),
                           ["dataset 'toy', file 'cells.zip'", "unknown field 'checksum'"]),
    "missing file field": (("        format: zip of PNGs\n", ""),
                           ["dataset 'toy', file 'cells.zip'", "missing field 'format'"]),
    "nameless dataset": (("  - name: toy\n    title:", "  - title:"),
                         ["dataset #1", "missing field 'name'"]),
    "empty value": (("citation: Nobody (2024)", "citation:"),
                    ["dataset 'toy', field 'citation'", "empty"]),
    "date for text": (("title: Toy cells", "title: 2017-05-01"),
                      ["dataset 'toy', field 'title'", "expected text", "quotes"]),
    "text for a boolean": (("manual_download: false", "manual_download: 'no'"),
                           ["file 'cells.zip', field 'manual_download'", "true or false"]),
    "bad checksum": (("        sha256:\n", "        sha256: abc123\n"),
                     ["file 'cells.zip', field 'sha256'", "64 hexadecimal digits"]),
    "download without url": (("        url: https://example.org/cells.zip\n", ""),
                             ["file 'cells.zip', field 'url'", "manual_download: true"]),
    "manual without instructions": (("        how_to_get: Ask the lab.\n", ""),
                                    ["file 'by_hand.npy', field 'how_to_get'"]),
    "name with a slash": (("  - name: toy\n", "  - name: to/y\n"),
                          ["dataset 'to/y', field 'name'", "simple name"]),
    "key given twice": (("    source: tests\n", "    source: tests\n    source: notes\n"),
                        ["not valid YAML", "found the key 'source' twice", "line 9"]),
    "not yaml": (("  - name: toy\n", "  - name: [toy\n"), ["not valid YAML"]),
    "no list": ((VALID_REGISTRY, "datasets:\n"), ["'datasets' must be a list"]),
}


@pytest.mark.parametrize("case", sorted(BAD_REGISTRIES))
def test_a_bad_registry_file_is_refused_naming_the_file_dataset_and_field(case, tmp_path):
    (old, new), expected = BAD_REGISTRIES[case]
    assert old in VALID_REGISTRY, case
    path = tmp_path / "datasets.yml"
    path.write_text(VALID_REGISTRY.replace(old, new, 1))
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    message = str(info.value)
    for part in [str(path), *expected]:
        assert part in message, (part, message)


def test_a_registry_entry_is_a_dataset_of_the_api(tmp_path):
    path = tmp_path / "datasets.yml"
    path.write_text(VALID_REGISTRY)
    toy = load_registry(path)["toy"]
    assert toy.doi is None and toy.licence == "CC0"
    assert toy.file("cells.zip") == DataFile(name="cells.zip", format="zip of PNGs",
                                             url="https://example.org/cells.zip")
    assert toy.file("by_hand.npy").manual_download
    # A name given to two datasets is refused too.
    path.write_text(VALID_REGISTRY + VALID_REGISTRY.split("datasets:\n")[1])
    with pytest.raises(RegistryError, match="dataset 'toy', field 'name': .* earlier entry"):
        load_registry(path)


def test_the_installed_package_carries_the_registry(tmp_path):
    """pip builds a wheel holding data/datasets.yml as cellnb/datasets/datasets.yml, and nothing
    else of data/; cellnb imported from that install reads it and caches in ~/.cache/cellnb."""
    source = tmp_path / "source"      # a copy: the build writes build/ and *.egg-info next to it
    shutil.copytree(REPO / "cellnb", source / "cellnb",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "data", source / "data", ignore=shutil.ignore_patterns("cache"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    (source / "data" / "cache").mkdir()
    (source / "data" / "cache" / "atlas.h5").write_bytes(b"a cached file, never shipped")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--quiet", "--wheel-dir", str(tmp_path / "dist"),
         str(source)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("cellnb-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert archive.read("cellnb/datasets/datasets.yml") == REGISTRY_FILE.read_bytes()
        assert {n for n in names if n.startswith("cellnb/datasets/")} == {
            "cellnb/datasets/datasets.yml"}
        modules = {path.relative_to(source).as_posix()
                   for path in (source / "cellnb").rglob("*.py")}
        assert not modules - names, (
            f"modules missing from the wheel: {sorted(modules - names)}; add their packages to "
            "[tool.setuptools] packages in pyproject.toml")
        archive.extractall(site)

    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import cellnb; "
            "from cellnb.data import cache, registry; "
            "print(json.dumps([cellnb.__file__, str(registry.registry_path()), "
            "list(registry.DATASETS), str(cache.cache_dir())]))")
    env = {key: value for key, value in os.environ.items()
           if key not in ("CELLNB_DATA", "XDG_CACHE_HOME", "PYTHONPATH")}
    env["HOME"] = str(tmp_path / "home")
    run = subprocess.run([sys.executable, "-c", code, str(site)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    package, registry_file, names, cache_folder = json.loads(run.stdout)
    site = site.resolve()
    assert Path(package) == site / "cellnb" / "__init__.py"
    assert Path(registry_file) == site / "cellnb" / "datasets" / "datasets.yml"
    assert names == list(registry.DATASETS)
    assert Path(cache_folder) == tmp_path / "home" / ".cache" / "cellnb"
