"""The CPU feed's host-side economies: reused batch buffers, one intra-op thread, one shared b_dec init."""
from __future__ import annotations

import threading

import numpy as np
import torch

from saekit.train import ArraySource, TrainConfig, train_sweep
from saekit.train.feed import HostBuffers, one_intraop_thread, widen_and_check


def test_host_buffers_are_reused_only_when_nothing_holds_the_batch():
    bufs = HostBuffers(keep=4)
    a = bufs.get((4, 3))
    a.fill_(1.0)
    b = bufs.get((4, 3))
    assert a.data_ptr() != b.data_ptr()  # a is alive: never handed out twice
    ptr = a.data_ptr()
    view = a[1:]
    del a
    assert bufs.get((4, 3)).data_ptr() != ptr  # a view of it is still alive
    del view
    assert bufs.get((4, 3)).data_ptr() == ptr  # now free: reused


def test_widening_into_a_buffer_equals_float_and_names_bad_rows():
    t = torch.from_numpy(np.random.default_rng(0).standard_normal((2500, 5)).astype(np.float16))
    out = torch.empty(2500, 5)
    assert torch.equal(widen_and_check(t, None, "here", out=out), t.float())
    t[1700, 2] = float("nan")
    try:
        widen_and_check(t, None, "here", out=out)
    except Exception as exc:  # noqa: BLE001 - the message is what is checked
        assert "1 bad rows" in str(exc) and "1700" in str(exc)
    else:
        raise AssertionError("a NaN row passed the check")


def test_one_intraop_thread_leaves_the_calling_threads_count_alone():
    before = torch.get_num_threads()
    seen = {}

    def feed_thread() -> None:
        undo = one_intraop_thread()
        seen["inside"] = torch.get_num_threads()
        undo()

    th = threading.Thread(target=feed_thread)
    th.start()
    th.join()
    assert seen["inside"] == 1 and torch.get_num_threads() == before


def test_a_sweep_reads_one_b_dec_sample_for_all_members(tmp_path):
    X = np.random.default_rng(0).standard_normal((2048, 8)).astype(np.float32)

    class Counting(ArraySource):
        sample_reads = 0

        def iter_batches(self, hook, batch_size, **kw):
            if batch_size == 2048:  # the b_dec sample (gm_sample rows); training batches are 256
                Counting.sample_reads += 1
            return super().iter_batches(hook, batch_size, **kw)

    cfg = TrainConfig(hook="h", arch="topk", k=2, d_sae=24, tokens=512, batch_size=256, progress=False,
                      out=str(tmp_path), gm_sample=2048, holdout=0.0, sweep=("k=2,3,4",))
    assert len(train_sweep(cfg, Counting({"h": X}))) == 3
    assert Counting.sample_reads == 1
