"""BioGANs (Osokin, Chessel, Carazo Salas & Vaggi, "GANs for Biological Image Synthesis", ICCV
2017): the chapter's model and losses.

* :mod:`.model` - the config and its presets; the DCGAN, separable and star-shaped generators
  (Section 4, Fig. 2); the WGAN-GP critic, the GAN discriminator and the star model's K critics;
  latent noise, parameter counts, optimisers. Start reading here.
* :mod:`.losses` - the GAN losses of eq. 1 (non-saturating generator) and WGAN-GP's eq. 4 with
  its gradient penalty, for one critic or K.

The names below are what the chapter notebook calls (``from cellnb.papers import biogans``).
"""
from . import losses
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

__all__ = [
    "losses",
    "GAN_TRAINING", "PRESETS", "BioGanConfig", "preset",
    "Generator", "SeparableGenerator", "StarGenerator", "Critic", "Discriminator", "MultiCritic",
    "build_generator", "build_critic", "class_pairs", "split_channels",
    "sample_latent", "split_latent", "latent_size", "feature_map_sizes",
    "count_parameters", "parameter_counts", "make_optimizers",
    "CriticLoss", "gradient_penalty", "wgan_gp_critic_loss", "wgan_generator_loss",
    "gan_discriminator_loss", "gan_generator_loss",
]
