"""Training the Integrated Cell's two stages through the shared Trainer.

Stage 1 trains the reference model on membrane + DNA (2D paper, Algorithm 1); the frozen
z^r = Enc^r(x^r) of every cell is then computed once in eval mode; stage 2 trains the conditional
model on all three channels with those z^r as regression targets (Algorithm 2). One ``step`` is
one iteration of the Algorithms, in their order:

1. a forward pass of the autoencoder on the batch: z = Enc(x), x_hat = Dec(z), and, from one
   draw z~ of the prior, the generated images (Dec(z~^r) in stage 1; Dec(z_hat^r, y_hat, z~^s) in
   stage 2, Algorithm 2's "Dec(Z_hat^r, Y_hat, Z~^s)", or with ``config.generation = "random"``
   the 3D paper's code's Dec(permuted one-hot y, z~^r, z~^s), labelled with the permuted y);
2. EncD's update: z~ against z (eq. 5 / eq. 11: binary, or K + 1 classes in the 3D mode);
3. DecD's update: real images against generated ones (2D, Algorithms 1-2) or against
   reconstructed and generated ones (3D, ``config.decd_on_reconstructions``);
4. the encoder's and decoder's updates, with EncD's signal routed to the encoder only and DecD's
   to the decoder only (Section 2.3; :func:`model.routed_backward`): eqs. 15-18.

Batches: every epoch is a fresh permutation of the training cells, the last partial batch
dropped, as the 2D paper's code does; the paper counts training in epochs (Section 3.3: 150 for
the reference model, 220 for the conditional one). Randomness: the permutations and the prior
draws come from generators registered with the Trainer and DecD's instance noise from the global
stream it saves, so a run killed and resumed ends bit for bit where an uninterrupted one does
on a CPU. The history has one column per network loss and term (Fig. S3's curves).
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import pandas as pd
import torch

from ...runtime import configure_threads
from ...train import (
    Trainer,
    grad_scaler,
    maybe_compile,
    mean_over_batches,
    precision_context,
    run_checkpoint_path,
)
from .data import IntegratedCellData
from .model import (
    ConditionalModel,
    IntegratedCellConfig,
    ReferenceModel,
    class_loss,
    decd_loss,
    decoder_adversarial_loss,
    encd_loss,
    encoder_adversarial_loss,
    encoder_objective,
    make_optimizers,
    networks,
    reconstruction_loss,
    reference_latents,
    reference_of,
    routed_backward,
    sample_prior,
    zr_regression_loss,
)

SUMMARY = ("train_reconstruction", "train_encd", "train_decd", "val_reconstruction")


@dataclass(frozen=True)
class TrainSettings:
    reference_epochs: int = 150       # 2D paper, Section 3.3
    conditional_epochs: int = 220     # 2D paper, Section 3.3
    batch_size: int = 32              # 2D paper, Section 3.3
    precision: str = "fp32"           # bf16 / fp16 on a GPU; fp16 adds loss scaling
    compile: bool = False             # torch.compile the four networks on a GPU


class CellBatches:
    """One epoch of training positions: a fresh permutation, split into full batches."""

    def __init__(self, positions, batch_size: int, generator: torch.Generator):
        self.positions = torch.as_tensor(positions, dtype=torch.long)
        self.batch_size, self.generator = batch_size, generator
        if len(self.positions) < batch_size:
            raise ValueError(f"{len(self.positions)} training cells cannot fill one batch of "
                             f"{batch_size}; use a smaller batch_size or more cells")

    def __len__(self) -> int:
        return len(self.positions) // self.batch_size

    def __iter__(self):
        order = self.positions[torch.randperm(len(self.positions), generator=self.generator)]
        return iter(order[:len(self) * self.batch_size].split(self.batch_size))


class _Updates:
    """The four optimisers and the loss scaler: zero, backward and step by network name."""

    def __init__(self, optimizers: dict, scaler: torch.amp.GradScaler):
        self.optimizers, self.scaler = optimizers, scaler

    def discriminator(self, name: str, loss: torch.Tensor) -> None:
        """A discriminator's loss detaches its inputs, so a plain backward reaches it alone."""
        self.optimizers[name].zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizers[name])

    def autoencoder(self, nets: dict, encoder_loss: torch.Tensor,
                    decoder_adversarial: torch.Tensor, gamma_dec: float) -> None:
        """Eqs. 15-18 routed: L_x + L_y + L_zr + gamma_E L_EncD into (Enc, Dec), which equals
        the encoder's objective for Enc and adds L_x to Dec (the other terms do not depend on
        it), and gamma_D L_DecD into Dec alone."""
        for name in ("encoder", "decoder"):
            self.optimizers[name].zero_grad(set_to_none=True)
        routed_backward((self.scaler.scale(encoder_loss), [nets["encoder"], nets["decoder"]]),
                        (self.scaler.scale(gamma_dec * decoder_adversarial), nets["decoder"]))
        for name in ("encoder", "decoder"):
            self.scaler.step(self.optimizers[name])
        self.scaler.update()


