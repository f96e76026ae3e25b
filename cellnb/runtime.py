"""Where and how computation runs: device choice, seeding, CPU threads, and an environment report.

Every chapter starts with :func:`setup`, so an executed notebook always records which device,
seed, thread count and package versions produced its numbers.
"""
from __future__ import annotations

import os
import platform
import random
import sys
from dataclasses import asdict, dataclass
from importlib import metadata

import numpy as np

THREADS_ENV = "CELLNB_THREADS"
DEVICES = ("auto", "cpu", "cuda", "mps")


def _torch():
    import torch  # imported lazily: the simulator and data layer work without torch

    return torch


def cuda_available() -> bool:
    try:
        return _torch().cuda.is_available()
    except ImportError:
        return False


def mps_available() -> bool:
    try:
        backend = getattr(_torch().backends, "mps", None)
        return bool(backend and backend.is_available())
    except ImportError:
        return False


def resolve_device(device: str = "auto", *, warn=print) -> str:
    """Turn ``auto|cpu|cuda|mps`` (or ``cuda:1``) into a device string that exists here.

    ``auto`` prefers CUDA, then Apple's MPS, then the CPU. Asking for an accelerator that is
    absent falls back to the CPU with a one-line hint, because a notebook opened on a CPU
    runtime should still run rather than die in its first cell.
    """
    base = device.split(":")[0]
    if base not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)} (or cuda:N), got {device!r}")
    if base == "auto":
        return "cuda" if cuda_available() else "mps" if mps_available() else "cpu"
    if base == "cuda" and not cuda_available():
        warn(f"device={device!r} requested but CUDA is not available here; running on the CPU "
             "(on Colab: Runtime > Change runtime type > GPU).")
        return "cpu"
    if base == "mps" and not mps_available():
        warn(f"device={device!r} requested but Apple MPS is not available; running on the CPU.")
        return "cpu"
    return device


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch (all devices) and return a fresh NumPy generator.

    Code in cellnb never draws from global random state; it takes a generator or a seed. Seeding
    the globals still matters for third-party code (weight initialisation, DataLoader order).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        torch = _torch()
        torch.manual_seed(seed)
    except ImportError:
        pass
    return np.random.default_rng(seed)


def default_thread_count(cpu_count: int | None = None, load: float | None = None) -> int:
    """Threads for torch here: every core, unless a small machine is already busy.

    Measured on a 2-core CI-class machine (``benchmarks/threads.py``, a conv-autoencoder
    training step, batch 64 of 3x64x64): quiet, 2 threads took 227 ms against 416 ms for one;
    with the other core busy, 2 threads took 558 ms against 444 ms for one, because the second
    thread then waits on a core it cannot have. So on machines of up to 4 cores the default
    leaves out the cores other processes are using *now* (``load``: busy cores, measured over a
    third of a second). The 1-minute load average is no good for this: it still counts a
    chapter that has just finished, and would halve the next chapter's threads in a book build.
    ``$CELLNB_THREADS`` overrides it; the count in use is part of every chapter's environment report.
    """
    cpu_count = cpu_count or os.cpu_count() or 1
    if cpu_count > 4:
        return min(cpu_count, 16)
    if load is None:
        load = busy_cores(cpu_count)
    return max(1, cpu_count - int(load + 0.5))


def busy_cores(cpu_count: int, interval: float = 0.3, readings: int = 3) -> float:
    """How many cores other processes keep busy: the least of ``readings`` measurements of the
    CPU time used, spread over ``interval`` seconds, so that a process which is just ending (a
    moment's spike) does not take a core away from a whole chapter."""
    try:
        import psutil
    except ImportError:                      # fall back to the load average
        try:
            return os.getloadavg()[0]
        except (AttributeError, OSError):   # not available on Windows
            return 0.0
    least = min(psutil.cpu_percent(interval=interval / readings) for _ in range(readings))
    return least / 100 * cpu_count


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads from ``threads``, ``$CELLNB_THREADS`` or the default."""
    if threads is None:
        env = os.environ.get(THREADS_ENV)
        if env:
            try:
                threads = int(env)
            except ValueError:
                raise ValueError(f"${THREADS_ENV} must be a positive integer, got {env!r}") from None
    threads = threads or default_thread_count()
    if threads < 1:
        raise ValueError(f"thread count must be >= 1, got {threads}")
    try:
        _torch().set_num_threads(threads)
    except ImportError:
        pass
    return threads


@dataclass(frozen=True)
class EnvironmentReport:
    python: str
    platform: str
    cpu_count: int
    torch_threads: int | None
    device: str
    gpu: str | None
    packages: dict

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        lines = [f"python {self.python} on {self.platform}, {self.cpu_count} CPU cores",
                 f"device: {self.device}" + (f" ({self.gpu})" if self.gpu else "")
                 + (f", torch threads: {self.torch_threads}" if self.torch_threads else "")]
        lines.append("packages: " + ", ".join(f"{k} {v}" for k, v in self.packages.items()))
        return "\n".join(lines)


REPORTED_PACKAGES = ("cellnb", "numpy", "scipy", "scikit-learn", "scikit-image", "h5py", "torch",
                     "umap-learn", "papermill", "jupyter-book")


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def environment_report(device: str = "cpu") -> EnvironmentReport:
    gpu, threads = None, None
    try:
        torch = _torch()
        threads = torch.get_num_threads()
        if device.startswith("cuda") and torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(torch.device(device))
    except ImportError:
        pass
    return EnvironmentReport(
        python=sys.version.split()[0],
        platform=f"{platform.system()} {platform.machine()}",
        cpu_count=os.cpu_count() or 1,
        torch_threads=threads,
        device=device,
        gpu=gpu,
        packages={name: package_version(name) for name in REPORTED_PACKAGES},
    )
