"""`saekit store info|verify` end to end, bad inputs, multi-shard directories, torch adapter."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from saekit.cli.main import main
from stores import ActivationStore, StoreError, shard_path, verify_store, write_manifest

HOOK = "blocks.0.hook_resid_post"


def _small(path, n_samples=12, dtype="float16", start_id=0, close=True, d=8, seed=0):
    rng = np.random.default_rng(seed)
    w = ActivationStore.create(path, {HOOK: d, "image_embeds": 4}, dtype=dtype,
                               attrs={"model_id": "random:vit", "model_revision": "r1", "tokens": "patches"}, chunk_bytes=d * 2 * 4)
    rows = []
    for s in range(start_id, start_id + n_samples):
        a = rng.standard_normal((3, d)).astype(np.float32)
        rows.append(a)
        w.append(HOOK, a, np.full(3, s), np.arange(3))
        w.append("image_embeds", a[:1, :4], [s], [-1])
        w.add_samples([s], [{"source": f"{s}.png", "label": "x", "text": None}])
    if close:
        w.close()
    else:
        w.commit()
        w.abandon()
    return np.concatenate(rows)


def test_info_and_verify_cli(tmp_path, capsys):
    p = tmp_path / "s.h5"
    _small(p)
    assert main(["store", "info", str(p), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["complete"] is True and info["format_version"] == 1 and info["model_id"] == "random:vit"
    assert info["hooks"][HOOK] == {"rows": 36, "d": 8, "dtype": "float16", "rows_per_chunk": 4}
    assert info["hooks"]["image_embeds"]["rows"] == 12 and info["n_samples"] == 12
    assert info["committed"] == {"rows": {HOOK: 36, "image_embeds": 12}, "samples": 12}
    assert main(["store", "info", str(p), "--stats"]) == 0
    out = capsys.readouterr().out
    assert "complete" in out and HOOK in out and "random:vit @ r1" in out and "norm median" in out
    assert main(["store", "verify", str(p)]) == 0
    assert capsys.readouterr().out.startswith("OK ")


def test_cli_subprocess_exit_codes(tmp_path):
    p = tmp_path / "s.h5"
    _small(p)
    ok = subprocess.run([sys.executable, "-m", "saekit", "store", "verify", str(p)], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith("OK"), ok.stderr
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    r = subprocess.run([sys.executable, "-m", "saekit", "store", "info", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "not an HDF5 activation store" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_truncated_file_is_reported(tmp_path, capsys):
    p = tmp_path / "s.h5"
    _small(p, n_samples=400)
    data = p.read_bytes()
    t = tmp_path / "half.h5"
    t.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match="truncated or corrupt"):
        ActivationStore.open(t)
    assert main(["store", "verify", str(t)]) == 2
    err = capsys.readouterr().err
    assert "truncated" in err and len(err.strip().splitlines()) == 1
    assert main(["store", "info", str(t)]) == 2


def test_corrupt_and_inconsistent_files(tmp_path, capsys):
    p = tmp_path / "s.h5"
    _small(p)
    # a row referring to a sample id that is not in /samples
    with h5py.File(p, "r+") as f:
        f[f"hooks/{HOOK}/sample_id"][5] = 999
    assert any("999" in x for x in verify_store(p))
    assert main(["store", "verify", str(p)]) == 2
    assert "999" in capsys.readouterr().err
    # dataset shorter than the committed count
    q = tmp_path / "q.h5"
    _small(q)
    with h5py.File(q, "r+") as f:
        n = f.attrs["n_committed"].copy()
        n[0] += 10
        f.attrs["n_committed"] = n
    assert any("fewer than" in x for x in verify_store(q))
    # a non-store HDF5 file
    r = tmp_path / "other.h5"
    with h5py.File(r, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(StoreError, match="not an activation store"):
        ActivationStore.open(r)
    # a store from a newer format version
    v = tmp_path / "v.h5"
    _small(v)
    with h5py.File(v, "r+") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(StoreError, match="format version 99 is newer"):
        ActivationStore.open(v)
    assert main(["store", "info", str(v)]) == 2
    assert "newer" in capsys.readouterr().err
    with pytest.raises(StoreError, match="no such store"):
        ActivationStore.open(tmp_path / "missing.h5")


def test_writer_bad_inputs(tmp_path):
    p = tmp_path / "s.h5"
    w = ActivationStore.create(p, {HOOK: 8}, dtype="float32")
    with pytest.raises(StoreError, match=rf"hook '{HOOK}'.*width 6.*d=8"):
        w.append(HOOK, np.zeros((2, 6), np.float32), [0, 0], [0, 1])
    with pytest.raises(StoreError, match="unknown hook 'x'"):
        w.append("x", np.zeros((2, 8)), [0, 0], [0, 1])
    with pytest.raises(StoreError, match="2 rows but 3 sample ids"):
        w.append(HOOK, np.zeros((2, 8)), [0, 0, 0], [0, 1])
    w.append(HOOK, np.zeros((2, 8)), [7, 7], [0, 1])
    with pytest.raises(StoreError, match="sample id 7 with no add_samples record"):
        w.commit()
    w.add_samples([1, 7], [{}, {}])
    with pytest.raises(StoreError, match="sample id 1 is already"):
        w.add_samples([1], [{}])
    w.close()
    with pytest.raises(StoreError, match="closed"):
        w.append(HOOK, np.zeros((1, 8)), [0], [0])
    with pytest.raises(StoreError, match="already exists"):
        ActivationStore.create(p, {HOOK: 8})
    with pytest.raises(StoreError, match="unknown store dtype 'int8'"):
        ActivationStore.create(tmp_path / "b.h5", {HOOK: 8}, dtype="int8")
    with pytest.raises(StoreError, match="reserved"):
        ActivationStore.create(tmp_path / "c.h5", {HOOK: 8}, attrs={"n_committed": 3})


def test_incomplete_store_reads_committed_rows(tmp_path, capsys):
    p = tmp_path / "s.h5"
    rows = _small(p, close=False)
    with ActivationStore.open(p) as s:
        assert not s.complete and s.info()["complete"] is False
        np.testing.assert_array_equal(s.read_rows(HOOK, 0, 36), rows.astype(np.float16).astype(np.float32))
        assert s.stats(HOOK)["n"] == 36  # computed on the fly: nothing cached yet
    assert main(["store", "info", str(p)]) == 0
    assert "INCOMPLETE" in capsys.readouterr().out
    assert main(["store", "verify", str(p)]) == 0
    w = ActivationStore.resume(p)
    assert w.n_samples_committed == 12
    w.close()
    with ActivationStore.open(p) as s:
        assert s.complete


def test_multi_shard_directory_reads_as_one(tmp_path, capsys):
    d = tmp_path / "store"
    d.mkdir()
    parts = [_small(shard_path(d, r), n_samples=5 + r, start_id=100 * r, seed=r) for r in range(3)]
    # without a manifest the shard-*.h5 files are read in name order
    with ActivationStore.open(d) as s:
        assert s.n_rows(HOOK) == sum(len(x) for x in parts) and s.is_sharded
    m = write_manifest(d)
    assert json.loads(m.read_text())["shards"] == ["shard-00000.h5", "shard-00001.h5", "shard-00002.h5"]
    ref = np.concatenate(parts).astype(np.float16).astype(np.float32)
    with ActivationStore.open(d) as s:
        assert s.n_samples == 18 and s.complete
        np.testing.assert_array_equal(s.read_rows(HOOK, 0, s.n_rows(HOOK)), ref)
        np.testing.assert_array_equal(s.read_rows(HOOK, 10, 30), ref[10:30])  # spans shards
        assert s.samples[201] == {"source": "201.png", "label": "x", "text": None}
        acts, pos = s.rows_for_sample(HOOK, 102)
        np.testing.assert_array_equal(acts, ref[15 + 6 : 15 + 9])
        seen = []
        for r in range(2):
            for _, sid, pos in s.iter_batches(HOOK, 4, shuffle=True, seed=1, rank=r, world_size=2, buffer_rows=8, with_index=True):
                seen += list(zip(sid.tolist(), pos.tolist()))
        assert sorted(seen) == sorted(zip(*[x.tolist() for x in s.read_index(HOOK, 0, s.n_rows(HOOK))]))
        st = s.stats(HOOK)
        np.testing.assert_allclose(st["mean"], ref.mean(0), rtol=1e-6, atol=1e-7)
    assert main(["store", "info", str(d), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hooks"][HOOK]["rows"] == len(ref)
    assert verify_store(d) == []
    # sample ids must be globally unique across shards
    _small(shard_path(d, 3), n_samples=2, start_id=100)
    with pytest.raises(StoreError, match="sample id 100 also appears"):
        write_manifest(d)
    assert verify_store(d) == []  # the manifest still lists the three good shards only
    (d / "manifest.json").unlink()
    assert any("sample id 100 also appears" in x for x in verify_store(d))


def test_torch_adapter(tmp_path):
    import torch
    from torch.utils.data import DataLoader

    from stores.torch_dataset import StoreBatches

    p = tmp_path / "s.h5"
    rows = _small(p, n_samples=20)
    ds = StoreBatches(p, HOOK, batch_size=7, shuffle=True, seed=2, buffer_rows=16)
    got = torch.cat(list(DataLoader(ds, batch_size=None)))
    assert got.dtype == torch.float32 and got.shape == (60, 8)
    ref = torch.from_numpy(rows.astype(np.float16).astype(np.float32))
    assert torch.equal(got[torch.argsort(got[:, 0])], ref[torch.argsort(ref[:, 0])])
    # bf16 stores widen through torch's bfloat16 exactly like the numpy reader
    q = tmp_path / "b.h5"
    _small(q, n_samples=5, dtype="bfloat16")
    with ActivationStore.open(q) as s:
        exp = s.read_rows(HOOK, 0, s.n_rows(HOOK))
    got = torch.cat(list(StoreBatches(q, HOOK, batch_size=4, shuffle=False)))
    assert torch.equal(got, torch.from_numpy(exp))
