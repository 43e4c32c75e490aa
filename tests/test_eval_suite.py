"""Known answers for every metric of the evaluation suites, and their bad-input errors."""
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
from saekit.eval.encode import encode_rows
from saekit.eval.probing import downstream_preservation, sparse_probing
from saekit.eval.rows import EvalRows, SplitInfo
from saekit.eval.spatial import latent_coherence, morans_i, rook_top8_coherence
from saekit.eval.stability import decoder_stability
from saekit.sae import SAE, SAEConfig

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")
ALL = SplitInfo("all", 0.0, "")


def relu_sae(W_dec: torch.Tensor, hook: str = "h", arch: str = "relu", k: int | None = None) -> SAE:
    """SAE with encoder = decoder^T and no biases (relu: latent j = relu(<x, row j>); topk: the k best rows)."""
    m, d = W_dec.shape
    sae = SAE.create(SAEConfig(arch=arch, d_in=d, d_sae=m, k=k, hook=hook, normalization="none"))
    with torch.no_grad():
        sae.W_encT.copy_(W_dec)
        sae.W_dec.copy_(W_dec)
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae


def identity_sae(d: int) -> SAE:
    eye = torch.eye(d)
    return relu_sae(torch.cat([eye, -eye]))


# ---- sparse probing / preservation ------------------------------------------------------------
def test_planted_latent_equal_to_the_label_probes_perfectly_at_k1():
    rng = np.random.default_rng(0)
    labels = np.array(["cat", "dog", "car"] * 20)
    Z = rng.random((60, 30)).astype(np.float32) * 0.5  # noise latents
    for j, c in enumerate(("cat", "dog", "car")):
        Z[:, 10 + j] = (labels == c).astype(np.float32)  # latent 10+j == label c
    X = rng.standard_normal((60, 8)).astype(np.float32)  # raw activations without class information
    res = sparse_probing(Z, X, list(labels))
    assert res["n_classes"] == 3
    assert res["acc"]["1"] == 1.0 and res["protocol"] == "saebench"
    assert res["raw_acc"] < 0.8  # the raw baseline sees only noise here
    assert res["ks"] == [1, 2, 5, 10, 20]


def test_probing_without_labels_is_an_error_naming_it():
    Z = np.zeros((10, 4), np.float32)
    with pytest.raises(SaekitError, match="labelled"):
        sparse_probing(Z, Z, [""] * 10)
    with pytest.raises(SaekitError, match="too few"):
        sparse_probing(Z, Z, ["a", "b"] * 2 + [""] * 6)


def test_preservation_of_an_exact_sae_is_one_and_of_a_zero_reconstruction_is_lower():
    rng = np.random.default_rng(1)
    labels = np.array(["a", "b", "c"] * 15)
    centers = rng.standard_normal((3, 6)) * 3
    X = (centers[np.searchsorted(["a", "b", "c"], labels)] + rng.standard_normal((45, 6))).astype(np.float32)
    same = downstream_preservation(X, X.copy(), list(labels))
    assert same["acc_raw"] > 0.9 and same["preserved"] == 1.0
    zero = downstream_preservation(X, np.zeros_like(X), list(labels))
    assert zero["acc_reconstruction"] < 0.5


# ---- spatial coherence -------------------------------------------------------------------------
def test_morans_i_known_values():
    blob = np.zeros((1, 8, 8))
    blob[0, :4, :4] = 1.0  # one compact quadrant
    checker = (np.add.outer(np.arange(8), np.arange(8)) % 2).astype(float)[None]
    assert morans_i(blob)[0] > 0.8
    assert morans_i(checker)[0] == pytest.approx(-1.0)
    assert np.isnan(morans_i(np.ones((1, 8, 8)))[0])
    rng = np.random.default_rng(0)
    noise = morans_i(rng.random((400, 8, 8)))
    assert abs(noise.mean() - (-1 / 63)) < 0.02  # the expectation under no spatial structure


