"""Crash safety: kill -9 mid-write + resume equals an uninterrupted run; SWMR readers see
only committed rows while a writer process is running."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np

from stores import ActivationStore, verify_store

HOOKS = {"blocks.2.hook_resid_post": 16, "ln_final.hook_normalized": 4}
N_SAMPLES = 60

# A capture-like writer: sample s has a deterministic number of rows and values, so a resumed
# run regenerates exactly what it would have written. Commits every 3 samples (sample bound.).
WRITER = textwrap.dedent(
    """
    import sys, time, numpy as np
    from stores import ActivationStore
    HOOKS = {hooks!r}
    path, mode, stop_at, n_samples = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

    def sample(s, h, d):
        rng = np.random.default_rng([s, d])
        n = 1 + s % 5
        return rng.standard_normal((n, d)).astype(np.float32), np.full(n, 10 * s + 7), np.arange(n)

    if mode == "resume":
        w = ActivationStore.resume(path)
    else:
        w = ActivationStore.create(path, HOOKS, dtype="float16", attrs={{"model_id": "toy"}}, chunk_bytes=16 * 2 * 2)
    start = w.n_samples_committed
    for s in range(start, n_samples):
        for h, d in HOOKS.items():
            w.append(h, *sample(s, h, d))
        w.add_samples([10 * s + 7], [{{"source": f"s{{s}}", "label": s % 2, "text": None}}])
        if s == stop_at:  # rows (incl. several full chunks) appended but NOT committed
            print("uncommitted", w.n_samples_committed, flush=True)
            if mode == "handshake":
                w._f.flush()  # as if HDF5 evicted metadata early: the larger extent is on disk
                print("flushed", flush=True)
                sys.stdin.readline()
            else:
                time.sleep(60)
        if s % 3 == 2:
            w.commit()
            print("committed", w.n_samples_committed, flush=True)
            if mode == "slow":
                time.sleep(0.01)
    w.close()
    print("done", flush=True)
    """
).format(hooks=HOOKS)


def _run_writer(path, mode, stop_at=-1, n=N_SAMPLES, **kw):
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), mode, str(stop_at), str(n)],
        stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True, **kw,
    )


def _dump(path):
    with ActivationStore.open(path) as s:
        assert s.complete
        out = {"samples": {k: s.samples[k] for k in s.samples}, "ids": s.sample_ids.tolist(), "attrs": s.attrs}
        for h in s.hooks:
            out[h] = (s.read_rows(h, 0, s.n_rows(h)), *s.read_index(h, 0, s.n_rows(h)))
            out[h + ":stats"] = s.stats(h)["mean"]
        return out


def _assert_same(a, b):
    assert a["ids"] == b["ids"] and a["samples"] == b["samples"] and a["attrs"] == b["attrs"]
    for h in HOOKS:
        for x, y in zip(a[h], b[h]):
            np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(a[h + ":stats"], b[h + ":stats"])


def test_kill9_mid_write_then_resume_equals_uninterrupted(tmp_path):
    ref_path, crash_path = tmp_path / "ref.h5", tmp_path / "crash.h5"
    ref = _run_writer(ref_path, "create")
    assert ref.wait(60) == 0

    # killed while holding appended-but-uncommitted rows (full chunks already on disk)
    p = _run_writer(crash_path, "create", stop_at=43)
    for line in p.stdout:
        if line.startswith("uncommitted"):
            break
    committed_before = int(line.split()[1])
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    with ActivationStore.open(crash_path) as s:  # a crashed store still opens for reading
        assert not s.complete and s.n_samples == committed_before == 42
        assert s.n_rows("blocks.2.hook_resid_post") == sum(1 + i % 5 for i in range(42))
        assert s.info()["complete"] is False
    assert verify_store(crash_path) == []

    r = _run_writer(crash_path, "resume")
    assert r.wait(60) == 0
    assert not (tmp_path / "crash.h5.resume-tmp").exists()
    _assert_same(_dump(crash_path), _dump(ref_path))
    assert verify_store(crash_path) == []


def test_kill9_at_arbitrary_moments_then_resume(tmp_path):
    ref_path = tmp_path / "ref.h5"
    assert _run_writer(ref_path, "create", n=150).wait(60) == 0
    ref = _dump(ref_path)
    for trial, kill_after in enumerate((4, 25)):
        path = tmp_path / f"crash{trial}.h5"
        p = _run_writer(path, "slow", n=150)
        commits = 0
        for line in p.stdout:
            commits += line.startswith("committed")
            if commits == kill_after:
                break
        os.kill(p.pid, signal.SIGKILL)  # lands wherever the writer is by now
        p.wait()
        with ActivationStore.open(path) as s:
            n_samp = s.n_samples
            assert n_samp >= kill_after * 3 and n_samp % 3 == 0
            assert s.n_rows("ln_final.hook_normalized") == sum(1 + i % 5 for i in range(n_samp))
        assert _run_writer(path, "resume", n=150).wait(60) == 0
        _assert_same(_dump(path), ref)


def test_swmr_reader_sees_only_committed_rows(tmp_path):
    path = tmp_path / "live.h5"
    p = _run_writer(path, "handshake", stop_at=34)
    seen = []
    h = "blocks.2.hook_resid_post"
    try:
        for line in p.stdout:
            if line.startswith("committed") and len(seen) == 0:
                s = ActivationStore.open(path)  # open while the writer is running
                seen.append(s.n_samples)
            elif line.startswith("committed"):
                s.refresh()
                seen.append(s.n_samples)
            elif line.startswith("uncommitted"):
                continue
            elif line.startswith("flushed"):
                s.refresh()
                # the writer has appended samples 33, 34 and filled whole chunks past the commit
                ds = s._shards[0].dataset(h)
                assert ds.shape[0] > s.n_rows(h)  # on-disk extent runs ahead ...
                assert s.n_samples == 33  # ... but readers stop at the commit
                p.stdin.write("go\n")
                p.stdin.flush()
                continue
            else:
                break
            n = s.n_samples
            assert not s.complete or n == N_SAMPLES
            rows = sum(1 + i % 5 for i in range(n))
            assert s.n_rows(h) == rows and s.n_rows("ln_final.hook_normalized") == rows
            got = np.concatenate(list(s.iter_batches(h, 32))) if rows else np.zeros((0, 16))
            sid, _ = s.read_index(h, 0, rows)
            assert set(sid.tolist()) == {10 * i + 7 for i in range(n)} == set(s.sample_ids.tolist())
            exp = np.concatenate([np.random.default_rng([i, 16]).standard_normal((1 + i % 5, 16)).astype(np.float16) for i in range(n)])
            np.testing.assert_array_equal(got, exp.astype(np.float32))
        assert p.wait(60) == 0
    finally:
        p.kill()
    s.refresh()
    assert s.complete and s.n_samples == N_SAMPLES
    assert seen == sorted(seen) and len(seen) == N_SAMPLES // 3
    s.close()


def test_a_live_writers_passing_truncation_is_retried_not_reported(tmp_path, monkeypatch):
    """A reader can open a store just as its writer has grown the recorded end of file but not yet
    written up to it: HDF5 says "truncated file" for that moment, to the plain open as well."""
    import h5py

    from stores import shard_reader

    path = tmp_path / "s.h5"
    w = ActivationStore.create(path, hooks={"h": 4})
    w.add_samples([0], [{}])
    w.append("h", np.ones((3, 4), np.float32), np.zeros(3, np.int64), np.arange(3, dtype=np.int32))
    w.close()
    real_file, calls = h5py.File, []

    def catches_the_writer_mid_flush(*args, **kw):
        calls.append(kw.get("swmr", False))
        if len(calls) <= 2:
            raise OSError("Unable to synchronously open file (truncated file: eof = 1, stored_eof = 2)")
        return real_file(*args, **kw)

    monkeypatch.setattr(shard_reader.h5py, "File", catches_the_writer_mid_flush)
    assert ActivationStore.open(path).n_rows("h") == 3
    assert calls == [False, False, False]
