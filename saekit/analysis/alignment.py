"""`saekit align`: give image features a text space (``saekit.analysis.text_space``): a fitted linear
(ridge) map into a text encoder's space for encoders without a text tower, or, for CLIP models,
an evaluation of their own towers.

Image features of a sample are its store rows at one hook pooled over tokens ("mean", or "first"
= the sample's first row, e.g. CLS).

The ridge map: centre features X and caption embeddings T on the training split, solve
W = argmin ||Xc W - Tc||^2 + alpha ||W||^2 through one SVD for every alpha on a grid, pick alpha by
validation recall@10 inside the training split, refit on the whole training split, then report
held-out image->caption recall@k next to the same pipeline fitted on shuffled captions (the
baseline a map that learned nothing reaches) and chance (k / n_test).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from saekit.common.atomic import atomic_directory, write_json_atomic
from saekit.analysis.text_space import (FORMAT_VERSION, ClipTextSpace, LinearTextSpace, TextSpace,  # noqa: F401
                                        load_text_space, read_align_json)
from saekit.analysis.align_config import POOLINGS, AlignConfig, AlignRunConfig  # noqa: F401  (part of this module's interface)
from saekit.common.errors import SaekitError
from saekit.models.text_encoder import embed_texts, resolve_text_encoder, unit_rows as _unit

if TYPE_CHECKING:
    from saekit.models.text_encoder import TextEncoder
    from stores import ActivationStore

log = logging.getLogger(__name__)



# ----------------------------------------------------------------------------- store features
def pooled_features(store: ActivationStore, hook: str, pooling: str = "mean", batch_size: int = 8192,
                    progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(sample_ids [N] int64, feats [N, d] float32): each sample's rows at ``hook`` pooled over tokens."""
    from saekit.analysis.summaries import iter_whole_samples

    if pooling not in POOLINGS:
        raise SaekitError(f"--pooling {pooling!r} is not one of {', '.join(POOLINGS)}")
    if hook not in store.hooks:
        raise SaekitError(f"hook {hook!r} is not in the store (it has {sorted(store.hooks)})")
    ids, feats = [], []
    from tqdm.auto import tqdm

    bar = tqdm(total=int(store.n_rows(hook)), desc=f"features {hook}", unit="row", disable=not progress, leave=False)
    for acts, sid, _ in iter_whole_samples(store, hook, batch_size):
        change = np.ones(len(sid), dtype=bool)
        change[1:] = sid[1:] != sid[:-1]
        starts = np.nonzero(change)[0]
        if pooling == "mean":
            sums = np.add.reduceat(acts.astype(np.float64), starts, axis=0)
            counts = np.diff(np.append(starts, len(sid)))
            feats.append((sums / counts[:, None]).astype(np.float32))
        else:
            feats.append(acts[starts])
        ids.append(sid[starts])
        bar.update(len(sid))
    bar.close()
    if not ids:
        raise SaekitError(f"store hook {hook!r} has no committed rows")
    return np.concatenate(ids), np.concatenate(feats)


def captions_for(store: ActivationStore, sample_ids: np.ndarray) -> list[str]:
    """The /samples text of each sample ('' when missing)."""
    samples = store.samples
    out = []
    for s in sample_ids:
        rec = samples[int(s)] if int(s) in samples else {}
        out.append(str(rec.get("text") or ""))
    return out


# ----------------------------------------------------------------------------- fitting
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
                 text_encoder: Any = None) -> tuple[LinearTextSpace, dict[str, Any]]:
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
    report = {
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
                        ) -> dict[str, Any]:
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