def _compiled(model, enabled: bool) -> dict:
    return {name: maybe_compile(net, enabled) for name, net in networks(model).items()}


def _offset_output(model, train_images: torch.Tensor) -> None:
    """Start the decoder at the training images' mean intensity per channel when the config
    asks for it (``output_offset``; :meth:`.model.Decoder.set_output_offset`)."""
    if model.config.output_offset:
        dims = [0] + list(range(2, train_images.ndim))
        model.decoder.set_output_offset(train_images.float().mean(dims))


def _stage(model_class, config: IntegratedCellConfig, train_images: torch.Tensor,
           settings: TrainSettings, seed: int, device):
    """What each stage starts from: the seeded model (the same initial weights whether or not
    a checkpoint exists) with its output offset, its (compiled) networks, optimisers, scaler and
    updates, and the generators of the batches and of the prior draws."""
    torch.manual_seed(seed)
    model = model_class(config)
    _offset_output(model, train_images)
    model = model.to(device)
    nets, optimizers = _compiled(model, settings.compile), make_optimizers(model)
    scaler = grad_scaler(device, settings.precision)
    batches = torch.Generator().manual_seed(seed)
    noise = torch.Generator(device=device).manual_seed(seed + 1)
    return model, nets, optimizers, scaler, _Updates(optimizers, scaler), batches, noise


def _numbers(**terms) -> dict[str, float]:
    return {name: float(value.detach()) for name, value in terms.items()}


# ------------------------------------------------------------------------ stage 1: reference

def reference_step(model: ReferenceModel, nets: dict, updates: _Updates, x: torch.Tensor,
                   noise: torch.Generator, *, device, precision: str) -> dict[str, float]:
    """One iteration of the 2D paper's Algorithm 1 on reference images ``x`` (B, 2, ...)."""
    c = model.config
    with precision_context(device, precision):
        z = nets["encoder"](x)["z"]
        reconstruction = nets["decoder"](z)
        z_prior = sample_prior(len(x), c.latent_reference, generator=noise, device=device)
        generated = nets["decoder"](z_prior)
        fakes = [reconstruction, generated] if c.decd_on_reconstructions else [generated]

        encd = encd_loss(nets["encd"], z, z_prior)
        updates.discriminator("encd", encd)
        decd = decd_loss(nets["decd"], x, fakes)
        updates.discriminator("decd", decd)

        rec = reconstruction_loss(reconstruction, x)
        enc_adv = encoder_adversarial_loss(nets["encd"], z)
        dec_adv = decoder_adversarial_loss(nets["decd"], [reconstruction, generated])
    encoder = encoder_objective(rec, enc_adv, gamma_enc=c.gamma_enc)
    updates.autoencoder(nets, encoder, dec_adv, c.gamma_dec)
    return _numbers(encd=encd, decd=decd, reconstruction=rec, encoder_adversarial=enc_adv,
                    decoder_adversarial=dec_adv, encoder=encoder,
                    decoder=rec + c.gamma_dec * dec_adv)


def train_reference(config: IntegratedCellConfig, data: IntegratedCellData,
                    settings: TrainSettings, *, seed: int = 0, device: str = "cpu",
                    checkpoint_dir=None, name: str = "integrated_cell_reference",
                    checkpoint_every: int | None = None, threads: int | None = None,
                    verbose: bool = True) -> tuple[ReferenceModel, pd.DataFrame, Trainer]:
    """Stage 1 (Algorithm 1): train (or resume, or reload) the reference model of membrane + DNA.

    With ``checkpoint_dir`` the run lives in ``<checkpoint_dir>/<name>-<key>.pt``, the key a hash
    of the model config, the settings but the epochs and ``compile``, the seed and the data's
    fingerprint. ``threads`` sets torch's threads through :func:`cellnb.runtime.configure_threads`
    (None: leave them as the chapter's setup made them). Returns the model (eval mode), its
    history and the trainer.
    """
    _check_fits(config, data)
    if threads is not None:
        configure_threads(threads)
    model, nets, optimizers, scaler, updates, batches, noise = _stage(
        ReferenceModel, config, reference_of(data.images[data.parts["train"]]), settings,
        seed, device)
    images = reference_of(data.images)

    def step(positions):
        x = images[positions].to(device)
        return reference_step(model, nets, updates, x, noise, device=device,
                              precision=settings.precision)

    def validate():
        def numbers(x):
            with precision_context(device, settings.precision):
                reconstruction = nets["decoder"](nets["encoder"](x.to(device))["z"])
            return {"reconstruction": float(reconstruction_loss(reconstruction, x.to(device)))}
        return mean_over_batches(numbers, _test_batches(images, data, settings.batch_size))

    run = {"stage": "reference", "model": config.as_dict(), "training": _plain(settings),
           "seed": seed, "data": data.fingerprint()}
    return model, *_fit(model, optimizers, scaler, {"batches": batches, "noise": noise}, run,
                        step, validate if len(data.parts["test"]) else None,
                        CellBatches(data.parts["train"], settings.batch_size, batches),
                        settings.reference_epochs, checkpoint_dir, name, checkpoint_every,
                        seed, verbose)


