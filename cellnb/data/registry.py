"""Where the papers' real datasets live, and how to get each file: your copy, the cache, pooch.

The book runs on synthetic data by default, because none of the papers' datasets can be
installed from a package registry (``notes/real_pixels.md``). Readers who want the real data
need to know, in one place, what each paper used, where it is hosted, how big it is, in which
format and under which licence. This module is that place, in the style of ``pooch``: a registry
of file names, URLs and checksums, and :func:`fetch`, which returns local paths and downloads
only what is neither in the reader's own folder nor in the cache.

Everything here comes from the dataset sections (§2) of the project notes on each paper. The
notes give no checksums, so every ``sha256`` is ``None`` (pooch then skips verification and logs
the hash of what it downloaded); they give only approximate sizes. Several hosts need a person
at a browser (Google Drive quotas, S3 buckets, per-gene web pages): those files are marked
``manual_download`` and come with instructions instead of a URL pooch could use.

Where :func:`fetch` looks for file ``F`` of dataset ``D``, in order:

1. ``<data_dir>/D/F``, then ``<data_dir>/F`` - your own copy (``data_dir`` argument);
2. ``<cache>/real/D/F`` - the cache of :func:`cellnb.data.cache.cache_dir` (``$CELLNB_DATA``,
   else ``$XDG_CACHE_HOME/cellnb``, else ``~/.cache/cellnb``);
3. a download with pooch into the cache (never for ``manual_download`` files, which raise an
   error saying where to get them and where to put them).
"""
from __future__ import annotations

import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pandas as pd

from cellnb.data.cache import cache_dir


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
    used_by: str                       # the paper(s) of the book that use it
    citation: str
    doi: str | None
    licence: str
    layout: str                        # what a loader finds inside; how to arrange a local copy
    source: str                        # the notes section the entry is taken from
    files: tuple[DataFile, ...] = field(default_factory=tuple)

    def file(self, name: str) -> DataFile:
        for data_file in self.files:
            if data_file.name == name:
                return data_file
        raise KeyError(f"dataset {self.name!r} has no file {name!r}; its files are "
                       f"{[f.name for f in self.files]}")


class ManualDownloadRequired(FileNotFoundError):
    """A file that only a person can download (Drive, S3, web pages) is not on disk yet."""


# --- the registry ------------------------------------------------------------------------------

_CYTOSELF_README = ("the Google Drive links in the README of the official cytoself repository "
                    "(github.com/royerlab/cytoself, data section)")
_DRIVE_QUOTA = ("Drive may answer 'Access denied / too many accesses' (cytoself issue #12); "
                "retry later.")


def _opencell_files() -> tuple[DataFile, ...]:
    # The README says the 10 shards "are intended to be concatenated" (cytoself notes §2.3).
    shards = []
    for index in range(10):
        shards.append(DataFile(
            name=f"Image_data{index:02d}.npy",
            format="NumPy array [n, 100, 100, 4], channels (target protein, nucleus, nuclear "
                   "distance, nuclear segmentation); shard 00 holds 134,304 crops",
            manual_download=True,
            how_to_get=f"Download it from {_CYTOSELF_README}. {_DRIVE_QUOTA}"))
        shards.append(DataFile(
            name=f"Label_data{index:02d}.csv",
            format="CSV, one row per crop of the matching Image_data shard; 7 columns: ensg, "
                   "name, loc_grade1, loc_grade2, loc_grade3, protein_id, FOV_id",
            manual_download=True,
            how_to_get=f"Download it from {_CYTOSELF_README}. {_DRIVE_QUOTA}"))
    supplementary = [
        ("proteins_uniloc.csv", "Supplementary File 2", "CSV, 2 columns (protein, "
         "localisation): proteins with one exclusive localisation"),
        ("proteins_corum.csv", "Supplementary File 1", "CSV: 38 CORUM complexes whose subunits "
         "are all in OpenCell and not shared between complexes"),
        ("proteins_subunits.csv", "Supplementary File 3", "CSV: subunits of the complexes of "
         "Figs. 2 and 3b"),
    ]
    return tuple(shards) + tuple(
        DataFile(name=name, format=fmt, manual_download=True,
                 how_to_get=f"It is {which} of the cytoself paper (Kobayashi et al. 2022): "
                            "download it from the journal's supplementary information.")
        for name, which, fmt in supplementary)


