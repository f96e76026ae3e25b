"""The Integrated Cell (Johnson, Donovan-Maiye & Maleckar, arXiv 1705.00092, 2017; and "Building a
3D integrated cell", bioRxiv 238378, 2017): the chapters' model and library code.

* :mod:`.model` - both stages in 2D and 3D: the reference model of membrane + DNA and the
  conditional model of a structure given them; encoders, decoders, latent and image
  discriminators; presets; the losses of eqs. 3-18 with their gradient routing; the optimisers;
  generation and integration (Algorithm 3). Start reading here.

The names below are what the chapter notebooks call (``from cellnb.papers import integrated_cell``).
"""
from .model import (
    CHANNELS,
    CONDITIONAL_EXITS,
    PRESETS,
    REFERENCE_EXITS,
    ConditionalModel,
    ConditionalOutput,
    IntegratedCellConfig,
    ReferenceModel,
    ReferenceOutput,
    class_loss,
    decd_loss,
    decoder_adversarial_loss,
    decoder_objective,
    encd_loss,
    encoder_adversarial_loss,
    encoder_objective,
    generate,
    generate_reference,
    integrate,
    make_optimizers,
    networks,
    parameter_counts,
    preset,
    reconstruction_loss,
    reference_latents,
    reference_of,
    routed_backward,
    sample_prior,
    structure_of,
    zr_regression_loss,
)

__all__ = [
    "CHANNELS", "CONDITIONAL_EXITS", "PRESETS", "REFERENCE_EXITS",
    "ConditionalModel", "ConditionalOutput", "IntegratedCellConfig", "ReferenceModel",
    "ReferenceOutput",
    "class_loss", "decd_loss", "decoder_adversarial_loss", "decoder_objective", "encd_loss",
    "encoder_adversarial_loss", "encoder_objective", "reconstruction_loss", "zr_regression_loss",
    "routed_backward", "make_optimizers", "networks", "parameter_counts", "preset",
    "generate", "generate_reference", "integrate", "reference_latents", "sample_prior",
    "reference_of", "structure_of",
]
