"""The synthetic cell atlas: the book's default data, with ground truth for every pixel."""
from .atlas import (
    CROP_CHANNELS,
    FIELD_CHANNELS,
    AtlasConfig,
    generate_crops,
    generate_fields,
    measure_throughput,
    render_field,
    repaint_field,
)
from .catalogue import Catalogue, Protein, build_catalogue
from .integrated import (
    INTEGRATED_CHANNELS,
    RARE_STRUCTURE,
    STRUCTURE_CLASSES,
    STRUCTURES,
    IntegratedCellConfig,
    ToyCell,
    generate_integrated_cells,
    resample_structure,
    structure_table,
    toy_cell,
)
from .patterns import BASE_CLASSES, PATTERNS, RARE_CLASS
from .profiles import ATLAS_SIZES, DATA_CHAPTER, atlas_config, data_chapter_settings

__all__ = ["ATLAS_SIZES", "DATA_CHAPTER", "atlas_config", "data_chapter_settings", "AtlasConfig",
           "generate_crops", "generate_fields", "render_field", "repaint_field", "measure_throughput",
           "Catalogue", "Protein", "build_catalogue", "PATTERNS", "BASE_CLASSES", "RARE_CLASS",
           "CROP_CHANNELS", "FIELD_CHANNELS", "IntegratedCellConfig", "ToyCell",
           "generate_integrated_cells", "resample_structure", "structure_table", "toy_cell",
           "STRUCTURES", "STRUCTURE_CLASSES", "RARE_STRUCTURE", "INTEGRATED_CHANNELS"]
