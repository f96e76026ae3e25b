"""Every chapter that reads the synthetic atlas in a profile reads the same one.

The atlas of each profile is defined once (``cellnb.sim.ATLAS_SIZES``); the chapters build its
config with ``atlas_config`` and record it, so the data chapter's tour, the cytoself chapter's
training data and the ablation study are the same cached crops by construction.
"""
from pathlib import Path

import pytest

from cellnb.book.pipeline import notebooks_in_toc
from cellnb.sim import ATLAS_SIZES, AtlasConfig, atlas_config

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.notebook, pytest.mark.timeout(600)]


def test_every_chapter_on_the_atlas_reads_the_profiles_atlas(smoke_runs):
    expected = atlas_config("smoke").cache_config()
    users = {}
    for notebook in notebooks_in_toc(REPO / "_toc.yml"):
        metrics = smoke_runs.metrics(notebook)
        if "atlas" in metrics:
            users[notebook.stem] = metrics["atlas"]
    assert {"data", "cytoself", "cytoself_ablation"} <= set(users)
    for name, recorded in users.items():
        assert recorded == expected, f"{name} read another atlas than the smoke profile's"


def test_atlas_config_applies_overrides_and_rejects_unknown_profiles():
    assert set(ATLAS_SIZES) == {"smoke", "cpu", "gpu"}
    config = atlas_config("cpu", seed=3, fields_per_protein=2, crops_per_field=None)
    assert isinstance(config, AtlasConfig) and config.seed == 3
    assert config.fields_per_protein == 2
    assert config.crops_per_field == ATLAS_SIZES["cpu"]["crops_per_field"]
    with pytest.raises(ValueError, match="no atlas size for profile 'auto'"):
        atlas_config("auto")
