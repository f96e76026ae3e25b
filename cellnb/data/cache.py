"""The on-disk cache of generated and downloaded data sets, keyed by what produced them.

Simulating a data set takes minutes and every chapter re-runs top to bottom, so each data set is
written once to ``<cache_dir>/<kind>/<config key>.h5`` and reused while its configuration is the
same. The key is a hash of the configuration itself, so changing any parameter gives a new file
instead of silently reusing stale data, and reordering a config's keys does not.
"""
from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path

from cellnb.data.imageset import ImageSet
from cellnb.data.store import CorruptImageSetError, check_imageset, write_imageset
from cellnb.jsonable import canonical_json, config_key  # noqa: F401  (part of this module's API)

DATA_ENV = "CELLNB_DATA"
PACKAGE_DIR = Path(__file__).resolve().parents[1]   # the cellnb package folder
REGISTRY_FILE = "datasets.yml"                      # the registry of the papers' real datasets
_KIND_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def cache_dir() -> Path:
    """Where cached and downloaded data go, the first that applies:

    1. ``$CELLNB_DATA``, if set;
    2. ``<checkout>/data/cache`` when cellnb runs from a source checkout (see
       :func:`source_checkout`); git ignores that folder;
    3. ``$XDG_CACHE_HOME/cellnb``, else ``~/.cache/cellnb`` (an installed package).

    The directory is not created here; writing into it creates it.
    """
    configured = os.environ.get(DATA_ENV)
    if configured:
        return Path(configured).expanduser()
    checkout = source_checkout()
    if checkout is not None:
        return checkout / "data" / "cache"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "cellnb"


def source_checkout() -> Path | None:
    """The repository root when cellnb is imported from a source checkout, else ``None``.

    A checkout has the top-level ``data/`` folder next to the package, recognised by the registry
    file it holds (``data/datasets.yml``): a bare ``data/`` folder is not enough, because other
    distributions sometimes install one into site-packages, next to an installed cellnb.
    """
    root = PACKAGE_DIR.parent
    return root if (root / "data" / REGISTRY_FILE).is_file() else None


def cached_path(kind: str, config: dict) -> Path:
    """Where the data set of ``kind`` built from ``config`` lives (whether or not it exists)."""
    if not isinstance(kind, str) or not _KIND_PATTERN.match(kind):
        raise ValueError(f"kind must be a simple name such as 'cells' (letters, digits, '_', "
                         f"'-', '.'), got {kind!r}")
    return cache_dir() / kind / f"{config_key(config)}.h5"


def cached_imageset(kind: str, config: dict, build: Callable[[], ImageSet], *,
                    refresh: bool = False) -> Path:
    """The path of the cached ImageSet for ``(kind, config)``, building it first if needed.

    ``build()`` is called only when no valid file exists, or when ``refresh`` is true. A cached file
    that is unreadable (interrupted copy, disk trouble) is rebuilt with a warning. The config is
    also written next to the data as ``<key>.json`` so a person can tell what a file holds.
    """
    path = cached_path(kind, config)
    if path.exists() and not refresh:
        try:
            check_imageset(path)
            return path
        except CorruptImageSetError as error:
            warnings.warn(f"cached {kind!r} data at {path} is unusable and will be rebuilt: "
                          f"{error}", stacklevel=2)
    imageset = build()
    if not isinstance(imageset, ImageSet):
        raise TypeError(f"build() for {kind!r} must return an ImageSet, got "
                        f"{type(imageset).__name__}")
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_config(path.with_suffix(".json"), config)
    write_imageset(imageset, path)
    return path


def _write_config(path: Path, config: dict) -> None:
    text = json.dumps(json.loads(canonical_json(config)), indent=2, sort_keys=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, path)
