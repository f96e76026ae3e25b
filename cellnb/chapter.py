"""The first cell of every chapter: resolve profile and device, seed, set threads, report.

A chapter calls ``session = cellnb.setup(profile=..., seed=..., device=...)`` once; the executed
notebook then shows (and the metrics file records) exactly where and how it ran.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .profiles import resolve_profile
from .record import record
from .runtime import (
    EnvironmentReport,
    configure_threads,
    environment_report,
    resolve_device,
    seed_everything,
)


@dataclass
class Session:
    profile: str
    device: str
    seed: int
    rng: np.random.Generator
    threads: int
    environment: EnvironmentReport

    def __repr__(self):
        return (f"profile={self.profile!r} device={self.device!r} seed={self.seed} "
                f"threads={self.threads}\n{self.environment}")


def setup(profile: str = "auto", seed: int = 0, device: str = "auto",
          threads: int | None = None, verbose: bool = True) -> Session:
    profile = resolve_profile(profile)
    device = resolve_device(device)
    if profile == "gpu" and device == "cpu":
        print("profile 'gpu' on a CPU-only machine: expect paper-scale runs to take a very long time.")
    rng = seed_everything(seed)
    threads = configure_threads(threads)
    report = environment_report(device)
    record("environment", report.as_dict() | {"profile": profile, "seed": seed})
    session = Session(profile, device, seed, rng, threads, report)
    if verbose:
        print(session)
    return session
