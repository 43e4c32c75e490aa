"""capture(): stored values, token selection, samples, refusal/overwrite, kill -9 + resume, rank shards, CLI."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from saekit.capture import CaptureConfig, capture
from saekit.cli.main import main as cli
from saekit.data import load_dataset
from saekit.common.errors import SaekitError
from saekit.models import load_model
from stores import ActivationStore

HOOKS = ("blocks.1.hook_resid_post", "blocks.0.mlp.hook_post")


@pytest.fixture(scope="module")
def vit():
    return load_model("random:vit")


@pytest.fixture(scope="module")
def gpt2():
    return load_model("random:gpt2")


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (root / label).mkdir()
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (40, 36, 3), dtype=np.uint8)).save(root / label / f"{i}.png")
    return root


def _cfg(data, out, **kw) -> CaptureConfig:
    base = dict(model="random:vit", data=str(data), hooks=HOOKS, out=str(out), batch_size=3, progress=False)
    base.update(kw)
    return CaptureConfig(**base)


def _read_all(path, hook):
    with ActivationStore.open(path) as s:
        acts, sid, pos = s.read_rows(hook, 0, s.n_rows(hook)), *s.read_index(hook, 0, s.n_rows(hook))
        return acts, sid, pos


def test_capture_matches_model_and_records_samples(vit, image_dir, tmp_path):
    ds = load_dataset(str(image_dir))
    res = capture(_cfg(image_dir, tmp_path / "a.h5", tokens="patches"), model=vit, dataset=ds)
    assert res.n_samples == 10 and res.rows == {h: 160 for h in HOOKS}
    inputs = vit.prepare([ds[i] for i in range(10)])
    ref = vit.capture(inputs, HOOKS)
    with ActivationStore.open(res.path) as s:
        assert s.complete and s.attrs["model_id"] == "random:vit" and s.attrs["tokens"] == "patches"
        assert s.attrs["preprocessing"]["size"] == 32 and s.attrs["patch_grid"] == [4, 4]
        assert len(s.attrs["config_hash"]) == 16 and s.dtype == "float32"
        recs = [s.samples[i] for i in range(10)]
        assert [r["label"] for r in recs] == ["cat"] * 5 + ["dog"] * 5
        assert recs[6]["source"] == "dog/1.png"
        for hook in HOOKS:
            acts, sid, pos = s.read_rows(hook, 0, 160), *s.read_index(hook, 0, 160)
            assert np.array_equal(sid, np.repeat(np.arange(10), 16))
            assert np.array_equal(pos, np.tile(np.arange(1, 17), 10))
            np.testing.assert_allclose(acts, ref[hook][:, 1:].reshape(160, -1).numpy(), rtol=1e-5, atol=1e-5)


def test_token_selection_dtype_and_pooled_hooks(image_dir, tmp_path):
    clip = load_model("random:clip")
    res = capture(_cfg(image_dir, tmp_path / "c.h5", model="random:clip", hooks=("blocks.0.hook_resid_post", "image_embeds"),
                       tokens="cls", dtype="bfloat16", limit=4), model=clip)
    with ActivationStore.open(res.path) as s:
        assert s.dtype == "bfloat16" and s.n_samples == 4
        _, pos = s.read_index("blocks.0.hook_resid_post", 0, 4)
        assert pos.tolist() == [0, 0, 0, 0]
        emb = s.read_rows("image_embeds", 0, 4)
        _, pos = s.read_index("image_embeds", 0, 4)
        assert pos.tolist() == [-1] * 4 and emb.shape == (4, 16)
        assert s.attrs["pooled_hooks"] == ["image_embeds"]
    ds = load_dataset(str(image_dir))
    ref = clip.embed_images([ds[i].image for i in range(4)])
    np.testing.assert_allclose(emb, ref.numpy(), rtol=1e-2, atol=1e-2)  # bf16


def test_refuses_existing_store_and_overwrites(vit, image_dir, tmp_path):
    out = tmp_path / "b.h5"
    capture(_cfg(image_dir, out, limit=3), model=vit)
    with pytest.raises(SaekitError, match="complete store.*--overwrite"):
        capture(_cfg(image_dir, out, limit=3), model=vit)
    res = capture(_cfg(image_dir, out, limit=6, overwrite=True), model=vit)
    assert res.n_samples == 6
    res = capture(_cfg(image_dir, out, limit=6, resume=True), model=vit)  # nothing left to do
    assert res.n_samples == 6 and res.resumed_from == 6
    with pytest.raises(SaekitError, match="different configuration"):
        capture(_cfg(image_dir, out, limit=6, resume=True, tokens="cls"), model=vit)


def test_resume_with_mismatched_d_is_refused(vit, image_dir, tmp_path):
    cfg = _cfg(image_dir, tmp_path / "d.h5", hooks=("blocks.1.hook_resid_post",))
    w = ActivationStore.create(cfg.out, {"blocks.1.hook_resid_post": 7}, dtype="float32",
                               attrs={"config_hash": cfg.config_hash("float32", 1)})
    w.commit()
    w.abandon()
    with pytest.raises(SaekitError, match="d=7 in the store but the model now gives d=64"):
        capture(CaptureConfig(**{**cfg.as_dict(), "resume": True}), model=vit)
    assert not ActivationStore.open(cfg.out).complete


_SLOW_CLI = """
import sys, time
from saekit.models.base import HookedModel
orig = HookedModel.capture
def slow(self, *a, **k):  # widen the window in which the test kills the capture
    time.sleep(0.1)
    return orig(self, *a, **k)
