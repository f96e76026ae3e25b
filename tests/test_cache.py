"""Specification of the data cache: where it lives, how configs are keyed, and that a data set is
built once per configuration and rebuilt when it is damaged or a refresh is asked for."""
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from cellnb.data import cache, store
from cellnb.data.cache import cache_dir, cached_imageset, config_key, source_checkout
from cellnb.data.imageset import ImageSet
from cellnb.data.store import read_imageset


class CountingBuilder:
    """A build() that makes a small seeded ImageSet from a config and counts its calls."""

    def __init__(self, config):
        self.config = config
        self.calls = 0

    def __call__(self):
        self.calls += 1
        rng = np.random.default_rng(self.config["seed"])
        n = self.config["n"]
        return ImageSet(images=rng.random((n, 2, 4, 4), dtype=np.float32),
                        channels=("protein", "nucleus"),
                        metadata=pd.DataFrame({"field": np.arange(n)}), attrs=dict(self.config))


REPO = Path(__file__).resolve().parents[1]


def test_cellnb_data_overrides_every_other_cache_location(monkeypatch, tmp_path):
    monkeypatch.setenv("CELLNB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert source_checkout() == REPO          # even in a checkout
    assert cache_dir() == tmp_path / "data"


def test_a_source_checkout_caches_in_its_data_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("CELLNB_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == REPO / "data" / "cache"       # the checkout these tests run from
    assert "data/cache/" in (REPO / ".gitignore").read_text().splitlines()
    # Any checkout: a data/ folder holding the registry next to the package.
    checkout = tmp_path / "checkout"
    (checkout / "cellnb").mkdir(parents=True)
    (checkout / "data").mkdir()
    (checkout / "data" / "datasets.yml").write_text("datasets: []\n")
    monkeypatch.setattr(cache, "PACKAGE_DIR", checkout / "cellnb")
    assert cache_dir() == checkout / "data" / "cache"


def test_an_installed_package_caches_in_xdg_then_home(monkeypatch, tmp_path):
    site = tmp_path / "site-packages"
    (site / "cellnb").mkdir(parents=True)
    (site / "data").mkdir()               # another distribution's data/ is not a checkout
    monkeypatch.setattr(cache, "PACKAGE_DIR", site / "cellnb")
    monkeypatch.delenv("CELLNB_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert source_checkout() is None
    assert cache_dir() == tmp_path / "xdg" / "cellnb"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "cellnb"


def test_config_key_ignores_key_order_but_not_values():
    config = {"n": 100, "proteins": ["a", "b"], "noise": {"sigma": 0.5, "kind": "poisson"}}
    reordered = {"noise": {"kind": "poisson", "sigma": 0.5}, "proteins": ["a", "b"], "n": 100}
    assert config_key(config) == config_key(reordered)
    assert config_key(config) == config_key({**config, "n": np.int64(100)})
    key = config_key(config)
    assert len(key) == 16 and all(c in "0123456789abcdef" for c in key)
    variants = [{**config, "n": 101}, {**config, "proteins": ["b", "a"]},
                {**config, "noise": {"sigma": 0.50001, "kind": "poisson"}}, {**config, "x": None}]
    keys = {config_key(v) for v in variants}
    assert len(keys) == len(variants) and key not in keys
    with pytest.raises(TypeError, match="no canonical JSON form"):
        config_key({"f": object()})


def test_config_key_is_the_same_in_another_interpreter():
    config = {"seed": 3, "proteins": ["α", "b"], "sigma": 0.1, "nested": {"b": 1, "a": [1, 2]}}
    code = ("import json, sys; from cellnb.data.cache import config_key; "
            "print(config_key(json.loads(sys.argv[1])))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # string hashing differs between processes
    result = subprocess.run([sys.executable, "-c", code, json.dumps(config)], env=env,
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == config_key(config)


def test_build_runs_once_per_config_and_again_on_refresh():
    config = {"seed": 0, "n": 5}
    build = CountingBuilder(config)
    first = cached_imageset("toy", config, build)
    second = cached_imageset("toy", dict(reversed(config.items())), build)
    assert build.calls == 1 and first == second
    assert first.is_relative_to(cache_dir() / "toy")
    stored = read_imageset(first)
    np.testing.assert_array_equal(stored.images, build().images)
    assert json.loads(first.with_suffix(".json").read_text()) == config

    build.calls = 0
    changed = cached_imageset("toy", {"seed": 1, "n": 5}, build)
    assert build.calls == 1 and changed != first
    cached_imageset("toy", config, build, refresh=True)
    assert build.calls == 2
    cached_imageset("toy", config, build)
    assert build.calls == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated", "unfinished"])
def test_a_damaged_cached_file_is_rebuilt_with_a_warning(damage):
    config = {"seed": 2, "n": 6}
    build = CountingBuilder(config)
    path = cached_imageset("toy", config, build)
    if damage == "garbage":
        path.write_bytes(b"not an hdf5 file" * 100)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    else:
        with h5py.File(path, "r+") as f:
            del f.attrs[store.COMPLETE_ATTR]
    with pytest.warns(UserWarning, match="unusable and will be rebuilt"):
        again = cached_imageset("toy", config, build)
    assert again == path and build.calls == 2
    assert len(read_imageset(path)) == 6


def test_bad_kind_and_bad_build_are_refused():
    with pytest.raises(ValueError, match="simple name"):
        cached_imageset("../escape", {}, lambda: None)
    with pytest.raises(TypeError, match="must return an ImageSet, got NoneType"):
        cached_imageset("toy", {"seed": 0}, lambda: None)
    assert not any(Path(cache_dir()).glob("toy/*.h5"))


def test_atlas_data_are_cached_under_the_generators_version(monkeypatch):
    from cellnb.data.cache import cached_path
    from cellnb.sim import AtlasConfig, atlas

    config = AtlasConfig()
    before = cached_path("crops", config.cache_config())
    monkeypatch.setattr(atlas, "GENERATOR_VERSION", "next")
    assert cached_path("crops", config.cache_config()) != before
