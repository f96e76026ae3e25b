"""Where the papers' real datasets live, and how to get each file: your copy, the cache, pooch.

The book runs on synthetic data by default, because none of the papers' datasets can be
installed from a package registry. Readers who want the real data
need to know, in one place, what each paper used, where it is hosted, how big it is, in which
format and under which licence. That place is a data file a person can read and edit,
``data/datasets.yml`` at the top of the repository (see its header for the fields); this module
reads it, in the style of ``pooch``: a registry of file names, URLs and checksums, and
:func:`fetch`, which returns local paths and downloads only what is neither in the reader's own
folder nor in the cache. ``python -m cellnb.data.registry`` checks the file and regenerates the
list of datasets in ``data/README.md``.

Everything in the registry comes from the papers' data sections and the hosts' pages, and no
source publishes checksums, so every ``sha256`` is empty (pooch then skips verification
and logs the hash of what it downloaded); they give only approximate sizes. Several hosts need a
person at a browser (Google Drive quotas, S3 buckets, per-gene web pages, folders of a code
repository): those files are marked ``manual_download`` and come with instructions instead of a
URL pooch could use.

Where :func:`fetch` looks for file ``F`` of dataset ``D``, in order:

1. ``<data_dir>/D/F``, then ``<data_dir>/F`` - your own copy (``data_dir`` argument);
2. ``<cache>/real/D/F`` - the cache of :func:`cellnb.data.cache.cache_dir` (``$CELLNB_DATA``;
   else ``data/cache`` in a source checkout; else ``$XDG_CACHE_HOME/cellnb`` or
   ``~/.cache/cellnb``);
3. a download with pooch into the cache (never for ``manual_download`` files, which raise an
   error saying where to get them and where to put them).
"""
from __future__ import annotations

import difflib
import re
import shutil
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pandas as pd
import yaml

from cellnb.data import cache
from cellnb.data.cache import REGISTRY_FILE, cache_dir


@dataclass(frozen=True)
class DataFile:
    """One file (or folder, for datasets that arrive as a tree) of a dataset."""

    name: str                          # its name on disk, as fetch looks for it
    format: str                        # what it holds and how it is laid out
    url: str | None = None             # None when no direct URL is known
    sha256: str | None = None          # None: not published; never guessed
    approx_size: str | None = None     # as the source states it, e.g. "438 MB"
    manual_download: bool = False
    how_to_get: str = ""               # for manual downloads: where and how to get it


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    used_by: str                       # the chapter (paper) of the book that uses it
    citation: str
    doi: str | None
    licence: str
    layout: str                        # what a loader finds inside; how to arrange a local copy
    source: str                        # where in the paper the dataset is described
    files: tuple[DataFile, ...] = field(default_factory=tuple)

    def file(self, name: str) -> DataFile:
        for data_file in self.files:
            if data_file.name == name:
                return data_file
        raise KeyError(f"dataset {self.name!r} has no file {name!r}; its files are "
                       f"{[f.name for f in self.files]}")


class ManualDownloadRequired(FileNotFoundError):
    """A file that only a person can download (Drive, S3, web pages) is not on disk yet."""


class RegistryError(ValueError):
    """The registry file is malformed; the message names the file, the dataset and the field."""


# --- the registry file ------------------------------------------------------------------------

PACKAGED_REGISTRY = Path("datasets") / REGISTRY_FILE   # inside the installed package (pyproject)

# Every field of an entry must be present; those in _MAY_BE_EMPTY may have no value.
_DATASET_FIELDS = ("name", "title", "used_by", "citation", "doi", "licence", "source", "layout",
                   "files")
_MAY_BE_EMPTY = {"doi"}
_FILE_FIELDS = ("name", "format", "manual_download")
_FILE_OPTIONAL_FIELDS = ("approx_size", "url", "sha256", "how_to_get")
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")    # a folder name in the cache
_SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
_DOWNLOAD_SCHEMES = ("http", "https", "ftp", "sftp", "doi", "file")   # what fetch can download


def registry_path() -> Path:
    """The registry file: ``data/datasets.yml`` of the source checkout cellnb runs from, else the
    copy installed with the package (``cellnb/datasets/datasets.yml``)."""
    checkout = cache.source_checkout()
    if checkout is not None:
        return checkout / "data" / REGISTRY_FILE
    packaged = cache.PACKAGE_DIR / PACKAGED_REGISTRY
    if not packaged.is_file():
        raise FileNotFoundError(
            f"the dataset registry is missing: cellnb at {cache.PACKAGE_DIR} is neither in a "
            f"source checkout (with data/{REGISTRY_FILE} next to it) nor installed with "
            f"{packaged}; reinstall cellnb")
    return packaged


