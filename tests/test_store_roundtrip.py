"""Store format round trip, batching, partitioning, samples, stats."""
from __future__ import annotations

import numpy as np
import pytest

from stores import ActivationStore, StoreError
from stores.dtypes import bf16_bits_to_float32, float32_to_bf16_bits

HOOKS = {"blocks.0.hook_resid_post": 24, "blocks.1.mlp.hook_post": 8}


def _write(path, dtype="float16", n_samples=40, seed=0, chunk_bytes=24 * 4 * 10, commit_every=7, **kw):
    """Write a store with ragged samples; returns the float32 reference rows per hook."""
    rng = np.random.default_rng(seed)
    w = ActivationStore.create(path, HOOKS, dtype=dtype, attrs={"model_id": "toy", "preprocessing": {"size": 8}},
                               chunk_bytes=chunk_bytes, **kw)
    ref = {h: [] for h in HOOKS}
    idx = {h: [] for h in HOOKS}
    for s in range(n_samples):
        n = int(rng.integers(1, 9))
        for h, d in HOOKS.items():
            a = (rng.standard_normal((n, d)) * 3).astype(np.float32)
            w.append(h, a, np.full(n, 1000 + s), np.arange(n) - (1 if n == 1 else 0))
            ref[h].append(a)
            idx[h].append((np.full(n, 1000 + s), np.arange(n) - (1 if n == 1 else 0)))
        w.add_samples([1000 + s], [{"source": f"img/{s}.png", "label": f"c{s % 3}", "text": f"caption é {s}"}])
        if s % commit_every == 0:
            w.commit()
    w.close()
    return {h: np.concatenate(v) for h, v in ref.items()}, {h: (np.concatenate([a for a, _ in v]), np.concatenate([b for _, b in v])) for h, v in idx.items()}


def _expected(ref32, dtype):
    if dtype == "float16":
        return ref32.astype(np.float16).astype(np.float32)
    if dtype == "bfloat16":
        return bf16_bits_to_float32(float32_to_bf16_bits(ref32))
    return ref32


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_round_trip_every_dtype(tmp_path, dtype):
    p = tmp_path / "s.h5"
    ref, idx = _write(p, dtype)
    with ActivationStore.open(p) as s:
        assert s.dtype == dtype and s.complete and s.hooks == list(HOOKS)
        assert s.attrs["model_id"] == "toy" and s.attrs["preprocessing"] == {"size": 8}
        assert s.n_samples == 40
        for h, d in HOOKS.items():
            assert s.d(h) == d and s.n_rows(h) == len(ref[h])
            got = s.read_rows(h, 0, s.n_rows(h))
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, _expected(ref[h], dtype))
            sid, pos = s.read_index(h, 0, s.n_rows(h))
            np.testing.assert_array_equal(sid, idx[h][0])
            np.testing.assert_array_equal(pos, idx[h][1])
            seq = np.concatenate(list(s.iter_batches(h, 9)))
            np.testing.assert_array_equal(seq, got)
            raw = np.concatenate(list(s.iter_batches(h, 9, raw=True, prefetch=False)))
            assert raw.dtype == {"float16": np.float16, "bfloat16": np.uint16, "float32": np.float32}[dtype]
            np.testing.assert_array_equal(raw, s._shards[0].dataset(h)[: len(raw)])
            # rows never straddle chunks: chunk shape is whole rows
            assert s._shards[0].dataset(h).chunks[1] == d


def test_bf16_conversion_matches_reference():
    x = np.array([1.0, -2.5, 3.14159265, 1e-40, 65504.0, 1.00390625, 1.01171875, np.inf, -np.inf, np.nan, 0.0, -0.0], np.float32)
    bits = float32_to_bf16_bits(x)

    def ref(v):  # textbook round-to-nearest-even on the upper 16 bits
        u = int(np.float32(v).view(np.uint32))
        if np.isnan(v):
            return (u >> 16) | 0x40
        lsb = (u >> 16) & 1
        return ((u + 0x7FFF + lsb) >> 16) & 0xFFFF

    assert bits.tolist() == [ref(v) for v in x]
    back = bf16_bits_to_float32(bits)
    assert back[0] == 1.0 and back[1] == -2.5 and back[4] == 65536.0  # 65504 rounds up in bf16
    assert back[5] == 1.0 and back[6] == 1.015625  # ties to even both ways
    assert np.isnan(back[9]) and np.isinf(back[7])
    # exact round trip of anything already representable
    y = bf16_bits_to_float32(np.arange(0, 65536, 7, dtype=np.uint16))
    fin = np.isfinite(y)
    assert np.array_equal(float32_to_bf16_bits(y[fin]), np.arange(0, 65536, 7, dtype=np.uint16)[fin])


