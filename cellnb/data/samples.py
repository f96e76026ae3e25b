"""Small real fluorescence images that install from PyPI, for testing real-data code paths offline.

No registry package ships the papers' datasets, but a few wheels
carry real microscopy fields with ground truth. They are far too small to train on; they check
that segmentation, crop extraction and readers behave on real pixels, without network access.
The packages are installed with ``--no-deps`` and never imported: only their data files are read.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np


class MissingSampleError(FileNotFoundError):
    """A sample's host package is not installed; the message says how to install it."""


def package_dir(package: str) -> Path | None:
    """Directory of an installed package, found without importing it (None if not installed)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _sample_path(package: str, pin: str, relative_path: str) -> Path:
    directory = package_dir(package)
    path = None if directory is None else directory / relative_path
    if path is None or not path.is_file():
        state = "is not installed" if directory is None else f"has no {relative_path}"
        raise MissingSampleError(
            f"this sample comes from the {package!r} wheel, which {state}; install it with "
            f"`pip install --no-deps {pin}` (no dependencies are needed: only its data files "
            "are read)")
    return path


def dsb2018_nuclei() -> tuple[np.ndarray, np.ndarray]:
    """One real 512x512 nuclei field from the 2018 Data Science Bowl (CC0) and its instance mask.

    Shipped in ``stardist==0.9.2`` as ``stardist/data/images/{img2d,mask2d}.tif``: a uint16
    fluorescence image and a uint16 label image with 125 hand-annotated nuclei (DSB2018, CC0).
    """
    import tifffile

    image_path = _sample_path("stardist", "stardist==0.9.2", "data/images/img2d.tif")
    mask_path = _sample_path("stardist", "stardist==0.9.2", "data/images/mask2d.tif")
    return tifffile.imread(image_path), tifffile.imread(mask_path)


HIPSC_PIN = "napari-ndev==0.11.8"
HIPSC_FILE = "_tests/resources/cells3d2ch.tiff"
HIPSC_VOXEL_UM = (0.29, 0.26, 0.26)


def allen_hipsc() -> tuple[np.ndarray, tuple[float, float, float]]:
    """One real Allen Cell hiPSC, (2, 60, 66, 85) uint16 membrane + DNA, and its voxel size (um).

    Shipped in ``napari-ndev==0.11.8`` as ``_tests/resources/cells3d2ch.tiff``. The file records
    no physical size; its 60 slices and channel order match scikit-image's ``cells3d`` (also
    from the Allen Institute for Cell Science), whose voxels are 0.29 x 0.26 x 0.26 um, so that
    size is returned. A single cell: enough to check the Integrated Cell preprocessing on real
    pixels, not to train.
    """
    import tifffile

    return tifffile.imread(_sample_path("napari_ndev", HIPSC_PIN, HIPSC_FILE)), HIPSC_VOXEL_UM