HookedModel.capture = slow
from saekit.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_kill9_then_resume_equals_uninterrupted(gpt2, tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("\n".join(f"line {i} {'abc' * (i % 5)}" for i in range(40)) + "\n")
    out = tmp_path / "k.h5"
    hook = "blocks.1.hook_resid_post"
    args = ["capture", "--model", "random:gpt2", "--data", str(lines), "--hook", hook, "--out", str(out),
            "--batch-size", "2", "--tokens", "nonspecial", "--no-progress"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_CLI, *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    committed = 0
    while time.time() < deadline and proc.poll() is None and committed < 6:
        time.sleep(0.02)
        if out.exists():
            try:
                with ActivationStore.open(out) as s:
                    committed = s.n_samples
            except Exception:  # noqa: BLE001 - the file may be mid-creation
                committed = 0
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with ActivationStore.open(out) as s:
        assert not s.complete and 6 <= s.n_samples < 40 and s.n_samples % 2 == 0
    assert cli(args + ["--resume"]) == 0
    ref = capture(CaptureConfig(model="random:gpt2", data=str(lines), hooks=(hook,), out=str(tmp_path / "ref.h5"),
                                batch_size=2, tokens="nonspecial", progress=False), model=gpt2)
    a, b = _read_all(out, hook), _read_all(ref.path, hook)
    assert len(a[0]) == len(b[0]) == ref.rows[hook]
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    with ActivationStore.open(out) as s:
        assert s.complete and s.n_samples == 40 and s.samples[39]["text"].startswith("line 39")


def test_rank_shards_read_as_one_store(vit, image_dir, tmp_path, monkeypatch):
    out = tmp_path / "shards"
    results = []
    for rank in (1, 0):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        results.append(capture(_cfg(image_dir, out), model=vit))
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    assert not results[0].manifest_written and results[1].manifest_written
    assert (out / "shard-00000.h5").is_file() and (out / "manifest.json").is_file()
    single = capture(_cfg(image_dir, tmp_path / "one.h5"), model=vit)
    with ActivationStore.open(out) as s, ActivationStore.open(single.path) as one:
        assert sorted(s.sample_ids.tolist()) == list(range(10))
        for hook in HOOKS:
            acts, sid, pos = s.read_rows(hook, 0, s.n_rows(hook)), *s.read_index(hook, 0, s.n_rows(hook))
            for i in range(10):
                mine, _ = s.rows_for_sample(hook, i)
                ref, _ = one.rows_for_sample(hook, i)
                np.testing.assert_allclose(mine, ref, rtol=1e-5, atol=1e-6)
            assert s.n_rows(hook) == one.n_rows(hook)


def test_cli_exit_codes_and_list_hooks(image_dir, tmp_path, capsys):
    assert cli(["capture", "--model", "random:vit", "--list-hooks"]) == 0
    assert "blocks.2.hook_resid_post" in capsys.readouterr().out
    base = ["capture", "--data", str(image_dir), "--out", str(tmp_path / "x.h5"), "--no-progress"]
    assert cli(base + ["--model", "nope:x", "--hook", "blocks.0.hook_resid_post"]) == 2
    assert "expected one of" in capsys.readouterr().err
    assert cli(base + ["--model", "random:vit", "--hook", "blocks.7.hook_resid_post"]) == 2
    err = capsys.readouterr().err
    assert "unknown hook" in err and "blocks.0.hook_resid_pre" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "empty").mkdir()
    assert cli(["capture", "--model", "random:vit", "--hook", "blocks.0.hook_resid_post", "--data",
                str(tmp_path / "empty"), "--out", str(tmp_path / "e.h5")]) == 2
    assert "empty" in capsys.readouterr().err
    bad = tmp_path / "bad"
    (bad / "a").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(bad / "a" / "fine.png")
    (bad / "a" / "zz_corrupt.png").write_bytes(b"not a png")
    assert cli(["capture", "--model", "random:vit", "--hook", "blocks.0.hook_resid_post", "--data", str(bad),
                "--out", str(tmp_path / "bad.h5"), "--batch-size", "1", "--no-progress"]) == 2
    assert "zz_corrupt.png" in capsys.readouterr().err
    assert not ActivationStore.open(tmp_path / "bad.h5").complete
    assert cli(base + ["--model", "random:vit"]) == 2
    assert "--hook" in capsys.readouterr().err
