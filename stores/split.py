"""Held-out split of a store's samples by a stable hash of the sample id.

A sample is held out when splitmix64(sample_id XOR salt_key) / 2**64 < fraction. The hash depends
only on the id and the salt, so the split is the same on every machine, for every reader (the
trainer, the evaluator, a streaming loader) and for stores captured in any order or sharding; it
does not depend on how many samples the store holds, so growing a store keeps old assignments.

``SplitView`` wraps any source with the store's ``iter_batches(..., with_index=True)`` API and
yields only one side of the split, re-batched to the requested batch size.
"""
from __future__ import annotations

import hashlib
from typing import Any, Iterator

import numpy as np

from stores.errors import StoreError

DEFAULT_SALT = "saekit-holdout-v1"
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _salt_key(salt: str) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.sha256(salt.encode("utf-8")).digest()[:8], "little"))


def sample_hash(sample_ids: Any, salt: str = DEFAULT_SALT) -> np.ndarray:
    """splitmix64 of (id XOR key(salt)) as uint64, vectorised (uint64 arithmetic wraps)."""
    x = np.asarray(sample_ids, dtype=np.int64).astype(np.uint64) ^ _salt_key(salt)
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        x = x ^ (x >> np.uint64(31))
    return x


def holdout_mask(sample_ids: Any, fraction: float, salt: str = DEFAULT_SALT) -> np.ndarray:
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


class SplitView:
    """One side ("train" or "holdout") of a source's samples, with the source's batch API.

    Batches are exactly ``batch_size`` rows (the last one shorter unless ``drop_last``); the rows
    of the other side are dropped before re-batching, so row order within the kept side is the
    source's order. ``n_rows`` is exact (counted once per hook from the index).
    """

    def __init__(self, source: Any, fraction: float, side: str, salt: str = DEFAULT_SALT) -> None:
        if side not in SIDES:
            raise StoreError(f"split side must be one of {', '.join(SIDES)}, got {side!r}")
        holdout_mask(np.zeros(0, np.int64), fraction, salt)  # validates fraction
        self.source, self.fraction, self.side, self.salt = source, float(fraction), side, salt
        self.hooks = list(source.hooks)
        self.attrs = dict(getattr(source, "attrs", {}) or {})
        self._n_rows: dict[str, int] = {}

    def keep(self, sample_ids: np.ndarray) -> np.ndarray:
        """bool mask of the rows (by sample id) on this view's side."""
        if self.side == "all":
            return np.ones(np.shape(sample_ids), dtype=bool)
        held = holdout_mask(sample_ids, self.fraction, self.salt)
        return held if self.side == "holdout" else ~held

    def d(self, hook: str) -> int:
        return self.source.d(hook)

    def stats(self, hook: str) -> dict[str, Any]:
        return self.source.stats(hook)

    def n_rows(self, hook: str) -> int:
        if hook not in self._n_rows:
            n = 0
            if hasattr(self.source, "read_index"):  # a store: read the index only, not the activations
                total, block = self.source.n_rows(hook), 1 << 20
                for a in range(0, total, block):
                    n += int(self.keep(self.source.read_index(hook, a, min(total, a + block))[0]).sum())
            else:
                for _, sid, _ in self.source.iter_batches(hook, 1 << 16, shuffle=False, with_index=True):
                    n += int(self.keep(sid).sum())
            self._n_rows[hook] = n
        return self._n_rows[hook]

    def iter_batches(self, hook: str, batch_size: int, shuffle: bool = False, drop_last: bool = False,
                     with_index: bool = False, **kw: Any) -> Iterator[Any]:
        if batch_size <= 0:
            raise StoreError(f"batch_size must be positive, got {batch_size}")
        pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        have = 0
        for acts, sid, pos in self.source.iter_batches(hook, batch_size, shuffle=shuffle, with_index=True, **kw):
            m = self.keep(sid)
            if not m.any():
                continue
            pending.append((acts[m], sid[m], pos[m]))
            have += int(m.sum())
            while have >= batch_size:
                batch, pending = _take(pending, batch_size)
                have -= batch_size
                yield batch if with_index else batch[0]
        if have and not drop_last:
            batch, _ = _take(pending, have)
            yield batch if with_index else batch[0]


def _take(pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n: int):
    acts = np.concatenate([p[0] for p in pending])
    sid = np.concatenate([p[1] for p in pending])
    pos = np.concatenate([p[2] for p in pending])
    rest = [(acts[n:], sid[n:], pos[n:])] if len(acts) > n else []
    return (acts[:n], sid[:n], pos[:n]), rest
