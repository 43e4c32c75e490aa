"""Where training batches come from: an activation store, or in-memory arrays behind the same API.

The global data order is fixed by (seed, epoch, n_partitions), not by the number of processes:
the rows are split into n_partitions disjoint store partitions (the store's rank partitioning),
global batch i is the concatenation of batch i of every partition, and process r of W reads
partitions r*P/W .. (r+1)*P/W - 1. So one process with P partitions sees exactly the global
batches of P processes with one partition each, which is what makes DDP runs reproducible by a
single process.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol, Union

import numpy as np

from saekit.common.errors import SaekitError
from stores.split import numbering_source

if TYPE_CHECKING:
    import torch

#: one batch as a source yields it: rows [B, d], (rows, (sample_id, position)) with with_index, or what
#: the caller's ``cut`` made of a window's rows (the device feed's tensors)
Batch = Union[np.ndarray, tuple[np.ndarray, tuple[np.ndarray, np.ndarray]], "torch.Tensor", tuple["torch.Tensor", ...]]
#: a hook's statistics (n, mean [d], var [d], mean_sq_norm), as stores.ActivationStore.stats gives them
HookStats = dict[str, Union[int, float, np.ndarray]]
#: the keyword arguments of iter_batches / row_order (shuffle, seed, epoch, rank, world_size, keep_rows, cut, ...)
BatchOption = Union[int, bool, None, np.ndarray, Callable[[np.ndarray, np.ndarray], Batch]]


N_NAMED = 5  # bad rows an error names


def close_if_closable(it: object) -> None:
    """Close an iterator that can be closed (a generator, a BatchStream): its source's read-ahead stops
    and its buffers go back now, not at garbage collection."""
    getattr(it, "close", lambda: None)()


class BatchSource(Protocol):
    """The subset of stores.ActivationStore the trainer and evaluator use."""

    hooks: list[str]

    def d(self, hook: str) -> int: ...
    def n_rows(self, hook: str) -> int: ...
    def stats(self, hook: str) -> HookStats: ...
    def iter_batches(self, hook: str, batch_size: int, **kw: BatchOption) -> Iterator[Batch]:
        """The store's batches; ``cut`` (optional to honour) takes a batch out of a shuffle window."""
    def row_order(self, hook: str, batch_size: int, **kw: BatchOption) -> Iterator[np.ndarray]: ...
    def read_raw(self, hook: str, start: int, stop: int) -> np.ndarray: ...
    def read_index(self, hook: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]: ...


