"""Training BioGANs through the shared Trainer: WGAN-GP and the non-saturating GAN, for the
DCGAN, separable and star-shaped generators.

Osokin, Chessel, Carazo Salas & Vaggi, "GANs for Biological Image Synthesis" (ICCV 2017),
Section 4: the GAN of eq. 1 with the non-saturating generator loss, and WGAN-GP (eq. 4, the
gradient penalty of Gulrajani et al. [15] with their optimiser). One generator iteration:

    for each of n_critic critic steps:
        a fresh real batch (the loader's) and a fresh generated batch, G(z) for new z ~ N(0, I)
        the critic's loss (WGAN-GP: eq. 4's critic side with the penalty; GAN: -eq. 1) -> Adam
    the generator's loss on generated images -> Adam, the critic frozen

* The generator step reuses the last critic step's generated batch (the same z and the same
  forward pass), as the authors' code does; ``reuse_fakes=False`` draws a new batch for it.
* The GAN trains with one discriminator step per generator step and a BatchNorm discriminator
  (``model.GAN_TRAINING``), WGAN-GP with ``n_critic`` (5) and no BatchNorm in the critic.
* The star-shaped model (Section 4.2) has one critic per class, all updated in the same step on
  B real cells of their own class and the K (red, green_k) pairs of one generated batch; the
  generator's gradient is the mean (the authors' code) or the sum ("accumulated", Section 4.2)
  over the classes, ``config.class_reduction``.

What the Trainer sees: one ``step`` is one whole generator iteration, its critic steps included,
and the loader's item holds that iteration's ``n_critic`` real batches
(:class:`.data.IterationBatches`), so a checkpoint never splits an iteration. An "epoch" is a
fixed number of generator iterations (``iterations_per_epoch``); the run's length is
``config.iterations``. The real batches and their flips come from one registered generator, the
latent noise and the penalty's interpolation weights from another, so a run interrupted and
resumed ends, on a CPU, with the very weights of an uninterrupted one. Raising
``config.iterations`` continues a finished run from its checkpoint.

Records: every iteration's terms (critic loss, Wasserstein estimate, gradient penalty, generator
loss; means over the iteration's critic steps) in :attr:`GanRun.history`, the Trainer's epoch
means in :attr:`GanRun.epoch_history`. Generator snapshots at chosen iterations (``snapshots``;
the checkpoints the paper scores along training, Fig. 3) are state dicts saved next to the run's
checkpoint. :func:`sample` draws images in evaluation mode (BatchNorm's running statistics), as
the authors' code samples for its figures and evaluations; ``train_mode_batch_norm=True`` uses
each batch's statistics instead, as during training.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from ...runtime import configure_threads
from ...train import Trainer, read_checkpoint, run_checkpoint_path, write_checkpoint
from ...train.checkpoint import normalise_config
from ...train.parallel import run_in_processes
from .data import BioGanData, IterationBatches
from .losses import (
    gan_discriminator_loss,
    gan_generator_loss,
    wgan_generator_loss,
    wgan_gp_critic_loss,
)
from .model import (
    BioGanConfig,
    build_critic,
    build_generator,
    class_pairs,
    make_optimizers,
    sample_latent,
)

SUMMARY = ("train_critic_loss", "train_wasserstein", "train_gradient_penalty",
           "train_generator_loss")
SAMPLE_BATCH = 256   # generated images per forward pass in evaluation mode


@dataclass(frozen=True)
class GanTrainSettings:
    """How to run the training the config describes (its n_critic, lr, batch and iterations).

    ``class_balanced``: batches of B cells of every class, (K, B, C, H, W). None: for the star
    model only, whose K critics need them; True for another model gives it K * B cells a batch,
    B of each class. ``snapshots``: generator iterations after which the generator's weights are
    kept (0: the untrained generator). ``checkpoint_every``: iterations between checkpoints
    within an epoch (one is always written at an epoch's end).
    """

    iterations_per_epoch: int = 500
    reuse_fakes: bool = True                 # the authors' code; False: a new batch for G
    flips: bool = True                       # random H and V flips of real cells
    class_balanced: bool | None = None
    snapshots: tuple[int, ...] = ()
    checkpoint_every: int | None = None

    def run_key(self) -> dict:
        """What a checkpoint must agree with: not snapshots nor how often it is written."""
        return dict(iterations_per_epoch=self.iterations_per_epoch, reuse_fakes=self.reuse_fakes,
                    flips=self.flips, class_balanced=self.class_balanced)


def uses_class_batches(config: BioGanConfig, settings: GanTrainSettings) -> bool:
    """Whether the run trains on class-balanced batches (the star model always does)."""
    if config.generator_kind == "star":
        if settings.class_balanced is False:
            raise ValueError("the star model's K critics each need cells of their own class: "
                             "leave class_balanced at None (or True)")
        return True
    return bool(settings.class_balanced)


def epochs_of(config: BioGanConfig, settings: GanTrainSettings) -> int:
    """config.iterations as whole epochs of ``iterations_per_epoch`` generator iterations."""
    if settings.iterations_per_epoch < 1 or config.iterations % settings.iterations_per_epoch:
        raise ValueError(f"config.iterations = {config.iterations} must be a whole number of "
                         f"epochs of iterations_per_epoch = {settings.iterations_per_epoch}; "
                         "change one of them")
    return config.iterations // settings.iterations_per_epoch


# ---------------------------------------------------------------------- the per-iteration log

class IterationHistory:
    """One row per generator iteration; saved in the Trainer's checkpoint (registered among its
    schedulers, which take anything with a state dict), so it resumes with the run."""

    def __init__(self):
        self.columns: dict[str, list[float]] = {}

    def __len__(self) -> int:
        return len(self.columns.get("iteration", []))

    def append(self, iteration: int, terms: dict[str, float]) -> None:
        rows = len(self)
        for name in ("iteration", *terms):
            self.columns.setdefault(name, [math.nan] * rows)
        for name, values in self.columns.items():
            values.append(float(iteration if name == "iteration" else terms.get(name, math.nan)))

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.columns)
        if frame.empty:
            return pd.DataFrame(index=pd.RangeIndex(0, name="iteration"))
        return frame.astype({"iteration": int}).set_index("iteration")

    def state_dict(self) -> dict:
        return {name: torch.tensor(values, dtype=torch.float64)
                for name, values in self.columns.items()}

    def load_state_dict(self, state: dict) -> None:
        self.columns = {name: values.tolist() for name, values in state.items()}


# ------------------------------------------------------------------------------ one iteration

@contextmanager
def frozen(network: nn.Module):
    """The network's parameters without gradients for a while: the generator's step leaves the
    critic's gradients alone (and skips computing them)."""
    flags = [p.requires_grad for p in network.parameters()]
    for p in network.parameters():
        p.requires_grad_(False)
    try:
        yield network
    finally:
        for p, flag in zip(network.parameters(), flags):
            p.requires_grad_(flag)