def load_registry(path) -> dict[str, Dataset]:
    """The datasets of the registry file at ``path``, by name, checked field by field.

    Raises :class:`RegistryError`, naming the file, the dataset and the field, for anything a
    person may get wrong when editing: a missing or unknown field, a value of the wrong kind
    (YAML reads ``yes`` as a boolean and ``2017-05-01`` as a date), a malformed checksum, a
    downloadable file without a URL, a manual one without instructions, a name given twice.
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as stream:     # YAML's messages then name the file
            document = yaml.load(stream, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        raise RegistryError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(document, dict) or "datasets" not in document:
        raise RegistryError(f"{path}: expected a mapping with the key 'datasets', a list of "
                            f"entries; got {_shown(document)}")
    unknown = sorted(set(document) - {"datasets"}, key=str)
    if unknown:
        raise RegistryError(f"{path}: unknown top-level key {unknown[0]!r}; the file holds only "
                            "'datasets', a list of entries")
    entries = document["datasets"]
    if not isinstance(entries, list) or not entries:
        raise RegistryError(f"{path}: 'datasets' must be a list of entries ('- name: ...'), "
                            f"got {_shown(entries)}")
    datasets: dict[str, Dataset] = {}
    for index, entry in enumerate(entries):
        dataset = _parse_dataset(entry, f"{path}: {_label('dataset', entry, index)}")
        if dataset.name in datasets:
            raise RegistryError(f"{path}: dataset {dataset.name!r}, field 'name': the name is "
                                "used by an earlier entry too; names must be unique")
        datasets[dataset.name] = dataset
    return datasets


def _parse_dataset(entry, where: str) -> Dataset:
    _check_fields(entry, _DATASET_FIELDS, (), where)
    values = {key: _text(entry, key, where, may_be_empty=key in _MAY_BE_EMPTY)
              for key in _DATASET_FIELDS if key != "files"}
    if not _NAME_PATTERN.match(values["name"]):
        raise RegistryError(f"{where}, field 'name': {values['name']!r} is not a simple name "
                            "(letters, digits, '_', '-', '.'); it becomes a folder name")
    files = entry["files"]
    if not isinstance(files, list) or not files:
        raise RegistryError(f"{where}, field 'files': expected a list of files ('- name: ...'), "
                            f"got {_shown(files)}")
    data_files: list[DataFile] = []
    for index, file_entry in enumerate(files):
        data_file = _parse_file(file_entry, f"{where}, {_label('file', file_entry, index)}")
        if data_file.name in {f.name for f in data_files}:
            raise RegistryError(f"{where}, file {data_file.name!r}, field 'name': the file is "
                                "listed twice")
        data_files.append(data_file)
    return Dataset(**values, files=tuple(data_files))


def _parse_file(entry, where: str) -> DataFile:
    _check_fields(entry, _FILE_FIELDS, _FILE_OPTIONAL_FIELDS, where)
    name = _text(entry, "name", where)
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise RegistryError(f"{where}, field 'name': {name!r} must be a relative path inside "
                            "the dataset's folder")
    manual = entry["manual_download"]
    if not isinstance(manual, bool):
        raise RegistryError(f"{where}, field 'manual_download': expected true or false, got "
                            f"{_shown(manual)}")
    url = _text(entry, "url", where, may_be_empty=True)
    sha256 = _text(entry, "sha256", where, may_be_empty=True)
    if sha256 is not None:
        sha256 = sha256.lower()
        if not _SHA256_PATTERN.match(sha256):
            raise RegistryError(f"{where}, field 'sha256': expected 64 hexadecimal digits (a "
                                f"SHA-256 checksum) or nothing, got {_shown(entry['sha256'])}")
    how_to_get = _text(entry, "how_to_get", where, may_be_empty=True) or ""
    if manual and not how_to_get:
        raise RegistryError(f"{where}, field 'how_to_get': a manual download needs instructions "
                            "saying where and how a person gets the file")
    if not manual and (url is None or urlparse(url).scheme not in _DOWNLOAD_SCHEMES):
        raise RegistryError(f"{where}, field 'url': a file that fetch downloads needs a URL with "
                            f"one of the schemes {', '.join(_DOWNLOAD_SCHEMES)}, got "
                            f"{_shown(url)}; or set manual_download: true and add how_to_get")
    return DataFile(name=name, format=_text(entry, "format", where), url=url, sha256=sha256,
                    approx_size=_text(entry, "approx_size", where, may_be_empty=True),
                    manual_download=manual, how_to_get=how_to_get)


def _check_fields(entry, required, optional, where: str) -> None:
    if not isinstance(entry, dict):
        raise RegistryError(f"{where}: expected a mapping of fields ('name: ...'), got "
                            f"{_shown(entry)}")
    allowed = (*required, *optional)
    for key in entry:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise RegistryError(f"{where}: unknown field {key!r}; {hint}the fields are "
                                f"{', '.join(allowed)}")
    missing = [key for key in required if key not in entry]
    if missing:
        fields = ", ".join(repr(key) for key in missing)
        raise RegistryError(f"{where}: missing field{'s' if len(missing) > 1 else ''} {fields} "
                            "(leave a value empty where it is unknown, but keep the field)")


def _text(entry: dict, key: str, where: str, may_be_empty: bool = False) -> str | None:
    value = entry.get(key)
    if isinstance(value, str) and value.strip():
        return value.strip()
    if value is None or value == "":
        if may_be_empty:
            return None
        raise RegistryError(f"{where}, field {key!r}: it is empty; it needs a value")
    raise RegistryError(f"{where}, field {key!r}: expected text, got {_shown(value)}; YAML reads "
                        "some bare values as numbers, dates or booleans, so put it in quotes")


def _label(kind: str, entry, index: int) -> str:
    """``"dataset 'hpa_v18'"``, or ``"dataset #3"`` for an entry without a usable name."""
    name = entry.get("name") if isinstance(entry, dict) else None
    if isinstance(name, str) and name.strip():
        return f"{kind} {name.strip()!r}"
    return f"{kind} #{index + 1}"


def _shown(value) -> str:
    """A value and its type, for messages: ``2017 (int)``."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):   # libyaml: 10x faster
    """YAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep=False):
    loader.flatten_mapping(node)
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark, f"found the key {key!r} twice",
                key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                 _construct_unique_mapping)

DATASETS: dict[str, Dataset] = load_registry(registry_path())


# --- queries -----------------------------------------------------------------------------------

def get_dataset(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"no dataset named {name!r}; known datasets: {sorted(DATASETS)}") from None


def list_datasets() -> pd.DataFrame:
    """One row per dataset: name, title, paper, number of files, licence, manual download."""
    return pd.DataFrame([{
        "name": d.name, "title": d.title, "used_by": d.used_by, "n_files": len(d.files),
        "manual_download": any(f.manual_download for f in d.files),
        "licence": d.licence, "doi": d.doi,
    } for d in DATASETS.values()])


def list_files(name: str) -> pd.DataFrame:
    """One row per file of dataset ``name``: file, url, approx_size, sha256, manual, format."""
    return pd.DataFrame([{
        "file": f.name, "url": f.url, "approx_size": f.approx_size, "sha256": f.sha256,
        "manual_download": f.manual_download, "format": f.format,
    } for f in get_dataset(name).files])


def describe(name: str) -> str:
    """A readable description of dataset ``name``: citation, licence, layout and every file."""
    dataset = get_dataset(name)

    def wrap(text, indent="  "):
        return textwrap.fill(text, 96, initial_indent=indent, subsequent_indent=indent)

    lines = [f"{dataset.name}: {dataset.title}", f"  used by: {dataset.used_by}",
             wrap(f"citation: {dataset.citation}"),
             f"  DOI: {dataset.doi or 'not recorded'}",
             wrap(f"licence: {dataset.licence}"), wrap(f"layout: {dataset.layout}"),
             f"  source: {dataset.source}", f"  files ({len(dataset.files)}):"]
    for data_file in dataset.files:
        size = data_file.approx_size or "size unknown"
        how = "manual download" if data_file.manual_download else "downloads automatically"
        lines.append(f"  - {data_file.name} ({size}; {how})")
        lines.append(wrap(f"format: {data_file.format}", "      "))
        if data_file.url:
            lines.append(f"      url: {data_file.url}")
        if data_file.manual_download:
            lines.append(wrap(f"how to get it: {data_file.how_to_get}", "      "))
        lines.append(f"      sha256: {data_file.sha256 or 'not published (not verified)'}")
    return "\n".join(lines)


# --- fetching ----------------------------------------------------------------------------------

def dataset_cache_dir(name: str) -> Path:
    """Where downloads of dataset ``name`` go: ``<cache_dir()>/real/<name>``."""
    return cache_dir() / "real" / name


def candidate_dirs(name: str, data_dir=None) -> list[Path]:
    """The folders where a file of dataset ``name`` is looked for, in order: ``<data_dir>/<name>``,
    ``<data_dir>``, then the cache."""
    folders = [] if data_dir is None else [Path(data_dir) / name, Path(data_dir)]
    return folders + [dataset_cache_dir(name)]


def candidate_paths(name: str, file_name: str, data_dir=None) -> list[Path]:
    """Where :func:`fetch` looks for a file, in order (see the module docstring)."""
    return [folder / file_name for folder in candidate_dirs(name, data_dir)]


def fetch(name: str, files=None, *, data_dir=None, progress: bool = True) -> dict[str, Path]:
    """Local paths of the files of dataset ``name``, downloading into the cache only if needed.

    files:
        A file name or a list of them (default: all files of the dataset).
    data_dir:
        A folder with your own copy, as ``<data_dir>/<name>/<file>`` or ``<data_dir>/<file>``.
    progress:
        Show a progress bar while downloading.

    Files already present are returned as they are, without verifying them (a 1 GB hash per call
    would be slow); downloads are verified by pooch when a sha256 is registered.
    """
    dataset = get_dataset(name)
    if files is None:
        wanted = [f.name for f in dataset.files]
    else:
        wanted = [files] if isinstance(files, str) else list(files)
    data_files = [dataset.file(file_name) for file_name in wanted]

    found: dict[str, Path] = {}
    for data_file in data_files:
        candidates = candidate_paths(name, data_file.name, data_dir)
        existing = next((path for path in candidates if path.exists()), None)
        if existing is not None:
            found[data_file.name] = existing
        elif data_file.manual_download or not data_file.url:
            raise ManualDownloadRequired(_manual_message(dataset, data_file, candidates))
        else:
            found[data_file.name] = _download(data_file, dataset_cache_dir(name), progress)
    return found


def _manual_message(dataset: Dataset, data_file: DataFile, candidates: list[Path]) -> str:
    places = "\n".join(f"  {path}" for path in candidates)
    how = data_file.how_to_get or f"Get it from {data_file.url or 'the source of the paper'}."
    return (f"{data_file.name} of dataset {dataset.name!r} must be downloaded by hand and was not "
            f"found. {how}\nThen put it in one of (first found wins):\n{places}\n"
            f"(pass data_dir=... to fetch to use your own folder; see "
            f"cellnb.data.registry.describe({dataset.name!r}) for the layout)")


def _download(data_file: DataFile, cache_dir: Path, progress: bool) -> Path:
    import pooch

    known_hash = f"sha256:{data_file.sha256}" if data_file.sha256 else None
    try:
        path = pooch.retrieve(data_file.url, known_hash=known_hash, fname=data_file.name,
                              path=cache_dir, downloader=_downloader(data_file.url, progress),
                              progressbar=progress)
    except ValueError:
        raise                        # a checksum mismatch: pooch's message says what to do
    except Exception as error:       # requests/ftp/OS errors: the host, not the registry

        raise ConnectionError(
            f"could not download {data_file.name} from {data_file.url} ({error}). If this "
            f"machine is offline or the host has moved, download the file elsewhere and put it "
            f"in {cache_dir} or pass data_dir=... to fetch") from error
    return Path(path)


def _downloader(url: str, progress: bool):
    """pooch's downloader for the URL's protocol, plus file:// for local mirrors."""
    import pooch

    if urlparse(url).scheme == "file":
        return _copy_local_file
    return pooch.choose_downloader(url, progressbar=progress)


