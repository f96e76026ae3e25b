"""What an executed chapter was made from, so that ``cellnb book`` re-executes only what changed.

An executed copy ``_build/notebooks/<stem>.ipynb`` is defined by what went into it: the source
notebook, the profile, the parameters, the kernel and the code of the installed ``cellnb``
package that the notebook imports. Its *fingerprint* records them, and ``run_notebook`` writes it
beside the executed copy as ``<stem>.fingerprint.json`` once the notebook has run to the end (a
failed run leaves none, so it is never reused)::

    {"fingerprint": {"notebook": "sha256:...", "profile": "smoke", "parameters": {"seed": 1},
                     "kernel": "python3", "package": "sha256:..."},
     "seconds": 41.3, "executed_at": "2025-11-28T10:12:03+00:00"}

``notebook`` hashes the source file's bytes (an edit changes it; saving it unchanged or touching
it does not); ``package`` hashes every file of the installed ``cellnb`` package, its ``.py``
files and its package data, but not byte code (:func:`package_digest`). The profile is recorded
as requested (``auto`` stays ``auto``). ``seconds`` and ``executed_at`` are for the reader, not
part of the fingerprint.

Not in the fingerprint, so a change there needs ``cellnb book --force``: other installed packages
(PyTorch, scikit-learn, ...), the data cache, and files a notebook reads from outside the package.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

SUFFIX = ".fingerprint.json"
_SKIPPED = {"__pycache__", ".ipynb_checkpoints", "cache"}


def _sha256(chunks) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def file_digest(path: str | os.PathLike) -> str:
    """``sha256:<hex>`` of a file's bytes."""
    return _sha256([Path(path).read_bytes()])


def package_folders(name: str = "cellnb") -> list[Path]:
    """The folders the installed package ``name`` is imported from: its own folder, and in an
    editable (development) install any sub-package mapped elsewhere (``pyproject.toml``'s
    ``package-dir``), read from the mapping of setuptools' editable finder."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{name} is not an installed package; pip install -e .")
    folders = [Path(folder) for folder in spec.submodule_search_locations]
    for finder in sys.meta_path:
        mapping = getattr(sys.modules.get(getattr(finder, "__module__", "")), "MAPPING", None)
        if isinstance(mapping, dict):
            folders += [Path(folder) for package, folder in sorted(mapping.items())
                        if package.startswith(f"{name}.")]
    return list(dict.fromkeys(folder.resolve() for folder in folders))


def package_digest(*folders: str | os.PathLike) -> str:
    """``sha256:<hex>`` over the files of the package folders (default: the installed ``cellnb``,
    :func:`package_folders`): each file's path and bytes, in sorted order, so adding, removing,
    renaming or editing a module or a data file changes it. Byte code and data caches (a folder
    named ``cache``, like ``data/cache`` in a source checkout) are left out."""
    roots = [Path(folder) for folder in folders] or package_folders()

    def chunks():
        for root in roots:
            files = sorted(path for path in root.rglob("*")
                           if path.is_file() and path.suffix != ".pyc"
                           and not set(path.relative_to(root).parts[:-1]) & _SKIPPED)
            for path in files:
                yield f"{root.name}/{path.relative_to(root).as_posix()}".encode() + b"\0"
                yield path.read_bytes() + b"\0"

    return _sha256(chunks())


def _plain(parameters: Mapping[str, object] | None) -> dict:
    """Parameters as JSON reads them back, so a stored and a fresh fingerprint compare equal."""
    return json.loads(json.dumps(dict(parameters or {}), sort_keys=True, default=str))


@dataclasses.dataclass(frozen=True)
class Fingerprint:
    """What defined an executed copy; two runs with equal fingerprints give the same chapter."""

    notebook: str
    profile: str
    parameters: dict
    kernel: str
    package: str

    @classmethod
    def of(cls, notebook: str | os.PathLike, *, profile: str,
           parameters: Mapping[str, object] | None = None, kernel: str = "python3",
           package: str | None = None) -> Fingerprint:
        """The fingerprint of executing ``notebook`` so; ``package`` defaults to
        :func:`package_digest` of the installed ``cellnb`` (tests pass their own)."""
        return cls(notebook=file_digest(notebook), profile=profile,
                   parameters=_plain(parameters), kernel=kernel,
                   package=package if package is not None else package_digest())

    def changes_since(self, earlier: Fingerprint | None) -> list[str]:
        """Why a copy executed with ``earlier`` is out of date for this one (empty: it is not)."""
        if earlier is None:
            return ["never executed"]
        reasons = []
        if self.notebook != earlier.notebook:
            reasons.append("the notebook changed")
        if self.profile != earlier.profile:
            reasons.append(f"profile {earlier.profile} -> {self.profile}")
        if self.parameters != earlier.parameters:
            reasons.append(f"parameters {earlier.parameters or '{}'} -> {self.parameters or '{}'}")
        if self.kernel != earlier.kernel:
            reasons.append(f"kernel {earlier.kernel} -> {self.kernel}")
        if self.package != earlier.package:
            reasons.append("the cellnb package changed")
        return reasons


@dataclasses.dataclass(frozen=True)
class Record:
    """A stored fingerprint with how long that execution took."""

    fingerprint: Fingerprint
    seconds: float | None = None
    executed_at: str | None = None


def fingerprint_path(executed: str | os.PathLike) -> Path:
    """``<build>/<stem>.fingerprint.json`` beside the executed copy ``<build>/<stem>.ipynb``."""
    executed = Path(executed)
    return executed.with_name(f"{executed.stem}{SUFFIX}")


def write_record(executed: str | os.PathLike, fingerprint: Fingerprint, seconds: float) -> Path:
    path = fingerprint_path(executed)
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    path.write_text(json.dumps({"fingerprint": dataclasses.asdict(fingerprint),
                                "seconds": round(seconds, 1), "executed_at": now}, indent=1))
    return path


def read_record(executed: str | os.PathLike) -> Record | None:
    """The record of the executed copy, or None if the copy or its record is missing or
    unreadable (then the chapter is simply executed again)."""
    path = fingerprint_path(executed)
    if not Path(executed).exists() or not path.exists():
        return None
    try:
        stored = json.loads(path.read_text())
        return Record(Fingerprint(**stored["fingerprint"]), stored.get("seconds"),
                      stored.get("executed_at"))
    except (ValueError, KeyError, TypeError):
        return None


def forget(executed: str | os.PathLike) -> None:
    """Delete the record, before an execution that will overwrite the copy."""
    fingerprint_path(executed).unlink(missing_ok=True)
