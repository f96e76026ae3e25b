"""Training paired cell inpainting on an :class:`InpaintingData`, and the paper's two baselines.

Lu, Kraus, Cooper & Moses, PLoS Comput Biol 2019, Methods, "Paired cell inpainting" and
"Datasets, preprocessing, and training": pixel-wise MSE between the predicted and the true target
protein, Adam at 1e-4 (beta1 = 0.5, the authors' code), every cell the source once per epoch with
a partner drawn from its own image, independent random flips of source and target.

Two variants share everything but the pairs:

* ``self_pairs=True``: every cell is paired with itself (target = source), flips still drawn
  independently, so the task keeps its form but loses what pairing adds.
* ``autoencoder=True``: the paper's autoencoder baseline (Results, Fig 2A: "an autoencoder ...
  trained on the same dataset ..., using our source cell encoder and decoder architecture"). The
  paper does not say what reaches the decoder besides the source encoding; here the target-marker
  encoder is kept and fed the source's own markers, with one flip per cell shared by input and
  target, so the network reconstructs exactly what it sees and the source encoder is the same
  module in all three runs.

Randomness: the pairs come from one registered generator, the flips from another, validation from
a fixed seeded set of pairs with no flips, so validating leaves the training draws alone and a run
killed and resumed ends bit for bit where an uninterrupted one does (on a CPU).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd
import torch

from ...train import (
    Trainer,
    grad_scaler,
    maybe_compile,
    mean_over_batches,
    precision_context,
    run_checkpoint_path,
)
from .data import InpaintingData
from .model import InpaintingConfig, PairedInpainting, inpainting_loss, make_optimizer
from .pairs import PAIR_FLIP_PROBABILITY, PairDataset, PairSampler

SUMMARY = ("train_loss", "val_loss")
VALIDATION_SEED = 12345   # the fixed validation pairs; independent of the run's seed


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 30                  # paper
    batch_size: int = 64              # authors' yeast code
    learning_rate: float = 1e-4       # paper; 1e-3 for the few-epoch CPU runs
    precision: str = "fp32"           # bf16 / fp16 on a GPU; fp16 adds loss scaling
    compile: bool = False             # torch.compile on a GPU (ignored on a CPU)
    flip: bool = True                 # random horizontal and vertical flips (paper)


class PairBatches:
    """One epoch of ``(B, 2)`` (source, target) position batches from a :class:`PairSampler`.

    All of an epoch's pairs are drawn when iteration starts, which is what lets the Trainer replay
    an interrupted epoch. ``self_pairs`` turns every pair into (source, source).
    """

    def __init__(self, sampler: PairSampler, batch_size: int, self_pairs: bool = False):
        self.sampler, self.batch_size, self.self_pairs = sampler, batch_size, self_pairs

    def __len__(self) -> int:
        return -(-len(self.sampler) // self.batch_size)

    def __iter__(self):
        pairs = self.sampler.epoch_pairs()
        if self.self_pairs:
            pairs = pairs[:, :1].expand(-1, 2)
        return iter(pairs.split(self.batch_size))


def train_inpainting(config: InpaintingConfig, data: InpaintingData, settings: TrainSettings, *,
                     seed: int = 0, device: str = "cpu", checkpoint_dir=None,
                     name: str = "paired_inpainting", self_pairs: bool = False,
                     autoencoder: bool = False,
                     verbose: bool = True) -> tuple[PairedInpainting, pd.DataFrame, Trainer]:
    """Train (or resume, or reload a finished run); return the model, its history and the trainer.

    The model keeps its best-validation weights. With ``checkpoint_dir`` the run lives in
    ``<checkpoint_dir>/<name>-<key>.pt``, the key a hash of the model config, the settings but
    ``epochs`` and ``compile``, the seed, the data's fingerprint and the variant: the same call
    resumes, anything else starts a fresh file beside it.
    """
    if self_pairs and autoencoder:
        raise ValueError("choose one baseline: self_pairs=True (target = source, independent "
                         "flips) or autoencoder=True (reconstruct the input), not both")
    _check_fits(config, data)
    variant = "autoencoder" if autoencoder else "self_pairs" if self_pairs else "paired"
    torch.manual_seed(seed)   # the same initial weights whether or not a checkpoint exists
    model = PairedInpainting(config).to(device)
    optimizer = make_optimizer(model, lr=settings.learning_rate)
    scaler = grad_scaler(device, settings.precision)
    network = maybe_compile(model, settings.compile)

    pair_generator = torch.Generator().manual_seed(seed)
    flip_generator = torch.Generator().manual_seed(seed + 1)
    # Flips are drawn here for the paired and self-pair runs (independently for source and
    # target); the autoencoder draws one flip per cell itself, so PairDataset's are off.
    dataset = PairDataset(data.crops, data.channels, generator=flip_generator,
                          flip=settings.flip and not autoencoder)
    sampler = PairSampler(data.image_ids, generator=pair_generator, positions=data.parts["train"])
    loader = PairBatches(sampler, settings.batch_size, self_pairs=self_pairs or autoencoder)

    def inputs(pairs):
        source, target_marker, target_protein = dataset.batch(pairs)
        if autoencoder:
            if settings.flip:
                source = _flip_together(source, flip_generator)
            target_marker, target_protein = source[:, 1:], source[:, :1]
        return source.to(device), target_marker.to(device), target_protein.to(device)

    def loss_of(pairs):
        source, target_marker, target_protein = inputs(pairs)
        with precision_context(device, settings.precision):
            prediction = network(source, target_marker)
        return inpainting_loss(prediction, target_protein)

    def step(pairs):
        loss = loss_of(pairs)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)     # skips the step if fp16 gradients overflowed
        scaler.update()
        return {"loss": float(loss.detach())}

    validation = _validation_batches(data, settings.batch_size, self_pairs or autoencoder)
    plain = PairDataset(data.crops, data.channels, flip=False)

    def validate():
        def numbers(pairs):
            source, target_marker, target_protein = plain.batch(pairs)
            if autoencoder:
                target_marker, target_protein = source[:, 1:], source[:, :1]
            with precision_context(device, settings.precision):
                prediction = network(source.to(device), target_marker.to(device))
            return {"loss": float(inpainting_loss(prediction, target_protein.to(device)))}
        return mean_over_batches(numbers, validation)

    run = {"model": config.as_dict(), "training": _plain(settings), "seed": seed,
           "variant": variant, "channels": list(data.channels), "data": data.fingerprint()}
    trainer = Trainer({"inpainting": model}, {"adam": optimizer},
                      schedulers={"grad_scaler": scaler} if scaler.is_enabled() else None,
                      generators={"pairs": pair_generator, "flips": flip_generator},
                      checkpoint_path=(None if checkpoint_dir is None
                                       else run_checkpoint_path(checkpoint_dir, name, run)),
                      config=run, seed=seed, verbose=verbose)
    history = trainer.fit(step, loader, epochs=settings.epochs,
                          validate=validate if validation else None,
                          monitor="val_loss" if validation else None, summary=SUMMARY)
    return model, history, trainer


def _validation_batches(data: InpaintingData, batch_size: int, self_pairs: bool) -> list:
    """Fixed (source, target) pairs over the val part, from their own seeded generator."""
    val = data.parts.get("val")
    if val is None or len(val) == 0:
        return []
    sampler = PairSampler(data.image_ids, positions=val,
                          generator=torch.Generator().manual_seed(VALIDATION_SEED))
    if len(sampler) == 0:
        return []
    pairs = sampler.epoch_pairs()
    if self_pairs:
        pairs = pairs[:, :1].expand(-1, 2)
    return list(pairs.split(batch_size))


def _flip_together(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each cell flipped horizontally and vertically with p = 0.5, all its channels together."""
    flips = torch.rand(2, len(x), generator=generator) < PAIR_FLIP_PROBABILITY
    x = torch.where(flips[0].view(-1, 1, 1, 1), x.flip(-1), x)
    return torch.where(flips[1].view(-1, 1, 1, 1), x.flip(-2), x)


def _check_fits(config: InpaintingConfig, data: InpaintingData) -> None:
    size, markers = data.crops.shape[-1], len(data.markers)
    if config.crop_size != size or config.source_channels != 1 + markers \
            or config.target_marker_channels != markers:
        raise ValueError(f"the data have {size}-px crops with channels {data.channels} (protein "
                         f"+ {markers} markers) but the model expects crop_size="
                         f"{config.crop_size}, source_channels={config.source_channels}, "
                         f"target_marker_channels={config.target_marker_channels}; use "
                         f"preset(..., crop_size={size}, source_channels={1 + markers}, "
                         f"target_marker_channels={markers})")


def _plain(settings: TrainSettings) -> dict:
    """The settings a checkpoint must agree with: not ``epochs`` (raising it continues a run) and
    not ``compile`` (the same computation, compiled or not)."""
    values = asdict(settings)
    del values["epochs"], values["compile"]
    return values
