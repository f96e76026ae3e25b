"""Run profiles: one notebook, three sizes.

``smoke`` is what the tests run (about a minute on 2 CPU cores), ``cpu`` is the book on a laptop
(minutes, and the findings still show), ``gpu`` is paper scale. ``auto`` picks ``gpu`` when
CUDA is present and ``cpu`` otherwise. A chapter keeps its presets in one dictionary and asks for
its settings with :func:`select`; the executed notebook prints the values that were used.
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .runtime import cuda_available

PROFILES = ("smoke", "cpu", "gpu")


def resolve_profile(profile: str = "auto") -> str:
    if profile == "auto":
        return "gpu" if cuda_available() else "cpu"
    if profile not in PROFILES:
        raise ValueError(f"profile must be 'auto' or one of {', '.join(PROFILES)}, got {profile!r}")
    return profile


class Settings(Mapping):
    """A read-only bag of named settings, readable as attributes (``settings.n_fields``)."""

    def __init__(self, profile: str, values: Mapping):
        self._profile = profile
        self._values = MappingProxyType(dict(values))

    @property
    def profile(self) -> str:
        return self._profile

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no setting {name!r} in profile {self._profile!r}; "
                                 f"known: {', '.join(self._values)}") from None

    def __getitem__(self, key):
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def __repr__(self):
        width = max(map(len, self._values), default=0)
        rows = "\n".join(f"  {k:<{width}} = {v!r}" for k, v in self._values.items())
        return f"settings for profile {self._profile!r}:\n{rows}"


def select(presets: Mapping[str, Mapping], profile: str, **overrides) -> Settings:
    """Pick the preset for ``profile`` (after resolving ``auto``) and apply overrides.

    Every profile must define the same keys, so a chapter cannot silently depend on a value only
    one profile sets; an override must name an existing key.
    """
    profile = resolve_profile(profile)
    missing_profiles = [p for p in PROFILES if p not in presets]
    if missing_profiles:
        raise ValueError(f"presets lack profiles: {', '.join(missing_profiles)}")
    keys = set(presets[PROFILES[0]])
    for name in PROFILES[1:]:
        if set(presets[name]) != keys:
            raise ValueError(f"profile {name!r} defines {sorted(set(presets[name]) ^ keys)} "
                             f"differently from {PROFILES[0]!r}")
    unknown = set(overrides) - keys
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(keys)}")
    values = dict(presets[profile])
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(profile, values)
