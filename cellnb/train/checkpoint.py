"""Checkpoint files: one dict written atomically, read back with ``weights_only=True``.

A reader on Colab loses the runtime whenever the browser sleeps, so a checkpoint may be written
at any moment the process can die. It goes to a temporary file next to the target and is moved
into place with ``os.replace`` (atomic on one file system) only once completely on disk: the file
at ``path`` is always either the previous checkpoint or the new one, never half of each.

The dict holds only tensors, plain containers and numbers (no pickled classes), so it loads with
``torch.load(weights_only=True)``: opening a checkpoint cannot run code.
"""
from __future__ import annotations

import dataclasses
import json
import os
import secrets
from pathlib import Path

import torch

from cellnb.jsonable import config_key, json_default

from .precision import uncompiled

FORMAT_NAME = "cellnb.train.checkpoint"
FORMAT_VERSION = 1


class CorruptCheckpointError(RuntimeError):
    """The file at a checkpoint path exists but is not a readable cellnb checkpoint."""


class ConfigMismatchError(ValueError):
    """The checkpoint belongs to a run with another config, so resuming it would mix two runs."""


def run_checkpoint_path(folder, name: str, config) -> Path:
    """``<folder>/<name>-<key>.pt``, where the key is a hash of everything that defines the run.

    A chapter re-run with the same parameters finds its checkpoint and resumes (or reloads a
    finished run); a changed seed, data set or model config gets a fresh file beside the old one
    instead of a :class:`ConfigMismatchError`. Leave out of ``config`` what may change without
    starting a new run (the number of epochs: raising it continues training).
    """
    return Path(folder) / f"{name}-{config_key(normalise_config(config))}.pt"


def write_checkpoint(state: dict, path) -> Path:
    """Write ``state`` to ``path`` atomically; on any failure the previous file is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same directory, so os.replace is a rename; the name marks a leftover of a killed process.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as handle:
            torch.save({"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **state}, handle)
            handle.flush()
            os.fsync(handle.fileno())   # the bytes must be on disk before the rename is
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_checkpoint(path) -> dict:
    """The dict stored at ``path`` (tensors on the CPU), checked to be a cellnb checkpoint."""
    path = Path(path)
    hint = f"delete {path} (or pass resume=False) to start training afresh"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as error:
        raise CorruptCheckpointError(f"{path} could not be read as a checkpoint ({error}); {hint}") \
            from error
    if not isinstance(state, dict) or state.get("format") != FORMAT_NAME:
        raise CorruptCheckpointError(f"{path} is not a cellnb training checkpoint; {hint}")
    if state["format_version"] > FORMAT_VERSION:
        raise CorruptCheckpointError(f"{path} has checkpoint format {state['format_version']}, newer "
                                     f"than this cellnb reads ({FORMAT_VERSION}); upgrade cellnb")
    return state


def states_of(objects: dict) -> dict:
    """``{name: state_dict()}`` of models, optimisers, schedulers or callbacks.

    A compiled model's state is its original module's, so the checkpoint loads with or without
    ``torch.compile``.
    """
    return {name: uncompiled(thing).state_dict() for name, thing in objects.items()}


def check_names(kind: str, objects: dict, states: dict, source) -> None:
    if set(states) != set(objects):
        raise ValueError(f"{source} holds {kind} {sorted(states)} but this Trainer has "
                         f"{sorted(objects)}; register the same names, or pass resume=False to "
                         "Trainer to start afresh")


def load_states(objects: dict, states: dict) -> None:
    for name, thing in objects.items():
        uncompiled(thing).load_state_dict(states[name])


def normalise_config(config) -> dict:
    """``config`` (a dict or a dataclass) as plain JSON values, as it is stored and compared.

    Tuples become lists and NumPy numbers plain numbers, so a config rebuilt by hand compares
    equal to the one saved.
    """
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict or a dataclass instance, got {type(config).__name__}")
    return json.loads(json.dumps(config, default=json_default))


def config_differences(saved: dict, current: dict) -> list[str]:
    """``"key: saved -> current"`` for every (dotted, nested) key whose value differs."""
    saved, current = _flatten(saved), _flatten(current)
    missing = object()
    lines = []
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key, missing), current.get(key, missing)
        if old != new:
            lines.append(f"{key}: {'<absent>' if old is missing else repr(old)} -> "
                         f"{'<absent>' if new is missing else repr(new)}")
    return lines


def check_config(saved: dict, current: dict, path) -> None:
    differences = config_differences(saved, current)
    if differences:
        raise ConfigMismatchError(
            f"the checkpoint {path} was written by a run with another config "
            f"({'; '.join(differences)}). To continue that run, use its config; to start afresh, "
            "delete the file or pass resume=False to Trainer.")


def _flatten(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
