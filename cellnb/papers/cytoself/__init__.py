"""cytoself (Kobayashi et al., Nature Methods 2022): the chapters' model and library code.

* :mod:`.model` - the architecture: config and presets, split vector quantisation, encoders,
  decoders, identification heads, the loss. Start reading here.
* :mod:`.profiles` - what the ``smoke``, ``cpu`` and ``gpu`` profiles mean for both chapters.
* :mod:`.data` - crops to model inputs, protein labels, field-grouped splits, the held-out orphan.
* :mod:`.train` - the training step and the paper's schedule, through ``cellnb.train``.
* :mod:`.evaluate` - Γ and k-NN on the atlas, identification, feature zeroing (Figs. 2, 3, 5).
* :mod:`.spectrum` - the feature spectrum (Fig. 4).
* :mod:`.ablation` - the ablation study (Supp. Table 1).
* :mod:`.explore` - the interactive exploration of a trained model.
* :mod:`.figures` - the chapters' figures.
* :mod:`.findings` - the paper's claims and the verdicts of a run.

The names below are what the chapter notebooks call (``from cellnb.papers import cytoself``).
"""
from .ablation import PAPER_TABLE, ablation_table, compare_with_paper, run_ablation
from .data import CytoselfData, cytoself_data, load_crops, pattern_masks
from .evaluate import (
    compare_representations,
    compare_split,
    compare_with_baselines,
    identification_report,
    localise_orphans,
    score_representation,
    spectrum_analysis,
    zero_code,
    zeroing_study,
    zeroing_table,
)
from .findings import ablation_findings, findings, level_correlation
from .model import (
    ABLATIONS,
    EXITS,
    PRESETS,
    Cytoself,
    CytoselfConfig,
    LossWeights,
    cytoself_loss,
    parameter_counts,
    preset,
)
from .profiles import ablation_settings, chapter_settings
from .spectrum import assign_by_spectrum
from .train import TrainSettings, train_cytoself

__all__ = [
    "PAPER_TABLE", "ablation_table", "compare_with_paper", "run_ablation",
    "CytoselfData", "cytoself_data", "load_crops", "pattern_masks",
    "compare_representations", "compare_split", "compare_with_baselines", "localise_orphans",
    "zeroing_study", "identification_report", "score_representation",
    "spectrum_analysis", "zero_code", "zeroing_table",
    "ablation_findings", "findings", "level_correlation",
    "ABLATIONS", "EXITS", "PRESETS", "Cytoself", "CytoselfConfig", "LossWeights", "cytoself_loss",
    "parameter_counts", "preset",
    "ablation_settings", "chapter_settings", "assign_by_spectrum", "TrainSettings", "train_cytoself",
]
