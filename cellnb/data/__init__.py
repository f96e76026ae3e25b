"""The data layer: the ImageSet container, HDF5 storage and caching, splits, transforms,
segmentation and crop extraction from fields, and the registry of the papers' real datasets."""
from .imageset import ImageSet

__all__ = ["ImageSet"]
