"""The book's models, one readable file per paper, built from shared blocks.

* :mod:`.vq` - vector quantisation (gradient codebook, straight-through, split quantisation).
* :mod:`.blocks` - MBConv encoders and residual decoders.
* :mod:`.cytoself` - the two-level cytoself model, its presets, ablations and loss.
"""
from .cytoself import (
    ABLATIONS,
    EXITS,
    PRESETS,
    Cytoself,
    CytoselfConfig,
    CytoselfOutput,
    LossWeights,
    cytoself_loss,
    parameter_counts,
    preset,
)
from .vq import VectorQuantizer, code_histogram, perplexity_of, split_vectors, unsplit_vectors

__all__ = ["ABLATIONS", "EXITS", "PRESETS", "Cytoself", "CytoselfConfig", "CytoselfOutput",
           "LossWeights", "cytoself_loss", "parameter_counts", "preset", "VectorQuantizer",
           "code_histogram", "perplexity_of", "split_vectors", "unsplit_vectors"]
