"""Progress bars that read well live and in the rendered book.

Executed headlessly (``cellnb run`` sets ``$CELLNB_HEADLESS``), a notebook must not leave frozen
"0%" progress widgets in the HTML, so a progress bar becomes one summary line there; live, it is
tqdm's. Low-level: the trainer and the simulator use it, and it imports no display library.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable

HEADLESS_ENV = "CELLNB_HEADLESS"


def is_headless() -> bool:
    return os.environ.get(HEADLESS_ENV, "") not in ("", "0", "false")


def in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
             unit: str = "it", disable: bool = False):
    """A tqdm progress bar live; a single closing summary line when headless."""
    if is_headless() or disable:
        return _SummaryOnly(iterable, total=total, desc=desc, unit=unit, quiet=disable)
    from tqdm.auto import tqdm
    return tqdm(iterable, total=total, desc=desc, unit=unit)


class _SummaryOnly:
    """The part of tqdm's interface cellnb uses, printing one line when done."""

    def __init__(self, iterable, *, total, desc, unit, quiet):
        self.iterable, self.desc, self.unit, self.quiet = iterable, desc, unit, quiet
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.n, self._start, self._closed = 0, time.perf_counter(), False

    def __iter__(self):
        try:
            for item in self.iterable:
                yield item
                self.n += 1
        finally:
            self.close()

    def update(self, n: int = 1):
        self.n += n

    def set_postfix(self, *args, **kwargs):
        pass

    def close(self):
        if self._closed or self.quiet:
            self._closed = True
            return
        self._closed = True
        seconds = time.perf_counter() - self._start
        rate = self.n / seconds if seconds > 0 else float("inf")
        label = f"{self.desc}: " if self.desc else ""
        print(f"{label}{self.n} {self.unit} in {seconds:.1f} s ({rate:.1f} {self.unit}/s)",
              file=sys.stdout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
