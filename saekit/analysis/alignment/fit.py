"""The fit of `saekit align`: a linear (ridge) map from pooled image features into a text encoder's
space, or, for CLIP models, an evaluation of their own towers.

The ridge map: centre features X and caption embeddings T on the training split, solve
W = argmin ||Xc W - Tc||^2 + alpha ||W||^2 through one SVD for every alpha on a grid, pick alpha by
validation recall@10 inside the training split, refit on the whole training split, then report
held-out image->caption recall@k next to the same pipeline fitted on shuffled captions (the
baseline a map that learned nothing reaches) and chance (k / n_test).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from saekit.analysis.alignment.config import AlignConfig
from saekit.analysis.alignment.text_space import ClipTextSpace, LinearTextSpace
from saekit.common.errors import SaekitError
from saekit.models.text_encoder import unit_rows as _unit
from saekit.results.alignment import AlignMetrics

if TYPE_CHECKING:
    from saekit.models.text_encoder import TextEncoder


def _ridge_path(X: np.ndarray, T: np.ndarray, alphas: Sequence[float]) -> list[np.ndarray]:
    """W for every alpha from one SVD of the centred features."""
    U, s, Vt = np.linalg.svd(X.astype(np.float64), full_matrices=False)
    UtT = U.T @ T.astype(np.float64)
    return [((Vt.T * (s / (s * s + a))) @ UtT).astype(np.float32) for a in alphas]


def recall_at_k(pred_ND: np.ndarray, caption_emb_ND: np.ndarray, captions: Sequence[str], k: int = 10) -> float:
    """Image->caption retrieval over the given set: the share of images whose own caption (or an
    identical caption text) is among the k captions closest to its predicted text vector."""
    pred = _unit(pred_ND)
    cap = _unit(caption_emb_ND)
    n = len(pred)
    if n == 0:
        return float("nan")
    k = min(k, n)
    # group identical caption texts so a duplicate of the true caption counts as a hit
    _, group = np.unique(np.asarray(list(captions), dtype=object).astype(str), return_inverse=True)
    hits = 0
    for s in range(0, n, 1024):
        sims = pred[s:s + 1024] @ cap.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        hits += int((group[top] == group[s:s + 1024, None]).any(1).sum())
    return hits / n


def fit_text_map(feats: np.ndarray, text_emb: np.ndarray, captions: Sequence[str], cfg: AlignConfig,
                 text_encoder: TextEncoder | str | None = None) -> tuple[LinearTextSpace, AlignMetrics]:
    """Fit the ridge map on a train split and report held-out recall@k against the shuffled baseline."""
    N = len(feats)
    if N < 20:
        raise SaekitError(f"fitting a text map needs at least 20 image-caption pairs, the store has {N}")
    if len(text_emb) != N or len(captions) != N:
        raise SaekitError("features, caption embeddings and captions must have one row per sample")
    rng = np.random.default_rng(cfg.seed)
    perm = rng.permutation(N)
    n_test = max(10, int(round(N * cfg.test_frac)))
    test, train = perm[:n_test], perm[n_test:]
    caps = np.asarray(list(captions), dtype=object)

    def fit(train_idx: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        # choose alpha on a validation part of the training split, then refit on all of it
        n_val = max(5, int(round(len(train_idx) * cfg.val_frac)))
        val, tr = train_idx[:n_val], train_idx[n_val:]
        alphas = _alphas(feats[tr], cfg.alphas_rel)
        xm, tm = feats[tr].mean(0), targets[tr].mean(0)
        Ws = _ridge_path(feats[tr] - xm, targets[tr] - tm, alphas)
        scores = [recall_at_k((feats[val] - xm) @ W + tm, text_emb[val], caps[val], cfg.k) for W in Ws]
        alpha = alphas[int(np.argmax(scores))]
        xm, tm = feats[train_idx].mean(0), targets[train_idx].mean(0)
        W = _ridge_path(feats[train_idx] - xm, targets[train_idx] - tm, [alpha])[0]
        return W, xm, tm, alpha

    W, xm, tm, alpha = fit(train, text_emb)
    space = LinearTextSpace(W, xm, tm, text_encoder if text_encoder is not None else cfg.text_encoder,
                            cfg.hook, cfg.pooling, alpha)
    recall = recall_at_k(space.image_to_text(feats[test]), text_emb[test], caps[test], cfg.k)
    shuffled = text_emb.copy()
    shuffled[train] = text_emb[rng.permutation(train)]
    Wb, xb, tb, _ = fit(train, shuffled)
    base = recall_at_k((feats[test] - xb) @ Wb + tb, text_emb[test], caps[test], cfg.k)
    report: AlignMetrics = {
        f"recall_at_{cfg.k}": recall,
        f"baseline_shuffled_recall_at_{cfg.k}": base,
        f"chance_recall_at_{cfg.k}": min(1.0, cfg.k / n_test),
        "n_train": int(len(train)),
        "n_test": int(n_test),
        "alpha": float(alpha),
        "k": cfg.k,
    }
    return space, report


def _alphas(X: np.ndarray, rel: Sequence[float]) -> list[float]:
    # relative to the mean eigenvalue of the centred Gram matrix, so the grid is scale-free
    Xc = X - X.mean(0)
    scale = float((Xc.astype(np.float64) ** 2).sum() / max(1, Xc.shape[1]))
    return [r * max(scale, 1e-12) for r in rel]


def evaluate_clip_space(space: ClipTextSpace, feats: np.ndarray, captions: Sequence[str], cfg: AlignConfig
                        ) -> AlignMetrics:
    """CLIP needs no fit: held-out recall@k of its own image and text towers on the same test split."""
    N = len(feats)
    rng = np.random.default_rng(cfg.seed)
    perm = rng.permutation(N)
    n_test = max(10, int(round(N * cfg.test_frac))) if N >= 20 else N
    test = perm[:n_test]
    caps = np.asarray(list(captions), dtype=object)
    text_emb = space.encode_texts(list(caps[test]))
    recall = recall_at_k(space.image_to_text(feats[test]), text_emb, caps[test], cfg.k)
    return {f"recall_at_{cfg.k}": recall, f"chance_recall_at_{cfg.k}": min(1.0, cfg.k / n_test),
            "n_train": 0, "n_test": int(n_test), "k": cfg.k}
