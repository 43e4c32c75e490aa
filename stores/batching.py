"""Batch iteration over a list of row segments (chunks), sequential or shuffled.

A segment is (shard, start, stop) of whole rows, normally one HDF5 chunk. Shuffled
iteration permutes segments with rng(seed, epoch), gives rank r the segments
perm[r::world_size] (so ranks are disjoint and together complete), reads segments into a
bounded buffer and emits batches drawn by a random permutation of the buffered rows; rows
that do not fill a whole batch stay in the buffer for the next fill. The buffer holds rows
in their on-disk dtype (half the RAM of float32 for fp16/bf16); each batch is converted
after it is gathered, while it is small enough to stay in cache.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Union

import numpy as np

Segment = tuple[int, int, int]
Batch = Union[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]
# read(segment, out_rows, want_index) fills out_rows (storage dtype), returns (sample_id, position) or None
ReadFn = Callable[[Segment, np.ndarray, bool], "tuple[np.ndarray, np.ndarray] | None"]
ConvertFn = Callable[[np.ndarray], np.ndarray]


def partition(segments: list[Segment], shuffle: bool, seed: int, epoch: int, rank: int, world_size: int) -> list[Segment]:
    order = np.arange(len(segments))
    if shuffle:
        order = np.random.default_rng([seed, epoch]).permutation(len(segments))
    return [segments[i] for i in order[rank::world_size]]


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
) -> Iterator[Batch]:
    max_seg = max((s[2] - s[1] for s in segments), default=0)
    target = max(buffer_rows, batch_size)
    cap = target + max_seg  # leftover (< batch_size <= target) + segments until target is reached
    buf = np.empty((cap, d), raw_dtype)
    sid = np.empty(cap, np.int64) if with_index else None
    pos = np.empty(cap, np.int32) if with_index else None

    def emit(take: np.ndarray | slice) -> Batch:
        acts = convert(buf[take])
        if isinstance(take, slice) and np.shares_memory(acts, buf):
            acts = acts.copy()  # the buffer is reused: never hand out a view of it
        if with_index:
            return acts, sid[take].copy(), pos[take].copy()  # type: ignore[index]
        return acts

    fill = 0
    i = 0
    while i < len(segments):
        while i < len(segments) and fill < target:
            n = segments[i][2] - segments[i][1]
            idx = read(segments[i], buf[fill : fill + n], with_index)
            if with_index:
                sid[fill : fill + n], pos[fill : fill + n] = idx  # type: ignore[index,misc]
            fill += n
            i += 1
        n_full = fill // batch_size
        if shuffle:
            perm = rng.permutation(fill)
            for b in range(n_full):
                yield emit(perm[b * batch_size : (b + 1) * batch_size])
            rest = perm[n_full * batch_size :]
        else:
            for b in range(n_full):
                yield emit(slice(b * batch_size, (b + 1) * batch_size))
            rest = np.arange(n_full * batch_size, fill)
        buf[: rest.size] = buf[rest]  # fancy indexing copies first, so the move is safe
        if with_index:
            sid[: rest.size] = sid[rest]  # type: ignore[index]
            pos[: rest.size] = pos[rest]  # type: ignore[index]
        fill = rest.size
    if fill and not drop_last:
        yield emit(rng.permutation(fill) if shuffle else slice(0, fill))