def align(store: ActivationStore | str | os.PathLike, cfg: AlignConfig, out: str | os.PathLike | None = None,
          text_encoder: TextEncoder | None = None,
          device: str = "cpu", progress: bool = False) -> tuple[TextSpace, dict[str, Any]]:
    """Fit (or, for a CLIP model, evaluate) the text space for ``store``/``cfg.hook``; write ``out``.

    ``cfg.text_encoder``: a text-encoder spec (``offline:minilm``) -> a fitted ridge map; a CLIP
    model spec (``random:clip``, ``hf:...clip...``) -> the model's own towers (hook should be
    ``image_embeds``)."""
    from saekit.analysis.summaries import store_fingerprint

    if isinstance(store, (str, os.PathLike)):
        from stores import ActivationStore

        store_path = str(store)
        store = ActivationStore.open(store)
    else:
        store_path = str(getattr(store, "path", ""))
    ids, feats = pooled_features(store, cfg.hook, cfg.pooling, progress=progress)
    captions = captions_for(store, ids)
    have = np.array([bool(c.strip()) for c in captions])
    if have.sum() < len(captions):
        log.info("%d of %d samples have no caption; they are left out", int((~have).sum()), len(captions))
    ids, feats = ids[have], feats[have]
    captions = [c for c, h in zip(captions, have) if h]
    if not captions:
        raise SaekitError(f"the store's /samples have no captions (text); `saekit align` needs image-caption pairs")
    spec = cfg.text_encoder
    clip = text_encoder is None and _is_clip_spec(spec)
    if clip:
        space: TextSpace = load_text_space(spec, device=device)
        report = evaluate_clip_space(space, feats, captions, cfg)  # type: ignore[arg-type]
        method = "clip"
    else:
        enc = resolve_text_encoder(text_encoder if text_encoder is not None else spec)
        text_emb = embed_texts(captions, enc)
        space, report = fit_text_map(feats, text_emb, captions, cfg, text_encoder=enc if text_encoder is not None else spec)
        method = "ridge"
    meta = {
        "kind": "align",
        "format_version": FORMAT_VERSION,
        "method": method,
        "text_space": {**space.describe(), **({"text_encoder": spec} if method == "ridge" else {})},
        "store": {"path": store_path, "fingerprint": store_fingerprint(store, cfg.hook), "hook": cfg.hook},
        "params": dataclasses.asdict(cfg),
        "metrics": report,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if out is not None:
        _write_output(Path(out), space, meta)
    return space, meta


def _is_clip_spec(spec: str) -> bool:
    if not isinstance(spec, str) or ":" not in spec:
        return False
    prefix, _, name = spec.partition(":")
    return prefix in ("random", "hf") and "clip" in name.lower()


def _write_output(out: Path, space: TextSpace, meta: dict[str, Any]) -> None:
    """Write into a temp dir next to ``out`` and rename, so a half-written result never looks whole."""
    from saekit.common.html_report import write_report

    with atomic_directory(out) as tmp:
        if isinstance(space, LinearTextSpace):
            space.save(tmp, extra={k: v for k, v in meta.items() if k not in ("kind", "format_version", "method")})
            write_json_atomic(tmp / "align.json", meta, indent=2)
        else:
            write_json_atomic(tmp / "align.json", meta, indent=2)
        m = meta["metrics"]
        rows = [["metric", "value"]] + [[k, f"{v:.4f}" if isinstance(v, float) else str(v)] for k, v in m.items()]
        write_report(tmp / "index.html", "Text alignment", [
            ("Method", f"<p>{meta['method']} into {meta['text_space'].get('text_encoder') or meta['text_space'].get('model')}"
                       f" from hook <code>{meta['store']['hook']}</code> ({meta['text_space']['pooling']} pooling)</p>"),
            ("Held-out image&rarr;caption retrieval", rows),
        ])


def align_command(cfg: AlignRunConfig) -> dict[str, Any]:
    """Fit (or, for CLIP, evaluate) the text space of ``cfg.store``; write ``cfg.out``; return align.json."""
    from saekit.common.device import resolve_device

    if not 0.0 < cfg.fit.test_frac < 0.9:
        raise SaekitError(f"--test-frac must be in (0, 0.9), got {cfg.fit.test_frac}")
    if cfg.fit.k < 1:
        raise SaekitError(f"--k must be >= 1, got {cfg.fit.k}")
    _, meta = align(cfg.store, cfg.fit, out=cfg.out, device=str(resolve_device(cfg.device)), progress=cfg.progress)
    return meta
