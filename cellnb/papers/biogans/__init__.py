"""BioGANs (Osokin, Chessel, Carazo Salas & Vaggi, "GANs for Biological Image Synthesis", ICCV
2017): the chapter's model and losses.

* :mod:`.model` - the config and its presets; the DCGAN, separable and star-shaped generators
  (Section 4, Fig. 2); the WGAN-GP critic, the GAN discriminator and the star model's K critics;
  latent noise, parameter counts, optimisers. Start reading here.
* :mod:`.losses` - the GAN losses of eq. 1 (non-saturating generator) and WGAN-GP's eq. 4 with
  its gradient penalty, for one critic or K.
* :mod:`.baselines` - Table 2's baselines: independent one-class generators and the
  nearest-neighbour composite of Section 4.2's multi-channel training images.
* :mod:`.reconstruction` - Section 5.2 and Table 3: L-BFGS over z, regular and separable, with
  the nearest-neighbour and Gaussian references.
* :mod:`.c2st` - Section 5.1's classifier two-sample test (a fresh WGAN-GP critic per split),
  Table 1's real-vs-real matrix and its twin structure, Table 2's model comparison.
* :mod:`.consistency` - what the paper could not measure: generated cells' lengths, stages and
  class rules against the real ones, and multi-green outputs' greens against their shared red.
* :mod:`.interpolation` - Section 5.3 and Fig. 7: slerp through a cell cycle and its check.
* :mod:`.data` - SynthPombe or LIN cells as tensors with a train/test split; pooled and
  class-balanced real batches with random flips, one generator iteration per loader item.
* :mod:`.train` - WGAN-GP and GAN training of every generator through the shared Trainer,
  per-iteration records, generator snapshots, evaluation-mode sampling.
* :mod:`.profiles` - the chapter's smoke / cpu / gpu sizes.
* :mod:`.analysis` - the chapter's questions asked of trained models: separability, diversity
  given red (Fig. 4), C2ST along training (Fig. 3), reconstructions (Table 3), the cell-cycle
  walk (Fig. 7), the multi-channel baseline's data and cross-class checks.
* :mod:`.figures`, :mod:`.explore` - the chapter's figures, beside the paper's numbers; live and
  offline exploration of a generator and of a walk.
* :mod:`.findings` - paper vs. this book, for both notebooks.

The names below are what the chapter notebook calls (``from cellnb.papers import biogans``).
"""
from . import c2st, consistency, losses
from .baselines import (
    IndependentGenerators,
    multichannel_training_set,
    nearest_neighbour_composite,
)
from .c2st import (
    C2stResult,
    TwinCheck,
    c2st_score,
    format_score_table,
    format_summary,
    generator_source,
    model_comparison,
    model_comparison_scores,
    real_vs_real_matrix,
    real_vs_real_scores,
    score_table,
    star_sources,
    summary_statistics,
    twin_structure,
)
from .consistency import (
    consistency_report,
    cross_class_consistency,
    cross_class_rates,
    length_comparison,
    rule_comparison,
    rule_rate,
    stage_comparison,
    stage_coverage,
    stage_frequencies,
)
from .data import (
    BioGanData,
    IterationBatches,
    class_balanced_batches,
    class_balanced_positions,
    lin_data,
    load_cells,
    pooled_batches,
    pooled_positions,
    random_flips,
    synthetic_data,
)
from .findings import CLAIMS, COMPARISON_CLAIMS, comparison_findings, findings
from .interpolation import (
    CellCycleAnchors,
    InterpolationCheck,
    interpolation_check,
    interpolation_frames,
    pick_cell_cycle_anchors,
    slerp,
    slerp_path,
)
from .losses import (
    CriticLoss,
    gan_discriminator_loss,
    gan_generator_loss,
    gradient_penalty,
    wgan_generator_loss,
    wgan_gp_critic_loss,
)
from .model import (
    GAN_TRAINING,
    PRESETS,
    BioGanConfig,
    Critic,
    Discriminator,
    Generator,
    MultiCritic,
    SeparableGenerator,
    StarGenerator,
    build_critic,
    build_generator,
    class_pairs,
    count_parameters,
    feature_map_sizes,
    latent_size,
    make_optimizers,
    parameter_counts,
    preset,
    sample_latent,
    split_channels,
    split_latent,
)
from .profiles import (
    CHAPTER,
    chapter_settings,
    model_config,
    multichannel_config,
    pombe_config,
    train_settings,
)
from .reconstruction import (
    GaussianReference,
    NearestNeighbours,
    Reconstruction,
    gaussian_nll_reference,
    median_mad,
    nearest_neighbour_baseline,
    prior_nll,
    reconstruct,
)
from .train import (
    GanRun,
    GanTrainSettings,
    load_snapshot,
    sample,
    train_gan,
    train_gans,
)

__all__ = [
    "losses", "c2st", "consistency",
    "GAN_TRAINING", "PRESETS", "BioGanConfig", "preset",
    "Generator", "SeparableGenerator", "StarGenerator", "Critic", "Discriminator", "MultiCritic",
    "build_generator", "build_critic", "class_pairs", "split_channels",
    "sample_latent", "split_latent", "latent_size", "feature_map_sizes",
    "count_parameters", "parameter_counts", "make_optimizers",
    "CriticLoss", "gradient_penalty", "wgan_gp_critic_loss", "wgan_generator_loss",
    "gan_discriminator_loss", "gan_generator_loss",
    "IndependentGenerators", "nearest_neighbour_composite", "multichannel_training_set",
    "reconstruct", "Reconstruction", "nearest_neighbour_baseline", "NearestNeighbours",
    "gaussian_nll_reference", "GaussianReference", "prior_nll", "median_mad",
    "slerp", "slerp_path", "pick_cell_cycle_anchors", "CellCycleAnchors",
    "interpolation_frames", "interpolation_check", "InterpolationCheck",
    "BioGanData", "load_cells", "synthetic_data", "lin_data", "random_flips",
    "pooled_positions", "class_balanced_positions", "pooled_batches", "class_balanced_batches",
    "IterationBatches",
    "GanTrainSettings", "GanRun", "train_gan", "train_gans", "sample", "load_snapshot",
    "CHAPTER", "chapter_settings", "model_config", "multichannel_config", "pombe_config",
    "train_settings", "CLAIMS", "COMPARISON_CLAIMS", "findings", "comparison_findings",
    "c2st_score", "C2stResult", "generator_source", "star_sources", "summary_statistics",
    "format_summary", "real_vs_real_scores", "real_vs_real_matrix", "twin_structure",
    "TwinCheck", "model_comparison_scores", "model_comparison", "score_table",
    "format_score_table",
    "consistency_report", "length_comparison", "stage_frequencies", "stage_comparison",
    "stage_coverage", "rule_rate", "rule_comparison", "cross_class_consistency",
    "cross_class_rates",
]