DATASETS: dict[str, Dataset] = {dataset.name: dataset for dataset in (
    Dataset(
        name="opencell_cytoself",
        title="OpenCell crops used to train cytoself (HEK293T, 1311 endogenously tagged proteins)",
        used_by="cytoself",
        citation="Kobayashi H, Cheveralls KC, Leonetti MD, Royer LA. Self-supervised deep "
                 "learning encodes high-resolution features of protein subcellular "
                 "localization. Nature Methods (2022).",
        doi=None,
        licence="not stated for the data; the code (royerlab/cytoself) is BSD-3-Clause",
        layout="1,100,253 crops of 100x100 px in 10 shards Image_dataXX.npy (channels last) "
               "with matching Label_dataXX.csv, to be concatenated in order; split per protein "
               "and grouped by FOV_id. Put the files flat in <data_dir>/opencell_cytoself/.",
        source="notes/cytoself.md §2.1-2.3",
        files=_opencell_files(),
    ),
    Dataset(
        name="hpa_v18",
        title="Human Protein Atlas v18 cell atlas: RGB composites of 12,068 proteins",
        used_by="paired cell inpainting (human model)",
        citation="Human Protein Atlas, version 18 (proteinatlas.org), as used by Lu AX, Kraus "
                 "OZ, Cooper S, Moses AM. Learning unsupervised feature representations for "
                 "single cell microscopy images with paired cell inpainting. PLoS Comput Biol "
                 "15(9): e1007348 (2019); preprint doi:10.1101/395954.",
        doi=None,
        licence="Human Protein Atlas terms of use (not stated in the notes; see proteinatlas.org)",
        layout="Suggested layout: images/<ENSG>/<file name from the imageUrl>.jpg, one RGB JPEG "
               "per field: blue = nucleus (DAPI), red = microtubules, green = antibody "
               "(protein). 41,517 protein x cell line x antibody images, usually 2 fields each. "
               "JPEG chroma subsampling mixes channels slightly (PCI notes §2.3).",
        source="notes/paired_cell_inpainting.md §2.3-2.4",
        files=(DataFile(
            name="images", format="folder of blue_red_green RGB JPEG composites, one "
                                  "sub-folder per Ensembl gene id",
            url="https://www.proteinatlas.org/humanproteome/cell",
            approx_size="about 24 GB, about a week to download",
            manual_download=True,
            how_to_get="For each Ensembl gene id, fetch https://www.proteinatlas.org/<ENSG>.xml, "
                       "keep the part between <subAssay type=\"human\"> and </subAssay>, and "
                       "download every imageUrl containing 'blue' (the composite JPEG). The "
                       "v18-era XML layout may have changed since; current HPA releases may "
                       "need another route."),),
    ),
    Dataset(
        name="yeast_deeploc_chong",
        title="Chong et al. 2015 labelled yeast single cells (GFP + RFP, 17 classes), as "
              "distributed with DeepLoc",
        used_by="paired cell inpainting (yeast evaluation)",
        citation="Chong YT et al. (2015), CyCLoPs yeast proteome screen; single-cell crops and "
                 "CellProfiler features distributed by O. Kraus with DeepLoc "
                 "(github.com/okraus/DeepLoc); used by Lu et al., PLoS Comput Biol 15(9): "
                 "e1007348 (2019).",
        doi=None,
        licence="not stated in the notes",
        layout="DeepLoc_full_datasets.zip holds Chong_train_set.hdf5, Chong_valid_set.hdf5 and "
               "Chong_test_set.hdf5 (written with deepdish). Concatenated they give 30,889 "
               "cells. Keys: data1 (one row per cell, reshape to (2, 64, 64): channel 0 = GFP, "
               "channel 1 = RFP), Index1 (one-hot labels) with Index1_columns (class names), "
               "Info1 with Info1_columns (CellProfiler features).",
        source="notes/paired_cell_inpainting.md §2.2, §2.4",
        files=(DataFile(
            name="DeepLoc_full_datasets.zip",
            format="zip of HDF5 files (see layout)",
            url="http://spidey.ccbr.utoronto.ca/~okraus/DeepLoc_full_datasets.zip"),),
    ),
    Dataset(
        name="yeast_cyclops_wt2",
        title="CyCLoPs WT2 screen: full fields of view of the yeast GFP-ORF collection with a "
              "cytosolic RFP marker",
        used_by="paired cell inpainting (yeast training)",
        citation="Koh JLY et al. (2015) and Chong YT et al. (2015), CyCLoPs; used by Lu et al., "
                 "PLoS Comput Biol 15(9): e1007348 (2019).",
        doi=None,
        licence="not stated in the notes",
        layout="Zip files of full fields (RFP + GFP), 4 fields per well; they need cell "
               "segmentation and 64x64 cropping (1,165,713 cells, 4,069 proteins after "
               "filtering). Put the downloaded zips in <data_dir>/yeast_cyclops_wt2/WT2/.",
        source="notes/paired_cell_inpainting.md §2.1, §2.4",
        files=(DataFile(
            name="WT2", format="folder of zip files of full fields of view",
            url="http://hershey.csb.utoronto.ca/image_screens/WT2/",
            manual_download=True,
            how_to_get="Download the zip files listed at "
                       "http://hershey.csb.utoronto.ca/image_screens/WT2/ (a directory "
                       "listing; the file names are not recorded here)."),),
    ),
    Dataset(
        name="allen_integrated_cell_2d",
        title="Allen Cell hiPSC single cells, 2D max projections, 10 tagged structures "
              "(6,077 cells)",
        used_by="Integrated Cell 2D",
        citation="Johnson GR, Donovan-Maiye RM, Maleckar MM. Generative Modeling with "
                 "Conditional Autoencoders: Building an Integrated Cell. arXiv:1705.00092 "
                 "(2017).",
        doi=None,
        licence="Allen Institute for Cell Science data; terms not stated in the notes "
                "(see allencell.org)",
        layout="One sub-folder per structure, each with per-cell RGB PNGs: R = membrane, "
               "G = structure, B = DNA; the class is the folder name. The original code read "
               "them from .../release_v2/aligned/2D. Put that folder (the one whose "
               "sub-folders are the structures) at <data_dir>/allen_integrated_cell_2d/2D/.",
        source="notes/integrated_cell.md §2.2-2.5",
        files=(DataFile(
            name="2D", format="folder: <structure>/<cell>.png, RGB (membrane, structure, DNA)",
            url="s3://aics.integrated.cell.arxiv.paper.data",
            manual_download=True,
            how_to_get="Copy the public S3 bucket with the AWS command-line tool: `aws s3 cp "
                       "s3://aics.integrated.cell.arxiv.paper.data . --recursive "
                       "--no-sign-request`, then place the folder of per-structure "
                       "sub-folders as 2D/."),),
    ),
    Dataset(
        name="allen_integrated_cell_3d",
        title="Allen Cell hiPSC single cells in 3D, 11 tagged structures (21,967 cells), "
              "dataset ipp_17_10_25",
        used_by="Integrated Cell 3D",
        citation="Johnson GR, Donovan-Maiye RM, Maleckar MM. Building a 3D Integrated Cell. "
                 "bioRxiv 238378 (2017).",
        doi=None,
        licence="Allen Institute for Cell Science data; terms not stated in the notes "
                "(see allencell.org)",
        layout="Manifest data_jobs_out.csv (columns include save_cell_reg_path, "
               "save_nuc_reg_path, save_dna_reg_path, save_memb_reg_path, "
               "save_struct_reg_path, save_trans_reg_path, save_h5_reg_path, "
               "structureProteinName) pointing to per-channel TIFFs of each cell; the original "
               "code cached each cell as one HDF5 with a 6-channel uint8 dataset 'image' "
               "(cell seg, nuc seg, DNA, membrane, structure, transmitted). The successor data "
               "(Quilt package aics/pipeline_integrated_single_cell, about 250 GB) has another "
               "manifest (metadata.csv). Put the unpacked tree at "
               "<data_dir>/allen_integrated_cell_3d/ipp_17_10_25/.",
        source="notes/integrated_cell.md §2.2-2.5",
        files=(DataFile(
            name="ipp_17_10_25", format="folder: manifest CSV + per-channel 3D TIFFs per cell",
            url="http://downloads.allencell.org/publication-data/building-a-3d-integrated-cell/",
            approx_size="about 150 GB decompressed",
            manual_download=True,
            how_to_get="Download the tarball from "
                       "http://downloads.allencell.org/publication-data/building-a-3d-integrated"
                       "-cell/ (or the S3 bucket s3://aics.integrated.cell.arxiv.paper.data) and "
                       "unpack it."),),
    ),
    Dataset(
        name="lin_fission_yeast",
        title="LIN fission-yeast cells: Bgs4 (red) + one of 41 polarity factors (green), "
              "about 170,000 cells",
        used_by="GANs for biological image synthesis (biogans)",
        citation="Dodgson J et al. Reconstructing regulatory pathways by systematically mapping "
                 "protein localization interdependency networks. bioRxiv (2017); used by "
                 "Osokin A, Chessel A, Carazo Salas RE, Vaggi F. GANs for Biological Image "
                 "Synthesis. ICCV 2017 (arXiv:1708.04692).",
        doi="10.1101/116749",
        licence="contact the authors of Dodgson et al. (2017), per the biogans README",
        layout="Each zip unpacks to LIN_Normalized_WT_size-<h>-<w>_train/ and ..._test/ (the "
               "authors' fixed split), each with one sub-folder per protein holding "
               "cellNNNNNN.png: RGB, R = Bgs4, G = the protein, B = empty; background is 0 "
               "(cells are masked).",
        source="notes/biogans.md §2.1-2.2",
        files=(
            DataFile(name="LIN_Normalized_WT_size-48-80.zip",
                     format="zip of 48x80 RGB PNGs (see layout)",
                     url="http://www.di.ens.fr/sierra/research/biogans/"
                         "LIN_Normalized_WT_size-48-80.zip",
                     approx_size="438 MB"),
            DataFile(name="LIN_Normalized_WT_size-96-160.zip",
                     format="zip of 96x160 RGB PNGs (see layout)",
                     url="http://www.di.ens.fr/sierra/research/biogans/"
                         "LIN_Normalized_WT_size-96-160.zip",
                     approx_size="1.3 GB"),
        ),
    ),
)}


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