def test_shuffle_covers_every_row_once_and_reproduces(tmp_path):
    p = tmp_path / "s.h5"
    ref, idx = _write(p, "float32")
    h = "blocks.0.hook_resid_post"
    n = len(ref[h])
    with ActivationStore.open(p) as s:
        def order(seed, epoch):
            out = []
            for acts, sid, pos in s.iter_batches(h, 16, shuffle=True, seed=seed, epoch=epoch, buffer_rows=40, with_index=True):
                out.append(acts)
            return np.concatenate(out)

        a = order(0, 0)
        assert a.shape == (n, 24)
        # every row exactly once: match rows by their exact values
        key = lambda m: np.sort(m.view(np.dtype((np.void, m.dtype.itemsize * m.shape[1]))).ravel())
        assert np.array_equal(key(a), key(ref[h]))
        np.testing.assert_array_equal(order(0, 0), a)  # same seed + epoch => same order
        assert not np.array_equal(order(0, 1), a)  # other epoch
        assert not np.array_equal(order(1, 0), a)  # other seed
        assert not np.array_equal(a, ref[h])  # actually shuffled
        # with_index keeps acts, sample_id and position aligned
        for acts, sid, pos in s.iter_batches(h, 16, shuffle=True, buffer_rows=40, with_index=True):
            for r in range(len(acts)):
                m = np.flatnonzero((idx[h][0] == sid[r]) & (idx[h][1] == pos[r]))
                np.testing.assert_array_equal(ref[h][m[0]], acts[r])
        # one-window (no prefetch thread) mode covers every row once too, reproducibly
        b1 = np.concatenate(list(s.iter_batches(h, 16, shuffle=True, buffer_rows=40, prefetch=False)))
        assert np.array_equal(key(b1), key(ref[h]))
        np.testing.assert_array_equal(b1, np.concatenate(list(s.iter_batches(h, 16, shuffle=True, buffer_rows=40, prefetch=False))))
        # batch larger than the buffer still works
        assert sum(len(b) for b in s.iter_batches(h, 100, shuffle=True, buffer_rows=8)) == n
        sizes = [len(b) for b in s.iter_batches(h, 16, shuffle=True, drop_last=True)]
        assert set(sizes) == {16} and sum(sizes) == n // 16 * 16


@pytest.mark.parametrize("shuffle", [False, True])
def test_rank_partitions_disjoint_and_complete(tmp_path, shuffle):
    p = tmp_path / "s.h5"
    _write(p, "float16")
    h = "blocks.1.mlp.hook_post"
    with ActivationStore.open(p) as s:
        n = s.n_rows(h)
        parts = []
        for rank in range(3):
            rows = []
            for _, sid, pos in s.iter_batches(h, 5, shuffle=shuffle, seed=3, rank=rank, world_size=3, buffer_rows=64, with_index=True):
                rows += list(zip(sid.tolist(), pos.tolist()))
            parts.append(set(rows))
            assert len(rows) == len(set(rows))
        assert sum(len(x) for x in parts) == n
        assert parts[0].isdisjoint(parts[1]) and parts[1].isdisjoint(parts[2]) and parts[0].isdisjoint(parts[2])
        all_rows = set(zip(*[a.tolist() for a in s.read_index(h, 0, n)]))
        assert set().union(*parts) == all_rows
        with pytest.raises(StoreError, match="rank"):
            next(s.iter_batches(h, 5, rank=3, world_size=3))


