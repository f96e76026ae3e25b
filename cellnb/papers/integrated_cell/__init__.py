"""The Integrated Cell (Johnson, Donovan-Maiye & Maleckar, arXiv 1705.00092, 2017; and "Building a
3D integrated cell", bioRxiv 238378, 2017): the chapters' model and library code.

* :mod:`.model` - both stages in 2D and 3D: the reference model of membrane + DNA and the
  conditional model of a structure given them; encoders, decoders, latent and image
  discriminators; presets; the losses of eqs. 3-18 with their gradient routing; the optimisers;
  generation and integration (Algorithm 3). Start reading here.
* :mod:`.data` - cells as tensors, class labels and the salted-hash split (5 % held out).
* :mod:`.train` - both stages through the shared Trainer (Algorithms 1-2), the z^r hand-off.
* :mod:`.profiles` - the chapters' smoke / cpu / gpu sizes (2D and 3D).
* :mod:`.variation` - Algorithm 4 and the walks between cell states (3D paper).
* :mod:`.analysis` - the trained models run on held-out cells, one function per criterion.
* :mod:`.evaluate` - the criteria on arrays; :mod:`.findings` - paper vs. this book.
* :mod:`.figures`, :mod:`.explore` - the chapter's figures; live and static exploration.

The names below are what the chapter notebooks call (``from cellnb.papers import integrated_cell``).
"""
from . import analysis, evaluate, explore, figures, variation
from .data import IntegratedCellData, integrated_cell_data, load_cell_images, load_cells
from .findings import findings, findings_3d
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
from .profiles import chapter_3d_settings, chapter_settings
from .train import (
    TrainSettings,
    TwoStageRun,
    frozen_reference_latents,
    train_conditional,
    train_integrated_cell,
    train_reference,
)

__all__ = [
    "analysis", "evaluate", "explore", "figures", "findings", "findings_3d", "variation",
    "CHANNELS", "CONDITIONAL_EXITS", "PRESETS", "REFERENCE_EXITS",
    "ConditionalModel", "ConditionalOutput", "IntegratedCellConfig", "ReferenceModel",
    "ReferenceOutput",
    "class_loss", "decd_loss", "decoder_adversarial_loss", "decoder_objective", "encd_loss",
    "encoder_adversarial_loss", "encoder_objective", "reconstruction_loss", "zr_regression_loss",
    "routed_backward", "make_optimizers", "networks", "parameter_counts", "preset",
    "generate", "generate_reference", "integrate", "reference_latents", "sample_prior",
    "reference_of", "structure_of",
    "IntegratedCellData", "integrated_cell_data", "load_cell_images", "load_cells",
    "TrainSettings", "TwoStageRun", "frozen_reference_latents", "train_reference",
    "train_conditional", "train_integrated_cell", "chapter_settings", "chapter_3d_settings",
]
