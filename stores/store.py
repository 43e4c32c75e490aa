"""ActivationStore: the one entry point. ``create``/``resume`` give a StoreWriter;
``open`` gives a reader over a .h5 file or a shard directory, which reads as one store."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np

from stores.batching import Batch, ConvertFn, CutFn, ReadFn, Segment, iter_segments, partition
from stores.dtypes import to_float32
from stores.errors import StoreError
from stores.jsontypes import JSONObject, JSONValue
from stores.remote import RemotePath, display_url, is_remote
from stores.samples import SampleTable
from stores.shard_reader import DEFAULT_CACHE_BYTES, ShardReader
from stores.shards import shard_files
from stores.stats import HookStats, compute_stats
from stores.window_pool import WindowPool
from stores.writer import StoreWriter

log = logging.getLogger(__name__)
FetchAhead = Callable[[list[Segment]], None]  # fetch_ahead(segments): start reading them before they are needed

DEFAULT_BUFFER_BYTES = 256 << 20


class ActivationStore:
    """Read-only view of the committed rows of a store file or shard directory."""

    filters_rows = True  # iter_batches / row_order take keep_rows (a held-out split's view relies on it)

    # ------------------------------------------------------------------ writing
    @staticmethod
    def create(
        path: str | os.PathLike,
        hooks: Mapping[str, int],
        dtype: str = "float16",
        attrs: Mapping[str, object] | None = None,
        **kwargs: object,
    ) -> StoreWriter:
        """New store file for writing (see StoreWriter.create for keyword options)."""
        return StoreWriter.create(path, hooks, dtype, attrs, **kwargs)

    @staticmethod
    def resume(path: str | os.PathLike) -> StoreWriter:
        """Reopen a store for appending after a crash or a close: truncates to the last commit."""
        from stores.resume import resume_store

        return resume_store(path)

    @classmethod
    def open(cls, path: str | os.PathLike, rdcc_nbytes: int = DEFAULT_CACHE_BYTES) -> "ActivationStore":
        return cls(path, rdcc_nbytes)

    # ------------------------------------------------------------------ reading
    def __init__(self, path: str | os.PathLike, rdcc_nbytes: int = DEFAULT_CACHE_BYTES) -> None:
        if is_remote(path):  # object storage (s3://, gs://, ...): see stores.remote
            self._open_remote(str(path), rdcc_nbytes)
            return
        self.path: Path | RemotePath = Path(path)
        if self.path.is_dir():
            files = shard_files(self.path)
            self.is_sharded = True
        elif self.path.exists():
            files = [self.path]
            self.is_sharded = False
        else:
            raise StoreError(f"{self.path}: no such store (expected a .h5 file or a shard directory)")
        self._shards: list[ShardReader] = []
        self._windows = WindowPool()  # a finished pass's shuffle windows, lent to the next pass
        try:
            for p in files:
                self._shards.append(ShardReader(p, rdcc_nbytes))
        except StoreError:
            self.close()
            raise
        self._init_views()

    def _open_remote(self, url: str, rdcc_nbytes: int) -> None:
        from stores.remote_layout import open_remote_shards

        self.path = RemotePath(display_url(url))
        self._windows = WindowPool()
        self._shards, self.is_sharded = open_remote_shards(url, rdcc_nbytes)
        self._init_views()

    def _init_views(self) -> None:
        self._check_shards()
        self._samples: SampleTable | None = None
        self._stats: dict[str, HookStats] = {}
        self._runs: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def _fetch_ahead(self, hook: str, with_index: bool) -> "FetchAhead | None":
        """For a remote store: segments -> their full chunks fetched together, held until read."""
        from stores.remote_layout import chunk_fetcher

        return chunk_fetcher(self._shards, hook, with_index) if isinstance(self.path, RemotePath) else None

    def _check_shards(self) -> None:
        first = self._shards[0]
        for s in self._shards[1:]:
            if s.hooks != first.hooks or s.dtype != first.dtype or any(s.d(h) != first.d(h) for h in s.hooks):
                raise StoreError(f"{self.path}: shard {s.path.name} has different hooks/d/dtype than {first.path.name}")
        self.hooks: list[str] = list(first.hooks)
        self.dtype: str = first.dtype
        self.attrs: dict[str, JSONValue] = dict(first.attrs)
        self.format_version: int = first.format_version
        self._offsets = {h: np.cumsum([0] + [s.committed[h] for s in self._shards]) for h in self.hooks}

    def refresh(self) -> None:
        """Re-read committed counts (to follow a concurrent SWMR writer)."""
        for s in self._shards:
            s.refresh()
        self._check_shards()
        self._samples = None
        self._stats.clear()
        self._runs.clear()

    def close(self) -> None:
        for s in self._shards:
            s.close()  # (a remote shard drops the chunks it fetched ahead)
        self._windows.clear()

    def __enter__(self) -> "ActivationStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ metadata
    def d(self, hook: str) -> int:
        return self._shards[0].d(self._hook(hook))

    def n_rows(self, hook: str) -> int:
        return int(self._offsets[self._hook(hook)][-1])

    @property
    def n_samples(self) -> int:
        return sum(s.n_samples for s in self._shards)

    @property
    def complete(self) -> bool:
        return all(s.complete for s in self._shards)

    @property
    def samples(self) -> SampleTable:
        if self._samples is None:
            self._samples = SampleTable.concat([s.samples for s in self._shards])
        return self._samples

    @property
    def sample_ids(self) -> np.ndarray:
        return self.samples.sample_ids

    @property
    def shard_paths(self) -> list[Path | RemotePath]:
        return [s.path for s in self._shards]

    def _hook(self, hook: str) -> str:
        if hook not in self._offsets:
            raise StoreError(f"unknown hook {hook!r}; this store has: {', '.join(self.hooks)}")
        return hook

    # ------------------------------------------------------------------ rows
    def _locate(self, hook: str, row: int) -> int:
        return int(np.searchsorted(self._offsets[hook], row, side="right") - 1)

    def _pieces(self, hook: str, start: int, stop: int) -> Iterator[tuple[ShardReader, int, int, int]]:
        """(shard, local_start, local_stop, out_offset) covering global rows [start, stop)."""
        off = self._offsets[hook]
        k = self._locate(hook, start)
        row = start
        while row < stop:
            shard = self._shards[k]
            hi = min(stop, int(off[k + 1]))
            if hi > row:
                yield shard, row - int(off[k]), hi - int(off[k]), row - start
            row = max(row, hi)
            k += 1

    def _check_range(self, hook: str, start: int, stop: int) -> None:
        n = self.n_rows(hook)
        if not (0 <= start <= stop <= n):
            raise StoreError(f"rows {start}:{stop} out of range for hook {hook!r} with {n} committed rows")

    def read_rows(self, hook: str, start: int, stop: int) -> np.ndarray:
        """Committed rows [start, stop) of ``hook`` as float32 [n, d]."""
        self._hook(hook)
        self._check_range(hook, start, stop)
        out = np.empty((stop - start, self.d(hook)), np.float32)
        for shard, a, b, o in self._pieces(hook, start, stop):
            out[o : o + b - a] = shard.read_rows(hook, a, b)
        return out

    def read_index(self, hook: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """(sample_id int64[n], position int32[n]) of rows [start, stop)."""
        self._hook(hook)
        self._check_range(hook, start, stop)
        parts = [shard.read_index(hook, a, b) for shard, a, b, _ in self._pieces(hook, start, stop)]
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int32)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _sample_runs(self, hook: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-hook index of contiguous runs: (sample_id, start, stop) sorted by sample id."""
        if hook not in self._runs:
            runs: list[tuple[int, int, int]] = []  # (sample_id, start, stop)
            n = self.n_rows(hook)
            block = 1 << 20
            prev_id, prev_start = None, 0
            for a in range(0, n, block):
                b = min(n, a + block)
                sid, _ = self.read_index(hook, a, b)
                change = np.flatnonzero(np.diff(sid)) + 1
                bounds = np.concatenate([[0], change, [b - a]])
                for lo, hi in zip(bounds[:-1], bounds[1:]):
                    s = int(sid[lo])
                    if prev_id is not None and s == prev_id and lo == 0:
                        continue  # run continues across the block boundary
                    if prev_id is not None:
                        runs.append((prev_id, prev_start, a + int(lo)))
                    prev_id, prev_start = s, a + int(lo)
            if prev_id is not None:
                runs.append((prev_id, prev_start, n))
            table = np.asarray(runs, np.int64).reshape(-1, 3)
            table = table[np.argsort(table[:, 0], kind="stable")]
            self._runs[hook] = (table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy())
        return self._runs[hook]

    def rows_for_sample(self, hook: str, sample_id: int) -> tuple[np.ndarray, np.ndarray]:
        """All committed rows of one sample: (acts float32 [n, d], position int32 [n])."""
        self._hook(hook)
        ids, starts, stops = self._sample_runs(hook)
        lo, hi = np.searchsorted(ids, sample_id, "left"), np.searchsorted(ids, sample_id, "right")
        if lo == hi:
            raise StoreError(f"sample id {sample_id} has no rows for hook {hook!r}")
        acts = [self.read_rows(hook, int(starts[i]), int(stops[i])) for i in range(lo, hi)]
        pos = [self.read_index(hook, int(starts[i]), int(stops[i]))[1] for i in range(lo, hi)]
        return np.concatenate(acts), np.concatenate(pos)

    def segments(self, hook: str) -> list[Segment]:
        """The store's chunks of ``hook`` as (shard, start, stop), committed rows only."""
        segs: list[Segment] = []
        for k, s in enumerate(self._shards):
            n, rpc = s.committed[hook], s.rows_per_chunk(hook)
            segs.extend((k, a, min(n, a + rpc)) for a in range(0, n, rpc))
        return segs

    def iter_batches(
        self, hook: str, batch_size: int, shuffle: bool = False, seed: int = 0, epoch: int = 0, rank: int = 0,
        world_size: int = 1, buffer_rows: int | None = None, drop_last: bool = False, with_index: bool = False,
        raw: bool = False, prefetch: bool = True, cut: CutFn | None = None, keep_rows: np.ndarray | None = None,
    ) -> Iterator[Batch]:
        """Batches float32 [B, d] (or (acts, sample_id, position)) of committed rows.

        shuffle=False: store order (rank r gets chunks r, r+W, ...). shuffle=True: chunks in
        a permutation drawn from (seed, epoch), rows mixed in a buffer of ``buffer_rows``
        rows (default about 256 MiB) kept in the on-disk dtype; the same arguments give the
        same batches, and ranks 0..world_size-1 partition the rows (disjoint, complete).
        raw=True yields the on-disk dtype instead of float32 (float16, float32, or uint16
        bf16 bits) so a GPU consumer can ship half the bytes and convert on the device.
        prefetch=True reads the next half of the buffer in a background thread.
        cut(rows, take), when given, replaces the gather (and raw): it gets the window's rows in the
        on-disk dtype and the batch's row numbers within them, and returns the batch's rows in any form
        (the trainer's CPU feed gathers straight into reused tensors); it must copy what it keeps.
        keep_rows (bool per row of the hook), when given, batches only those rows: the others are
        dropped before each window's permutation, so batches stay full (a held-out split's view).
        """
        shards, dtype = self._shards, self.dtype

        def read(seg: Segment, out: np.ndarray, want_index: bool):
            shard = shards[seg[0]]
            shard.read_raw(hook, seg[1], seg[2], out)
            return shard.read_index(hook, seg[1], seg[2]) if want_index else None

        def convert(rows: np.ndarray) -> np.ndarray:
            return rows if raw else to_float32(rows, dtype)

        raw_dtype = self._shards[0].dataset(hook).dtype
        return self._iter(hook, batch_size, shuffle, seed, epoch, rank, world_size, buffer_rows, drop_last,
                          read, self.d(hook), raw_dtype, convert, with_index, prefetch, cut, keep_rows,
                          self._fetch_ahead(hook, with_index))

    def row_order(
        self, hook: str, batch_size: int, shuffle: bool = False, seed: int = 0, epoch: int = 0, rank: int = 0,
        world_size: int = 1, buffer_rows: int | None = None, drop_last: bool = False,
        keep_rows: np.ndarray | None = None,
    ) -> Iterator[np.ndarray]:
        """Global row numbers (int64) of each batch iter_batches yields with the same arguments: the
        same chunk permutation, windows and in-window shuffle, run over row numbers instead of rows
        (so a copy of the rows held elsewhere, e.g. on a GPU, is batched exactly as a stream is)."""
        row_numbers = self._row_numbers(hook)

        def read(seg: Segment, out: np.ndarray, want_index: bool) -> None:
            out[:, 0] = row_numbers(seg)

        batches = self._iter(hook, batch_size, shuffle, seed, epoch, rank, world_size, buffer_rows, drop_last,
                             read, 1, np.dtype(np.int64), lambda rows: rows, False, True, None, keep_rows)
        return (b[:, 0] for b in batches)  # type: ignore[index]

    def _row_numbers(self, hook: str) -> Callable[[Segment], np.ndarray]:
        """segment -> the global row numbers (int64) of its rows."""
        offsets = self._offsets[self._hook(hook)]

        def numbers(seg: Segment) -> np.ndarray:
            base = int(offsets[seg[0]])
            return np.arange(base + seg[1], base + seg[2], dtype=np.int64)

        return numbers

    def _iter(self, hook: str, batch_size: int, shuffle: bool, seed: int, epoch: int, rank: int, world_size: int,
              buffer_rows: int | None, drop_last: bool, read: ReadFn, d: int, raw_dtype: np.dtype, convert: ConvertFn,
              with_index: bool, prefetch: bool, cut: CutFn | None = None,
              keep_rows: np.ndarray | None = None, fetch_ahead: "FetchAhead | None" = None) -> Iterator[Batch]:
        hi = self._hook(hook)
        if batch_size <= 0:
            raise StoreError(f"batch_size must be positive, got {batch_size}")
        if not (0 <= rank < world_size):
            raise StoreError(f"rank must be in [0, world_size={world_size}), got {rank}")
        segs = partition(self.segments(hook), shuffle, seed, epoch, rank, world_size)
        buffer_rows = self.default_buffer_rows(hook) if buffer_rows is None else max(1, int(buffer_rows))
        rng = np.random.default_rng([seed, epoch, rank, 1])
        kept = None
        if keep_rows is not None:
            keep_rows = np.asarray(keep_rows, bool)
            if keep_rows.shape != (self.n_rows(hook),):
                raise StoreError(f"keep_rows has {keep_rows.size} entries; hook {hook!r} has {self.n_rows(hook)} rows")
            offsets = self._offsets[hi]
            kept = lambda seg: keep_rows[offsets[seg[0]] + seg[1] : offsets[seg[0]] + seg[2]]  # noqa: E731
        return iter_segments(segs, read, d, raw_dtype, convert, batch_size, buffer_rows, shuffle, rng,
                             drop_last, with_index, prefetch, cut, kept, pool=self._windows, fetch_ahead=fetch_ahead)

    def read_raw(self, hook: str, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Committed rows [start, stop) in the on-disk dtype (uint16 bits for bfloat16)."""
        self._hook(hook)
        self._check_range(hook, start, stop)
        if out is None:
            out = np.empty((stop - start, self.d(hook)), self._shards[0].dataset(hook).dtype)
        ahead = self._fetch_ahead(hook, False)
        if ahead is not None and stop - start > self._shards[0].rows_per_chunk(hook):
            ahead([(self._shards.index(shard), a, b) for shard, a, b, _ in self._pieces(hook, start, stop)])
        for shard, a, b, o in self._pieces(hook, start, stop):
            rpc, lo = shard.rows_per_chunk(hook), a
            while lo < b:  # chunk by chunk: whole chunks take the pread path
                hi = min(b, (lo // rpc + 1) * rpc)
                shard.read_raw(hook, lo, hi, out[o + lo - a : o + hi - a])
                lo = hi
        return out

    def default_buffer_rows(self, hook: str) -> int:
        rpc = self._shards[0].rows_per_chunk(hook)
        row_bytes = self.d(hook) * self._shards[0].dataset(hook).dtype.itemsize
        return max(4 * rpc, DEFAULT_BUFFER_BYTES // row_bytes // rpc * rpc)

    # ------------------------------------------------------------------ stats / info
    def stats(self, hook: str) -> HookStats:
        """{"n", "mean" [d], "var" [d], "norm_quantiles": {q: v}, "mean_sq_norm", "n_nonfinite"};
        cached in the file at close, computed in one streaming pass otherwise."""
        self._hook(hook)
        if hook not in self._stats:
            cached = self._shards[0].cached_stats(hook) if len(self._shards) == 1 else None
            if cached is None:
                n = self.n_rows(hook)
                cached = compute_stats(
                    (b for b in self.iter_batches(hook, max(1, self.default_buffer_rows(hook) // 8))),
                    self.d(hook),
                    n_expected=n,
                )
            self._stats[hook] = cached
        return self._stats[hook]

    def info(self) -> JSONObject:

        """Summary printed by ``saekit store info --json``."""
        return {
            "path": str(self.path),
            "format_version": self.format_version,
            "complete": self.complete,
            "model_id": self.attrs.get("model_id", ""),
            "model_revision": self.attrs.get("model_revision", ""),
            "config_hash": self.attrs.get("config_hash", ""),
            "dtype": self.dtype,
            "created": self._shards[0].created,
            "n_samples": self.n_samples,
            "hooks": {
                h: {"rows": self.n_rows(h), "d": self.d(h), "dtype": self.dtype,
                    "rows_per_chunk": self._shards[0].rows_per_chunk(h)}
                for h in self.hooks
            },
            "committed": {"rows": {h: self.n_rows(h) for h in self.hooks}, "samples": self.n_samples},
            "shards": [
                {"file": s.path.name, "complete": s.complete, "samples": s.n_samples, "rows": dict(s.committed)}
                for s in self._shards
            ],
            "attrs": self.attrs,
        }
