import sys
import time
from pathlib import Path

import pytest

from cellnb.book.pipeline import run_notebook
from cellnb.record import read_metrics


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own data cache and metrics file: nothing leaks between tests."""
    root = tmp_path_factory.mktemp("cellnb")
    monkeypatch.setenv("CELLNB_DATA", str(root / "cache"))
    monkeypatch.setenv("CELLNB_METRICS_FILE", str(root / "metrics.json"))
    monkeypatch.delenv("CELLNB_HEADLESS", raising=False)
    yield


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory):
    """``run(notebook)`` executes a chapter in the smoke profile once per session."""
    build_dir = tmp_path_factory.mktemp("smoke") / "_build"
    results: dict[Path, object] = {}
    seconds: dict[Path, float] = {}

    def run(notebook: Path) -> Path:
        if notebook not in results:
            start = time.perf_counter()
            try:
                results[notebook] = run_notebook(notebook, profile="smoke",
                                                 build_dir=build_dir / "notebooks")
                seconds[notebook] = time.perf_counter() - start
            except Exception as error:
                results[notebook] = error
                raise
        if isinstance(results[notebook], Exception):
            pytest.fail(f"{notebook.name} already failed in this session: {results[notebook]}")
        return results[notebook]

    def metrics(notebook: Path) -> dict:
        return read_metrics(run(notebook).with_name(f"{notebook.stem}.metrics.json"))

    run.build_dir = build_dir
    run.seconds = seconds
    run.metrics = metrics
    return run


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module's tests: its models are tiny, and on a shared 2-core CPU
    waking a second thread costs more than it saves (a smoke forward pass took 0.3-0.5 s on two
    threads and 5 ms on one). Use with ``pytestmark = pytest.mark.usefixtures(...)``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _close_figures():
    """Figures a test drew are closed after it, so hundreds of tests do not pile them up."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.fixture
def rng():
    """A seeded numpy generator, fresh for every test."""
    import numpy as np

    return np.random.default_rng(0)