class ArraySource:
    """In-memory activations {hook: [N, d]} with the store's batch API (tests, benchmarks, notebooks)."""

    dtype = "float32"  # the storage dtype name, as ActivationStore.dtype
    filters_rows = True  # iter_batches / row_order take keep_rows, as the store's do

    def __init__(self, acts: dict[str, np.ndarray], attrs: dict[str, object] | None = None):
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

    def stats(self, hook: str) -> HookStats:
        a = self._get(hook).astype(np.float64)
        return {"n": len(a), "mean": a.mean(0), "var": a.var(0), "mean_sq_norm": float((a**2).sum(1).mean())}

    def iter_batches(
        self, hook: str, batch_size: int, shuffle: bool = False, seed: int = 0, epoch: int = 0, rank: int = 0,
        world_size: int = 1, buffer_rows: int | None = None, drop_last: bool = False, with_index: bool = False,
        raw: bool = False, prefetch: bool = True, cut: Callable[[np.ndarray, np.ndarray], Batch] | None = None,
        keep_rows: np.ndarray | None = None,
    ) -> Iterator[Batch]:
        """Same batches as row_order() gives indices for; raw and prefetch change nothing (rows are float32).
        cut(rows, take) takes each batch out of the whole array, as the store's cut does from its windows."""
        a = self._get(hook)
        for rows in self.row_order(hook, batch_size, shuffle, seed, epoch, rank, world_size, buffer_rows, drop_last,
                                   keep_rows):
            acts = a[rows] if cut is None else cut(a, rows)
            if with_index:
                yield acts, rows.astype(np.int64), np.full(len(rows), -1, np.int32)
            else:
                yield acts

    def row_order(
        self, hook: str, batch_size: int, shuffle: bool = False, seed: int = 0, epoch: int = 0, rank: int = 0,
        world_size: int = 1, buffer_rows: int | None = None, drop_last: bool = False,
        keep_rows: np.ndarray | None = None,
    ) -> Iterator[np.ndarray]:
        """Row indices of each batch iter_batches yields with the same arguments (only rows with
        ``keep_rows[row]`` when given)."""
        n = len(self._get(hook))
        order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
        if keep_rows is not None:
            if np.shape(keep_rows) != (n,):
                raise SaekitError(f"keep_rows has {np.size(keep_rows)} entries; hook {hook!r} has {n} rows")
            order = order[np.asarray(keep_rows, bool)[order]]
        mine = order[rank::world_size]
        stop = len(mine) - (len(mine) % batch_size if drop_last else 0)
        for s in range(0, stop, batch_size):
            yield mine[s : s + batch_size]

    def read_raw(self, hook: str, start: int, stop: int) -> np.ndarray:
        return self.read_rows(hook, start, stop)

    def read_index(self, hook: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        return np.arange(start, stop, dtype=np.int64), np.full(stop - start, -1, np.int32)


def open_source(path: str) -> BatchSource:
    from stores import ActivationStore

    return ActivationStore.open(path)


def check_hook(source: BatchSource, hook: str) -> None:
    if hook not in source.hooks:
        raise SaekitError(f"--hook {hook!r} is not in the store; it has: {', '.join(source.hooks)}")


def check_finite(acts: np.ndarray, sample_id: np.ndarray | None, position: np.ndarray | None, where: str) -> None:
    finite = np.isfinite(acts).all(axis=1)
    if not finite.all():
        raise nonfinite_error(np.flatnonzero(~finite), sample_id, position, where)


def nonfinite_error(bad: np.ndarray, sample_id: np.ndarray | None, position: np.ndarray | None,
                    where: str) -> SaekitError:
    """The one-line error for rows ``bad`` (indices into the batch) holding NaN or Inf."""
    first = bad[:N_NAMED]
    named = None if sample_id is None or position is None else [(sample_id[i], position[i]) for i in first]
    return nonfinite_error_named(len(bad), first, named, where)


def nonfinite_error_named(n_bad: int, first: np.ndarray, named: list[tuple[int | np.integer, int | np.integer]] | None,
                          where: str) -> SaekitError:
    """The same error from the first bad rows' (sample_id, position), when known."""
    if named is not None:
        rows = ", ".join(f"(sample_id={int(s)}, position={int(p)})" for s, p in named)
    else:
        rows = ", ".join(str(int(i)) for i in first)
    return SaekitError(
        f"{where} holds NaN or Inf activations ({n_bad} bad rows), first: {rows}; fix or re-capture the store"
    )


@dataclass(frozen=True)
class RawBatch:
    """This process's share of one global batch, rows still in the store's dtype.

    epoch / position: where the stream stands once this batch is consumed (the resume point)."""

    acts: Any  # np.ndarray as stored, or what the stream's cut made of it; None for an index-only stream
    sample_id: np.ndarray | None
    position: np.ndarray | None
    epoch: int
    batch_position: int
    rows: np.ndarray | None = None  # global row numbers (index-only streams)
    lookup: Callable[[int], tuple[int, int]] | None = None  # row number -> (sample_id, position)
    locate: Callable[[], np.ndarray] | None = None  # the batch's global row numbers, worked out on demand

    @property
    def where(self) -> str:
        return f"store batch {self.batch_position - 1} of epoch {self.epoch}"

    def index_of(self, rows: np.ndarray) -> list[tuple[int, int]] | None:
        """(sample_id, position) of the batch rows ``rows``: carried with the batch, or read from the
        source by row number (only a failing batch asks); None when neither is known."""
        if self.sample_id is not None and self.position is not None:
            return [(int(self.sample_id[i]), int(self.position[i])) for i in rows]
        numbers = self.rows if self.rows is not None else self.locate() if self.locate is not None else None
        if numbers is not None and self.lookup is not None:
            return [self.lookup(int(numbers[i])) for i in rows]
        return None


class BatchStream:
    """Endless shuffled batches for one process, resumable from (epoch, position).

    Each yield is a RawBatch, this process's share of one global batch: partitions p in
    my_partitions each contribute batch_size / n_partitions rows, in the store's dtype
    (saekit.train.feed converts and checks them on the device).
    """

    def __init__(
        self, source: BatchSource, hook: str, global_batch: int, seed: int, n_partitions: int, rank: int,
        world_size: int, epoch: int = 0, position: int = 0, index_only: bool = False, buffer_rows: int | None = None,
    ):
        if n_partitions % world_size:
            raise SaekitError(f"data partitions ({n_partitions}) must be a multiple of the world size ({world_size})")
        if global_batch % n_partitions:
            raise SaekitError(
                f"--batch-size {global_batch} must be divisible by the number of data partitions {n_partitions}"
            )
        self.source, self.hook, self.seed = source, hook, seed
        self.global_batch, self.part_batch = global_batch, global_batch // n_partitions
        per = n_partitions // world_size
        self.partitions = list(range(rank * per, (rank + 1) * per))
        self.n_partitions, self.rank, self.world_size = n_partitions, rank, world_size
        self.epoch, self.position = epoch, position
        self.index_only = index_only
        self.buffer_rows = buffer_rows  # rows mixed per shuffle window (None: the store's default)
        self._iters: list[Iterator[Any]] | None = None
        # batches of rows carry no row numbers and no index: working them out for every batch costs about
        # 5% of a warm pass, and only an error that names rows needs them (index-only twin, _rows_of)
        self._index_source = numbering_source(source)
        self._replayable = hasattr(source, "row_order")  # a user's own source may lack it: errors then name batch rows
        self._cut: Callable[[np.ndarray, np.ndarray], Batch] | None = None
        self._join: Callable[[list[Batch]], Batch] = np.concatenate

    def cut_with(self, cut: Callable[[np.ndarray, np.ndarray], Batch], join: Callable[[list[Batch]], Batch]) -> None:
        """Take each batch out of the store's windows with ``cut(window_rows, take)`` instead of numpy's
        gather (the store's ``iter_batches(cut=...)``), and join the partitions' parts with ``join``.
        Before the first batch only."""
        if self._iters is not None:
            raise RuntimeError("cut_with() after the stream has started")
        if self.index_only:
            raise RuntimeError("an index-only stream cuts no rows")
        self._cut, self._join = cut, join

    def close(self) -> None:
        """End the source's open epoch now: its read-ahead threads stop and its shuffle windows go back to
        the store for the next pass (an epoch left half-read would hold them until garbage collection).
        Iterating again resumes at (epoch, position)."""
        for it in self._iters or []:
            close_if_closable(it)
        self._iters = None

    def _open_epoch(self) -> None:
        self.close()  # the last epoch's iterators, some partitions' possibly not exhausted
        if self.index_only:  # the same batches as row numbers (row_order mirrors iter_batches)
            self._iters = [
                iter(self.source.row_order(
                    self.hook, self.part_batch, shuffle=True, seed=self.seed, epoch=self.epoch, rank=p,
                    world_size=self.n_partitions, drop_last=True, buffer_rows=self.buffer_rows,
                ))
                for p in self.partitions
            ]
            return
        self._iters = [
            iter(self.source.iter_batches(
                self.hook, self.part_batch, shuffle=True, seed=self.seed, epoch=self.epoch, rank=p,
                world_size=self.n_partitions, drop_last=True, raw=True, buffer_rows=self.buffer_rows,
                **({"cut": self._cut} if self._cut is not None else {}),
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

    def __next__(self) -> RawBatch:
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
        if self.index_only:
            rows = parts[0] if len(parts) == 1 else np.concatenate(parts)
            return RawBatch(None, None, None, self.epoch, self.position, rows=rows)
        acts = parts[0] if len(parts) == 1 else self._join(parts)
        return RawBatch(acts, None, None, self.epoch, self.position, lookup=self._lookup,
                        locate=partial(self._rows_of, self.epoch, self.position) if self._replayable else None)

    def _lookup(self, row: int) -> tuple[int, int]:
        sid, pos = self._index_source.read_index(self.hook, row, row + 1)
        return int(sid[0]), int(pos[0])

    def _rows_of(self, epoch: int, position: int) -> np.ndarray:
        """Global row numbers, in order, of the batch this stream yields at (epoch, position): an index-only
        twin of the stream replays that epoch's order up to it (the sources' row_order mirrors their
        iter_batches, as the device-resident mode relies on too)."""
        twin = BatchStream(self.source, self.hook, self.global_batch, self.seed, self.n_partitions, self.rank,
                           self.world_size, epoch=epoch, position=position - 1, index_only=True,
                           buffer_rows=self.buffer_rows)
        try:
            b = next(twin)
        finally:
            twin.close()
        assert b.rows is not None and (b.epoch, b.batch_position) == (epoch, position)
        return b.rows
