"""Latent summaries: known answers against brute force on a planted store."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from saekit.analysis.summaries import compute_summaries, decoder_neighbours
from saekit.results.summaries import LatentSummaries
from saekit.common.errors import SaekitError
from test_summaries_fakes import ArrayStore, LinearReluSAE

HOOK = "blocks.0.hook_resid_post"


def _planted(n_samples=40, d=6, tokens=None, seed=0):
    """Acts with latent i = relu(x_i): per-sample token counts `tokens` (default 5 each)."""
    rng = np.random.default_rng(seed)
    tokens = tokens or [5] * n_samples
    acts, sid, pos = [], [], []
    for s, t in enumerate(tokens):
        a = rng.normal(size=(t, d)).astype(np.float32)
        a[:, d - 1] = -1.0  # the last latent never fires (dead)
        acts.append(a)
        sid += [100 + s] * t
        pos += list(range(t))
    acts = np.concatenate(acts)
    # make latent 0's global max exactly a power of two so the histogram is exact
    i = int(np.argmax(acts[:, 0]))
    acts[i, 0] = 4.0
    store = ArrayStore(HOOK, acts, np.array(sid), np.array(pos))
    eye = torch.eye(d)
    sae = LinearReluSAE(eye, eye, hook=HOOK)
    return store, sae, acts, np.array(sid), np.array(pos)


def _brute(acts, sid):
    z = np.maximum(acts, 0)
    ids = list(dict.fromkeys(sid.tolist()))
    smax = np.stack([z[sid == s].max(0) for s in ids])  # [n_samples, L]
    return z, np.array(ids), smax


def test_stats_and_topk_match_brute_force():
    store, sae, acts, sid, pos = _planted()
    s = compute_summaries(sae, store, HOOK, top_k=4, batch_size=7, progress=False)
    z, ids, smax = _brute(acts, sid)
    L = acts.shape[1]
    assert s.d_sae == L and s.n_samples == 40 and s.n_rows == 200 and s.tokens_per_sample == 5
    np.testing.assert_allclose(s.freq, (z > 0).mean(0), rtol=1e-6)
    np.testing.assert_allclose(s.sample_freq, (smax > 0).mean(0), rtol=1e-6)
    np.testing.assert_allclose(s.max_act, z.max(0), rtol=1e-6)
    mean = np.array([z[:, j][z[:, j] > 0].mean() if (z[:, j] > 0).any() else 0 for j in range(L)])
    np.testing.assert_allclose(s.mean_act, mean, rtol=1e-5)
    assert not s.live[L - 1] and s.live[: L - 1].all()
    for j in range(L - 1):
        order = np.argsort(-smax[:, j], kind="stable")[:4]
        assert s.top_sample_ids[j].tolist() == ids[order].tolist()
        np.testing.assert_allclose(s.top_values[j], smax[order, j], rtol=1e-6)
        for k, o in enumerate(order):
            rows = sid == ids[o]
            np.testing.assert_allclose(s.top_token_acts[j, k], z[rows, j], rtol=1e-3, atol=1e-3)
            assert s.top_positions[j, k].tolist() == pos[rows].tolist()
    assert (s.top_sample_ids[L - 1] == -1).all() and (s.top_values[L - 1] == 0).all()
    # histogram: latent 0's max is exactly 4.0, so the dyadic frame equals the shared one: exact
    expected, _ = np.histogram(z[:, 0][z[:, 0] > 0] / 4.0, bins=s.hist_edges.astype(np.float64))
    assert s.hist_counts[0].tolist() == expected.tolist()
    assert s.hist_counts.sum(1).tolist() == (z > 0).sum(0).tolist()


def test_batch_size_and_seed_do_not_change_results():
    store, sae, *_ = _planted(tokens=[1, 7, 3, 9, 2] * 6)
    a = compute_summaries(sae, store, HOOK, top_k=3, batch_size=4, progress=False)
    b = compute_summaries(sae, store, HOOK, top_k=3, batch_size=1000, progress=False)
    for k in ("freq", "sample_freq", "max_act", "top_sample_ids", "top_values", "top_token_acts",
              "top_positions", "hist_counts", "quantile_sample_ids", "quantile_values", "mean_act"):
        np.testing.assert_allclose(getattr(a, k), getattr(b, k), rtol=1e-6, err_msg=k)
    assert a.tokens_per_sample == 9
    # more firing samples than the reservoir holds: the seed picks which ones, the batch size does not
    store, sae, *_ = _planted(n_samples=150, tokens=[1, 2] * 75)
    runs = [compute_summaries(sae, store, HOOK, top_k=2, n_quantiles=2, per_quantile=2, batch_size=b,
                              seed=sd, progress=False) for b, sd in ((7, 0), (500, 0), (7, 1))]
    assert (runs[0].quantile_sample_ids == runs[1].quantile_sample_ids).all()
    assert (runs[0].quantile_sample_ids != runs[2].quantile_sample_ids).any()


def test_variable_length_samples_pad_with_minus_one():
    tokens = [2, 6, 1, 4] * 5
    store, sae, acts, sid, pos = _planted(n_samples=20, tokens=tokens)
    s = compute_summaries(sae, store, HOOK, top_k=20, batch_size=5, progress=False)
    for j in range(5):
        for k in range(20):
            sample = s.top_sample_ids[j, k]
            if sample < 0:
                continue
            n = int((sid == sample).sum())
            assert (s.top_positions[j, k, :n] >= 0).all() and (s.top_positions[j, k, n:] == -1).all()
    ex = s.top_examples(0)
    assert len(ex[0]["token_acts"]) == tokens[ex[0]["sample_id"] - 100]


def test_quantile_samples_are_firing_and_ordered():
    store, sae, acts, sid, _ = _planted(n_samples=60)
    s = compute_summaries(sae, store, HOOK, top_k=2, n_quantiles=3, per_quantile=2, batch_size=11,
                          progress=False)
    _, ids, smax = _brute(acts, sid)
    lookup = {int(i): k for k, i in enumerate(ids)}
    for j in range(5):
        q_ids = s.quantile_sample_ids[j].reshape(-1)
        q_vals = s.quantile_values[j].reshape(-1)
        got = q_vals[q_ids >= 0]
        assert len(got) >= 3
        assert np.all(np.diff(got) >= 0)  # lowest band first
        for i, v in zip(q_ids, q_vals):
            if i >= 0:
                assert smax[lookup[int(i)], j] == pytest.approx(v) and v > 0
    assert (s.quantile_sample_ids[5] == -1).all()


def test_decoder_neighbours_chunked_equals_full():
    W = torch.randn(37, 8)
    idx, cos = decoder_neighbours(W, n=5, chunk=4)
    Wn = W / W.norm(dim=1, keepdim=True)
    full = (Wn @ Wn.T).numpy()
    np.fill_diagonal(full, -np.inf)
    np.testing.assert_array_equal(idx, np.argsort(-full, axis=1)[:, :5])
    np.testing.assert_allclose(cos, -np.sort(-full, axis=1)[:, :5], rtol=1e-5)


def test_save_load_roundtrip_and_stale_detection(tmp_path):
    store, sae, *_ = _planted()
    s = compute_summaries(sae, store, HOOK, top_k=3, progress=False)
    out = s.save(tmp_path / "summ")
    t = LatentSummaries.load(out)
    for k in ("freq", "top_sample_ids", "top_token_acts", "top_positions", "neighbours", "hist_counts"):
        np.testing.assert_array_equal(getattr(s, k), getattr(t, k))
    assert t.sae_fingerprint == s.sae_fingerprint and t.store_fingerprint == s.store_fingerprint
    t.check_matches(sae=sae, store=store, hook=HOOK)
    with torch.no_grad():
        sae.W_enc[0, 0] += 0.5
    with pytest.raises(SaekitError, match="stale"):
        t.check_matches(sae=sae)
    other, *_ = _planted(seed=1)
    with pytest.raises(SaekitError, match="stale"):
        t.check_matches(store=other)
    with pytest.raises(SaekitError, match="no latent summaries"):
        LatentSummaries.load(tmp_path / "nothing")


def test_sae_store_dimension_mismatch_is_one_clear_error():
    store, _, *_ = _planted(d=6)
    sae = LinearReluSAE(torch.eye(4), torch.eye(4), hook=HOOK)
    with pytest.raises(SaekitError, match="dimension 4 .* dimension 6"):
        compute_summaries(sae, store, HOOK, progress=False)