# ---------------------------------------------------------------------- stage 2: conditional

def conditional_step(model: ConditionalModel, nets: dict, updates: _Updates, x: torch.Tensor,
                     labels: torch.Tensor, zr: torch.Tensor, noise: torch.Generator, *, device,
                     precision: str) -> dict[str, float]:
    """One iteration of the 2D paper's Algorithm 2 on cells ``x`` (B, 3, ...) of classes
    ``labels`` whose frozen reference codes are ``zr``."""
    c = model.config
    with precision_context(device, precision):
        heads = nets["encoder"](x)
        class_log_probs, zr_hat, zs = heads["class_log_probs"], heads["zr_hat"], heads["zs"]
        class_code = model.class_code(class_log_probs)
        reconstruction = nets["decoder"](torch.cat([class_code, zr_hat, zs], 1))
        zs_prior = sample_prior(len(x), c.latent_structure, generator=noise, device=device)
        if c.generation == "random":
            generated_labels = labels[torch.randperm(len(labels), generator=noise,
                                                     device=device)]
            zr_prior = sample_prior(len(x), c.latent_reference, generator=noise, device=device)
            generated = nets["decoder"](torch.cat(
                [model.one_hot_code(generated_labels), zr_prior, zs_prior], 1))
        else:
            generated_labels = labels
            generated = nets["decoder"](torch.cat([class_code, zr_hat, zs_prior], 1))
        fakes = [reconstruction, generated] if c.decd_on_reconstructions else [generated]

        encd = encd_loss(nets["encd"], zs, zs_prior, labels)
        updates.discriminator("encd", encd)
        decd = decd_loss(nets["decd"], x, fakes, labels)
        updates.discriminator("decd", decd)

        rec = reconstruction_loss(reconstruction, x)
        classification = class_loss(class_log_probs, labels)
        regression = zr_regression_loss(zr_hat, zr)
        enc_adv = encoder_adversarial_loss(nets["encd"], zs)
        dec_adv = decoder_adversarial_loss(nets["decd"], [reconstruction, generated],
                                           [labels, generated_labels])
    encoder = encoder_objective(rec, enc_adv, classification=classification,
                                reference=regression, gamma_enc=c.gamma_enc)
    updates.autoencoder(nets, encoder, dec_adv, c.gamma_dec)
    return _numbers(encd=encd, decd=decd, reconstruction=rec, class_nll=classification,
                    zr_mse=regression, encoder_adversarial=enc_adv,
                    decoder_adversarial=dec_adv, encoder=encoder,
                    decoder=rec + c.gamma_dec * dec_adv)


