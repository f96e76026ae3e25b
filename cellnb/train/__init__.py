"""Training utilities every chapter shares: a loop around the user's step that resumes exactly.

Design, in a few lines:

* The loop knows no model and no loss. ``step(batch) -> {term: number}`` is the user's (forward,
  backward and optimiser steps of one network or of a GAN's several); :class:`Trainer` runs it over
  epochs, validates, keeps a per-epoch :class:`History` and writes checkpoints.
* Between epochs, one monitored value (``"val_loss"``) drives :class:`ReduceLROnPlateau` (all
  optimisers, all parameter groups), :class:`EarlyStopping` and :class:`BestWeights`, whose
  counters restart on every improvement; patience counts as in torch (Keras patience 4 == 3 here).
* A checkpoint (one atomic file, loadable with ``weights_only=True``) holds the weights,
  optimisers, schedulers, callback counters, history, config and every random generator's state;
  mid-epoch it also holds the generators at the epoch's start, so a resume replays the loader's
  order and skips the batches already trained (resume.py). On the CPU, a run killed and resumed
  ends with the bit-identical weights of an uninterrupted one. ``fit`` resumes by itself:
  re-running a notebook after a lost Colab runtime continues training, and a finished run is not
  retrained.
* :func:`precision_context`, :func:`grad_scaler` and :func:`maybe_compile` give GPU speed-ups that
  become no-ops on a CPU.

Example::

    trainer = Trainer(models={"vqvae": model}, optimizers={"adam": optimizer},
                      checkpoint_path=data_dir / "cytoself.pt", config=config, seed=0)
    history = trainer.fit(step, train_loader, epochs=100, validate=validate, monitor="val_loss",
                          lr_patience=3, stop_patience=11)
    plot_history(history, best_epoch=trainer.best_epoch)
"""
from .callbacks import BestWeights, EarlyStopping, PlateauCounter, ReduceLROnPlateau
from .checkpoint import (
    ConfigMismatchError,
    CorruptCheckpointError,
    read_checkpoint,
    run_checkpoint_path,
    write_checkpoint,
)
from .history import History, plot_history
from .loop import Trainer
from .metrics import mean_over_batches
from .precision import PRECISIONS, grad_scaler, maybe_compile, precision_context, uncompiled
from .rng import capture_rng, restore_rng

__all__ = [
    "Trainer", "History", "plot_history", "mean_over_batches",
    "PlateauCounter", "ReduceLROnPlateau", "EarlyStopping", "BestWeights",
    "read_checkpoint", "write_checkpoint", "run_checkpoint_path",
    "ConfigMismatchError", "CorruptCheckpointError",
    "PRECISIONS", "precision_context", "grad_scaler", "maybe_compile", "uncompiled",
    "capture_rng", "restore_rng",
]
