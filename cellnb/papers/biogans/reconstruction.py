"""Reconstructing held-out cells by optimising the latent vector (Section 5.2, Table 3, Figs. 5-6).

Osokin, Chessel, Carazo Salas & Vaggi, "GANs for Biological Image Synthesis" (ICCV 2017), after
the test of Metz et al. [30]: a generator that dropped a mode cannot reproduce test cells from
it, whatever z it is given. For each test cell x, search z to minimise the mean squared error
between G(z) and x with L-BFGS, from several random starts, and keep the best.

* Regular reconstruction: all of z fits both channels at once.
* Separable reconstruction (red first): z_red fits the red channel while z_green stays at its
  random start, then z_green fits the green channel with z_red fixed. The separable and star
  generators' red depends on z_red only, so the second stage never moves the red.
* The star generator is asked for a (red, green_k) cell through its tower k (``green_class``).

Reported, as in Table 3: the error on the [0, 1] scale of the data, the root of the mean square
over both channels' pixels (the "L2 distance normalised by the number of pixels"), and the
negative log-likelihood of the recovered z under the prior N(0, I), 0.5 ||z||^2 + (d/2) log 2 pi,
with two references: the nearest training cell of the same class (for the error) and the NLL of
z drawn from the prior (mean d/2 + (d/2) log 2 pi, std sqrt(d/2)). Summaries are median +- MAD.

Optimiser, as the authors run it: ``torch.optim.LBFGS`` with step size 0.05, no line search, one
problem per batch of 64 cells (the loss is the batch's mean; cells do not interact in evaluation
mode, so each cell's z follows its own gradient). The paper's "50 iterations" are 50 calls of
``step``, each of up to 20 inner iterations: ``outer_steps`` and ``inner_steps`` here.

Read top to bottom: summaries and the prior, the pieces of z, one L-BFGS fit, the restarts, the
nearest-neighbour baseline.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .baselines import nearest_indices
from .model import BioGanConfig, latent_size, split_latent

MODES = ("regular", "separable")
LATENT_PARTS = ("all", "red", "green")


# ------------------------------------------------------------------- summaries and the prior

def median_mad(values) -> tuple[float, float]:
    """The median and the median absolute deviation of the finite values (Section 5.2)."""
    values = np.asarray(values, float).ravel()
    values = values[np.isfinite(values)]
    if not len(values):
        return math.nan, math.nan
    median = float(np.median(values))
    return median, float(np.median(np.abs(values - median)))


def prior_nll(latents: torch.Tensor) -> np.ndarray:
    """-log N(z; 0, I) of each row of ``latents`` (N, d): 0.5 ||z||^2 + (d/2) log 2 pi."""
    latents = latents.detach().double().cpu()
    d = latents.shape[1]
    return (0.5 * (latents ** 2).sum(1) + 0.5 * d * math.log(2 * math.pi)).numpy()


@dataclass(frozen=True)
class GaussianReference:
    """The NLL of z ~ N(0, I_d) under its own prior: 0.5 ||z||^2 is chi-square(d) / 2."""

    mean: float
    std: float


def gaussian_nll_reference(d: int) -> GaussianReference:
    """Table 3's "Gaussian noise" row in theory: mean d/2 + (d/2) log 2 pi, std sqrt(d/2)
    (141.9 and 7.07 for the paper's d = 100)."""
    return GaussianReference(mean=d / 2 + d / 2 * math.log(2 * math.pi), std=math.sqrt(d / 2))


def rmse_01(images: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """Per-image RMSE on the [0, 1] scale of images given in [-1, 1], over every channel."""
    difference = (images.detach().double() - targets.detach().double()) / 2
    return difference.flatten(1).pow(2).mean(1).sqrt().cpu().numpy()


@contextmanager
def evaluation_mode(network: nn.Module):
    """Run ``network`` in evaluation mode (BatchNorm's running statistics, as the authors sample
    and reconstruct), then restore the mode it had."""
    was_training = network.training
    network.eval()
    try:
        yield network
    finally:
        network.train(was_training)


# ----------------------------------------------------------------------------- pieces of z

def output_channels(config: BioGanConfig, green_class: int | None = None) -> list[int]:
    """The generator's output channels that make a (red, green) image: [0, 1 + green_class].

    Two-channel generators need no class; the star generator (K greens) and the multi-channel
    baseline need the class whose green tower (or channel) the cells belong to.
    """
    channels = (config.n_classes + 1 if config.generator_kind == "star"
                else config.image_channels)
    if channels == 2:
        if green_class not in (None, 0):
            raise ValueError(f"a two-channel generator has one green; got green_class "
                             f"{green_class}")
        return [0, 1]
    if green_class is None or not 0 <= green_class < channels - 1:
        raise ValueError(f"this generator outputs red and {channels - 1} greens: pass "
                         f"green_class in 0..{channels - 2}, the class of the cells")
    return [0, 1 + green_class]


def latent_part(config: BioGanConfig, part: str) -> tuple[int, int]:
    """Columns [start, stop) of the flat z that ``part`` names: "all", "red" or "green"."""
    if part not in LATENT_PARTS:
        raise ValueError(f"part is one of {LATENT_PARTS}, got {part!r}")
    if part == "all":
        return 0, latent_size(config)
    if config.generator_kind == "dcgan":
        raise ValueError("separable reconstruction needs a red that depends on z_red only: use "
                         "a separable or star generator (this one is dcgan), or mode='regular'")
    return (0, config.nz_red) if part == "red" else (config.nz_red, latent_size(config))


def initial_latents(config: BioGanConfig, n: int, seed: int, restart: int) -> torch.Tensor:
    """Restart ``restart``'s random starts for ``n`` cells, (n, latent_size), from N(0, I).

    Seeded by (seed, restart) only, so restart 0 is the same with 1 restart or 5.
    """
    stream = int(np.random.SeedSequence([seed, restart]).generate_state(1)[0])
    return torch.randn(n, latent_size(config), generator=torch.Generator().manual_seed(stream))


def render(generator: nn.Module, config: BioGanConfig, latents: torch.Tensor,
           channels: list[int]) -> torch.Tensor:
    """G(z) restricted to ``channels`` (see :func:`output_channels`): (B, 2, H, W)."""
    return generator(**split_latent(config, latents))[:, channels]


# --------------------------------------------------------------------------- one L-BFGS fit

def fit_latents(generator: nn.Module, config: BioGanConfig, targets: torch.Tensor,
                start: torch.Tensor, *, part: str = "all", image_channels=(0, 1),
                green_class: int | None = None, outer_steps: int = 50, inner_steps: int = 20,
                lr: float = 0.05) -> torch.Tensor:
    """Fit the ``part`` of z ("all", "red" or "green") to ``targets``' ``image_channels``
    (0: red, 1: green) by L-BFGS from ``start`` (B, latent_size); the rest of z stays as it
    starts. Returns the fitted z (B, latent_size), detached.

    One L-BFGS problem for the batch, its loss the mean squared error in [-1, 1] over the batch
    and the chosen channels; ``outer_steps`` calls of ``step``, each of at most ``inner_steps``
    iterations, step size ``lr``, no line search (Section 5.2).
    """
    channels = output_channels(config, green_class)
    chosen = list(image_channels)
    begin, end = latent_part(config, part)
    start = start.detach()
    free = start[:, begin:end].clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([free], lr=lr, max_iter=inner_steps)
    targets = targets[:, chosen]

    def assembled() -> torch.Tensor:
        return torch.cat([start[:, :begin], free, start[:, end:]], 1)

    def closure() -> torch.Tensor:
        images = render(generator, config, assembled(), channels)[:, chosen]
        loss = (images - targets).pow(2).mean()
        # Gradients for z only: the generator's parameters collect none. L-BFGS flattens the
        # gradient with view(), so it must be contiguous (a slice of cat's gradient is not).
        (gradient,) = torch.autograd.grad(loss, free)
        free.grad = gradient.contiguous()
        return loss

    with evaluation_mode(generator):
        for _ in range(outer_steps):
            optimizer.step(closure)
    return assembled().detach()


# ------------------------------------------------------------------------------ the restarts

@dataclass
class Reconstruction:
    """The best of the restarts for each cell (Section 5.2; Table 3).

    ``rmse`` (N,): [0, 1]-scale RMSE over both channels; ``nll`` (N,): prior NLL of ``latents``
    (N, d); ``images`` (N, 2, H, W): the reconstructions in [-1, 1]; ``rmse_by_restart``
    (restarts, N) and ``best_restart`` (N,) show what the restarts bought.
    """

    mode: str
    rmse: np.ndarray
    nll: np.ndarray
    latents: torch.Tensor
    images: torch.Tensor
    rmse_by_restart: np.ndarray
    best_restart: np.ndarray

    def summary(self) -> dict[str, float]:
        """Median and MAD of the error and of the NLL, as Table 3 reports them."""
        rmse, rmse_mad = median_mad(self.rmse)
        nll, nll_mad = median_mad(self.nll)
        return dict(rmse_median=rmse, rmse_mad=rmse_mad, nll_median=nll, nll_mad=nll_mad)


def _reconstruct_batch(generator, config, targets, start, mode, fit) -> torch.Tensor:
    if mode == "regular":
        return fit_latents(generator, config, targets, start, **fit)
    # Red first, z_green at its random start; then green with the fitted z_red held fixed.
    fitted_red = fit_latents(generator, config, targets, start, part="red",
                             image_channels=(0,), **fit)
    return fit_latents(generator, config, targets, fitted_red, part="green",
                       image_channels=(1,), **fit)


def reconstruct(generator: nn.Module, config: BioGanConfig, images: torch.Tensor, *,
                mode: str = "regular", green_class: int | None = None, restarts: int = 5,
                outer_steps: int = 50, inner_steps: int = 20, lr: float = 0.05, seed: int = 0,
                batch: int = 64) -> Reconstruction:
    """Reconstruct (red, green) cells ``images`` (N, 2, H, W) in [-1, 1] with ``generator``
    (Section 5.2): ``mode`` "regular" or "separable" (red first), ``restarts`` random starts
    keeping each cell's best (lowest RMSE over both channels), ``batch`` cells per L-BFGS
    problem. The paper: 5 restarts, 50 outer steps of up to 20 inner ones, lr 0.05, batch 64.

    For the star generator, ``green_class`` = k reconstructs through green tower k. With
    per-tower green noise, the other towers' noise stays at its random start and still counts
    in the NLL, as every coordinate of z does. The generator runs in evaluation mode.
    """
    if mode not in MODES:
        raise ValueError(f"mode is one of {MODES}, got {mode!r}")
    if restarts < 1:
        raise ValueError(f"restarts must be at least 1, got {restarts}")
    images = torch.as_tensor(images).float()
    expected = (2, *config.image_size)
    if images.dim() != 4 or tuple(images.shape[1:]) != expected:
        raise ValueError(f"expected (red, green) cells of shape (N, {expected[0]}, "
                         f"{expected[1]}, {expected[2]}), got {tuple(images.shape)}")
    channels = output_channels(config, green_class)
    device = next(generator.parameters()).device
    fit = dict(green_class=green_class, outer_steps=outer_steps, inner_steps=inner_steps, lr=lr)
    best_latents, best_images, by_restart = None, None, []
    with evaluation_mode(generator):
        for restart in range(restarts):
            start = initial_latents(config, len(images), seed, restart).to(device)
            latents = torch.cat([
                _reconstruct_batch(generator, config, images[i:i + batch].to(device),
                                   start[i:i + batch], mode, fit)
                for i in range(0, len(images), batch)]).cpu()
            with torch.no_grad():
                rendered = torch.cat([render(generator, config, latents[i:i + batch].to(device),
                                             channels).cpu()
                                      for i in range(0, len(images), batch)])
            by_restart.append(rmse_01(rendered, images))
            if restart == 0:
                best_latents, best_images = latents, rendered
                continue
            better = torch.as_tensor(by_restart[-1] < np.min(by_restart[:-1], axis=0))
            best_latents = torch.where(better[:, None], latents, best_latents)
            best_images = torch.where(better[:, None, None, None], rendered, best_images)
    by_restart = np.stack(by_restart)
    best = by_restart.argmin(0)
    return Reconstruction(mode=mode, rmse=by_restart[best, np.arange(len(images))],
                          nll=prior_nll(best_latents), latents=best_latents, images=best_images,
                          rmse_by_restart=by_restart, best_restart=best)


# ------------------------------------------------------------- the nearest-neighbour baseline

@dataclass
class NearestNeighbours:
    """Each test cell's nearest training cell (L2 on both channels): ``index`` into the training
    images, the ``images`` themselves and the same [0, 1]-scale ``rmse`` as
    :class:`Reconstruction`."""

    rmse: np.ndarray
    index: np.ndarray
    images: torch.Tensor

    def summary(self) -> dict[str, float]:
        rmse, rmse_mad = median_mad(self.rmse)
        return dict(rmse_median=rmse, rmse_mad=rmse_mad)


def nearest_neighbour_baseline(train_images, test_images, *, train_classes=None,
                               test_classes=None) -> NearestNeighbours:
    """Table 3's "Nearest neighbors" row: for each test cell (N, 2, H, W), the training cell
    closest in L2 over both channels, and the error of using it as the reconstruction.

    Pass the training cells of the test cells' class, or all of them with ``train_classes`` and
    ``test_classes`` (one label per cell) to search within each cell's own class.
    """
    train = torch.as_tensor(np.asarray(train_images)).float()
    test = torch.as_tensor(np.asarray(test_images)).float()
    if train.shape[1:] != test.shape[1:]:
        raise ValueError(f"train cells {tuple(train.shape[1:])} and test cells "
                         f"{tuple(test.shape[1:])} must have the same shape")
    if (train_classes is None) != (test_classes is None):
        raise ValueError("give both train_classes and test_classes, or neither")
    index = np.empty(len(test), np.int64)
    if train_classes is None:
        index[:] = nearest_indices(test, train)[:, 0].numpy()
    else:
        train_classes, test_classes = np.asarray(train_classes), np.asarray(test_classes)
        for name in np.unique(test_classes):
            members = np.flatnonzero(train_classes == name)
            if not len(members):
                raise ValueError(f"no training cell of class {name!r} to compare with")
            queries = np.flatnonzero(test_classes == name)
            found = nearest_indices(test[queries], train[members])[:, 0].numpy()
            index[queries] = members[found]
    neighbours = train[torch.as_tensor(index)]
    return NearestNeighbours(rmse=rmse_01(neighbours, test), index=index, images=neighbours)
