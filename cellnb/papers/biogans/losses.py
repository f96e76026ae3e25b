"""The adversarial losses of BioGANs: the GAN of eq. 1 and WGAN-GP's eq. 4, for one or K critics.

Osokin, Chessel, Carazo Salas & Vaggi, "GANs for Biological Image Synthesis" (ICCV 2017),
Section 4.1. Every function takes networks and tensors and returns losses to minimise; none
steps an optimiser, so a training step (n_critic critic updates, then one generator update)
composes them. A critic is any callable from images to scores with the images' leading shape:
(B, C, H, W) -> (B,) for one critic, (K, B, 2, H, W) -> (K, B) for the star model's K critics
(:class:`.model.MultiCritic`). Each class's terms are means over its batch; over the K classes
they are averaged (``class_reduction="mean"``, the authors' code) or added (``"sum"``, the
"accumulated gradient" of Section 4.2).

Sign convention (eq. 4). The discriminator maximises eq. 4, E D(G(z)) - E D(x) + R, as it
maximises eq. 1; the generator minimises it. With R = -lambda * E (||grad D(x_hat)|| - 1)^2 the
critic minimises

    L_D = mean D(x_real) - mean D(G(z)) + lambda * mean_i (||grad_x D(x_hat_i)||_2 - 1)^2

and the generator minimises L_G = mean D(G(z)). The critic thus scores generated images high:
the authors' code and the paper agree on this orientation, which is the mirror image of
Gulrajani et al.'s (D -> -D maps one onto the other; the penalty cannot tell them apart).
:attr:`CriticLoss.wasserstein` = mean D(G(z)) - mean D(x) is the critic's estimate of eq. 3,
and the negation of ``loss`` is the score of the two-sample test (Section 5.1).

The penalty ([15]): x_hat_i = eps_i x_real_i + (1 - eps_i) x_fake_i with one eps_i ~ U[0, 1] per
sample; each sample's gradient is flattened over (C, H, W) before its norm; lambda = 10. It runs
in float32 outside autocast: under mixed precision the gradient of a half-precision critic can
overflow or lose the "- 1" it is compared with.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .model import CLASS_REDUCTIONS, GP_WEIGHT

IMAGE_DIMS = 3     # (C, H, W): what follows the leading (K,) B dimensions of a batch


@dataclass
class CriticLoss:
    """The WGAN-GP critic's loss and its two parts, per class (shape () or (K,), detached)."""

    loss: torch.Tensor                # scalar to backpropagate: L_D over the classes
    wasserstein: torch.Tensor         # mean D(fake) - mean D(real): the estimate of eq. 3
    gradient_penalty: torch.Tensor    # mean (||grad D(x_hat)|| - 1)^2, before lambda


def reduce_classes(per_class: torch.Tensor, class_reduction: str = "mean") -> torch.Tensor:
    """One scalar from per-class losses (shape () or (K,)): their mean or their sum."""
    if class_reduction not in CLASS_REDUCTIONS:
        raise ValueError(f"class_reduction is one of {CLASS_REDUCTIONS}, got "
                         f"{class_reduction!r}")
    return per_class.mean() if class_reduction == "mean" else per_class.sum()


def _batch_means(scores: torch.Tensor) -> torch.Tensor:
    """(..., B) scores -> (...) per-class means, in float32."""
    return scores.float().mean(-1)


def _check_pair(real: torch.Tensor, fake: torch.Tensor):
    if real.shape != fake.shape or real.dim() < IMAGE_DIMS + 1:
        raise ValueError(f"real and generated batches must be images of one shape, (B, C, H, W) "
                         f"or (K, B, 2, H, W); got {tuple(real.shape)} and {tuple(fake.shape)}")


def interpolate(real: torch.Tensor, fake: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """x_hat = eps x_real + (1 - eps) x_fake, one eps ~ U[0, 1] per sample, in float32."""
    _check_pair(real, fake)
    shape = real.shape[:-IMAGE_DIMS] + (1,) * IMAGE_DIMS
    eps = torch.rand(shape, generator=generator,
                     device=generator.device if generator is not None else real.device)
    eps = eps.to(real.device)
    return eps * real.float() + (1 - eps) * fake.float()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, *,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Per class, mean over samples of (||grad_x D(x_hat_i)||_2 - 1)^2 (the R of eq. 4, [15]).

    Differentiable in the critic's parameters (the graph of the gradient is kept), so the
    penalty trains the critic. Returns shape () for one critic, (K,) for K.
    """
    points = interpolate(real.detach(), fake.detach(), generator).requires_grad_(True)
    with torch.autocast(points.device.type, enabled=False):
        scores = critic(points).float()
        gradient, = torch.autograd.grad(scores.sum(), points, create_graph=True)
    # A sample's score depends on that sample only (no BatchNorm in the critic), so the gradient
    # of the sum holds every sample's own gradient; its norm is over the sample's C*H*W values.
    norms = gradient.flatten(start_dim=gradient.dim() - IMAGE_DIMS).norm(dim=-1)   # (..., B)
    return (norms - 1).pow(2).mean(-1)


def wgan_gp_critic_loss(critic, real: torch.Tensor, fake: torch.Tensor, *,
                        gp_weight: float = GP_WEIGHT, generator: torch.Generator | None = None,
                        class_reduction: str = "mean") -> CriticLoss:
    """L_D = mean D(real) - mean D(fake) + lambda * penalty: the critic's side of eq. 4.

    ``fake`` is detached: this trains the critic only. ``generator`` draws the interpolation
    weights (pass the training run's own for reproducible runs).
    """
    _check_pair(real, fake)
    wasserstein = _batch_means(critic(fake.detach())) - _batch_means(critic(real))
    penalty = gradient_penalty(critic, real, fake, generator=generator)
    loss = reduce_classes(-wasserstein + gp_weight * penalty, class_reduction)
    return CriticLoss(loss, wasserstein.detach(), penalty.detach())


def wgan_generator_loss(critic, fake: torch.Tensor, *,
                        class_reduction: str = "mean") -> torch.Tensor:
    """L_G = mean D(G(z)): the generator's side of eq. 4 (the critic scores generated images
    high).

    The gradient also reaches the critic's parameters: zero them before the critic's next step.
    """
    return reduce_classes(_batch_means(critic(fake)), class_reduction)


def _bce_with_logits(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Per class, the mean over samples of -log sigmoid(l) (target 1) or -log(1 - sigmoid(l))."""
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(
        logits, torch.full_like(logits, target), reduction="none").mean(-1)


def gan_discriminator_loss(discriminator, real: torch.Tensor, fake: torch.Tensor, *,
                           class_reduction: str = "mean") -> torch.Tensor:
    """-(eq. 1): BCE(D(real), 1) + BCE(D(fake), 0), D the sigmoid of the logits.

    The sum of the two means, as in the authors' code. ``fake`` is detached.
    """
    _check_pair(real, fake)
    per_class = _bce_with_logits(discriminator(real), 1.0) \
        + _bce_with_logits(discriminator(fake.detach()), 0.0)
    return reduce_classes(per_class, class_reduction)


def gan_generator_loss(discriminator, fake: torch.Tensor, *,
                       class_reduction: str = "mean") -> torch.Tensor:
    """The non-saturating generator loss of Section 4.1: maximise log D(G(z)), i.e. minimise
    BCE(D(G(z)), 1), rather than minimise log(1 - D(G(z))), whose gradient vanishes early on."""
    return reduce_classes(_bce_with_logits(discriminator(fake), 1.0), class_reduction)