def _copy_local_file(url: str, output_file, pooch_instance=None) -> None:
    source = Path(url2pathname(urlparse(url).path))
    if not source.is_file():
        raise FileNotFoundError(f"no file at {source} (from {url})")
    if hasattr(output_file, "write"):
        with open(source, "rb") as handle:
            shutil.copyfileobj(handle, output_file)
    else:
        shutil.copyfile(source, output_file)


# --- data/README.md ------------------------------------------------------------------------------

README_BEGIN = ("<!-- begin datasets: generated from datasets.yml by python -m "
                "cellnb.data.registry -->")
README_END = "<!-- end datasets -->"
_BLOCK_START = re.compile(r"^([-+*>#|]|\d+[.)])$")   # a word that would open a Markdown block


def readme_section(datasets: dict[str, Dataset] | None = None) -> str:
    """The list of datasets in ``data/README.md``, as Markdown: a table, then per dataset what
    it is, whom to cite, its licence and layout, and how to get each of its files."""
    datasets = DATASETS if datasets is None else datasets
    lines = ["| dataset | used by | files | how to get it | licence |", "|---|---|---|---|---|"]
    for dataset in datasets.values():
        manual = sum(f.manual_download for f in dataset.files)
        how = ("by hand" if manual == len(dataset.files) else
               "`fetch` downloads it" if manual == 0 else "partly by hand")
        cells = [f"[`{dataset.name}`](#{dataset.name})", dataset.used_by,
                 str(len(dataset.files)), how, dataset.licence]
        lines.append("| " + " | ".join(_markdown(cell).replace("|", "\\|") for cell in cells)
                     + " |")
    for dataset in datasets.values():
        lines += ["", f"### `{dataset.name}`", "", _paragraph(_markdown(dataset.title)), ""]
        doi = dataset.doi and f"[{dataset.doi}](https://doi.org/{dataset.doi})"
        facts = [("Used by", dataset.used_by), ("Citation", dataset.citation),
                 ("DOI", doi), ("Licence", dataset.licence),
                 ("Layout", dataset.layout), ("Source", dataset.source)]
        lines += [_bullet(f"**{label}:** {text if label == 'DOI' else _markdown(text)}")
                  for label, text in facts if text]
        lines += ["", "Files:", ""]
        lines += [_bullet(_markdown_files(dataset, group)) for group in _groups(dataset.files)]
    return "\n".join(lines) + "\n"


