"""cellnb: the helper package of an executable book on generative and self-supervised deep
learning for fluorescence microscopy of cells.

The package holds the heavy logic (simulator, data layer, models, training, evaluation, plots);
the notebooks in ``notebooks/`` orchestrate it and explain.
"""
from importlib.metadata import PackageNotFoundError, version

from .chapter import Session, setup
from .profiles import resolve_profile, select
from .record import read_metrics, record
from .runtime import resolve_device, seed_everything

try:
    __version__ = version("cellnb")
except PackageNotFoundError:   # imported from a source tree that was never installed
    __version__ = "0+unknown"
__all__ = ["Session", "setup", "resolve_profile", "select", "record", "read_metrics",
           "resolve_device", "seed_everything", "__version__"]
