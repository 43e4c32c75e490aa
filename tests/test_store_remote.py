"""Stores on object storage, against a real S3 API on 127.0.0.1 (moto's server): reads equal the same
store on disk, the local chunk cache stays within its limit, and every failure (bad bucket, missing key,
rejected credentials, connections dropped mid-read) is retried or gives one line and exit 2."""
from __future__ import annotations

import numpy as np
import pytest

from s3_server import SECRET_KEY, CuttingProxy, s3  # noqa: F401 - s3 is a fixture
from stores import ActivationStore, StoreError
from stores.remote_upload import publish_if_complete, upload_shard
from test_train_recipe import make_store

pytest.importorskip("s3fs")


def _publish(local, url, ranks=1):
    for r in range(ranks):
        upload_shard(local[r] if isinstance(local, list) else local, url, r, "cfg")
    assert publish_if_complete(url, ranks, "cfg")


def _batches(store, **kw):
    return list(store.iter_batches("h", 100, **kw))


def _reset_clients():
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


def test_remote_store_reads_equal_the_local_store(s3, tmp_path):
    a, b = make_store(tmp_path / "a.h5", n=2048), tmp_path / "b.h5"
    w = ActivationStore.create(b, hooks={"h": 16}, dtype="float32", chunk_rows={"h": 256})  # a second shard
    rows = np.random.default_rng(1).standard_normal((1000, 16)).astype(np.float32)
    w.add_samples(np.arange(1000, 1100), [{"source": f"b{i}"} for i in range(100)])
    w.append("h", rows, np.repeat(np.arange(1000, 1100), 10), np.tile(np.arange(10, dtype=np.int32), 100))
    w.close()
    local_dir = tmp_path / "dir"
    local_dir.mkdir()
    for i, p in enumerate((a, b)):
        (local_dir / f"shard-{i:05d}.h5").write_bytes(p.read_bytes())
    _publish([local_dir / "shard-00000.h5", local_dir / "shard-00001.h5"], "s3://saekit/st", ranks=2)
    with ActivationStore.open(local_dir) as loc, ActivationStore.open("s3://saekit/st") as rem:
        assert rem.is_sharded and rem.n_rows("h") == loc.n_rows("h") == 3048 and str(rem.path) == "s3://saekit/st"
        for kw in ({"shuffle": False}, {"shuffle": True, "seed": 3, "epoch": 1, "buffer_rows": 700},
                   {"shuffle": True, "seed": 5, "rank": 1, "world_size": 2, "with_index": True}):
            got, want = _batches(rem, **kw), _batches(loc, **kw)
            assert len(got) == len(want) > 0
            for x, y in zip(got, want):
                for u, v in zip(x if isinstance(x, tuple) else (x,), y if isinstance(y, tuple) else (y,)):
                    assert np.array_equal(u, v)
        assert np.array_equal(rem.read_raw("h", 7, 3000), loc.read_raw("h", 7, 3000))
        assert rem.samples[1050] == loc.samples[1050]
        np.testing.assert_array_equal(rem.stats("h")["mean"], loc.stats("h")["mean"])
        assert all(not s.remote._ahead for s in rem._shards)  # every chunk fetched ahead was read
    from stores import verify_store

    assert verify_store("s3://saekit/st") == []


def test_chunk_cache_is_bounded_and_serves_the_next_epoch(s3, tmp_path, monkeypatch):
    from stores.remote import RemoteFile
    from stores.remote_cache import configure

    make_store(tmp_path / "s.h5")
    _publish(tmp_path / "s.h5", "s3://saekit/c")
    settings = configure(tmp_path / "cache", size_gb=200e3 / (1 << 30))  # about 200 kB: 12 chunks of 16 kB
    try:
        with ActivationStore.open("s3://saekit/c") as rem:
            first = _batches(rem, shuffle=True, seed=1, buffer_rows=1024)
            cache = rem._shards[0].remote.cache
            files = list((tmp_path / "cache" / "chunks").glob("*.bin"))
            assert cache.nbytes <= settings.max_bytes and sum(f.stat().st_size for f in files) <= settings.max_bytes
            assert len(files) >= 5
        configure(tmp_path / "cache", size_gb=1.0)
        with ActivationStore.open("s3://saekit/c") as rem:
            _batches(rem, shuffle=True, seed=1, buffer_rows=1024)  # fills the cache
            monkeypatch.setattr(RemoteFile, "_fetch", lambda *a: pytest.fail("read past the cache"))
            monkeypatch.setattr(RemoteFile, "missing", lambda *a: [])
            again = _batches(rem, shuffle=True, seed=1, buffer_rows=1024)
        assert all(np.array_equal(x, y) for x, y in zip(first, again)) and len(first) == len(again)
    finally:
        configure(None)
        import stores.remote_cache as rc

        rc._settings = None


@pytest.mark.parametrize("url,expect", [("s3://no-such-bucket/st", "bucket does not exist"),
                                        ("s3://saekit/nothing/here", "no such store"),
                                        ("s3://saekit/c/shard-00000.h5", "no such store")])
def test_missing_bucket_or_key_is_one_line_and_exit_2(s3, tmp_path, capsys, url, expect):
    from saekit.cli.main import main

    assert main(["store", "info", url]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expect in err and "Traceback" not in err


def test_rejected_credentials_are_one_line_and_never_printed(s3, tmp_path, capsys, monkeypatch):
    from saekit.cli.main import main

    make_store(tmp_path / "s.h5")
    _publish(tmp_path / "s.h5", "s3://saekit/c")
    s3.require_auth()
    _reset_clients()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY + "-expired")
    assert main(["store", "info", "s3://saekit/c"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "access denied" in err and "AWS credentials" in err
    assert SECRET_KEY not in err


def test_dropped_connections_are_retried_and_reads_stay_whole(s3, tmp_path, monkeypatch):
    make_store(tmp_path / "s.h5")
    _publish(tmp_path / "s.h5", "s3://saekit/c")
    proxy = CuttingProxy(s3.endpoint, cut_after=3_000, every=2)  # every other connection dies in its first read
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        _reset_clients()
        with ActivationStore.open("s3://saekit/c") as rem:
            got = _batches(rem, shuffle=True, seed=2, buffer_rows=1024)
        with ActivationStore.open(tmp_path / "s.h5") as loc:
            want = _batches(loc, shuffle=True, seed=2, buffer_rows=1024)
        assert proxy.cuts > 0 and len(got) == len(want) and all(np.array_equal(x, y) for x, y in zip(got, want))
    finally:
        proxy.close()


def test_a_server_that_always_cuts_reads_short_fails_in_one_line(s3, tmp_path, monkeypatch):
    import stores.remote as remote

    make_store(tmp_path / "s.h5")
    _publish(tmp_path / "s.h5", "s3://saekit/c")
    monkeypatch.setattr(remote, "RETRY_BASE_S", 0.01)
    with ActivationStore.open("s3://saekit/c") as rem:
        proxy = CuttingProxy(s3.endpoint, cut_after=4_000)  # no 16 kB chunk ever arrives whole
        try:
            monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
            _reset_clients()
            rem._shards[0].remote.fs, _ = remote.filesystem("s3://saekit/c")
            with pytest.raises(StoreError, match="failed after") as err:
                _batches(rem, shuffle=True, seed=2, buffer_rows=1024)
            assert "\n" not in str(err.value)
        finally:
            proxy.close()
