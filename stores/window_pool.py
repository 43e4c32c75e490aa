"""Shuffle windows, and the pool that hands a finished iteration's windows to the next one.

A shuffled pass fills two windows of about 128 MiB each. Allocated afresh for every pass, each of
their pages is faulted in and zeroed by the kernel again (numpy asks for huge pages at that size),
and on a virtual machine the host may have to back those pages again too: on the 2-core test VM
that cost a warm epoch of 1.2 GB about a third of its time, and varied from run to run with it.
A store keeps the windows of its last finished pass and lends them to the next pass of the same
shape (the trainer opens one pass per epoch), so only the first pass pays for them.
"""
from __future__ import annotations

import threading

import numpy as np


class Window:
    """One shuffle buffer: rows in the on-disk dtype, and one index array per index dtype."""

    def __init__(self, acts: np.ndarray, index_dtypes: tuple[np.dtype, ...]) -> None:
        self.acts = acts
        self.index = [np.empty(len(acts), t) for t in index_dtypes]  # small (8 bytes a row at most): not kept


class WindowPool:
    """Idle row buffers kept for the next pass; at most ``keep`` of them (the most recently returned).

    Only the rows are kept (a pass with index arrays and one without share them). A buffer is lent to
    one pass at a time: ``take`` removes it from the pool and ``give`` returns it once the pass is over
    (its prefetch finished, every batch copied out), so two passes running at once never share one.
    ``clear`` frees them (the store's close)."""

    def __init__(self, keep: int = 2) -> None:
        self.keep = keep
        self._idle: list[np.ndarray] = []
        self._lock = threading.Lock()

    def take(self, cap: int, d: int, dtype: np.dtype, index_dtypes: tuple[np.dtype, ...]) -> Window:
        with self._lock:
            for i, rows in enumerate(self._idle):
                if rows.shape == (cap, d) and rows.dtype == dtype:
                    return Window(self._idle.pop(i), index_dtypes)
        return Window(np.empty((cap, d), dtype), index_dtypes)

    def give(self, windows: list[Window]) -> None:
        with self._lock:
            self._idle.extend(w.acts for w in windows)
            del self._idle[: max(0, len(self._idle) - self.keep)]

    def clear(self) -> None:
        with self._lock:
            self._idle.clear()

    @property
    def idle_bytes(self) -> int:
        with self._lock:
            return sum(rows.nbytes for rows in self._idle)