class AdversarialIteration:
    """One generator iteration of WGAN-GP or the GAN: ``self(real)`` -> its terms.

    ``real``: the iteration's real batches, (n_critic, B, C, H, W) or, class-balanced,
    (n_critic, K, B, C, H, W). The star model's generated batch becomes (K, B, 2, H, W) pairs
    (:func:`.model.class_pairs`); another model given class-balanced cells sees K * B of them.
    """

    def __init__(self, config: BioGanConfig, generator: nn.Module, critic: nn.Module,
                 optimizers: dict, noise: torch.Generator, *, reuse_fakes: bool = True,
                 class_names: Sequence[str] = ()):
        self.config, self.generator, self.critic = config, generator, critic
        self.optimizers, self.noise, self.reuse_fakes = optimizers, noise, reuse_fakes
        self.class_names = list(class_names)
        self.wgan = config.critic_kind == "wgan_gp"
        self.star = config.generator_kind == "star"

    def __call__(self, real: torch.Tensor) -> dict[str, float]:
        terms, fake = [], None
        for step, real_batch in enumerate(real):
            real_batch = self._as_critic_input(real_batch)
            keep_graph = self.reuse_fakes and step == len(real) - 1
            fake = self.generated(self._batch_size(real_batch), keep_graph=keep_graph)
            terms.append(self.critic_step(real_batch, fake))
        if not self.reuse_fakes:
            fake = self.generated(self._batch_size(self._as_critic_input(real[0])),
                                  keep_graph=True)
        generator_loss = self.generator_step(fake)
        return self._numbers(terms, generator_loss)

    def _as_critic_input(self, real_batch: torch.Tensor) -> torch.Tensor:
        if not self.star and real_batch.dim() == 5:     # class-balanced cells, one critic
            return real_batch.flatten(0, 1)
        return real_batch

    @staticmethod
    def _batch_size(critic_input: torch.Tensor) -> int:
        """B of (B, C, H, W) or of the star's (K, B, 2, H, W)."""
        return critic_input.shape[-4]

    def generated(self, n: int, *, keep_graph: bool) -> torch.Tensor:
        """n generated images as the critic takes them; with the generator's graph when the
        generator's step will use them."""
        device = next(self.generator.parameters()).device
        latent = sample_latent(self.config, n, self.noise, device=device)
        with torch.set_grad_enabled(keep_graph):
            images = self.generator(**latent)
        return class_pairs(images) if self.star else images

    def critic_step(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        if self.wgan:
            result = wgan_gp_critic_loss(self.critic, real, fake, gp_weight=c.gp_weight,
                                         generator=self.noise,
                                         class_reduction=c.class_reduction)
            loss = result.loss
            terms = {"critic_loss": loss.detach(), "wasserstein": result.wasserstein,
                     "gradient_penalty": result.gradient_penalty}
        else:
            loss = gan_discriminator_loss(self.critic, real, fake,
                                          class_reduction=c.class_reduction)
            terms = {"critic_loss": loss.detach()}
        optimizer = self.optimizers["critic"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return terms

    def generator_step(self, fake: torch.Tensor) -> torch.Tensor:
        loss_of = wgan_generator_loss if self.wgan else gan_generator_loss
        optimizer = self.optimizers["generator"]
        with frozen(self.critic):
            loss = loss_of(self.critic, fake, class_reduction=self.config.class_reduction)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        optimizer.step()
        return loss.detach()

    def _numbers(self, critic_terms: list[dict], generator_loss: torch.Tensor) -> dict:
        """Means over the critic steps (and, for K critics, over the classes), plus each class's
        Wasserstein estimate for the star model; one transfer to the CPU."""
        means = {name: torch.stack([t[name] for t in critic_terms]).float().mean(0)
                 for name in critic_terms[0]}
        values = {name: value.mean() for name, value in means.items()}
        values["generator_loss"] = generator_loss.float()
        if self.star and self.wgan:
            for name, value in zip(self.class_names, means["wasserstein"]):
                values[f"wasserstein_{name}"] = value
        numbers = torch.stack(list(values.values())).tolist()
        return dict(zip(values, numbers))


# ---------------------------------------------------------------------------------- snapshots

class GeneratorSnapshots:
    """The generator's weights after chosen iterations: files next to the run's checkpoint, or
    state dicts in memory when the run has no checkpoint."""

    def __init__(self, iterations: Sequence[int], checkpoint_path: Path | None,
                 generator: nn.Module, config: BioGanConfig):
        if any(int(i) < 0 for i in iterations):
            raise ValueError(f"snapshot iterations must be >= 0, got {sorted(iterations)}")
        self.iterations = sorted({int(i) for i in iterations})
        self.checkpoint_path, self.generator, self.config = checkpoint_path, generator, config
        self.kept: dict[int, Path | dict] = {}
        for iteration in self.iterations:
            path = self.path(iteration)
            if path is not None and path.exists():
                self.kept[iteration] = path

    def path(self, iteration: int) -> Path | None:
        if self.checkpoint_path is None:
            return None
        stem = self.checkpoint_path.stem
        return self.checkpoint_path.with_name(f"{stem}-generator-{iteration:07d}.pt")

    def after(self, iteration: int) -> None:
        """Keep the generator's weights if ``iteration`` is one of the chosen ones."""
        if iteration not in self.iterations or iteration in self.kept:
            return
        weights = {name: value.detach().cpu().clone()
                   for name, value in self.generator.state_dict().items()}
        path = self.path(iteration)
        if path is None:
            self.kept[iteration] = weights
            return
        write_checkpoint({"iteration": iteration, "model": model_key(self.config),
                          "generator": weights}, path)
        self.kept[iteration] = path


def model_key(config: BioGanConfig) -> dict:
    """The config as a run's checkpoint and snapshots record it: all but ``iterations``, which
    may grow to continue a run."""
    return normalise_config({k: v for k, v in config.as_dict().items() if k != "iterations"})


def load_snapshot(config: BioGanConfig, snapshot: Path | str | dict, *,
                  device="cpu") -> nn.Module:
    """A generator (evaluation mode) with a snapshot's weights: a file or a state dict."""
    if isinstance(snapshot, (str, Path)):
        state = read_checkpoint(snapshot)
        if state["model"] != model_key(config):
            raise ValueError(f"{snapshot} holds a generator of another config; pass the config "
                             "of the run that saved it")
        snapshot = state["generator"]
    generator = build_generator(config)
    generator.load_state_dict(snapshot)
    return generator.to(device).eval()


# ------------------------------------------------------------------------------- the training

@dataclass
class GanRun:
    """A trained (or reloaded) run: the networks in evaluation mode, the per-iteration and
    per-epoch records, the snapshots ``{iteration: path or state dict}`` and the trainer."""

    config: BioGanConfig
    generator: nn.Module
    critic: nn.Module
    history: pd.DataFrame          # one row per generator iteration
    epoch_history: pd.DataFrame    # the Trainer's: epoch means, learning rates, seconds
    snapshots: dict
    trainer: Trainer
    checkpoint_path: Path | None

    def snapshot(self, iteration: int, *, device="cpu") -> nn.Module:
        """The generator as it was after ``iteration`` (evaluation mode)."""
        if iteration not in self.snapshots:
            raise KeyError(f"no snapshot at iteration {iteration}; kept: {sorted(self.snapshots)}"
                           " (choose them with GanTrainSettings(snapshots=...))")
        return load_snapshot(self.config, self.snapshots[iteration], device=device)


def run_name(config: BioGanConfig) -> str:
    """The default checkpoint name: ``biogans-<generator>-<critic>``."""
    return f"biogans-{config.generator_kind}-{config.critic_kind}"


def train_gan(config: BioGanConfig, data: BioGanData,
              settings: GanTrainSettings = GanTrainSettings(), *, seed: int = 0,
              device: str | torch.device = "cpu", checkpoint_dir=None, name: str | None = None,
              threads: int | None = None, verbose: bool = True) -> GanRun:
    """Train (or resume, or reload) the config's generator against its critic(s) on ``data``'s
    training cells, for ``config.iterations`` generator iterations.

    With ``checkpoint_dir`` the run lives in ``<checkpoint_dir>/<name>-<key>.pt``, the key a
    hash of the config (but its ``iterations``), the settings that change the computation, the
    seed, the data's fingerprint and class names; snapshots lie beside it. ``threads`` sets
    torch's threads (None: as the chapter's setup made them).
    """
    _check_fits(config, data)
    if threads is not None:
        configure_threads(threads)
    class_balanced = uses_class_batches(config, settings)
    epochs = epochs_of(config, settings)
    torch.manual_seed(seed)     # the same initial weights, whether or not a checkpoint exists
    generator, critic = build_generator(config).to(device), build_critic(config).to(device)
    optimizers = make_optimizers(generator, critic, config)
    batches = torch.Generator().manual_seed(seed)
    noise = torch.Generator(device=device).manual_seed(seed + 1)
    loader = IterationBatches(data, iterations=settings.iterations_per_epoch,
                              n_critic=config.n_critic, batch_size=config.batch_size,
                              class_balanced=class_balanced, generator=batches,
                              flips=settings.flips, images=data.images.to(device))
    run = {"model": model_key(config), "training": settings.run_key(), "seed": seed,
           "data": data.fingerprint(), "classes": list(data.class_names)}
    path = None if checkpoint_dir is None else run_checkpoint_path(
        checkpoint_dir, name or run_name(config), run)
    log = IterationHistory()
    trainer = Trainer({"generator": generator, "critic": critic}, optimizers,
                      schedulers={"iteration_history": log},
                      generators={"batches": batches, "noise": noise}, checkpoint_path=path,
                      checkpoint_every=settings.checkpoint_every, config=run, seed=seed,
                      verbose=verbose)
    snapshots = GeneratorSnapshots(settings.snapshots, path, generator, config)
    snapshots.after(0)
    iteration = AdversarialIteration(config, generator, critic, optimizers, noise,
                                     reuse_fakes=settings.reuse_fakes,
                                     class_names=data.class_names)

    def step(real: torch.Tensor) -> dict[str, float]:
        terms = iteration(real)
        done = trainer.global_step + 1
        log.append(done, terms)
        snapshots.after(done)
        return terms

    epoch_history = trainer.fit(step, loader, epochs=epochs, summary=SUMMARY)
    return GanRun(config, generator, critic, log.frame(), epoch_history, dict(snapshots.kept),
                  trainer, path)


def train_gans(jobs: Mapping[str, tuple[BioGanConfig, BioGanData, GanTrainSettings]], *,
               processes: int = 1, seed: int = 0, device: str | torch.device = "cpu",
               checkpoint_dir=None, verbose: bool = True) -> dict[str, GanRun]:
    """Train several models, ``{name: (config, data, settings)}``, and return their runs in the
    jobs' order, each as :func:`train_gan` returns it.

    With ``processes`` > 1 the models first train side by side in worker processes
    (:func:`cellnb.train.parallel.run_in_processes`; put the longest first), each writing its
    checkpoint and snapshots to ``checkpoint_dir``; every run is then loaded here from its
    finished checkpoint, with the same weights a sequential run gives on a CPU. Runs already
    finished in ``checkpoint_dir`` are not retrained either way. One GPU: keep ``processes`` 1.
    """
    if processes > 1 and len(jobs) > 1:
        if checkpoint_dir is None:
            raise ValueError("models trained in worker processes come back through their "
                             "checkpoints: give checkpoint_dir, or processes=1")
        run_in_processes(_train_to_checkpoint, [
            dict(config=config, data=data, settings=settings, seed=seed, device=device,
                 checkpoint_dir=checkpoint_dir) for config, data, settings in jobs.values()],
            processes=processes)
    return {name: train_gan(config, data, settings, seed=seed, device=device,
                            checkpoint_dir=checkpoint_dir, verbose=verbose)
            for name, (config, data, settings) in jobs.items()}


def _train_to_checkpoint(**job) -> None:
    """A worker's job: train to the end, leaving the checkpoint and snapshots on disk."""
    train_gan(**job, verbose=False)


def _check_fits(config: BioGanConfig, data: BioGanData) -> None:
    if tuple(config.image_size) != data.image_size:
        raise ValueError(f"the data are {data.image_size} images but the model makes "
                         f"{tuple(config.image_size)}; use preset(..., image_size="
                         f"{data.image_size})")
    if config.generator_kind == "star":
        if data.n_channels != 2:
            raise ValueError(f"the star model trains on (red, green) cells, got "
                             f"{data.n_channels} channels")
        if config.n_classes != data.n_classes:
            raise ValueError(f"the star model has {config.n_classes} green towers but the data "
                             f"have {data.n_classes} classes {data.class_names}; use "
                             f"preset(..., n_classes={data.n_classes})")
    elif data.n_channels != config.image_channels:
        raise ValueError(f"the model makes {config.image_channels}-channel images but the data "
                         f"have {data.n_channels} channels; a multi-channel model trains on "
                         "composite images of red + K greens (Section 4.2)")


# ---------------------------------------------------------------------------------- sampling

def sample(generator: nn.Module, config: BioGanConfig, n: int, seed: int = 0, *,
           train_mode_batch_norm: bool = False, batch_size: int | None = None,
           return_latent: bool = False):
    """n generated images (n, C, H, W) on the CPU, C = K + 1 (red, then the greens) for the star
    model; drawn from z ~ N(0, I) of a CPU generator seeded with ``seed``, so the same seed gives
    the same z on any device.

    Evaluation mode by default: BatchNorm uses its running statistics, as the authors' code
    samples. ``train_mode_batch_norm``: each batch of ``batch_size`` (default the config's)
    normalises with its own statistics, as in training; a copy of the generator runs, so its
    running statistics are not touched. ``return_latent``: also the latent dict, on the CPU.
    """
    device = next(generator.parameters()).device
    latent = sample_latent(config, n, torch.Generator().manual_seed(seed))
    if train_mode_batch_norm:
        network, size = copy.deepcopy(generator).train(), batch_size or config.batch_size
    else:
        network, size = generator, batch_size or SAMPLE_BATCH
    was_training = generator.training
    if not train_mode_batch_norm:
        generator.eval()
    try:
        with torch.no_grad():
            images = torch.cat([
                network(**{key: value[start:start + size].to(device)
                           for key, value in latent.items()}).cpu()
                for start in range(0, n, size)])
    finally:
        generator.train(was_training)
    return (images, latent) if return_latent else images
