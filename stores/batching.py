"""Batch iteration over a list of row segments (chunks), sequential or shuffled.

A segment is (shard, start, stop) of whole rows, normally one HDF5 chunk. Shuffled
iteration permutes segments with rng(seed, epoch), gives rank r the segments
perm[r::world_size] (so ranks are disjoint and together complete), groups them into
"fills" of about a window of rows, and emits batches drawn by a random permutation of each
window; rows that do not fill a whole batch are carried into the next window. With kept
(a held-out split), only the kept rows of each fill enter its permutation: the others are
read with their chunk but never batched.

Memory: rows live in their on-disk dtype (half the RAM of float32 for fp16/bf16) and each
batch is converted after it is gathered, while it is small enough to stay in cache. With
prefetch (default) two windows of buffer_rows/2 alternate: a background thread reads the
next window (pread releases the GIL) while batches are cut from the current one, so disk
reads overlap the conversion; without prefetch one window of buffer_rows is used. Either
way the buffers hold about buffer_rows rows plus one chunk and one batch per window.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Union

import numpy as np

from stores.window_pool import Window, WindowPool

Segment = tuple[int, int, int]
Batch = Union[np.ndarray, tuple[np.ndarray, ...]]
# read(segment, out_rows, want_index) fills out_rows (storage dtype); with want_index it returns the
# segment's per-row index arrays (sample_id, position), else None
ReadFn = Callable[[Segment, np.ndarray, bool], "tuple[np.ndarray, ...] | None"]
SAMPLE_INDEX = (np.dtype(np.int64), np.dtype(np.int32))  # (sample_id, position): with_index=True
ConvertFn = Callable[[np.ndarray], np.ndarray]
# cut(window_rows, take) -> the batch's rows: how a batch leaves the window (storage dtype rows in,
# anything out; it must copy what it keeps, since the window is refilled after the batch is used)
CutFn = Callable[[np.ndarray, np.ndarray], object]
# kept(segment) -> bool per row of the segment: rows to batch (the others, e.g. a held-out split's, are skipped)
KeptFn = Callable[[Segment], np.ndarray]
PARALLEL_READS = 4


def partition(segments: list[Segment], shuffle: bool, seed: int, epoch: int, rank: int, world_size: int) -> list[Segment]:
    order = np.arange(len(segments))
    if shuffle:
        order = np.random.default_rng([seed, epoch]).permutation(len(segments))
    return [segments[i] for i in order[rank::world_size]]


def group_fills(segments: list[Segment], window: int) -> list[list[Segment]]:
    """Consecutive segments grouped until each group holds at least ``window`` rows."""
    fills: list[list[Segment]] = []
    cur: list[Segment] = []
    rows = 0
    for seg in segments:
        cur.append(seg)
        rows += seg[2] - seg[1]
        if rows >= window:
            fills.append(cur)
            cur, rows = [], 0
    if cur:
        fills.append(cur)
    return fills


def iter_segments(
    segments: list[Segment],
    read: ReadFn,
    d: int,
    raw_dtype: np.dtype,
    convert: ConvertFn,
    batch_size: int,
    buffer_rows: int,
    shuffle: bool,
    rng: np.random.Generator,
    drop_last: bool,
    with_index: bool,
    prefetch: bool = True,
    cut: CutFn | None = None,
    kept: KeptFn | None = None,
    pool: WindowPool | None = None,
    fetch_ahead: Callable[[list[Segment]], None] | None = None,
) -> Iterator[Batch]:
    """Batches of rows, or with with_index (acts, sample_id, position).

    In a window, rows [batch_size - carry, end) are live: the front batch_size rows are reserved for
    the previous window's leftovers, so a fill never touches them. The windows come from ``pool``
    (and go back to it when the pass ends) when one is given. fetch_ahead(segments), when given, is
    called with each fill's segments before they are read (a remote store fetches the whole window's
    chunks at once; with prefetch that happens in the background, a window ahead)."""
    index_dtypes = SAMPLE_INDEX if with_index else ()
    n_windows = 2 if prefetch else 1
    window = max(buffer_rows // n_windows, 1)
    fills = group_fills(segments, window)
    if not fills:
        return
    biggest = max(sum(s[2] - s[1] for s in f) for f in fills)
    pool = pool if pool is not None else WindowPool(keep=0)
    wins = [pool.take(batch_size + biggest, d, raw_dtype, index_dtypes) for _ in range(n_windows)]

    def read_into(w: Window, seg: Segment, o: int) -> None:
        n = seg[2] - seg[1]
        idx = read(seg, w.acts[o : o + n], with_index)
        if with_index:
            for dst, src in zip(w.index, idx):  # type: ignore[arg-type]
                dst[o : o + n] = src

    def fill_starts(segs: list[Segment]) -> np.ndarray:
        return np.cumsum([batch_size] + [s[2] - s[1] for s in segs])

    def do_fill(w: Window, segs: list[Segment]) -> int:
        starts = fill_starts(segs)
        if fetch_ahead is not None:
            fetch_ahead(segs)
        if readers is None:
            for seg, o in zip(segs, starts):
                read_into(w, seg, int(o))
        else:
            # Shuffled chunks are scattered over the file: several reads in flight (pread releases
            # the GIL) keep the device queue busy where one-at-a-time reads would wait on each seek.
            list(readers.map(lambda so: read_into(w, so[0], int(so[1])), zip(segs, starts)))
        return int(starts[-1])

    def gather(w: Window, take: np.ndarray, lo: int) -> Batch:
        if cut is not None:
            acts = cut(w.acts[lo:], take)
        else:
            acts = convert(np.take(w.acts[lo:], take, axis=0))  # np.take: much faster than fancy indexing
        if with_index:
            return (acts, *(np.take(ix[lo:], take) for ix in w.index))
        return acts

    filler = ThreadPoolExecutor(1, thread_name_prefix="store-prefetch") if prefetch else None
    readers = ThreadPoolExecutor(PARALLEL_READS, thread_name_prefix="store-read") if prefetch and shuffle else None
    try:
        pending: Future | None = filler.submit(do_fill, wins[0], fills[0]) if filler else None
        carry = 0
        for j, segs in enumerate(fills):
            w = wins[j % n_windows]
            end = pending.result() if pending is not None else do_fill(w, segs)
            nxt = wins[(j + 1) % n_windows]
            if filler is not None and j + 1 < len(fills):
                pending = filler.submit(do_fill, nxt, fills[j + 1])  # reads while we cut batches below
            lo = batch_size - carry
            if kept is None:
                live = end - lo
                order = rng.permutation(live) if shuffle else np.arange(live)
            else:  # the carried rows (kept already) and the fill's kept rows, as offsets from lo
                starts = fill_starts(segs)
                at = np.concatenate([np.arange(carry)] + [o - lo + np.flatnonzero(kept(seg)) for seg, o in zip(segs, starts)])
                order = at[rng.permutation(at.size)] if shuffle else at
            n_full = order.size // batch_size
            for b in range(n_full):
                yield gather(w, order[b * batch_size : (b + 1) * batch_size], lo)
            rest = order[n_full * batch_size :]
            carry = rest.size
            if j + 1 < len(fills):
                # leftovers go just in front of the next window's rows (disjoint from its fill)
                nxt.acts[batch_size - carry : batch_size] = np.take(w.acts[lo:], rest, axis=0)
                for dst, src in zip(nxt.index, w.index):
                    dst[batch_size - carry : batch_size] = np.take(src[lo:], rest)
            elif carry and not drop_last:
                yield gather(w, rest, lo)
    finally:
        if filler is not None:
            filler.shutdown(wait=True, cancel_futures=True)
        if readers is not None:
            readers.shutdown(wait=True, cancel_futures=True)
        pool.give(wins)  # no read is in flight any more, and every batch was copied out
