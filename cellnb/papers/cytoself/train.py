"""Training cytoself on a :class:`CytoselfData`: the step, the validation and the schedule.

The paper's schedule (Methods, "Training protocol"): Adam at 4e-4, the learning rate x 0.1 after
4 epochs without improvement of the validation loss, stop after more than 12, best weights restored
(as the authors' TensorFlow code does; their PyTorch port keeps the last weights). In torch's
counting those patiences are 3 and 11. Augmentation is the full dihedral group, drawn from a
generator the checkpoint saves, so an interrupted run resumes exactly.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset

from ...data.transforms import random_dihedral_batch
from ...train import (
    Trainer,
    grad_scaler,
    maybe_compile,
    mean_over_batches,
    precision_context,
    run_checkpoint_path,
)
from .data import CytoselfData
from .model import Cytoself, CytoselfConfig, LossWeights, cytoself_loss, perplexity_of

# What the per-epoch line shows; the history keeps every term.
SUMMARY = ("train_loss", "val_loss", "val_reconstruction1", "val_fc2_accuracy", "train_perplexity2",
           "lr_adam")


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 100
    batch_size: int = 64
    learning_rate: float = 4e-4       # paper (TF default 1e-4, port README 1e-3)
    lr_patience: int = 3              # Keras 4
    stop_patience: int = 11           # Keras 12
    precision: str = "fp32"           # bf16 / fp16 on a GPU; fp16 adds loss scaling
    compile: bool = False             # torch.compile on a GPU (ignored on a CPU)
    augment: bool = True
    weights: LossWeights = LossWeights()


def train_cytoself(config: CytoselfConfig, data: CytoselfData, settings: TrainSettings, *,
                   seed: int = 0, device: str = "cpu", checkpoint_dir=None, name: str = "cytoself",
                   verbose: bool = True) -> tuple[Cytoself, pd.DataFrame, Trainer]:
    """Train (or resume, or reload a finished run) and return the model with its best weights,
    the per-epoch history and the trainer.

    With ``checkpoint_dir`` the run is checkpointed to ``<checkpoint_dir>/<name>-<key>.pt``, the
    key a hash of the model config, the training settings (but not ``epochs``), the seed and the
    data's fingerprint: re-running with the same parameters resumes, changing any of them starts
    a fresh run beside the old one.
    """
    torch.manual_seed(seed)   # the same initial weights whether or not a checkpoint exists
    model = Cytoself(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    scaler = grad_scaler(device, settings.precision)
    network = maybe_compile(model, settings.compile)
    variance = data.train_variance()
    loader_generator = torch.Generator().manual_seed(seed)
    augment_generator = torch.Generator().manual_seed(seed + 1)
    train_images, train_labels = data.part("train")
    loader = DataLoader(TensorDataset(train_images, train_labels), batch_size=settings.batch_size,
                        shuffle=True, drop_last=len(train_images) > settings.batch_size,
                        generator=loader_generator)

    def forward(images, labels, keep_codes=None):
        images, labels = images.to(device), labels.to(device)
        with precision_context(device, settings.precision):
            out = network(images)
        if keep_codes is not None and out.global_.indices is not None:
            keep_codes.append(out.global_.indices.reshape(-1).cpu())
        total, terms = cytoself_loss(out, images, labels, image_variance=variance,
                                     weights=settings.weights)
        numbers = {name: float(value.detach()) for name, value in terms.items()}
        numbers |= {"loss": float(total.detach()), "perplexity1": float(out.local.perplexity),
                    "perplexity2": float(out.global_.perplexity)}
        for name, logits in out.logits.items():
            numbers[f"{name}_accuracy"] = float((logits.argmax(1) == labels).float().mean())
        return total, numbers

    def step(batch):
        images, labels = batch
        if settings.augment:
            images = random_dihedral_batch(images, augment_generator)
        total, numbers = forward(images, labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(total).backward()
        scaler.step(optimizer)     # skips the step if fp16 gradients overflowed
        scaler.update()
        return numbers

    val_images, val_labels = data.part("val")
    val_loader = DataLoader(TensorDataset(val_images, val_labels), batch_size=256)

    def validate():
        codes = []
        numbers = mean_over_batches(lambda batch: forward(*batch, keep_codes=codes)[1], val_loader)
        if codes:
            numbers |= epoch_perplexities(torch.cat(codes), config)
        return numbers

    # The fp16 loss scale is state an exact resume needs; the other precisions have none.
    run = {"model": config.as_dict(), "training": _plain(settings), "seed": seed,
           "n_train": len(train_images), "channels": list(data.channels), "data": data.fingerprint()}
    trainer = Trainer({"cytoself": model}, {"adam": optimizer},
                      schedulers={"grad_scaler": scaler} if scaler.is_enabled() else None,
                      generators={"augmentation": augment_generator},
                      checkpoint_path=(None if checkpoint_dir is None
                                       else run_checkpoint_path(checkpoint_dir, name, run)),
                      config=run, seed=seed, verbose=verbose)
    history = trainer.fit(step, loader, epochs=settings.epochs, validate=validate,
                          monitor="val_loss", lr_patience=settings.lr_patience,
                          stop_patience=settings.stop_patience, summary=SUMMARY)
    return model, history, trainer


def epoch_perplexities(global_codes: torch.Tensor, config: CytoselfConfig) -> dict[str, float]:
    """The global codebook's perplexity over all the codes of a pass (``perplexity2_all``) and
    over as many of them as an unsplit quantiser would make (``perplexity2_unsplit_count``).

    A perplexity cannot exceed the number of vectors it is counted over, and a split quantiser
    makes ``global_splits`` times more vectors per crop, so Fig. 1c's per-batch comparison
    favours the split by construction; the second number removes that advantage. The subsample
    is drawn from its own seeded generator, so validation leaves every other random state alone.
    """
    n_codes = config.global_codes
    n_unsplit = len(global_codes) // config.global_splits
    pick = torch.randperm(len(global_codes), generator=torch.Generator().manual_seed(0))[:n_unsplit]
    return {"perplexity2_all": float(perplexity_of(global_codes, n_codes)),
            "perplexity2_unsplit_count": float(perplexity_of(global_codes[pick], n_codes))}


def _plain(settings: TrainSettings) -> dict:
    """The settings a checkpoint must agree with: not ``epochs`` (raising it continues a run) and
    not ``compile`` (the same computation, compiled or not)."""
    values = asdict(settings)
    values["weights"] = asdict(settings.weights)
    del values["epochs"], values["compile"]
    return values