def update_readme(text: str, section: str) -> str:
    """``text`` (a README) with the part between the two markers replaced by ``section``."""
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no dataset list to update: it needs the line "
                         f"{README_BEGIN!r} and, below it, the line {README_END!r}")
    return f"{text[:start]}{README_BEGIN}\n\n{section}\n{text[end:]}"


def _groups(files) -> list[list[DataFile]]:
    """Files that are got the same way, together (the 20 shards of a dataset are one item)."""
    groups: dict[tuple, list[DataFile]] = {}
    for data_file in files:
        key = (data_file.manual_download, data_file.how_to_get if data_file.manual_download
               else data_file.name)
        groups.setdefault(key, []).append(data_file)
    return list(groups.values())


def _markdown_files(dataset: Dataset, group: list[DataFile]) -> str:
    names = ", ".join(f"`{f.name}`" for f in group)
    sizes = sorted({f.approx_size for f in group if f.approx_size})
    size = f" ({'; '.join(sizes)})" if sizes else ""
    first = group[0]
    if first.manual_download:
        return f"{names}{size}: by hand. {_markdown(first.how_to_get)}"
    checksum = f"sha256 `{first.sha256}`" if first.sha256 else "no published sha256"
    return (f"{names}{size}: `fetch({dataset.name!r})` downloads it from <{first.url}> "
            f"({checksum}).")


