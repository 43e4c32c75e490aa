"""Conformance with ViSAEBench 0.1.0: its own metric code (tests/peers/visaebench_peer.py, run in the peer
venv) on the same codes, labels and embeddings as saekit's M1 (spatial coherence), M3 (preservation)
and the Monosemanticity Score formula it shares with Pach et al."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from saekit.eval.encode import encode_rows
from saekit.eval.localization import feature_localization, image_grid, m1_scores, valid_maps
from saekit.eval.rows import EvalRows, SplitInfo
from saekit.sae import SAE, SAEConfig

from test_interop_peers import peer_python

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / "tests" / "peers" / "visaebench_peer.py"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run_visaebench(cmd: str, tmp: Path, **arrays: np.ndarray) -> dict:
    src, out = tmp / f"{cmd}.npz", tmp / f"{cmd}.json"
    np.savez(src, **arrays)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("PYTHONPATH", None)  # the peer venv must not see saekit
    proc = subprocess.run([str(peer_python()), str(PEER), cmd, str(src), str(out)], capture_output=True, text=True,
                          timeout=600, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text())


def identity_sae(d: int) -> SAE:
    """Codes = the (non-negative) activations: saekit and ViSAEBench then score the same codes."""
    sae = SAE.create(SAEConfig(arch="relu", d_in=d, d_sae=d, hook="h", normalization="none"))
    with torch.no_grad():
        sae.W_encT.copy_(torch.eye(d))
        sae.W_dec.copy_(torch.eye(d))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae


def patch_maps(n_img: int, gh: int, gw: int, n_lat: int, seed: int = 0) -> np.ndarray:
    """Codes [n_img, gh*gw, n_lat]: per (image, latent) 3 to 24 active patches, from a compact blob around a
    random centre to a random scatter (a per-latent mix), values in [0.5, 2]; latent 0 never fires and
    latent 1 is constant on every patch (a map with no variance)."""
    rng = np.random.default_rng(seed)
    P = gh * gw
    rr, cc = np.divmod(np.arange(P), gw)
    centre = rng.integers(0, P, (n_img, n_lat))
    dist = np.hypot(rr[None, None, :] - rr[centre][..., None], cc[None, None, :] - cc[centre][..., None])
    scatter = rng.uniform(0, 6, n_lat)[None, :, None]
    rank = np.argsort(np.argsort(dist + scatter * rng.random((n_img, n_lat, P)), axis=-1), axis=-1)
    k = rng.integers(3, 25, (n_img, n_lat))
    k[rng.random((n_img, n_lat)) < 0.05] = 0
    acts = np.where(rank < k[..., None], rng.uniform(0.5, 2.0, (n_img, n_lat, P)), 0.0)
    acts[:, 0] = 0.0
    acts[:, 1] = 1.0
    return np.ascontiguousarray(acts.transpose(0, 2, 1)).astype(np.float32)


def rows_of(acts: np.ndarray, gh: int, gw: int) -> EvalRows:
    n, P, d = acts.shape
    return EvalRows("h", acts.reshape(-1, d), np.repeat(np.arange(n), P), np.tile(np.arange(P), n),
                    SplitInfo("all", 0.0, ""), attrs={"patch_grid": [gh, gw], "n_prefix_tokens": 0})


@pytest.fixture(scope="module")
def m1_case(tmp_path_factory):
    gh, gw = 5, 5
    acts = patch_maps(330, gh, gw, 520)  # > 500 evaluable latents, most past the 200-image cap
    ref = run_visaebench("m1", tmp_path_factory.mktemp("m1"), acts=acts, grid=np.array([gh, gw]))
    rows = rows_of(acts, gh, gw)
    return rows, encode_rows(identity_sae(acts.shape[-1]), rows), ref


def test_m1_equals_visaebench_feature_localization(m1_case):
    rows, enc, ref = m1_case
    per_latent, count = m1_scores(valid_maps(image_grid(rows, enc), enc, chunk_images=100), enc.d_sae)  # 4 chunks
    theirs = np.array([np.nan if v is None else v for v in ref["per_feature"]])
    ours = np.where(count >= 50, per_latent, np.nan)
    assert ref["n_evaluable"] > 500 and count.max() > 200  # the subsample and the image cap both act
    assert np.array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_allclose(ours[~np.isnan(ours)], theirs[~np.isnan(theirs)], rtol=0, atol=1e-5)
    res = feature_localization(rows, enc)
    assert res["m1_n_latents_scored"] == len(ref["scored"]) == 500
    assert res["m1_morans_i"] == pytest.approx(ref["value"], abs=1e-6)
    assert res["m1_median"] == pytest.approx(ref["median"], abs=1e-5)


def test_m3_preservation_equals_visaebench_downstream_preservation(tmp_path):
    from saekit.eval.preservation import visaebench_preservation

    rng = np.random.default_rng(3)
    n_img, P, d, n_cls = 150, 4, 12, 5
    y = rng.integers(0, n_cls, n_img)
    centres = rng.standard_normal((n_cls, d)) * 0.6
    acts = (centres[y][:, None, :] + rng.standard_normal((n_img, P, d))).astype(np.float32)
    W_dec = (np.eye(d) + 0.8 * rng.standard_normal((d, d))).astype(np.float32)  # a lossy "reconstruction"
    ref = run_visaebench("m3", tmp_path, acts=acts, W_dec=W_dec, labels=y)
    pooled_x = acts.mean(1)
    pooled_xhat = (acts @ W_dec).mean(1)
    names = np.array(["cls" + "abcde"[c] for c in y])  # string labels in the same sorted order as the integers
    ours = visaebench_preservation(pooled_x, pooled_xhat, list(names))
    assert 0.3 < ref["accuracy_original"] and ref["accuracy_gap"] > 0.05  # a case where the two accuracies differ
    for key in ("accuracy_original", "accuracy_reconstructed", "accuracy_gap", "preservation_ratio_raw"):
        assert ours[key] == pytest.approx(ref[key], abs=1e-12), key
    assert ours["preservation_ratio"] == pytest.approx(ref["value"], abs=1e-12)


# ---- Monosemanticity Score: the paper's formula, by hand and by ViSAEBench's M5 code ----------------------
def test_ms_is_the_papers_formula_on_a_hand_computed_case():
    """Pach et al.: ã = min-max normalised activations, MS = Σ_{n<m} ã_n ã_m cos(e_n, e_m) / Σ_{n<m} ã_n ã_m.
    Activations 1, 2, 3, 5 give ã = 0, 1/4, 1/2, 1; the weighted pairs are (1,2) 1/8, (1,3) 1/4, (2,3) 1/2 with
    cosines 0.8, 0.96, 0.6, so MS = (0.1 + 0.24 + 0.3) / 0.875 = 128/175. The six pair cosines average 3.76/6."""
    from saekit.analysis.monosemanticity.score import mean_pair_cosine, monosemanticity_score

    emb = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [0.8, 0.6]]) * np.array([[1.0], [2.0], [0.5], [3.0]])
    acts = np.array([[1.0, 2.0], [2.0, 2.0], [3.0, 0.0], [5.0, 0.0]])  # latent 1: images 0 and 1 only: cos 0.6
    np.testing.assert_allclose(monosemanticity_score(acts, emb), [128 / 175, 0.6], rtol=0, atol=1e-12)
    assert mean_pair_cosine(emb) == pytest.approx(3.76 / 6, abs=1e-12)


def test_ms_equals_visaebench_monosemanticity_over_all_images(tmp_path):
    """ViSAEBench's M5 with top_k_images = every image is the paper's score (its weights are min-max normalised
    over all images); one token per image, so its max-pooling and saekit's mean-pooling coincide."""
    from saekit.analysis.monosemanticity.score import monosemanticity_score

    rng = np.random.default_rng(5)
    n_img, n_lat, d_emb = 40, 30, 16
    acts = np.maximum(rng.standard_normal((n_img, 1, n_lat)) + rng.uniform(-1, 1, n_lat), 0).astype(np.float32)
    acts[:, 0, 0] = 0.0  # a dead latent: no score in either
    emb = (rng.standard_normal((n_img, d_emb)) + 2.0 * rng.standard_normal(d_emb)).astype(np.float32)  # pair cos > 0
    ref = run_visaebench("m5", tmp_path, acts=acts, emb=emb)
    ms = monosemanticity_score(acts[:, 0], emb)
    ours = ms[np.isfinite(ms)]
    assert len(ours) == len(ref["distribution"]) == n_lat - 1
    np.testing.assert_allclose(ours, ref["distribution"], rtol=0, atol=1e-5)
    assert float(ours.mean()) == pytest.approx(ref["value"], abs=1e-6)


