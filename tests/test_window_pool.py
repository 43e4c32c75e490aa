"""The shuffle windows a store lends from one pass to the next."""
from __future__ import annotations

import numpy as np

from stores import ActivationStore
from stores.window_pool import WindowPool


def _store(path, n=300, d=6):
    rows = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
    w = ActivationStore.create(path, {"h": d}, dtype="float32", chunk_bytes=d * 4 * 10)
    w.add_samples(np.arange(n), [{}] * n)
    w.append("h", rows, np.arange(n), np.zeros(n, np.int32))
    w.close()
    return rows


def _sorted(a):
    return a[np.lexsort(a.T[::-1])]


def test_a_pass_reuses_the_last_pass_windows_and_two_passes_at_once_never_share_one(tmp_path):
    rows = _store(tmp_path / "s.h5")
    with ActivationStore.open(tmp_path / "s.h5") as s:
        assert s._windows.idle_bytes == 0
        list(s.iter_batches("h", 16, shuffle=True, buffer_rows=60))
        kept = {id(rows) for rows in s._windows._idle}
        assert len(kept) == 2 and s._windows.idle_bytes > 0  # the pass's two windows wait for the next
        list(s.iter_batches("h", 16, shuffle=True, epoch=5, buffer_rows=60))
        assert {id(rows) for rows in s._windows._idle} == kept
        a = s.iter_batches("h", 16, shuffle=True, epoch=1, buffer_rows=60)
        first = [next(a)]  # a takes both idle windows
        assert s._windows._idle == []
        b = list(s.iter_batches("h", 16, shuffle=True, epoch=2, buffer_rows=60))  # fresh windows meanwhile
        got_a = np.concatenate(first + list(a))
        for got in (got_a, np.concatenate(b)):  # each pass still sees every row exactly once
            np.testing.assert_array_equal(_sorted(got), _sorted(rows))
        waiting = {id(rows) for rows in s._windows._idle}
        assert len(waiting) == 2  # at most keep windows wait, whichever pass returned them
        list(s.iter_batches("h", 16, shuffle=True, epoch=3, buffer_rows=60))
        assert {id(rows) for rows in s._windows._idle} == waiting  # the next pass ran in them
        s.close()
        assert s._windows.idle_bytes == 0


def test_the_pool_lends_only_rows_of_the_same_shape_and_dtype_and_never_twice():
    pool = WindowPool(keep=2)
    w = pool.take(100, 8, np.dtype(np.uint16), (np.dtype(np.int64),))
    assert w.acts.shape == (100, 8) and [i.dtype for i in w.index] == [np.dtype(np.int64)] and len(w.index[0]) == 100
    pool.give([w])
    assert pool.take(100, 8, np.dtype(np.float16), ()).acts is not w.acts  # another dtype
    assert pool.take(99, 8, np.dtype(np.uint16), ()).acts is not w.acts  # another shape
    again = pool.take(100, 8, np.dtype(np.uint16), ())  # a pass without index arrays shares the rows
    assert again.acts is w.acts and again.index == []
    assert pool.take(100, 8, np.dtype(np.uint16), ()).acts is not w.acts  # lent: not twice
    pool.give([again, w, pool.take(1, 1, np.dtype(np.uint8), ())])
    assert len(pool._idle) == 2 and pool.idle_bytes == 100 * 8 * 2 + 1  # the last two returned are kept


def test_closing_a_feed_mid_epoch_stops_the_store_reads_and_returns_the_windows(tmp_path):
    import threading

    import torch

    from saekit.train.data import BatchStream
    from saekit.train.feed import stream_feed

    _store(tmp_path / "s.h5")
    with ActivationStore.open(tmp_path / "s.h5") as s:
        feed = stream_feed(BatchStream(s, "h", 16, 1, 1, 0, 1, buffer_rows=60), s.dtype, torch.device("cpu"), "h")
        next(feed)
        assert s._windows._idle == []  # the epoch is half read: its windows are in use
        feed.close()
        assert len(s._windows._idle) == 2
        assert not [t.name for t in threading.enumerate() if t.name.startswith(("store-prefetch", "store-read"))]
