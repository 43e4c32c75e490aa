"""Where training batches come from: an activation store, or in-memory arrays behind the same API.

The global data order is fixed by (seed, epoch, n_partitions), not by the number of processes:
the rows are split into n_partitions disjoint store partitions (the store's rank partitioning),
global batch i is the concatenation of batch i of every partition, and process r of W reads
partitions r*P/W .. (r+1)*P/W - 1. So one process with P partitions sees exactly the global
batches of P processes with one partition each, which is what makes DDP runs reproducible by a
single process.
"""
from __future__ import annotations

from typing import Any, Iterator, Protocol

import numpy as np

from saekit.errors import SaekitError


class BatchSource(Protocol):
    """The subset of stores.ActivationStore the trainer and evaluator use."""

    hooks: list[str]

    def d(self, hook: str) -> int: ...
    def n_rows(self, hook: str) -> int: ...
    def stats(self, hook: str) -> dict[str, Any]: ...
    def iter_batches(self, hook: str, batch_size: int, **kw: Any) -> Iterator[Any]: ...


class ArraySource:
    """In-memory activations {hook: [N, d]} with the store's batch API (tests, benchmarks, notebooks)."""

    def __init__(self, acts: dict[str, np.ndarray], attrs: dict[str, Any] | None = None):
        self._acts = {h: np.ascontiguousarray(a, dtype=np.float32) for h, a in acts.items()}
        self.hooks = list(self._acts)
        self.attrs = dict(attrs or {})

    def _get(self, hook: str) -> np.ndarray:
        if hook not in self._acts:
            raise SaekitError(f"hook {hook!r} is not in this source; it has: {', '.join(self.hooks)}")
        return self._acts[hook]

    def d(self, hook: str) -> int:
        return int(self._get(hook).shape[1])

    def n_rows(self, hook: str) -> int:
        return int(self._get(hook).shape[0])

    def read_rows(self, hook: str, start: int, stop: int) -> np.ndarray:
        return self._get(hook)[start:stop].copy()

    def stats(self, hook: str) -> dict[str, Any]:
        a = self._get(hook).astype(np.float64)
        return {"n": len(a), "mean": a.mean(0), "var": a.var(0), "mean_sq_norm": float((a**2).sum(1).mean())}

    def iter_batches(
        self, hook: str, batch_size: int, shuffle: bool = False, seed: int = 0, epoch: int = 0, rank: int = 0,
        world_size: int = 1, buffer_rows: int | None = None, drop_last: bool = False, with_index: bool = False,
    ) -> Iterator[Any]:
        a = self._get(hook)
        order = np.random.default_rng([seed, epoch]).permutation(len(a)) if shuffle else np.arange(len(a))
        mine = order[rank::world_size]
        stop = len(mine) - (len(mine) % batch_size if drop_last else 0)
        for s in range(0, stop, batch_size):
            rows = mine[s : s + batch_size]
            if with_index:
                yield a[rows], rows.astype(np.int64), np.full(len(rows), -1, np.int32)
            else:
                yield a[rows]


def open_source(path: str) -> BatchSource:
    from stores import ActivationStore

    return ActivationStore.open(path)


def check_hook(source: BatchSource, hook: str) -> None:
    if hook not in source.hooks:
        raise SaekitError(f"--hook {hook!r} is not in the store; it has: {', '.join(source.hooks)}")


def check_finite(acts: np.ndarray, sample_id: np.ndarray | None, position: np.ndarray | None, where: str) -> None:
    finite = np.isfinite(acts).all(axis=1)
    if finite.all():
        return
    bad = np.flatnonzero(~finite)[:5]
    if sample_id is not None and position is not None:
        rows = ", ".join(f"(sample_id={int(sample_id[i])}, position={int(position[i])})" for i in bad)
    else:
        rows = ", ".join(str(int(i)) for i in bad)
    raise SaekitError(
        f"{where} holds NaN or Inf activations ({int((~finite).sum())} bad rows), first: {rows}; "
        "fix or re-capture the store"
    )


class BatchStream:
    """Endless shuffled batches for one process, resumable from (epoch, position).

    Each yield is this process's share of one global batch: partitions p in my_partitions each
    contribute batch_size / n_partitions rows.
    """

    def __init__(
        self, source: BatchSource, hook: str, global_batch: int, seed: int, n_partitions: int, rank: int,
        world_size: int, epoch: int = 0, position: int = 0,
    ):
        if n_partitions % world_size:
            raise SaekitError(f"data partitions ({n_partitions}) must be a multiple of the world size ({world_size})")
        if global_batch % n_partitions:
            raise SaekitError(
                f"--batch-size {global_batch} must be divisible by the number of data partitions {n_partitions}"
            )
        self.source, self.hook, self.seed = source, hook, seed
        self.part_batch = global_batch // n_partitions
        per = n_partitions // world_size
        self.partitions = list(range(rank * per, (rank + 1) * per))
        self.n_partitions = n_partitions
        self.epoch, self.position = epoch, position
        self._iters: list[Iterator[Any]] | None = None

    def _open_epoch(self) -> None:
        self._iters = [
            iter(self.source.iter_batches(
                self.hook, self.part_batch, shuffle=True, seed=self.seed, epoch=self.epoch, rank=p,
                world_size=self.n_partitions, drop_last=True, with_index=True,
            ))
            for p in self.partitions
        ]

    def _next_raw(self) -> list[Any] | None:
        assert self._iters is not None
        parts = []
        for it in self._iters:
            b = next(it, None)
            if b is None:
                return None
            parts.append(b)
        return parts

    def __iter__(self) -> "BatchStream":
        return self

    def __next__(self) -> np.ndarray:
        if self._iters is None:
            self._open_epoch()
            for _ in range(self.position):  # resume: replay the consumed batches of this epoch
                if self._next_raw() is None:
                    break
        parts = self._next_raw()
        if parts is None:
            if self.position == 0:
                raise SaekitError(
                    f"the store has too few rows of {self.hook!r} for one batch of {self.part_batch} rows per "
                    f"partition ({self.n_partitions} partitions); lower --batch-size"
                )
            self.epoch, self.position = self.epoch + 1, 0
            self._open_epoch()
            parts = self._next_raw()
            if parts is None:
                raise SaekitError(f"the store ran out of rows of {self.hook!r} at the start of an epoch")
        self.position += 1
        for acts, sid, pos in parts:
            check_finite(acts, sid, pos, f"store batch {self.position - 1} of epoch {self.epoch} (hook {self.hook})")
        return parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts])
