"""The synthetic atlas and the data chapter, per run profile.

``ATLAS_SIZES`` is the one definition of the atlas each profile uses: every chapter that reads the
synthetic atlas in a profile builds its config with :func:`atlas_config`, so they all read the same
cached data by construction. ``DATA_CHAPTER`` holds the data chapter's other knobs.
"""
from __future__ import annotations

from ..profiles import Settings, select
from .atlas import AtlasConfig

# The atlas of each run profile, defined once: every chapter that reads the synthetic atlas in a
# profile asks :func:`atlas_config` for it, so they all read the same cached data by construction.
ATLAS_SIZES = {
    "smoke": dict(crop_size=32, fields_per_protein=4, crops_per_field=10),
    "cpu": dict(crop_size=32, fields_per_protein=8, crops_per_field=20),
    "gpu": dict(crop_size=100, fields_per_protein=20, crops_per_field=24),   # cytoself's crop size
}


def atlas_config(profile: str, *, seed: int = 0, **overrides) -> AtlasConfig:
    """The atlas of run profile ``profile`` ("smoke", "cpu" or "gpu"), with a reader's
    ``overrides`` (e.g. ``fields_per_protein=12``; None means "the profile's value")."""
    if profile not in ATLAS_SIZES:
        raise ValueError(f"no atlas size for profile {profile!r}; profiles: {', '.join(ATLAS_SIZES)}")
    values = ATLAS_SIZES[profile] | {k: v for k, v in overrides.items() if v is not None}
    return AtlasConfig(seed=seed, **values)

DATA_CHAPTER = {
    # benchmark_fields: fields simulated to time the simulator; embedding: the 2-D map of the
    # hand-crafted features; easy_fields_per_protein: the atlas without nuisance, for comparison.
    "smoke": dict(benchmark_fields=12, embedding="pca", easy_fields_per_protein=2),
    "cpu": dict(benchmark_fields=60, embedding="umap", easy_fields_per_protein=4),
    "gpu": dict(benchmark_fields=120, embedding="umap", easy_fields_per_protein=6),
}


def data_chapter_settings(profile: str, **overrides) -> Settings:
    """The data chapter's settings for ``profile``; None overrides mean "the profile's value"."""
    return select(DATA_CHAPTER, profile, **overrides)
