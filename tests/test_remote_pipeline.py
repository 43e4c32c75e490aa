"""A store captured to s3:// (moto's S3 server on 127.0.0.1) trains bit for bit like the same store on
disk, evaluates and opens in the dashboard with the same results; an upload cut short leaves the
previous store readable and --resume finishes it."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from s3_server import SECRET_KEY, CuttingProxy, s3  # noqa: F401 - s3 is a fixture
from saekit.cli.main import main
from saekit.sae import load_sae, SAE
from stores import ActivationStore

pytest.importorskip("s3fs")
HOOK = "blocks.1.hook_resid_post"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _capture(lines, out, *extra):
    return main(["capture", "--model", "random:gpt2", "--data", str(lines), "--hook", HOOK, "--out", str(out),
                 "--batch-size", "4", "--no-progress", *extra])


def _rows(store):
    with ActivationStore.open(store) as s:
        return s.read_rows(HOOK, 0, s.n_rows(HOOK)), s.read_index(HOOK, 0, s.n_rows(HOOK)), s.n_samples


@pytest.fixture()
def lines(tmp_path):
    p = tmp_path / "lines.txt"
    p.write_text("\n".join(f"line {i} {'abc ' * (i % 7)}the end" for i in range(48)) + "\n")
    return p


def test_s3_store_trains_evaluates_and_opens_like_the_local_store(s3, tmp_path, lines, capsys):
    url = "s3://saekit/runs/store"
    assert _capture(lines, url) == 0 and _capture(lines, tmp_path / "local.h5") == 0
    (a, ia, na), (b, ib, nb) = _rows(url), _rows(tmp_path / "local.h5")
    assert na == nb == 48 and np.array_equal(a, b) and all(np.array_equal(x, y) for x, y in zip(ia, ib))
    train = ["--hook", HOOK, "--arch", "topk", "--k", "4", "--expansion", "2", "--tokens", "1500", "--batch-size",
             "64", "--lr", "3e-3", "--holdout", "0.25", "--no-progress", "--cache-dir", str(tmp_path / "cache")]
    assert main(["train", "--store", url, "--out", str(tmp_path / "sae_s3"), *train]) == 0
    assert main(["train", "--store", str(tmp_path / "local.h5"), "--out", str(tmp_path / "sae_local"), *train]) == 0
    x, y = load_sae(tmp_path / "sae_s3"), load_sae(tmp_path / "sae_local")
    for name in ("W_dec", "W_encT", "b_enc", "b_dec"):
        assert torch.equal(getattr(x, name), getattr(y, name)), name
    assert list((tmp_path / "cache" / "chunks").glob("*.bin"))  # --cache-dir reached the store opener
    capsys.readouterr()
    results = []
    for store in (url, str(tmp_path / "local.h5")):
        assert main(["eval", "--sae", str(tmp_path / "sae_local"), "--store", store, "--device", "cpu", "--json"]) == 0
        results.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    assert results[0]["metrics"]["core"] == results[1]["metrics"]["core"] and results[0]["metrics"]["core"]
    from dashboards.inputs import load_inputs

    # each SAE directory computes its own summaries (they are cached next to the SAE by store fingerprint)
    views = [load_inputs(tmp_path / sae, store, progress=False) for sae, store in (("sae_s3", url), ("sae_local", tmp_path / "local.h5"))]
    assert views[0].summaries.store_fingerprint == views[1].summaries.store_fingerprint
    assert views[0].store.samples[5] == views[1].store.samples[5]
    for field in ("freq", "sample_freq", "mean_act"):
        assert np.array_equal(getattr(views[0].summaries, field), getattr(views[1].summaries, field)), field
    # no output, local or uploaded, carries the credentials
    secret = SECRET_KEY.encode()
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and secret in p.read_bytes()]
    import s3fs

    fs = s3fs.S3FileSystem()
    assert not [k for k in fs.find("saekit") if secret in fs.cat_file(k)]


def test_cut_upload_keeps_the_old_store_and_resume_finishes_it(s3, tmp_path, lines, monkeypatch, capsys):
    import s3fs

    import stores.remote as remote

    url = "s3://saekit/runs/cut"
    assert _capture(lines, url, "--limit", "12") == 0
    old = _rows(url)
    monkeypatch.setattr(remote, "RETRY_BASE_S", 0.01)
    proxy = CuttingProxy(s3.endpoint, cut_after=20_000, requests=True)  # no shard upload gets through
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        s3fs.S3FileSystem.clear_instance_cache()
        capsys.readouterr()
        assert _capture(lines, url, "--limit", "40", "--overwrite") == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "failed after" in err
    finally:
        proxy.close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    s3fs.S3FileSystem.clear_instance_cache()
    kept = _rows(url)  # the previous manifest, and every shard it lists, still read whole
    assert kept[2] == 12 and np.array_equal(kept[0], old[0])
    assert _capture(lines, url, "--limit", "40", "--resume") == 0
    assert _capture(lines, tmp_path / "ref.h5", "--limit", "40") == 0
    (a, _, na), (b, _, nb) = _rows(url), _rows(tmp_path / "ref.h5")
    assert na == nb == 40 and np.array_equal(a, b)
    fs = s3fs.S3FileSystem()
    names = sorted(p.rsplit("/", 1)[-1] for p in fs.ls("saekit/runs/cut"))
    assert names == ["manifest.json", json.loads(fs.cat_file("saekit/runs/cut/manifest.json"))["shards"][0]]
