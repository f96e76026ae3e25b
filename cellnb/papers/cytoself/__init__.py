"""cytoself (Kobayashi et al., Nature Methods 2022): the chapter's model and library code.

* :mod:`.model` - the architecture: config and presets, split vector quantisation, encoders,
  decoders, identification heads, the loss.
* :mod:`.data` - crops to model inputs, protein labels, field-grouped splits, the held-out orphan.
* :mod:`.train` - the training step and the paper's schedule, through ``cellnb.train``.
* :mod:`.evaluate` - Γ and k-NN on the atlas, identification, feature zeroing (Fig. 2, 3, 5).
* :mod:`.spectrum` - the feature spectrum (Fig. 4).
* :mod:`.ablation` - the ablation study (Supp. Table 1).
* :mod:`.figures` - the chapter's figures.
"""
from .model import ABLATIONS, EXITS, PRESETS, Cytoself, CytoselfConfig, cytoself_loss, parameter_counts, preset

__all__ = ["ABLATIONS", "EXITS", "PRESETS", "Cytoself", "CytoselfConfig", "cytoself_loss",
           "parameter_counts", "preset"]