def test_samples_and_random_access(tmp_path):
    p = tmp_path / "s.h5"
    ref, idx = _write(p, "float32")
    h = "blocks.0.hook_resid_post"
    with ActivationStore.open(p) as s:
        assert s.sample_ids.tolist() == list(range(1000, 1040))
        assert s.samples[1007] == {"source": "img/7.png", "label": "c1", "text": "caption é 7"}
        assert 1039 in s.samples and 5 not in s.samples
        for sample in (1000, 1013, 1039):
            acts, pos = s.rows_for_sample(h, sample)
            m = idx[h][0] == sample
            np.testing.assert_array_equal(acts, ref[h][m])
            np.testing.assert_array_equal(pos, idx[h][1][m])
        with pytest.raises(StoreError, match="sample id 5"):
            s.rows_for_sample(h, 5)
        with pytest.raises(StoreError, match="out of range"):
            s.read_rows(h, 0, s.n_rows(h) + 1)
        with pytest.raises(StoreError, match="unknown hook"):
            s.read_rows("nope", 0, 1)


def test_stats_match_numpy(tmp_path):
    p = tmp_path / "s.h5"
    ref, _ = _write(p, "float32")
    for h in HOOKS:
        x = ref[h].astype(np.float64)
        with ActivationStore.open(p) as s:
            st = s.stats(h)
            assert s._shards[0].cached_stats(h) is not None  # cached in the file at close
        norms = np.linalg.norm(x, axis=1)
        assert st["n"] == len(x)
        np.testing.assert_allclose(st["mean"], x.mean(0), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(st["var"], x.var(0), rtol=1e-9)
        np.testing.assert_allclose(st["mean_sq_norm"], (norms**2).mean(), rtol=1e-9)
        for q, v in st["norm_quantiles"].items():
            assert v == pytest.approx(np.quantile(norms, q), rel=1e-5)


def test_stats_survive_nan(tmp_path):
    p = tmp_path / "s.h5"
    w = ActivationStore.create(p, {"h": 4}, dtype="float32")
    a = np.ones((10, 4), np.float32)
    a[3, 1] = np.nan
    w.append("h", a, np.zeros(10), np.arange(10))
    w.add_samples([0], [{}])
    w.close()
    with ActivationStore.open(p) as s:
        st = s.stats("h")
    assert st["n_nonfinite"] == 1 and np.isnan(st["mean"][1]) and st["mean"][0] == 1.0
    assert st["norm_quantiles"][0.5] == pytest.approx(2.0)


def test_row_index_reads_by_pread_equal_hdf5s_and_a_cut_file_is_named(tmp_path):
    p = tmp_path / "big.h5"
    n, d = 40_000, 4  # several full index chunks (16,384 rows) and a partial tail chunk
    rng = np.random.default_rng(3)
    sid, pos = rng.integers(0, 1 << 40, n), rng.integers(0, 500, n).astype(np.int32)
    w = ActivationStore.create(p, {"h": d}, dtype="float16", attrs={"model_id": "toy"}, chunk_rows={"h": 256})
    w.add_samples(np.unique(sid), [{}] * len(np.unique(sid)))
    w.append("h", rng.standard_normal((n, d)).astype(np.float32), sid, pos)
    w.close()
    with ActivationStore.open(p) as s:
        shard = s._shards[0]
        assert (shard.chunk_addresses("h", "sample_id") >= 0).all() and shard.chunk_addresses("h", "position").size == 2
        for a, b in ((0, 256), (16_128, 16_384), (16_300, 16_500), (39_900, 40_000), (5, 6)):
            got_sid, got_pos = shard.read_index("h", a, b)  # in one full chunk: pread; across or in the tail: HDF5
            np.testing.assert_array_equal(got_sid, sid[a:b])
            np.testing.assert_array_equal(got_pos, pos[a:b])
        addr = int(shard.chunk_addresses("h", "sample_id")[1])
        with open(p, "r+b") as f:  # cut while open (a file that opened cannot be short otherwise)
            f.truncate(addr + 100)
        with pytest.raises(StoreError, match=r"sample_id chunk at row 16384 of 'h' is cut short"):
            shard.read_index("h", 16_384, 16_640)