def _patch_rows(n_img: int = 20, g: int = 8, seed: int = 0) -> EvalRows:
    """Images with a CLS row then g*g patch rows in d=2: dim 0 = a compact blob, dim 1 = scattered dots."""
    rng = np.random.default_rng(seed)
    acts, sid, pos = [], [], []
    for i in range(n_img):
        a = np.zeros((1 + g * g, 2), np.float32)
        r0, c0 = rng.integers(0, g - 3, 2)
        blob = np.zeros((g, g))
        blob[r0:r0 + 3, c0:c0 + 3] = rng.uniform(1, 2)
        a[1:, 0] = blob.ravel()
        a[1 + rng.choice(g * g, 9, replace=False), 1] = rng.uniform(1, 2, 9)
        acts.append(a), sid.append(np.full(1 + g * g, i)), pos.append(np.arange(1 + g * g))
    return EvalRows("h", np.concatenate(acts), np.concatenate(sid), np.concatenate(pos), ALL,
                    attrs={"patch_grid": [g, g], "n_prefix_tokens": 1, "tokens": "all"})


def test_localised_latent_scores_high_and_scattered_near_the_shuffled_baseline():
    rows = _patch_rows()
    enc = encode_rows(relu_sae(torch.eye(2)), rows)
    latents, score, base = latent_coherence(rows, enc)
    assert latents.tolist() == [0, 1]
    assert score[0] > 0.6 and base[0] < 0.1  # the blob: coherent; its shuffle: not
    assert abs(score[1] - base[1]) < 0.1 and abs(score[1]) < 0.15  # scattered dots ~ baseline
    summary = rook_top8_coherence(rows, enc)
    assert summary["rook_top8_n_latents"] == 2 and summary["grid"] == [8, 8]


def test_spatial_coherence_needs_patch_positions():
    rows = _patch_rows()
    enc = encode_rows(relu_sae(torch.eye(2)), rows)
    for attrs in ({}, {"patch_grid": [8, 8], "n_prefix_tokens": 100}):
        bad = EvalRows("h", rows.acts, rows.sample_id, rows.position, ALL, attrs=attrs)
        with pytest.raises(SaekitError, match="patch"):
            rook_top8_coherence(bad, enc)


# ---- stability ---------------------------------------------------------------------------------
def test_stability_self_permutation_and_random():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(64, 64, generator=g)
    a = relu_sae(W)
    perm = relu_sae(W[torch.randperm(64, generator=g)] * 3.0)  # permuted and rescaled rows
    other = relu_sae(torch.randn(64, 64, generator=g))
    assert decoder_stability(a, a)["frac_matched"] == 1.0
    assert decoder_stability(a, perm)["frac_matched"] == 1.0
    rnd = decoder_stability(a, other)
    assert rnd["frac_matched"] == 0.0 and rnd["mean_matched_cosine"] < 0.4
    with pytest.raises(SaekitError, match="d_in"):
        decoder_stability(a, relu_sae(torch.randn(64, 8, generator=g)))
    with pytest.raises(SaekitError, match="hook"):
        decoder_stability(a, relu_sae(W, hook="other"))


# ---- end to end on a store: split, suites, strict errors ----------------------------------------
def _store(path: Path, labelled: bool = True, patches: bool = True, n: int = 400) -> Path:
    from stores import ActivationStore

    rng = np.random.default_rng(0)
    g, d = 4, 6
    classes = ["a", "b", "c", "d"]
    attrs = {"model_id": "planted", "tokens": "patches"}
    if patches:
        attrs.update(patch_grid=[g, g], n_prefix_tokens=1)
    w = ActivationStore.create(path, hooks={"h": d}, dtype="float32", attrs=attrs, chunk_rows={"h": 256})
    y = np.arange(n) % 4
    w.add_samples(np.arange(n, dtype=np.int64), [{"label": classes[c] if labelled else ""} for c in y])
    X = rng.standard_normal((n, g * g, d)).astype(np.float32) * 0.3
    X[np.arange(n), :, y] += 2.0  # the class lights up one dimension on every patch
    w.append("h", X.reshape(-1, d), np.repeat(np.arange(n), g * g), np.tile(np.arange(1, g * g + 1), n).astype(np.int32))
    w.close()
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "saekit", *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300)


