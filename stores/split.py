"""Held-out split of a store's samples by a stable hash of the sample id.

A sample is held out when splitmix64(sample_id XOR salt_key) / 2**64 < fraction. The hash depends
only on the id and the salt, so the split is the same on every machine, for every reader (the
trainer, the evaluator, a streaming loader) and for stores captured in any order or sharding; it
does not depend on how many samples the store holds, so growing a store keeps old assignments.

``SplitView`` wraps any source with the store's ``iter_batches(..., with_index=True)`` API and
yields only one side of the split in full batches. A source that can skip rows itself (the store,
``filters_rows = True``) gets the side's rows as ``keep_rows`` and drops the others before each
shuffle window's permutation, so no batch is cut twice; any other source's batches are filtered
and re-batched here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import numpy as np
import numpy.typing as npt

from stores.errors import StoreError
from stores.fingerprint import fingerprint

if TYPE_CHECKING:
    from stores.batching import Batch
    from stores.sources import RowSource
    from stores.stats import HookStats


DEFAULT_SALT = "saekit-holdout-v1"
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _salt_key(salt: str) -> np.uint64:
    """The first 8 bytes of the salt's sha256, little-endian."""
    return np.uint64(int.from_bytes(bytes.fromhex(fingerprint(salt)), "little"))


def sample_hash(sample_ids: npt.ArrayLike, salt: str = DEFAULT_SALT) -> np.ndarray:
    """splitmix64 of (id XOR key(salt)) as uint64, vectorised (uint64 arithmetic wraps)."""
    x = np.asarray(sample_ids, dtype=np.int64).astype(np.uint64) ^ _salt_key(salt)
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        x = x ^ (x >> np.uint64(31))
    return x


def holdout_mask(sample_ids: npt.ArrayLike, fraction: float, salt: str = DEFAULT_SALT) -> np.ndarray:
    """bool array: True where the sample is held out (about ``fraction`` of all ids)."""
    if not 0.0 <= fraction < 1.0:
        raise StoreError(f"held-out fraction must be in [0, 1), got {fraction}")
    ids = np.asarray(sample_ids)
    if fraction == 0.0:
        return np.zeros(ids.shape, dtype=bool)
    # compare the top 53 bits with fraction * 2**53 (exact in float64)
    top = (sample_hash(ids, salt) >> np.uint64(11)).astype(np.float64)
    return top < fraction * float(1 << 53)


SIDES = ("train", "holdout", "all")


def numbering_source(source: RowSource) -> RowSource:
    """The source whose row numbers ``source`` hands out (row_order): a split view's rows are numbered
    as its source's are; any other source numbers its own."""
    return source.source if isinstance(source, SplitView) else source


