import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own data cache and metrics file: nothing leaks between tests."""
    root = tmp_path_factory.mktemp("cellnb")
    monkeypatch.setenv("CELLNB_DATA", str(root / "cache"))
    monkeypatch.setenv("CELLNB_METRICS_FILE", str(root / "metrics.json"))
    monkeypatch.delenv("CELLNB_HEADLESS", raising=False)
    yield