def test_vision_suite_on_a_store_reports_the_split_and_every_metric(tmp_path):
    from saekit.eval import EvalConfig, run_eval

    store = _store(tmp_path / "s.h5")
    sae = identity_sae(6).cpu()
    sae.cfg = sae.cfg.replace(holdout=0.25, holdout_salt="t")
    sae.save(tmp_path / "sae")
    ref = tmp_path / "ref"
    identity_sae(6).save(ref)
    res = run_eval(EvalConfig(sae=str(tmp_path / "sae"), store=str(store), suite="vision", reference_sae=str(ref),
                              device="cpu"))
    assert res["split"]["name"] == "holdout" and res["split"]["fraction"] == 0.25
    m = res["metrics"]
    assert 60 < m["core"]["n_samples"] < 140 and m["core"]["fve"] == pytest.approx(1.0)
    assert m["sparse_probing"]["acc"]["1"] == 1.0  # latent j == "class j lit up"
    assert m["downstream_preservation"]["cv_preserved"] == pytest.approx(1.0)
    assert m["downstream_preservation"]["preservation_ratio"] == 1.0 and m["downstream_preservation"]["accuracy_gap"] == 0
    assert "morans_i_rook_top8" in m["spatial_coherence"] and "m1_morans_i" in m["spatial_coherence"]
    assert m["stability"]["frac_matched"] == 1.0
    for name in ("monosemanticity", "autointerp"):
        assert m[name]["skipped"]


