"""Several independent trainings at once, one process each: small models on a CPU with cores
to spare.

A chapter that trains a few small models one after the other leaves cores idle: a network of a
few hundred thousand parameters gains little from a second torch thread. Training them side by
side in worker processes, each with its share of the threads, finishes in about the time of the
longest one. The workers only *train*: each run writes its checkpoint (the Trainer's, which a
finished run reloads without retraining), and the caller then loads every run in its own
process as it would have after training it there, so results are identical to a sequential
run on a CPU (same seeds, same checkpoints).

Workers start with ``spawn``, not ``fork``: a forked child of a process whose OpenMP threads
have already run can hang, and a Jupyter kernel has usually run them.
"""
from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from ..runtime import configure_threads


def _run_with_threads(function: Callable, threads: int, kwargs: dict):
    configure_threads(threads)
    return function(**kwargs)


def run_in_processes(function: Callable, jobs: Sequence[dict], *, processes: int,
                     threads: int | None = None, progress: str | None = None) -> list:
    """``function(**job)`` for every job, in up to ``processes`` spawned worker processes with
    ``threads`` torch threads each (default: this process's threads shared out), and the results
    in the jobs' order. ``function`` must be importable (a module-level function), and the jobs'
    values and results picklable. With ``processes`` 1, or a single job, everything runs here,
    in order. ``progress``: a bar's label, counting finished jobs.

    Jobs are handed out in the order given: put the longest first so the others fill in beside
    it."""
    from ..progress import progress as progress_bar

    if processes < 1:
        raise ValueError(f"processes must be at least 1, got {processes}")
    with progress_bar(total=len(jobs), desc=progress or "", unit="jobs",
                      disable=progress is None) as bar:
        if processes == 1 or len(jobs) <= 1:
            results = []
            for job in jobs:
                results.append(function(**job))
                bar.update(1)
            return results
        import torch

        processes = min(processes, len(jobs))
        threads = threads or max(1, torch.get_num_threads() // processes)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(processes, mp_context=context) as pool:
            futures = [pool.submit(_run_with_threads, function, threads, job) for job in jobs]
            for future in as_completed(futures):
                future.result()
                bar.update(1)
            return [future.result() for future in futures]