def test_m1_reads_patch_rows_after_prefix_tokens_and_leaves_incomplete_images_out():
    gh, gw = 4, 4
    acts = patch_maps(60, gh, gw, 6, seed=1)
    n, P, d = acts.shape
    cls = np.full((n, 1, d), 5.0, np.float32)  # a CLS row that fires everywhere: not a patch, never in a map
    full = np.concatenate([cls, acts], 1).reshape(-1, d)
    sid, pos = np.repeat(np.arange(n), P + 1), np.tile(np.arange(P + 1), n)
    drop = (sid == 7) & (pos == 3)  # image 7 misses one patch row
    rows = EvalRows("h", full[~drop], sid[~drop], pos[~drop], SplitInfo("all", 0.0, ""),
                    attrs={"patch_grid": [gh, gw], "n_prefix_tokens": 1})
    res = feature_localization(rows, encode_rows(identity_sae(d), rows))
    assert res["m1_n_images"] == n - 1 and res["m1_n_images_incomplete"] == 1
    keep = np.arange(n) != 7
    same = feature_localization(rows_of(acts[keep], gh, gw), encode_rows(identity_sae(d), rows_of(acts[keep], gh, gw)))
    assert res["m1_morans_i"] == pytest.approx(same["m1_morans_i"], abs=1e-12)
    few = feature_localization(rows_of(acts[:30], gh, gw), encode_rows(identity_sae(d), rows_of(acts[:30], gh, gw)))
    assert few["m1_morans_i"] is None and "50 images" in few["m1_note"]


def test_the_visaebench_suite_runs_m1_and_m3_on_a_store(tmp_path):
    from saekit.eval import EvalConfig, run_eval

    from test_eval_suite import _store, identity_sae as planted_sae

    store = _store(tmp_path / "s.h5", n=240)
    planted_sae(6).save(tmp_path / "sae")
    res = run_eval(EvalConfig(sae=str(tmp_path / "sae"), store=str(store), suite="visaebench", device="cpu"))
    m = res["metrics"]
    assert set(m) == {"downstream_preservation", "spatial_coherence", "timing_s"}
    assert m["downstream_preservation"]["preservation_ratio"] == 1.0 and m["downstream_preservation"]["accuracy_gap"] == 0
    assert m["spatial_coherence"]["m1_n_images"] == 240 and "morans_i_rook_top8" in m["spatial_coherence"]
