"""Capturing and restoring every random number generator a training run draws from.

Dropout, shuffling and augmentation all consume random numbers, so an exact resume needs the
state of each generator at the checkpoint: Python's ``random``, NumPy's global generator, torch's
CPU (and CUDA) generators, and any ``torch.Generator``, ``numpy.random.Generator``,
``numpy.random.RandomState`` or ``random.Random`` the user registers (a DataLoader's generator, an
augmentation's rng). States are stored as tensors, lists, tuples and numbers only, so checkpoints
load with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import random

import numpy as np
import torch


def capture_rng(generators: dict | None = None) -> dict:
    """The current state of the global generators and of each registered one."""
    key, position, has_gauss, cached_gaussian = np.random.get_state()[1:]
    state = {
        "python": random.getstate(),
        "numpy": {"key": key.tolist(), "position": int(position), "has_gauss": int(has_gauss),
                  "cached_gaussian": float(cached_gaussian)},
        "torch": torch.get_rng_state(),
        "generators": {name: generator_state(g) for name, g in (generators or {}).items()},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict, generators: dict | None = None) -> None:
    """Put every generator back into ``state`` (as returned by :func:`capture_rng`)."""
    generators = generators or {}
    missing = sorted(set(generators) - set(state["generators"]))
    if missing:
        raise KeyError(f"no saved state for the generator(s) {missing}; they were not registered "
                       f"when the checkpoint was written (it has {sorted(state['generators'])})")
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy = state["numpy"]
    np.random.set_state(("MT19937", np.asarray(numpy["key"], dtype=np.uint32), numpy["position"],
                         numpy["has_gauss"], numpy["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    # A checkpoint moved between a GPU and a CPU runtime cannot be exact; restore what exists.
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for name, generator in generators.items():
        set_generator_state(generator, state["generators"][name])


def generator_state(generator):
    if isinstance(generator, torch.Generator):
        return generator.get_state()
    if isinstance(generator, np.random.Generator):
        return _plain(generator.bit_generator.state)
    if isinstance(generator, np.random.RandomState):
        return _plain(generator.get_state(legacy=False))
    if isinstance(generator, random.Random):
        return generator.getstate()
    raise TypeError(f"cannot save the state of a {type(generator).__name__}; register a "
                    "torch.Generator, numpy.random.Generator, numpy.random.RandomState or random.Random")


def set_generator_state(generator, state) -> None:
    if isinstance(generator, torch.Generator):
        generator.set_state(state)
    elif isinstance(generator, np.random.Generator):
        generator.bit_generator.state = state   # NumPy accepts lists where it gave arrays
    elif isinstance(generator, np.random.RandomState):
        generator.set_state(state)
    elif isinstance(generator, random.Random):
        version, internal, gauss = state
        generator.setstate((version, tuple(internal), gauss))
    else:
        generator_state(generator)   # raises the TypeError naming what can be registered


def loader_generators(loader) -> list:
    """The torch generators that decide a DataLoader's order: its own and its sampler's."""
    found = []
    for owner in (loader, getattr(loader, "sampler", None)):
        generator = getattr(owner, "generator", None)
        if isinstance(generator, torch.Generator) and not any(generator is g for g in found):
            found.append(generator)
    return found


def _plain(state):
    """NumPy's bit-generator state with its arrays as lists (no pickled arrays in a checkpoint)."""
    if isinstance(state, dict):
        return {key: _plain(value) for key, value in state.items()}
    if isinstance(state, np.ndarray):
        return state.tolist()
    return state