def train_conditional(config: IntegratedCellConfig, data: IntegratedCellData, zr: torch.Tensor,
                      settings: TrainSettings, *, seed: int = 0, device: str = "cpu",
                      checkpoint_dir=None, name: str = "integrated_cell_conditional",
                      checkpoint_every: int | None = None, threads: int | None = None,
                      verbose: bool = True) -> tuple[ConditionalModel, pd.DataFrame, Trainer]:
    """Stage 2 (Algorithm 2): the conditional model, regressing z_hat^r onto the frozen ``zr``
    (N, |z^r|), one row per cell of ``data`` (:func:`frozen_reference_latents`).

    Checkpoints as :func:`train_reference`; the key also hashes ``zr``, so another reference
    model starts another conditional run.
    """
    _check_fits(config, data)
    if zr.shape != (len(data), config.latent_reference):
        raise ValueError(f"zr must be ({len(data)}, {config.latent_reference}), one row per cell, "
                         f"got {tuple(zr.shape)}")
    if threads is not None:
        configure_threads(threads)
    zr = zr.detach().clone()
    model, nets, optimizers, scaler, updates, batches, noise = _stage(
        ConditionalModel, config, data.images[data.parts["train"]], settings, seed, device)

    def step(positions):
        x, labels = data.images[positions].to(device), data.labels[positions].to(device)
        return conditional_step(model, nets, updates, x, labels, zr[positions].to(device), noise,
                                device=device, precision=settings.precision)

    def validate():
        def numbers(positions):
            x, labels = data.images[positions].to(device), data.labels[positions].to(device)
            with precision_context(device, settings.precision):
                output = model(x)
            return {"reconstruction": float(reconstruction_loss(output.reconstruction, x)),
                    "class_nll": float(class_loss(output.class_log_probs, labels)),
                    "accuracy": float((output.class_log_probs.argmax(1) == labels).float().mean()),
                    "zr_mse": float(zr_regression_loss(output.zr_hat, zr[positions].to(device)))}
        return mean_over_batches(numbers, torch.as_tensor(data.parts["test"]).split(
            settings.batch_size))

    run = {"stage": "conditional", "model": config.as_dict(), "training": _plain(settings),
           "seed": seed, "data": data.fingerprint(), "zr": _tensor_hash(zr)}
    return model, *_fit(model, optimizers, scaler, {"batches": batches, "noise": noise}, run,
                        step, validate if len(data.parts["test"]) else None,
                        CellBatches(data.parts["train"], settings.batch_size, batches),
                        settings.conditional_epochs, checkpoint_dir, name, checkpoint_every,
                        seed, verbose)


# ------------------------------------------------------------------------- between and both

def frozen_reference_latents(model: ReferenceModel, data: IntegratedCellData, *,
                             batch_size: int = 256) -> torch.Tensor:
    """z^r = Enc^r(x^r) of every cell (train and test), in eval mode, as the stage hand-off."""
    device = next(model.parameters()).device
    images = reference_of(data.images)
    return torch.cat([reference_latents(model, chunk.to(device)).cpu()
                      for chunk in images.split(batch_size)])


@dataclass
class TwoStageRun:
    reference: ReferenceModel
    conditional: ConditionalModel
    zr: torch.Tensor
    reference_history: pd.DataFrame
    conditional_history: pd.DataFrame


def train_integrated_cell(config: IntegratedCellConfig, data: IntegratedCellData,
                          settings: TrainSettings, **options) -> TwoStageRun:
    """Both stages and the hand-off between them; ``options`` go to both trainers."""
    reference, reference_history, _ = train_reference(config, data, settings, **options)
    zr = frozen_reference_latents(reference, data)
    conditional, conditional_history, _ = train_conditional(config, data, zr, settings, **options)
    return TwoStageRun(reference, conditional, zr, reference_history, conditional_history)


# --------------------------------------------------------------------------------- helpers

def _fit(model, optimizers, scaler, generators, run, step, validate, loader, epochs,
         checkpoint_dir, name, checkpoint_every, seed, verbose):
    trainer = Trainer({"model": model}, optimizers,
                      schedulers={"grad_scaler": scaler} if scaler.is_enabled() else None,
                      generators=generators,
                      checkpoint_path=(None if checkpoint_dir is None
                                       else run_checkpoint_path(checkpoint_dir, name, run)),
                      checkpoint_every=checkpoint_every, config=run, seed=seed, verbose=verbose)
    history = trainer.fit(step, loader, epochs=epochs, validate=validate, summary=SUMMARY)
    return history, trainer


def _test_batches(images: torch.Tensor, data: IntegratedCellData, batch_size: int) -> list:
    return list(images[torch.as_tensor(data.parts["test"])].split(batch_size))


def _check_fits(config: IntegratedCellConfig, data: IntegratedCellData) -> None:
    if tuple(config.image_shape) != data.image_shape or config.n_classes != data.n_classes:
        raise ValueError(f"the data have {data.n_classes} classes of {data.image_shape} images but "
                         f"the model expects {config.n_classes} of {tuple(config.image_shape)}; "
                         f"use preset(..., image_shape={data.image_shape}, "
                         f"n_classes={data.n_classes})")


def _plain(settings: TrainSettings) -> dict:
    """The settings a checkpoint must agree with: not the epochs (raising them continues a run)
    and not ``compile`` (the same computation)."""
    values = asdict(settings)
    for key in ("reference_epochs", "conditional_epochs", "compile"):
        del values[key]
    return values


def _tensor_hash(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.float().contiguous().numpy().tobytes()).hexdigest()[:16]
