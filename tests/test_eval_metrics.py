"""Evaluation: metrics equal independent numpy formulas; downstream splicing has known answers."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from saekit.common.errors import SaekitError
from saekit.eval import evaluate, evaluate_downstream
from saekit.sae import SAE, SAEConfig
from saekit.train import ArraySource

ROOT = Path(__file__).resolve().parents[1]


# Small-matrix tests run faster and reproduce bit for bit on one thread.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _random_sae(arch="topk", d_in=12, d_sae=40, k=3, **kw) -> SAE:
    sae = SAE.create(SAEConfig(arch=arch, d_in=d_in, d_sae=d_sae, k=k, hook="h", **kw), seed=3)
    with torch.no_grad():
        sae.b_dec.fill_(0.2)
        sae.b_enc.copy_(torch.linspace(-0.5, 0.1, d_sae))
        sae.b_enc[-10:] = -100.0  # ten latents can never fire: dead_frac >= 0.25
    return sae


def numpy_metrics(X: np.ndarray, Xh: np.ndarray, Z: np.ndarray) -> dict:
    X, Xh = X.astype(np.float64), Xh.astype(np.float64)
    mu = X.mean(0)
    err = ((X - Xh) ** 2).sum(1)
    dev = ((X - mu) ** 2).sum(1)
    nx, nh = np.linalg.norm(X, axis=1), np.linalg.norm(Xh, axis=1)
    return {
        "fve": 1 - err.sum() / dev.sum(), "fve_per_token": np.mean(1 - err / dev), "mse": err.sum() / X.size,
        "cosine": np.mean((X * Xh).sum(1) / (nx * nh)), "l2_ratio": np.mean(nh / nx),
        "l0": (Z != 0).sum(1).mean(), "dead_frac": 1 - (Z != 0).any(0).mean(),
    }


@pytest.mark.parametrize("arch,norm", [("topk", "scale"), ("relu", "layernorm"), ("batchtopk", "none")])
def test_metrics_match_numpy_formulas(arch, norm):
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((333, 12)) * 2 + 1).astype(np.float32)
    sae = _random_sae(arch, normalization=norm, norm_scale=0.3 if norm == "scale" else 1.0)
    if arch == "batchtopk":
        sae.threshold.fill_(0.4)
    with torch.no_grad():
        x = torch.from_numpy(X)
        Z = sae.encode(x).numpy()
        Xh = sae.decode(torch.from_numpy(Z), x=x).numpy()
    want = numpy_metrics(X, Xh, Z)
    got = evaluate(sae, ArraySource({"h": X}), batch_size=50)  # several batches, a ragged last one
    assert got["n_rows"] == 333
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
    assert 0.25 <= want["dead_frac"] < 1
    # max_rows evaluates a prefix
    part = evaluate(sae, ArraySource({"h": X}), max_rows=100, batch_size=64)
    assert part["n_rows"] == 100
    assert part["fve"] == pytest.approx(numpy_metrics(X[:100], Xh[:100], Z[:100])["fve"], rel=1e-5)


def test_perfect_reconstruction_scores_one():
    X = np.random.default_rng(1).standard_normal((64, 6)).astype(np.float32)
    sae = _identity_sae(6, "h")
    got = evaluate(sae, ArraySource({"h": X}))
    assert got["fve"] == pytest.approx(1.0) and got["fve_per_token"] == pytest.approx(1.0)
    assert got["mse"] == pytest.approx(0.0, abs=1e-10) and got["cosine"] == pytest.approx(1.0)


def test_eval_errors():
    X = np.zeros((10, 12), np.float32)
    sae = _random_sae()
    with pytest.raises(SaekitError, match="--hook 'other' is not in the store"):
        evaluate(sae, ArraySource({"h": X}), hook="other")
    with pytest.raises(SaekitError, match="expects d_in=12"):
        evaluate(sae, ArraySource({"h": np.zeros((10, 5), np.float32)}))
    X[3, 1] = np.inf
    with pytest.raises(SaekitError, match="NaN or Inf"):
        evaluate(sae, ArraySource({"h": X}))


def _identity_sae(d: int, hook: str) -> SAE:
    """ReLU SAE with latents +e_i and -e_i: relu(x) - relu(-x) = x, an exact reconstruction."""
    sae = SAE.create(SAEConfig(arch="relu", d_in=d, d_sae=2 * d, hook=hook, normalization="none"))
    eye = torch.eye(d)
    with torch.no_grad():
        sae.W_encT.copy_(torch.cat([eye, -eye]))
        sae.W_dec.copy_(torch.cat([eye, -eye]))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae


def test_downstream_lm_ce_loss_recovered_known_answers():
    from saekit.data import load_dataset
    from saekit.models import load_model

    model = load_model("random:gpt2", "cpu")
    ds = load_dataset("bundled:austen")
    samples = [ds[i] for i in range(6)]
    sae = _identity_sae(model.d_model, "blocks.1.hook_resid_post")
    res = evaluate_downstream(sae, model, samples, batch_size=3)
    assert res["kind"] == "lm" and res["n_tokens"] > 50
    assert res["ce_sae"] == pytest.approx(res["ce_clean"], abs=1e-4)
    assert res["ce_loss_score"] == pytest.approx(1.0, abs=1e-3)
    assert res["ce_loss_recovered_kept_tokens"] == pytest.approx(1.0, abs=1e-3)
    assert res["kl_div_score"] == pytest.approx(1.0, abs=1e-3)
    assert res["ce_zero_ablation"] != pytest.approx(res["ce_clean"], abs=1e-3)
    with torch.no_grad():
        sae.b_enc.fill_(-1e6)  # nothing fires and b_dec = 0: the splice equals zero ablation
    res0 = evaluate_downstream(sae, model, samples, batch_size=3)
    assert res0["ce_sae_kept_tokens"] == pytest.approx(res0["ce_zero_ablation_kept_tokens"], abs=1e-6)
    assert res0["ce_loss_recovered_kept_tokens"] == pytest.approx(0.0, abs=1e-6)
    # SAELens keeps BOS clean in the splice but zero-ablates it, so its score is not 0 here
    assert abs(res0["ce_loss_score"]) > 0.05


def test_downstream_vision_classifier_and_embedding_known_answers():
    from saekit.data import load_dataset
    from saekit.models import load_model

    ds = load_dataset("bundled:clipart")
    samples = [ds[i] for i in range(4)]
    vit = load_model("random:vit", "cpu")
    sae = _identity_sae(vit.d_model, "blocks.1.hook_resid_post")
    res = evaluate_downstream(sae, vit, samples, batch_size=4)
    assert res["kind"] == "vision-classifier"
    assert res["top1_agreement"] == 1.0 and res["kl"] == pytest.approx(0.0, abs=1e-6)
    assert res["kl_zero_ablation"] > 0 and res["kl_recovered"] == pytest.approx(1.0, abs=1e-4)

    clip = load_model("random:clip", "cpu")
    hook = next(h for h in clip.hook_names() if h.endswith("hook_resid_post"))
    d = clip.capture(clip.prepare(samples[:1]), [hook])[hook].shape[-1]
    sae = _identity_sae(d, hook)
    res = evaluate_downstream(sae, clip, samples, batch_size=4)
    assert res["kind"] == "vision-embedding"
    assert res["embedding_cosine"] == pytest.approx(1.0, abs=1e-5)
    assert res["embedding_cosine_zero_ablation"] < 0.999


def test_cli_eval_json(tmp_path):
    from stores import ActivationStore

    X = np.random.default_rng(0).standard_normal((500, 12)).astype(np.float32)
    w = ActivationStore.create(tmp_path / "s.h5", hooks={"h": 12}, dtype="float32")
    w.add_samples(np.arange(500, dtype=np.int64), [{"source": str(i)} for i in range(500)])
    w.append("h", X, np.arange(500, dtype=np.int64), np.zeros(500, np.int32))
    w.close()
    from stores.split import holdout_mask

    sae = _random_sae(holdout=0.2, holdout_salt="s")  # a checkpoint that records a held-out split
    sae.save(tmp_path / "sae")
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    p = subprocess.run([sys.executable, "-m", "saekit", "eval", "--sae", str(tmp_path / "sae"), "--store",
                        str(tmp_path / "s.h5"), "--json"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert res["split"]["name"] == "holdout" and res["split"]["fraction"] == 0.2
    got = res["metrics"]["core"]
    held = holdout_mask(np.arange(500), 0.2, "s")
    want = evaluate(sae, ArraySource({"h": X[held]}), split="all")
    assert got["n_rows"] == held.sum()
    for key in ("l0", "fve", "fve_per_token", "dead_frac", "mse", "cosine", "l2_ratio"):
        assert got[key] == pytest.approx(want[key], rel=1e-6), key
    bad = subprocess.run([sys.executable, "-m", "saekit", "eval", "--sae", str(tmp_path / "nope"), "--store",
                          str(tmp_path / "s.h5")], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and "does not exist" in bad.stderr
