"""Trainer: recipe pieces with known answers, bad input, resume after SIGKILL, torchrun DDP on gloo."""
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
from safetensors.torch import load_file

from saekit.common.errors import SaekitError
from saekit.results import MetricsLog
from saekit.sae import load_sae, SAE, SAEConfig
from saekit.train import ArraySource, TrainConfig, auto_lr, train
from saekit.train.dead import DeadLatentTracker
from saekit.train.geometric_median import geometric_median
from saekit.train.resample import resample_dead
from saekit.train.schedule import lr_at
from saekit.train.member import project_out_parallel_grad

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


# Small-matrix tests run faster and reproduce bit for bit on one thread.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _env():
    return dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))


def make_store(path: Path, n: int = 4096, d: int = 16, nan_row: int | None = None) -> Path:
    from stores import ActivationStore

    rng = np.random.default_rng(0)
    atoms = rng.standard_normal((48, d))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    idx = np.argsort(rng.random((n, 48)), axis=1)[:, :3]
    X = (rng.uniform(0.5, 2, (n, 3))[:, :, None] * atoms[idx]).sum(1) + 0.01 * rng.standard_normal((n, d))
    if nan_row is not None:
        X[nan_row, 2] = np.nan
    w = ActivationStore.create(path, hooks={"h": d}, dtype="float32", attrs={"model_id": "planted"},
                               chunk_rows={"h": 256})
    w.add_samples(np.arange(n // 8, dtype=np.int64), [{"source": f"row{i}"} for i in range(n // 8)])
    w.append("h", X.astype(np.float32), np.arange(n, dtype=np.int64) // 8, (np.arange(n) % 8).astype(np.int32))
    w.close()
    return path


# ---- recipe pieces ------------------------------------------------------------------------------
def test_geometric_median_satisfies_the_optimality_condition_and_ignores_outliers():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(500, 5, generator=g) + 3.0
    X[:20] += 1000.0  # outliers drag the mean, not the median
    y = geometric_median(X)
    u = (X.double() - y.double())
    grad = (u / u.norm(dim=1, keepdim=True)).sum(0)  # sum of unit vectors vanishes at the median
    assert grad.norm() < 1e-3 * len(X)
    assert (y - 3.0).abs().max() < 0.3
    assert (X.mean(0) - 3.0).abs().max() > 30


def test_lr_schedule_warms_up_holds_and_decays_to_zero():
    lrs = [lr_at(s, 100, 1.0, 10, 0.2) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(v == 1.0 for v in lrs[10:80])
    assert lrs[80] == pytest.approx(1.0) and lrs[90] == pytest.approx(0.5) and lrs[99] == pytest.approx(0.05)
    assert auto_lr(16384) == pytest.approx(2e-4) and auto_lr(65536) == pytest.approx(1e-4)


def test_parallel_gradient_component_is_removed():
    W = torch.nn.Parameter(torch.nn.functional.normalize(torch.randn(10, 6), dim=1))
    W.grad = torch.randn(10, 6)
    g0 = W.grad.clone()
    project_out_parallel_grad(W)
    torch.testing.assert_close((W.grad * W).sum(1), torch.zeros(10), atol=1e-6, rtol=0)
    torch.testing.assert_close(W.grad + (g0 * W).sum(1, keepdim=True) * W, g0)


def test_dead_latent_tracker():
    t = DeadLatentTracker(4, dead_tokens=100, device=torch.device("cpu"))
    t.update(torch.tensor([1, 0, 0, 2]), 60)
    t.update(torch.tensor([0, 0, 1, 0]), 60)
    assert t.since_fired.tolist() == [60, 120, 0, 60]
    assert t.dead_idx().tolist() == [1] and t.dead_frac() == 0.25


def test_relu_resampling_points_dead_latents_at_badly_reconstructed_inputs():
    sae = SAE.create(SAEConfig(arch="relu", d_in=8, d_sae=16, normalization="none"))
    opt = torch.optim.Adam(sae.parameters())
    x = torch.zeros(64, 8)
    x[:, 0] = 0.01
    x[5] = torch.tensor([0, 0, 0, 0, 0, 0, 5.0, 0])  # the only badly reconstructed row
    sae(x).sum().backward()
    opt.step()
    with torch.no_grad():
        sae.b_enc.fill_(-100.0)  # nothing fires: every row's loss is its squared norm, row 5 dominates
    dead = torch.tensor([2, 7])
    assert resample_dead(sae, opt, x, dead, torch.Generator().manual_seed(0)) == 2
    for j in dead:
        assert float(sae.W_dec[j, 6].detach()) > 0.99 and float(sae.b_enc[j].detach()) == 0.0
        assert float(opt.state[sae.W_dec]["exp_avg"][j].abs().sum()) == 0.0


def test_recipe_init_unit_decoder_tied_encoder_and_median_bias(tmp_path):
    X = np.random.default_rng(0).standard_normal((2048, 8)).astype(np.float32) + 5
    cfg = TrainConfig(hook="h", arch="topk", k=2, d_sae=32, tokens=1, batch_size=256, lr=1e-12, out=str(tmp_path / "o"),
                      progress=False, warmup_steps=1)
    sae = train(cfg, ArraySource({"h": X}))
    scale = sae.cfg.norm_scale
    assert scale == pytest.approx(1 / np.sqrt((X.astype(np.float64) ** 2).sum(1).mean()), rel=1e-5)
    torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(32))
    torch.testing.assert_close(sae.W_enc, sae.W_dec.t(), atol=1e-6, rtol=0)  # one step at lr=1e-12
    assert (sae.b_dec / scale - 5).abs().max() < 0.2  # b_dec ~ geometric median of the data (in raw units)


# ---- bad input ----------------------------------------------------------------------------------
def test_nan_rows_stop_training_naming_the_first_bad_row(tmp_path):
    store = make_store(tmp_path / "bad.h5", nan_row=1234)
    cfg = TrainConfig(store=str(store), hook="h", arch="topk", k=2, expansion=2, tokens=4096, batch_size=512,
                      out=str(tmp_path / "o"), progress=False, normalization="none")
    with pytest.raises(SaekitError, match=r"NaN or Inf .*sample_id=154, position=2") as info:
        train(cfg)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "o" / "weights.safetensors").exists()


def test_cli_bad_input_exits_2_with_one_line(tmp_path):
    store = make_store(tmp_path / "s.h5")
    base = [PY, "-m", "saekit", "train", "--store", str(store), "--tokens", "512", "--batch-size", "256", "--no-progress"]
    cases = [
        (["--hook", "nope", "--arch", "topk", "--k", "2", "--out", str(tmp_path / "a")], "--hook 'nope' is not in the store"),
        (["--hook", "h", "--arch", "topk", "--k", "32", "--expansion", "2", "--out", str(tmp_path / "b")],
         "k=32 must be smaller than the SAE width d_sae=32"),
        (["--hook", "h", "--arch", "bogus", "--out", str(tmp_path / "c")], "unknown SAE architecture 'bogus'"),
    ]
    for extra, msg in cases:
        p = subprocess.run(base + extra, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=120)
        assert p.returncode == 2, p.stderr
        assert msg in p.stderr and p.stderr.strip().count("\n") == 0, p.stderr


def test_existing_run_needs_resume(tmp_path):
    X = np.random.default_rng(0).standard_normal((1024, 8)).astype(np.float32)
    cfg = TrainConfig(hook="h", arch="topk", k=2, d_sae=16, tokens=512, batch_size=256, out=str(tmp_path / "o"),
                      progress=False)
    train(cfg, ArraySource({"h": X}))
    with pytest.raises(SaekitError, match="pass --resume"):
        train(cfg, ArraySource({"h": X}))
    with pytest.raises(SaekitError, match="--resume: k was 2"):
        train(cfg.replace(k=3, resume=True), ArraySource({"h": X}))


# ---- resume after SIGKILL -----------------------------------------------------------------------
def _train_cmd(store: Path, out: Path, *extra: str) -> list[str]:
    return [PY, "-m", "saekit", "train", "--store", str(store), "--hook", "h", "--arch", "topk", "--k", "3",
            "--expansion", "4", "--tokens", "60000", "--batch-size", "128", "--lr", "3e-3", "--seed", "7",
            "--out", str(out), "--no-progress", "--checkpoint-every", "20", "--log-every", "5", *extra]


def wait_for_checkpoint(proc: subprocess.Popen, state: Path, step: int, timeout: float = 240) -> None:
    """Until the running ``proc`` has checkpointed ``step`` steps or more into ``state``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if state.exists() and torch.load(state, weights_only=False)["step"] >= step:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed"


@pytest.mark.parametrize("on_device", ["on", "off"])
def test_resume_after_sigkill_gives_the_same_weights(tmp_path, on_device):
    store = make_store(tmp_path / "s.h5")
    ref = subprocess.run(_train_cmd(store, tmp_path / "ref", "--data-on-device", on_device), capture_output=True, text=True, env=_env(), cwd=ROOT,
                         timeout=300)
    assert ref.returncode == 0, ref.stderr

    out = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(store, out, "--data-on-device", on_device), env=_env(), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    state = out / "trainer_state.pt"
    wait_for_checkpoint(proc, state, 100)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "weights.safetensors").exists()
    killed_at = torch.load(state, weights_only=False)["step"]
    assert 0 < killed_at < 469

    res = subprocess.run(_train_cmd(store, out, "--resume", "--data-on-device", on_device), capture_output=True, text=True, env=_env(), cwd=ROOT,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    a, b = load_file(str(tmp_path / "ref" / "weights.safetensors")), load_file(str(out / "weights.safetensors"))
    for name in a:
        assert torch.equal(a[name], b[name]), name
    ref_lines = MetricsLog.load(tmp_path / "ref").records
    res_lines = MetricsLog.load(out).records
    assert [x.step for x in res_lines] == [x.step for x in ref_lines]
    assert res_lines[-1].fve == pytest.approx(ref_lines[-1].fve)


# ---- DDP ----------------------------------------------------------------------------------------
def test_torchrun_two_processes_match_one_process(tmp_path):
    store = make_store(tmp_path / "s.h5")
    common = ["--store", str(store), "--hook", "h", "--arch", "topk", "--k", "3", "--expansion", "4",
              "--tokens", "5120", "--batch-size", "256", "--lr", "3e-3", "--no-progress"]
    one = subprocess.run([PY, "-m", "saekit.train", *common, "--out", str(tmp_path / "one"), "--data-partitions", "2"],
                         capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=300)
    assert one.returncode == 0, one.stderr
    torchrun = [PY, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29531"]
    two = subprocess.run([*torchrun, "-m", "saekit.train", *common, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=300)
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = load_sae(tmp_path / "one"), load_sae(tmp_path / "two")
    for name in ("W_dec", "W_encT", "b_enc", "b_dec"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), atol=1e-4, rtol=1e-4, msg=name)
    # and the data really was split: a one-partition run sees other batches and ends elsewhere
    other = subprocess.run([PY, "-m", "saekit.train", *common, "--out", str(tmp_path / "other")],
                           capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=300)
    assert other.returncode == 0, other.stderr
    assert (load_sae(tmp_path / "other").W_dec - a.W_dec).abs().max() > 1e-3
