"""Rendering many simulated cells in chunks, in one process or several, into arrays filled in place.

Every cell generator of :mod:`cellnb.sim` renders cell by cell from seeded per-cell streams, so the
work splits into chunks that worker processes can share without changing a pixel. The arrays are
allocated once and filled as chunks arrive, so a large set (a volume set can take tens of GB) is
held once, not twice.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext

import numpy as np

from ..progress import progress as progress_bar


def render_cells(render_chunk: Callable, n_cells: int, image_shape: Sequence[int],
                 mask_shape: Sequence[int], *, workers: int = 1, chunk_size: int = 100,
                 chunks_per_worker: int = 8, desc: str = "simulating cells",
                 progress: bool = True) -> tuple[np.ndarray, np.ndarray, list]:
    """Images (n_cells, *image_shape) float32, masks (n_cells, *mask_shape) uint8 and one
    metadata row per cell, in cell order.

    ``render_chunk(indices)`` returns ``(image, mask, row)`` for each cell index it is given; it
    must be picklable when ``workers > 1`` (e.g. a ``functools.partial`` of a module function).
    Chunks hold about ``chunk_size`` cells, and there are at least ``chunks_per_worker`` per
    worker so that the processes stay busy to the end.
    """
    n_chunks = min(n_cells, max(chunks_per_worker * workers, -(-n_cells // chunk_size)))
    chunks = np.array_split(np.arange(n_cells), n_chunks)
    images = np.empty((n_cells, *image_shape), np.float32)
    masks = np.empty((n_cells, *mask_shape), np.uint8)
    rows = []
    bar = progress_bar(total=n_cells, desc=desc, unit="cells", disable=not progress)
    with ProcessPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
        for part in (pool.map(render_chunk, chunks) if pool else map(render_chunk, chunks)):
            for image, mask, row in part:
                images[len(rows)], masks[len(rows)] = image, mask
                rows.append(row)
            bar.update(len(part))
    bar.close()
    return images, masks, rows
