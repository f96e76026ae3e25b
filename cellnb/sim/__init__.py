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
from .pombe import (
    POMBE_CHANNELS,
    POMBE_CLASSES,
    POMBE_PRESETS,
    POMBE_STAGES,
    POMBE_TWINS,
    PombeCell,
    PombeConfig,
    generate_pombe_cells,
    pombe_cell,
    pombe_class_table,
    pombe_stage_table,
    render_all_greens,
)
from .pombe_measure import measure_pombe, rule_consistency, rule_consistency_rates
from .profiles import ATLAS_SIZES, DATA_CHAPTER, atlas_config, data_chapter_settings

__all__ = ["ATLAS_SIZES", "DATA_CHAPTER", "atlas_config", "data_chapter_settings", "AtlasConfig",
           "generate_crops", "generate_fields", "render_field", "repaint_field", "measure_throughput",
           "Catalogue", "Protein", "build_catalogue", "PATTERNS", "BASE_CLASSES", "RARE_CLASS",
           "CROP_CHANNELS", "FIELD_CHANNELS", "IntegratedCellConfig", "ToyCell",
           "generate_integrated_cells", "resample_structure", "structure_table", "toy_cell",
           "STRUCTURES", "STRUCTURE_CLASSES", "RARE_STRUCTURE", "INTEGRATED_CHANNELS"]
__all__ += ["PombeConfig", "PombeCell", "generate_pombe_cells", "pombe_cell", "render_all_greens",
            "pombe_class_table", "pombe_stage_table", "POMBE_CHANNELS", "POMBE_PRESETS",
            "POMBE_CLASSES", "POMBE_STAGES", "POMBE_TWINS", "measure_pombe", "rule_consistency",
            "rule_consistency_rates"]
