"""Resuming inside an epoch, exactly.

A checkpoint written after batch k of an epoch holds the state of every random generator at that
moment, the generators' states at the epoch's start, and k. To resume, the generators go back to
the epoch's start, so that ``iter(loader)`` draws the interrupted run's shuffled order (and, with
workers, the same worker seeds); the k trained batches are loaded again and dropped; then the
generators are set to their checkpoint states, undoing whatever that reloading drew (an
augmentation's noise, say). Every later draw (dropout, augmentation, shuffling) is then the one
the uninterrupted run made.

The price is loading k batches again, usually seconds. What it needs: every generator the run draws
from is global or registered with the Trainer (the training loader's own is registered for you),
and the loader has no ``persistent_workers``, whose workers would carry generator states from epoch
to epoch that no checkpoint sees.
"""
from __future__ import annotations

from .metrics import RunningMean
from .rng import capture_rng, restore_rng


class EpochInProgress:
    """Where the current epoch stands: batches trained, running means, seconds, and, from its start,
    the RNG states and each optimiser's learning rate (the one the history records)."""

    def __init__(self):
        self.batches = 0
        self.running = RunningMean()
        self.seconds = 0.0
        self.rng_at_start: dict | None = None
        self.learning_rates: dict[str, float] | None = None

    def start(self, loader, generators: dict, learning_rates: dict[str, float]):
        """The loader's iterator for this epoch, past the batches already trained if resumed.

        ``learning_rates`` (each optimiser's, now) become the epoch's, unless the epoch is resumed:
        a step that advances a schedule has changed them since the epoch began.
        """
        # None: resumed from a checkpoint written before they were kept; now's are the best guess.
        if self.batches == 0 or self.learning_rates is None:
            self.learning_rates = dict(learning_rates)
        if self.batches == 0:
            self.rng_at_start = capture_rng(generators)
            return iter(loader)
        at_checkpoint = capture_rng(generators)
        restore_rng(self.rng_at_start, generators)
        batches = iter(loader)
        for _ in range(self.batches):
            if next(batches, None) is None:
                raise RuntimeError(f"the checkpoint had trained {self.batches} batches of this "
                                   "epoch but the loader yields fewer; were the data or the batch "
                                   "size changed? Pass resume=False to Trainer to start afresh")
        restore_rng(at_checkpoint, generators)
        return batches

    def state_dict(self) -> dict:
        return {"batches": self.batches, "running": self.running.state_dict(),
                "seconds": self.seconds, "rng_at_start": self.rng_at_start,
                "learning_rates": self.learning_rates}

    def load_state_dict(self, state: dict) -> None:
        self.batches, self.seconds = state["batches"], state["seconds"]
        self.running.load_state_dict(state["running"])
        self.rng_at_start = state["rng_at_start"]
        self.learning_rates = state.get("learning_rates")