def _markdown(text: str) -> str:
    # A bare "<data_dir>" would be read as an HTML tag and vanish from the rendered page.
    return text.replace("<", "\\<")


def _bullet(text: str) -> str:
    return _paragraph(text, "- ", "  ")


def _paragraph(text: str, first: str = "", rest: str = "", width: int = 100) -> str:
    """``text`` filled to ``width`` columns, ``first`` and ``rest`` indenting its lines. No line
    starts with a word that Markdown reads as the start of a list, quote or heading ("+", "1.")."""
    lines: list[list[str]] = [[]]
    for word in text.split():
        line = lines[-1]
        indent = first if len(lines) == 1 else rest
        if line and len(indent) + len(" ".join([*line, word])) > width:
            carried = [line.pop()] if _BLOCK_START.match(word) and len(line) > 1 else []
            lines.append([*carried, word])
        else:
            line.append(word)
    return "\n".join((rest if index else first) + " ".join(line)
                     for index, line in enumerate(lines))


def main(argv: list[str] | None = None) -> int:
    """``python -m cellnb.data.registry [--check]``: check the registry file, then bring the
    dataset list of ``data/README.md`` up to date (with ``--check``, only say whether it is)."""
    args = sys.argv[1:] if argv is None else argv
    if set(args) - {"--check"}:
        print("usage: python -m cellnb.data.registry [--check]", file=sys.stderr)
        return 2
    path = registry_path()
    datasets = load_registry(path)   # a RegistryError names the file, the dataset and the field
    print(f"{path}: {len(datasets)} datasets, {sum(len(d.files) for d in datasets.values())} "
          "files, all fields valid")
    checkout = cache.source_checkout()
    if checkout is None:
        print("installed package: no data/README.md to update")
        return 0
    readme = checkout / "data" / "README.md"
    current = readme.read_text(encoding="utf-8")
    updated = update_readme(current, readme_section(datasets))
    if updated == current:
        print(f"{readme} is up to date")
        return 0
    if "--check" in args:
        print(f"{readme} is out of date: run python -m cellnb.data.registry", file=sys.stderr)
        return 1
    readme.write_text(updated, encoding="utf-8")
    print(f"updated the dataset list in {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