class SplitView:
    """One side ("train" or "holdout") of a source's samples, with the source's batch API.

    Batches are exactly ``batch_size`` rows (the last one shorter unless ``drop_last``), in the
    source's order over this side's rows. ``n_rows`` is exact (counted once per hook from the index).
    """

    def __init__(self, source: RowSource, fraction: float, side: str, salt: str = DEFAULT_SALT) -> None:
        if side not in SIDES:
            raise StoreError(f"split side must be one of {', '.join(SIDES)}, got {side!r}")
        holdout_mask(np.zeros(0, np.int64), fraction, salt)  # validates fraction
        self.source, self.fraction, self.side, self.salt = source, float(fraction), side, salt
        self.hooks = list(source.hooks)
        self.attrs = dict(getattr(source, "attrs", {}) or {})
        self._n_rows: dict[str, int] = {}
        self._kept: dict[str, np.ndarray] = {}

    def keep(self, sample_ids: np.ndarray) -> np.ndarray:
        """bool mask of the rows (by sample id) on this view's side."""
        if self.side == "all":
            return np.ones(np.shape(sample_ids), dtype=bool)
        held = holdout_mask(sample_ids, self.fraction, self.salt)
        return held if self.side == "holdout" else ~held

    def d(self, hook: str) -> int:
        return self.source.d(hook)

    def stats(self, hook: str) -> HookStats:
        return self.source.stats(hook)

    def n_rows(self, hook: str) -> int:
        if hook not in self._n_rows:
            n = 0
            if hasattr(self.source, "read_index"):  # a store: read the index only, not the activations
                n = int(self.kept_rows(hook).sum())
            else:
                for _, sid, _ in self.source.iter_batches(hook, 1 << 16, shuffle=False, with_index=True):
                    n += int(self.keep(sid).sum())
            self._n_rows[hook] = n
        return self._n_rows[hook]

    @property
    def dtype(self) -> str:
        """The source's storage dtype name (what raw=True batches hold)."""
        return getattr(self.source, "dtype", "float32")

    def iter_batches(self, hook: str, batch_size: int, shuffle: bool = False, drop_last: bool = False,
                     with_index: bool = False, **kw: object) -> Iterator[Batch]:
        """This side's rows in full batches: the source skips the other side's rows itself when it can
        (``filters_rows``), else its batches are filtered and regrouped here (a ``cut`` is then not passed
        on: the regrouped batches are fresh arrays the caller owns, a cut would copy them again)."""
        if batch_size <= 0:
            raise StoreError(f"batch_size must be positive, got {batch_size}")
        if getattr(self.source, "filters_rows", False):
            return self.source.iter_batches(hook, batch_size, shuffle=shuffle, drop_last=drop_last,
                                            with_index=with_index, keep_rows=self.kept_rows(hook), **kw)
        kw.pop("cut", None)
        return self._filtered_batches(hook, batch_size, shuffle, drop_last, with_index, kw)

    def _filtered_batches(self, hook: str, batch_size: int, shuffle: bool, drop_last: bool, with_index: bool,
                          kw: dict[str, object]) -> Iterator[Batch]:
        kept = ((acts[m], sid[m], pos[m]) for acts, sid, pos, m in (
            (acts, sid, pos, self.keep(sid))
            for acts, sid, pos in self.source.iter_batches(hook, batch_size, shuffle=shuffle, with_index=True, **kw)))
        for batch in _rebatch(kept, batch_size, drop_last):
            yield batch if with_index else batch[0]

    def row_order(self, hook: str, batch_size: int, shuffle: bool = False, drop_last: bool = False,
                  **kw: object) -> Iterator[np.ndarray]:
        """The source's row numbers of each batch iter_batches yields with the same arguments."""
        if batch_size <= 0:
            raise StoreError(f"batch_size must be positive, got {batch_size}")
        if getattr(self.source, "filters_rows", False):
            return self.source.row_order(hook, batch_size, shuffle=shuffle, drop_last=drop_last,
                                         keep_rows=self.kept_rows(hook), **kw)
        return self._filtered_order(hook, batch_size, shuffle, drop_last, kw)

    def _filtered_order(self, hook: str, batch_size: int, shuffle: bool, drop_last: bool,
                        kw: dict[str, object]) -> Iterator[np.ndarray]:

        keep = self.kept_rows(hook)
        kept = ((rows[keep[rows]],) for rows in self.source.row_order(hook, batch_size, shuffle=shuffle, **kw))
        for (rows,) in _rebatch(kept, batch_size, drop_last):
            yield rows

    def kept_rows(self, hook: str) -> np.ndarray:
        """bool [source rows]: which of the source's rows are on this side (from the row index only)."""
        if hook not in self._kept:
            total, block = self.source.n_rows(hook), 1 << 20
            self._kept[hook] = np.concatenate(
                [self.keep(self.source.read_index(hook, a, min(total, a + block))[0]) for a in range(0, total, block)]
                or [np.zeros(0, bool)])
        return self._kept[hook]


def _rebatch(parts: Iterator[tuple[np.ndarray, ...]], batch_size: int, drop_last: bool) -> Iterator[tuple[np.ndarray, ...]]:
    """Regroup a stream of array tuples (rows along axis 0) into tuples of exactly batch_size rows."""
    pending: list[tuple[np.ndarray, ...]] = []
    have = 0
    for part in parts:
        if not len(part[0]):
            continue
        pending.append(part)
        have += len(part[0])
        while have >= batch_size:
            batch, pending = _take(pending, batch_size)
            have -= batch_size
            yield batch
    if have and not drop_last:
        yield _take(pending, have)[0]


def _take(pending: list[tuple[np.ndarray, ...]], n: int) -> tuple[tuple[np.ndarray, ...], list[tuple[np.ndarray, ...]]]:
    cols = [np.concatenate([p[i] for p in pending]) for i in range(len(pending[0]))]
    rest = [tuple(c[n:] for c in cols)] if len(cols[0]) > n else []
    return tuple(c[:n] for c in cols), rest