def test_cli_bad_inputs_exit_2_with_one_line(tmp_path):
    identity_sae(6).save(tmp_path / "sae")
    plain = _store(tmp_path / "plain.h5", labelled=False, patches=False)
    for suite, needle in (("vision", "labelled"), ("text", "labelled")):
        p = _cli("eval", "--sae", str(tmp_path / "sae"), "--store", str(plain), "--suite", suite)
        assert p.returncode == 2 and needle in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    nopatch = _store(tmp_path / "np.h5", labelled=True, patches=False)
    p = _cli("eval", "--sae", str(tmp_path / "sae"), "--store", str(nopatch), "--suite", "vision")
    assert p.returncode == 2 and "patch" in p.stderr
    # 'all' runs what applies and reports the rest as skipped, with reasons
    p = _cli("eval", "--sae", str(tmp_path / "sae"), "--store", str(plain), "--suite", "all", "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert res["split"]["name"] == "all" and "training rows" in res["split"]["note"]
    assert "labelled" in res["metrics"]["sparse_probing"]["skipped"]
    assert "patch" in res["metrics"]["spatial_coherence"]["skipped"]
    # a held-out split with no rows
    p = _cli("eval", "--sae", str(tmp_path / "sae"), "--store", str(plain), "--split", "holdout", "--holdout",
             "0.0001")
    assert p.returncode == 2 and "no rows" in p.stderr


# ---- compare ------------------------------------------------------------------------------------
def test_compare_writes_json_and_html_over_the_same_rows(tmp_path):
    from saekit.eval.compare import CompareConfig, compare
    from saekit.results import CompareDocument

    store = _store(tmp_path / "s.h5")
    a = identity_sae(6)
    a.cfg = a.cfg.replace(holdout=0.25, holdout_salt="t")
    a.save(tmp_path / "a")
    g = torch.Generator().manual_seed(0)
    b = relu_sae(torch.randn(12, 6, generator=g))
    b.cfg = b.cfg.replace(holdout=0.25, holdout_salt="t")
    b.save(tmp_path / "b")
    res = compare(CompareConfig(saes=(str(tmp_path / "a"), str(tmp_path / "b")), store=str(store),
                                out=str(tmp_path / "cmp"), device="cpu"))
    assert res.split.name == "holdout"
    assert [e.name for e in res.saes] == ["a", "b"]
    fa, fb = (e.metrics["core"]["fve"] for e in res.saes)
    assert fa == pytest.approx(1.0) and fb < 0.9
    assert res.saes[0].metrics["core"]["n_rows"] == res.saes[1].metrics["core"]["n_rows"] == res.n_rows
    assert res.stability[0].a == "a" and 0 <= res.stability[0].frac_matched <= 1
    saved = CompareDocument.load(tmp_path / "cmp")
    assert saved.n_rows == res.n_rows
    html = (tmp_path / "cmp" / "report.html").read_text()
    assert "L0 vs FVE" in html and "<svg" in html and "dead fraction" in html and "skipped" in html


def test_compare_rejects_saes_of_different_hooks_or_splits(tmp_path):
    store = _store(tmp_path / "s.h5")
    identity_sae(6).save(tmp_path / "a")
    relu_sae(torch.eye(6), hook="other").save(tmp_path / "b")
    c = identity_sae(6)
    c.cfg = c.cfg.replace(holdout=0.3, holdout_salt="x")
    c.save(tmp_path / "c")
    d = identity_sae(6)
    d.cfg = d.cfg.replace(holdout=0.1, holdout_salt="x")
    d.save(tmp_path / "d")
    for other, needle in (("b", "hook"), ("d", "different held-out splits")):
        first = "a" if other == "b" else "c"
        p = _cli("compare", "--sae", str(tmp_path / first), "--sae", str(tmp_path / other), "--store", str(store),
                 "--out", str(tmp_path / "o"))
        assert p.returncode == 2 and needle in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert not (tmp_path / "o").exists()


# ---- evaluation document, autointerp column ---------------------------------------------------------
def test_eval_out_writes_the_evaluation_document_with_splits_and_skips(tmp_path):
    from saekit.eval import EvalConfig, run_eval
    from saekit.results.evaluation import EvaluationDocument

    store = _store(tmp_path / "s.h5")
    sae = identity_sae(6)
    sae.cfg = sae.cfg.replace(holdout=0.25, holdout_salt="t")
    sae.save(tmp_path / "sae")
    run_eval(EvalConfig(sae=str(tmp_path / "sae"), store=str(store), suite="all", device="cpu", out=str(tmp_path / "o")))
    doc = EvaluationDocument.load(tmp_path / "o")
    assert doc.metrics["core.fve"].split == "holdout" and doc.value("core.fve") == pytest.approx(1.0)
    assert doc.metrics["sparse_probing.acc.1"].value == 1.0
    assert doc.metrics["sparse_probing.acc.1"].n == doc.value("core.n_samples")
    assert doc.metrics["monosemanticity"].value is None and "embeddings" in doc.metrics["monosemanticity"].skipped
    assert doc.sae.d_sae == 12 and doc.store.path == str(store)


def test_autointerp_column_reads_scored_explanations(tmp_path):
    from saekit.eval.autointerp import autointerp_scores
    from saekit.results import NamesDocument, SaeRef, StoreRef
    from saekit.results.names import Explanation, Judgement, LatentName

    def lat(i: int, det: float | None) -> LatentName:
        ex = None if det is None else Explanation(
            text="cats", client="fake", explained_on=(1,),
            detection=Judgement(balanced_accuracy=det, auc=None, n_positive=1, n_negative=1, judged=()))
        return LatentName(latent=i, name="x", score=0.1, candidates=(), mono_score=None, freq=0.1, sample_freq=0.1,
                          mean_act=1.0, max_act=1.0, top=(), explanation=ex)

    def save(d: Path, latents: tuple) -> Path:
        NamesDocument(sae=SaeRef(fingerprint="fp"), store=StoreRef(), method="explain", n_live=3, n_named=3, notes=(),
                      latents=latents).save(d)
        return d

    scored = save(tmp_path / "a", (lat(0, 0.9), lat(1, 0.7), lat(2, None)))
    res = autointerp_scores(str(scored), "fp")
    assert res["mean"] == pytest.approx(0.8) and res["n_detection"] == 2
    assert "another SAE" in autointerp_scores(str(scored), "other")["skipped"]
    assert "no scored" in autointerp_scores(str(save(tmp_path / "b", (lat(0, None),))), "fp")["skipped"]
    assert "skipped" in autointerp_scores(str(tmp_path / "missing"))
    assert "skipped" in autointerp_scores(None)


# ---- feature absorption (first-letter task) ----------------------------------------------------------
def test_absorption_needs_a_language_model_with_word_tokens():
    from saekit.eval.absorption import feature_absorption

    sae = identity_sae(4)
    with pytest.raises(SaekitError, match="language model"):
        feature_absorption(sae, None)
    with pytest.raises(SaekitError, match="is not at position -6"):  # a byte tokenizer splits the template apart
        feature_absorption(relu_sae(torch.eye(64), hook="blocks.0.hook_resid_post"), "random:gpt2")
