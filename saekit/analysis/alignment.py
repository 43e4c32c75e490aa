"""A text space for image features: the common ``TextSpace`` interface, a fitted linear (ridge) map
from image features to a text-embedding space for encoders without a text tower, and CLIP's own
towers for models that have one.

``TextSpace``:
    image_to_text(feats [N, d_feat]) -> unit-norm text-space vectors [N, D]
    encode_texts(texts) -> unit-norm [n, D]
    direction_to_text(dirs [L, d_feat]) -> [L, D]   the linear part, for decoder directions
    feature_hook, pooling                            which image features it expects

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
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from saekit.atomic import atomic_directory, write_json_atomic
from saekit.errors import SaekitError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
POOLINGS = ("mean", "first")


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


# ----------------------------------------------------------------------------- text encoders
def resolve_text_encoder(spec: Any) -> Any:
    """An object with ``encode(texts) -> unit-norm [n, D]`` (and ``dim``/``name`` when known).

    ``spec``: such an object, or a string like ``offline:minilm`` (saekit.models.text_encoder)."""
    if not isinstance(spec, str) and hasattr(spec, "encode"):  # str has .encode too
        return spec
    if not isinstance(spec, str):
        raise SaekitError(f"text encoder {spec!r} is neither a spec string nor an object with encode(texts)")
    try:
        from saekit.models import text_encoder as te
    except ImportError as exc:
        raise SaekitError(f"text encoder {spec!r} is not available in this build ({exc}); "
                          "install the offline extra with `make offline`") from None
    loader = getattr(te, "load_text_encoder", None)
    if loader is None:
        raise SaekitError("saekit.models.text_encoder has no load_text_encoder(spec)")
    return loader(spec)


def encode_texts(encoder: Any, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
    out = []
    for s in range(0, len(texts), batch_size):
        e = encoder.encode(list(texts[s:s + batch_size]))
        if hasattr(e, "detach"):
            e = e.detach().cpu().numpy()
        out.append(np.asarray(e, dtype=np.float32))
    if not out:
        raise SaekitError("no texts to encode")
    return _unit(np.concatenate(out))


# ----------------------------------------------------------------------------- the interface
class TextSpace(ABC):
    """Where image features and texts meet (see the module docstring)."""

    kind: str = ""
    feature_hook: str | None = None
    pooling: str = "mean"

    @property
    @abstractmethod
    def dim(self) -> int: ...

    @abstractmethod
    def image_to_text(self, feats_ND: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...

    def direction_to_text(self, dirs_LD: np.ndarray) -> np.ndarray:
        """Map feature-space directions (e.g. SAE decoder rows) with the linear part of the map."""
        raise SaekitError(f"the {self.kind} text space cannot map feature directions")

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "feature_hook": self.feature_hook, "pooling": self.pooling, "dim": self.dim}


class LinearTextSpace(TextSpace):
    """text(x) = unit((x - x_mean) @ W + t_mean): a fitted ridge map into a text encoder's space."""

    kind = "linear"

    def __init__(self, W: np.ndarray, x_mean: np.ndarray, t_mean: np.ndarray, text_encoder: str | Any,
                 feature_hook: str | None, pooling: str = "mean", alpha: float = 0.0):
        self.W = np.asarray(W, dtype=np.float32)
        self.x_mean = np.asarray(x_mean, dtype=np.float32)
        self.t_mean = np.asarray(t_mean, dtype=np.float32)
        self.text_encoder_spec = text_encoder if isinstance(text_encoder, str) else getattr(
            text_encoder, "name", type(text_encoder).__name__)
        self._encoder = None if isinstance(text_encoder, str) else text_encoder
        self.feature_hook = feature_hook
        self.pooling = pooling
        self.alpha = float(alpha)

    @property
    def dim(self) -> int:
        return int(self.W.shape[1])

    @property
    def d_feat(self) -> int:
        return int(self.W.shape[0])

    def _check_feats(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.d_feat:
            raise SaekitError(f"the text map expects features [N, {self.d_feat}] (hook {self.feature_hook!r}), "
                              f"got {list(x.shape)}")
        return x

    def image_to_text(self, feats_ND: np.ndarray) -> np.ndarray:
        x = self._check_feats(feats_ND)
        return _unit((x - self.x_mean) @ self.W + self.t_mean)

    def direction_to_text(self, dirs_LD: np.ndarray) -> np.ndarray:
        return self._check_feats(dirs_LD) @ self.W

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        if self._encoder is None:
            self._encoder = resolve_text_encoder(self.text_encoder_spec)
        return encode_texts(self._encoder, texts)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "text_encoder": self.text_encoder_spec, "alpha": self.alpha,
                "d_feat": self.d_feat}

    def save(self, directory: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
        """map.npz (W, x_mean, t_mean) + align.json (kind "align"); written atomically."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.savez(directory / ".map.tmp.npz", W=self.W, x_mean=self.x_mean, t_mean=self.t_mean)
        os.replace(directory / ".map.tmp.npz", directory / "map.npz")
        meta = {"kind": "align", "format_version": FORMAT_VERSION, "method": "ridge",
                "text_space": self.describe(), **(extra or {})}
        write_json_atomic(directory / "align.json", meta, indent=2)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike, text_encoder: Any = None) -> "LinearTextSpace":
        directory = Path(directory)
        meta = read_align_json(directory)
        if meta.get("method") != "ridge" or not (directory / "map.npz").is_file():
            raise SaekitError(f"{directory} holds no fitted text map (expected align.json with method 'ridge' and map.npz)")
        ts = meta["text_space"]
        with np.load(directory / "map.npz") as z:
            return cls(z["W"], z["x_mean"], z["t_mean"], text_encoder or ts["text_encoder"],
                       ts.get("feature_hook"), ts.get("pooling", "mean"), ts.get("alpha", 0.0))


class ClipTextSpace(TextSpace):
    """A CLIP-style model's own joint space: image features at ``image_embeds`` are already in it
    (only normalised), texts go through its text tower."""

    kind = "clip"

    def __init__(self, model: Any, spec: str = ""):
        if getattr(model, "modality", None) != "image-text" or not hasattr(model, "embed_texts"):
            raise SaekitError(f"{spec or model!r} has no text tower; fit a text map with `saekit align` instead")
        self.model = model
        self.spec = spec or getattr(model, "model_id", "clip")
        self.feature_hook = "image_embeds"
        self.pooling = "first"
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.encode_texts(["a"]).shape[1])
        return self._dim

    def image_to_text(self, feats_ND: np.ndarray) -> np.ndarray:
        return _unit(np.asarray(feats_ND, dtype=np.float32))

    def direction_to_text(self, dirs_LD: np.ndarray) -> np.ndarray:
        return np.asarray(dirs_LD, dtype=np.float32)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        for s in range(0, len(texts), 256):
            e = self.model.embed_texts(list(texts[s:s + 256]))
            out.append(e.detach().float().cpu().numpy())
        return _unit(np.concatenate(out))

    def embed_images(self, images: Sequence[Any]) -> np.ndarray:
        return _unit(self.model.embed_images(list(images)).detach().float().cpu().numpy())

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "model": self.spec}


def load_text_space(spec: str | os.PathLike | TextSpace, device: str = "cpu") -> TextSpace:
    """A directory written by `saekit align` (fitted map), or a CLIP model spec (random:clip, hf:...)."""
    if isinstance(spec, TextSpace):
        return spec
    p = Path(spec)
    if p.is_dir():
        meta = read_align_json(p)
        if meta.get("method") == "clip":
            return load_text_space(meta["text_space"]["model"], device)
        return LinearTextSpace.load(p)
    spec = str(spec)
    if ":" not in spec:
        raise SaekitError(f"text space {spec!r} is neither an align output directory nor a CLIP model spec "
                          "(random:clip, hf:<clip model>)")
    from saekit.models import load_model

    return ClipTextSpace(load_model(spec, device=device), spec)


def read_align_json(directory: Path) -> dict[str, Any]:
    path = Path(directory) / "align.json"
    if not path.is_file():
        raise SaekitError(f"{directory} is not an align output directory (no align.json)")
    meta = json.loads(path.read_text())
    if meta.get("kind") != "align":
        raise SaekitError(f"{path} is not an align file (kind={meta.get('kind')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise SaekitError(f"{path} has format_version {meta.get('format_version')}, expected {FORMAT_VERSION}")
    return meta


# ----------------------------------------------------------------------------- store features
def pooled_features(store: Any, hook: str, pooling: str = "mean", batch_size: int = 8192,
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


def captions_for(store: Any, sample_ids: np.ndarray) -> list[str]:
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


@dataclasses.dataclass(frozen=True)
class AlignConfig:
    hook: str
    pooling: str = "mean"
    text_encoder: str = "offline:minilm"
    test_frac: float = 0.2
    val_frac: float = 0.2
    alphas_rel: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0, 10.0)
    k: int = 10
    seed: int = 0


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


def align(store: Any, cfg: AlignConfig, out: str | os.PathLike | None = None, text_encoder: Any = None,
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
        text_emb = encode_texts(enc, captions)
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
    from saekit.analysis.html import write_report

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
