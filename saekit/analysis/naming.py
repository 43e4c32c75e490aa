"""Vocabulary naming of SAE latents, with top examples, heatmaps and the Monosemanticity Score.

For every live latent (it fired at least once in the store):

- its top-activating samples (from the latent summaries) with, for image stores, a PNG per sample:
  the image as the model saw it (resize + centre crop from the store's preprocessing attributes)
  with the patch grid drawn on it and each patch shaded by the latent's activation there; for text
  stores, the sample's tokens with their activations;
- a vocabulary name: the word whose text embedding is closest (cosine) to a query vector in the text
  space. The query is, by ``method``:
    "decoder"     the decoder direction mapped by the text space's linear part (needs a text space
                  fitted on the SAE's own hook, or CLIP with an SAE on image_embeds);
    "top-images"  the mean text-space embedding of the latent's top samples minus the mean over
                  all samples (so what the top samples share *beyond* the dataset average counts);
    "both"        the sum of the two unit-normalised queries;
    "auto"        "top-images" when the samples' text-space embeddings can be had, else "decoder".
  On the bundled clipart with offline:dinov2-small (experiments/naming_quality.py) top-images names
  hit the top images' captions about 4x as often as decoder names, and "both" lies in between.
  Word embeddings are centred on the vocabulary mean before the cosine, for the same reason.
  For text stores the text space is the text encoder itself and the top samples are their texts.
- the Monosemanticity Score (saekit.analysis.monosemanticity) of the latent's per-sample max
  activations over all samples, against an embedding of each sample: its text-space embedding when
  a text space exists, else the pooled store features at ``mono_hook`` (default: the SAE's hook).

``run_naming`` writes OUT/names.json (schema in docs/architecture.md, "Analysis outputs"),
OUT/heatmaps/*.png and OUT/index.html, atomically (a temp directory renamed at the end).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from saekit.atomic import atomic_directory
from saekit.errors import SaekitError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
METHODS = ("auto", "decoder", "top-images", "both")


@dataclasses.dataclass(frozen=True)
class NameConfig:
    method: str = "auto"
    top_n: int = 10                 # top samples listed per latent
    n_candidates: int = 5           # vocabulary candidates kept per latent
    max_latents: int | None = None  # name only the most frequent N live latents
    heatmap_latents: int = 200      # latents (best named first) that get heatmap PNGs and an HTML card
    heatmaps_per_latent: int = 5
    thumb_px: int = 128
    mono: bool = True
    mono_hook: str | None = None
    summaries_top_k: int = 16
    batch_size: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SaekitError(f"--method {self.method!r} is not one of {', '.join(METHODS)}")
        if self.top_n < 1 or self.n_candidates < 1:
            raise SaekitError("--top-n and --candidates must be >= 1")


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


# ----------------------------------------------------------------------------- scoring
def score_vocab(query_LD: np.ndarray, vocab_emb_VD: np.ndarray, n_candidates: int = 5
                ) -> tuple[np.ndarray, np.ndarray]:
    """Top candidates per query by cosine against vocabulary embeddings centred on their mean.

    Returns (indices [L, C] int64, cosines [L, C] float32), best first. Zero queries score 0."""
    V = _unit(np.asarray(vocab_emb_VD, dtype=np.float32) - np.asarray(vocab_emb_VD, dtype=np.float32).mean(0))
    Q = _unit(query_LD)
    C = min(n_candidates, len(V))
    idx = np.zeros((len(Q), C), dtype=np.int64)
    cos = np.zeros((len(Q), C), dtype=np.float32)
    for s in range(0, len(Q), 2048):
        sims = Q[s:s + 2048] @ V.T
        top = np.argpartition(-sims, C - 1, axis=1)[:, :C]
        vals = np.take_along_axis(sims, top, 1)
        order = np.argsort(-vals, axis=1, kind="stable")
        idx[s:s + 2048] = np.take_along_axis(top, order, 1)
        cos[s:s + 2048] = np.take_along_axis(vals, order, 1)
    return idx, cos


# ----------------------------------------------------------------------------- images
class ImageSource:
    """Reloads the images of a store's samples from the dataset spec recorded at capture (attrs
    ``data``), as the model saw them (resize short side, centre crop to the model's input size)."""

    def __init__(self, store: Any, dataset: Any = None):
        self.attrs = dict(store.attrs)
        self.problem: str | None = None
        self.ds = dataset
        if self.ds is None:
            spec = self.attrs.get("data")
            if not spec:
                self.problem = "the store does not record its dataset (attribute 'data'); pass --data"
            else:
                try:
                    from saekit.data import load_dataset

                    self.ds = load_dataset(str(spec))
                except Exception as exc:  # noqa: BLE001 - any failure means: no images, say why
                    self.problem = f"dataset {spec!r} recorded in the store cannot be reloaded: {exc}"
        if self.ds is not None and getattr(self.ds, "modality", "image") == "text":
            self.problem, self.ds = "the store's dataset has no images", None
        prep = self.attrs.get("preprocessing") or {}
        self.size = int(prep.get("size") or self.attrs.get("image_size") or 224)
        self.resize = int(prep.get("resize") or self.size)
        grid = self.attrs.get("patch_grid")
        self.grid = (int(grid[0]), int(grid[1])) if grid else None
        self.n_prefix = int(self.attrs.get("n_prefix_tokens", 1 if grid else 0))
        self._cache: dict[int, Any] = {}

    @property
    def available(self) -> bool:
        return self.ds is not None

    def model_view(self, sample_id: int):
        """The PIL image of a sample after the model's resize + centre crop (cached)."""
        from PIL import Image

        sid = int(sample_id)
        if sid in self._cache:
            return self._cache[sid]
        img = self.ds[sid].image
        if img is None:
            raise SaekitError(f"sample {sid} of the dataset has no image")
        img = img.convert("RGB")
        scale = self.resize / min(img.size)
        w, h = max(self.size, round(img.width * scale)), max(self.size, round(img.height * scale))
        img = img.resize((w, h), Image.BICUBIC)
        left, top = (w - self.size) // 2, (h - self.size) // 2
        img = img.crop((left, top, left + self.size, top + self.size))
        if len(self._cache) > 2048:
            self._cache.clear()
        self._cache[sid] = img
        return img

    def heatmap_png(self, sample_id: int, token_acts: np.ndarray, positions: np.ndarray, vmax: float,
                    path: Path, px: int = 128) -> bool:
        """Write the image with the patch grid and per-patch activation shading; False if no grid."""
        from PIL import Image, ImageDraw

        img = self.model_view(sample_id).resize((px, px), Image.BICUBIC).convert("RGBA")
        if self.grid is not None:
            gh, gw = self.grid
            heat = np.zeros(gh * gw, dtype=np.float32)
            p = np.asarray(positions) - self.n_prefix
            ok = (p >= 0) & (p < gh * gw)
            heat[p[ok]] = np.asarray(token_acts, dtype=np.float32)[ok]
            heat = np.clip(heat / max(vmax, 1e-12), 0, 1).reshape(gh, gw)
            alpha = Image.fromarray((heat * 170).astype(np.uint8), "L").resize((px, px), Image.NEAREST)
            red = Image.new("RGBA", (px, px), (255, 40, 0, 0))
            red.putalpha(alpha)
            img = Image.alpha_composite(img, red)
            draw = ImageDraw.Draw(img)
            for i in range(1, gh):
                y = round(i * px / gh)
                draw.line([(0, y), (px, y)], fill=(255, 255, 255, 60))
            for j in range(1, gw):
                x = round(j * px / gw)
                draw.line([(x, 0), (x, px)], fill=(255, 255, 255, 60))
        img.convert("RGB").save(path, format="PNG", optimize=False)
        return self.grid is not None


# ----------------------------------------------------------------------------- text tokens
class TokenSource:
    """Token strings of a text store's samples, by re-tokenising /samples text with the model's
    tokenizer (positions in the store are token indices in that sequence)."""

    def __init__(self, store: Any, tokenizer: Any = None):
        self.tokenizer = tokenizer
        self.problem: str | None = None
        self.samples = store.samples
        if self.tokenizer is None:
            model_id = store.attrs.get("model_id")
            try:
                from saekit.models import load_model

                m = load_model(str(model_id))
                self._tokenize = m.tokenize
                self.tokenizer = m.tokenizer
            except Exception as exc:  # noqa: BLE001
                self.problem = f"the tokenizer of {model_id!r} could not be loaded ({exc}); tokens shown by position"
        else:
            self._tokenize = lambda texts: {"input_ids": self.tokenizer(list(texts), return_tensors="pt")["input_ids"]}

    def tokens(self, sample_id: int) -> list[str] | None:
        if self.tokenizer is None:
            return None
        text = str(self.samples[int(sample_id)].get("text") or "")
        ids = self._tokenize([text])["input_ids"][0].tolist()
        return [self.tokenizer.decode([i]) for i in ids]


# ----------------------------------------------------------------------------- main entry
def _open_store(store: Any) -> tuple[Any, str]:
    if isinstance(store, (str, os.PathLike)):
        from stores import ActivationStore

        return ActivationStore.open(store), str(store)
    return store, str(getattr(store, "path", ""))


def _store_modality(store: Any) -> str:
    m = store.attrs.get("dataset_modality") or store.attrs.get("modality") or ""
    if "image" in str(m):
        return "image"
    if m == "text":
        return "text"
    return "image" if store.attrs.get("patch_grid") else "text"


def _default_text_space(store: Any, modality: str, device: str) -> Any:
    """CLIP models bring their own text space; anything else needs `saekit align` (images) or uses
    the text encoder on the samples' texts (text stores, returned as None here)."""
    if modality == "text":
        return None
    model_id = str(store.attrs.get("model_id", ""))
    if store.attrs.get("modality") == "image-text" and model_id:
        from saekit.analysis.alignment import load_text_space

        return load_text_space(model_id, device=device)
    raise SaekitError("naming an image SAE needs a text space: run `saekit align --store ... --out DIR` and pass "
                      "--text-space DIR (or a CLIP model spec)")


def run_naming(
    sae: Any,
    store: Any,
    out: str | os.PathLike,
    *,
    hook: str | None = None,
    sae_dir: str | os.PathLike | None = None,
    vocab: Sequence[str] | str | os.PathLike | None = None,
    text_space: Any = None,
    text_encoder: Any = "offline:minilm",
    dataset: Any = None,
    tokenizer: Any = None,
    cfg: NameConfig = NameConfig(),
    device: str = "cpu",
    progress: bool = False,
) -> dict[str, Any]:
    """Name the live latents of ``sae`` over ``store`` and write OUT (see the module docstring).

    ``text_space``: a TextSpace, an align output directory or a CLIP spec; None picks CLIP's own
    for CLIP stores and the text encoder on sample texts for text stores. ``vocab``: words, a
    file, or None for the default vocabulary. Returns the names.json document."""

    from saekit.analysis import summaries as S
    from saekit.analysis.alignment import TextSpace, load_text_space, pooled_features, resolve_text_encoder
    from saekit.analysis.monosemanticity import MonosemanticityAccumulator

    t0 = time.time()
    store, store_path = _open_store(store)
    hook = S._resolve_hook(sae, store, hook)
    S.check_sae_matches_store(sae, store, hook)
    modality = _store_modality(store)

    # vocabulary
    if vocab is None or isinstance(vocab, (str, os.PathLike)):
        from saekit.data.vocab import load_vocab

        vocab_src = str(vocab) if vocab is not None else "default"
        words = load_vocab(vocab)
    else:
        words, vocab_src = list(vocab), "given"
        if not words:
            raise SaekitError("the vocabulary is empty (expected at least one word)")

    # text space
    if text_space is None:
        space = _default_text_space(store, modality, device)
    elif isinstance(text_space, TextSpace):
        space = text_space
    else:
        space = load_text_space(text_space, device=device)
    encoder = None
    if space is None:
        encoder = resolve_text_encoder(text_encoder)

    def embed_texts(texts: Sequence[str]) -> np.ndarray:
        if space is not None:
            return space.encode_texts(list(texts))
        from saekit.analysis.alignment import _encode_texts

        return _encode_texts(encoder, list(texts))

    # per-sample embeddings in the text space (image stores) for top-images naming and MS
    sample_ids_all = np.asarray(store.sample_ids, dtype=np.int64)
    emb_ids: np.ndarray | None = None
    emb: np.ndarray | None = None
    mono_embedding = None
    if space is not None and space.feature_hook in store.hooks:
        emb_ids, feats = pooled_features(store, space.feature_hook, space.pooling, progress=progress)
        if getattr(space, "d_feat", feats.shape[1]) != feats.shape[1]:
            raise SaekitError(f"the text space expects {space.d_feat}-d features but store hook "
                              f"{space.feature_hook!r} has {feats.shape[1]}")
        emb = space.image_to_text(feats)
        mono_embedding = f"text space ({space.kind}) of {space.pooling}-pooled {space.feature_hook}"
    if cfg.mono and (cfg.mono_hook is not None or emb is None):
        mh = cfg.mono_hook or hook
        if mh not in store.hooks:
            raise SaekitError(f"--mono-hook {mh!r} is not in the store (it has {sorted(store.hooks)})")
        m_ids, m_feats = pooled_features(store, mh, "mean", progress=progress)
        mono_ids, mono_emb = m_ids, _unit(m_feats)
        mono_embedding = f"mean-pooled store features at {mh}"
    else:
        mono_ids, mono_emb = emb_ids, emb

    # summaries (+ the MS accumulation riding on the same pass when they are computed here)
    mono_acc = None
    order_ids = None
    if cfg.mono and mono_emb is not None:
        order_ids = np.argsort(mono_ids)
        mono_acc = MonosemanticityAccumulator(int(sae.W_dec.shape[0]), mono_emb.shape[1])

    def on_samples(ids: np.ndarray, smax: Any) -> None:
        pos = order_ids[np.searchsorted(mono_ids, ids, sorter=order_ids)]
        mono_acc.update(smax.cpu().numpy(), mono_emb[pos])

    summ = None
    target = S.default_summaries_dir(sae_dir, store, hook) if sae_dir is not None else None
    if target is not None and (target / "summaries.json").is_file():
        try:
            summ = S.LatentSummaries.load(target)
            summ.check_matches(sae=sae, hook=hook)
            if summ.top_k < cfg.top_n:
                summ = None
        except SaekitError:
            summ = None
    if summ is None:
        summ = S.compute_summaries(sae, store, hook, top_k=max(cfg.summaries_top_k, cfg.top_n),
                                   batch_size=cfg.batch_size, seed=cfg.seed, progress=progress,
                                   on_samples=on_samples if mono_acc is not None else None)
        if target is not None:
            summ.save(target)
    elif mono_acc is not None:
        for ids, smax in S.sample_max_batches(sae, store, hook, cfg.batch_size, progress=progress):
            on_samples(ids, smax)
    mono = mono_acc.result() if mono_acc is not None else np.full(summ.d_sae, np.nan)

    live = np.nonzero(summ.live)[0]
    if cfg.max_latents is not None and len(live) > cfg.max_latents:
        live = live[np.argsort(-summ.freq[live], kind="stable")[: cfg.max_latents]]
        live = np.sort(live)
    if len(live) == 0:
        raise SaekitError(f"no latent of the SAE fires on store hook {hook!r}: nothing to name")

    # queries
    vocab_emb = embed_texts(words)
    if vocab_emb.shape[0] != len(words):
        raise SaekitError("the text encoder returned a different number of embeddings than vocabulary words")
    queries: dict[str, np.ndarray] = {}
    decoder_ok = space is not None and (
        (space.kind == "linear" and space.feature_hook == hook and getattr(space, "d_feat", -1) == sae.W_dec.shape[1])
        or (space.kind == "clip" and hook == "image_embeds"))
    method = cfg.method
    if method == "auto":
        top_ok = space is None or emb is not None or (space.kind == "clip" and ImageSource(store, dataset).available)
        method = "top-images" if top_ok or not decoder_ok else "decoder"
    if method in ("decoder", "both"):
        if not decoder_ok:
            raise SaekitError(f"--method {method}: the text space ({space.describe() if space else 'text encoder'}) "
                              f"cannot map decoder directions of hook {hook!r}; use --method top-images")
        W = sae.W_dec.detach().float().cpu().numpy()[live]
        queries["decoder"] = _unit(space.direction_to_text(W))
    if method in ("top-images", "both"):
        top_ids = summ.top_sample_ids[live, : cfg.top_n]
        if space is not None and emb is None and space.kind == "clip":
            # CLIP without image_embeds in the store: embed the images involved with its own tower
            src = ImageSource(store, dataset)
            if not src.available:
                raise SaekitError(f"--method top-images with {space.describe().get('model')}: the store has no "
                                  f"image_embeds and its images cannot be reloaded ({src.problem})")
            rng = np.random.default_rng(cfg.seed)
            background = rng.choice(sample_ids_all, size=min(len(sample_ids_all), 512), replace=False)
            needed = np.unique(np.concatenate([top_ids[top_ids >= 0], background]))
            chunks = [space.embed_images([src.model_view(int(i)) for i in needed[s:s + 64]])
                      for s in range(0, len(needed), 64)]
            emb_ids, emb = needed, np.concatenate(chunks)
            mean_all = emb[np.searchsorted(emb_ids, background)].mean(0)
        elif space is not None:
            if emb is None:
                raise SaekitError(f"--method top-images needs the text space's features (hook "
                                  f"{space.feature_hook!r}) in the store; it has {sorted(store.hooks)}")
            mean_all = emb.mean(0)
        if space is not None:
            order_e = np.argsort(emb_ids)

            def emb_of(ids: np.ndarray) -> np.ndarray:
                return emb[order_e[np.searchsorted(emb_ids, ids, sorter=order_e)]]
        else:
            # text stores: embed the texts of the samples involved with the text encoder
            needed = np.unique(np.concatenate([top_ids[top_ids >= 0], summ.quantile_sample_ids[live].reshape(-1)]))
            needed = needed[needed >= 0]
            rng = np.random.default_rng(cfg.seed)
            background = rng.choice(sample_ids_all, size=min(len(sample_ids_all), 2000), replace=False)
            ids_u = np.unique(np.concatenate([needed, background]))
            texts = [str(store.samples[int(i)].get("text") or "") for i in ids_u]
            t_emb = embed_texts(texts)
            mean_all = t_emb[np.searchsorted(ids_u, background)].mean(0)

            def emb_of(ids: np.ndarray) -> np.ndarray:
                return t_emb[np.searchsorted(ids_u, ids)]
        q = np.zeros((len(live), vocab_emb.shape[1]), dtype=np.float32)
        valid = top_ids >= 0
        safe = np.where(valid, top_ids, top_ids[:, :1])
        e = emb_of(safe.reshape(-1)).reshape(len(live), top_ids.shape[1], -1)
        w = summ.top_values[live, : cfg.top_n] * valid
        q = (e * w[..., None]).sum(1) / np.maximum(w.sum(1, keepdims=True), 1e-12) - mean_all
        queries["top-images"] = _unit(q)
    query = sum(queries.values())
    cand_idx, cand_cos = score_vocab(query, vocab_emb, cfg.n_candidates)

    out = Path(out)
    with atomic_directory(out) as tmp:
        (tmp / "heatmaps").mkdir()
        images = ImageSource(store, dataset) if modality == "image" else None
        tokens = TokenSource(store, tokenizer) if modality == "text" else None
        # heatmaps/cards for the best-named latents
        best = np.argsort(-cand_cos[:, 0], kind="stable")[: cfg.heatmap_latents]
        with_cards = set(int(i) for i in best)
        latents = []
        for row, lat in enumerate(live):
            lat = int(lat)
            top = []
            vmax = float(summ.max_act[lat])
            for k in range(min(cfg.top_n, summ.top_k)):
                sid = int(summ.top_sample_ids[lat, k])
                if sid < 0:
                    break
                rec = store.samples[sid] if sid in store.samples else {}
                entry: dict[str, Any] = {"sample_id": sid, "activation": float(summ.top_values[lat, k]),
                                         "label": rec.get("label") or "", "text": str(rec.get("text") or "")[:300],
                                         "heatmap": None}
                pos = summ.top_positions[lat, k]
                acts_k = summ.top_token_acts[lat, k].astype(np.float32)
                keep = pos >= 0
                if not keep.any():
                    keep = np.zeros_like(keep)
                    keep[0] = True
                if images is not None and images.available and row in with_cards and k < cfg.heatmaps_per_latent:
                    rel = f"heatmaps/l{lat}_{k}.png"
                    try:
                        images.heatmap_png(sid, acts_k[keep], pos[keep], vmax, tmp / rel, cfg.thumb_px)
                        entry["heatmap"] = rel
                    except Exception as exc:  # noqa: BLE001 - one bad image must not sink the run
                        images.problem = images.problem or f"image of sample {sid} could not be rendered: {exc}"
                if tokens is not None:
                    strs = tokens.tokens(sid) if row in with_cards else None
                    p = pos[keep]
                    entry["tokens"] = [[(strs[int(i)] if strs is not None and 0 <= int(i) < len(strs) else f"<{int(i)}>"),
                                        float(a)] for i, a in zip(p, acts_k[keep])]
                top.append(entry)
            latents.append({
                "latent": lat,
                "name": words[int(cand_idx[row, 0])],
                "score": float(cand_cos[row, 0]),
                "candidates": [[words[int(i)], float(c)] for i, c in zip(cand_idx[row], cand_cos[row])],
                "mono_score": None if not np.isfinite(mono[lat]) else float(mono[lat]),
                "freq": float(summ.freq[lat]),
                "sample_freq": float(summ.sample_freq[lat]),
                "mean_act": float(summ.mean_act[lat]),
                "max_act": float(summ.max_act[lat]),
                "top": top,
            })
        notes = []
        if images is not None and images.problem:
            notes.append(f"heatmaps: {images.problem}")
        if tokens is not None and tokens.problem:
            notes.append(f"tokens: {tokens.problem}")
        sae_path = str(sae_dir) if sae_dir is not None else ""
        doc = {
            "kind": "names",
            "format_version": FORMAT_VERSION,
            "sae": {"path": sae_path, "fingerprint": summ.sae_fingerprint, "hook": hook, "d_sae": summ.d_sae},
            "store": {"path": store_path, "fingerprint": summ.store_fingerprint, "modality": modality,
                      "n_samples": summ.n_samples},
            "vocab": {"source": vocab_src, "size": len(words)},
            "method": method,
            "text_space": space.describe() if space is not None else {"kind": "text-encoder",
                                                                      "text_encoder": str(text_encoder)},
            "mono_embedding": mono_embedding,
            "params": dataclasses.asdict(cfg),
            "n_live": int(summ.live.sum()),
            "n_named": len(latents),
            "notes": notes,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "seconds": round(time.time() - t0, 1),
            "latents": latents,
        }
        (tmp / "names.json").write_text(json.dumps(doc))
        _write_index(tmp / "index.html", doc, [latents[int(i)] for i in best])
    return doc


def _write_index(path: Path, doc: dict[str, Any], cards: list[dict[str, Any]]) -> None:
    from saekit.analysis.html import esc, highlight_tokens, img, write_report

    head = [["SAE", doc["sae"]["path"] or "(in memory)"], ["hook", doc["sae"]["hook"]],
            ["store", doc["store"]["path"]], ["method", doc["method"]],
            ["vocabulary", f"{doc['vocab']['source']} ({doc['vocab']['size']} words)"],
            ["live / named latents", f"{doc['n_live']} / {doc['n_named']}"],
            ["Monosemanticity embedding", doc["mono_embedding"] or "none"]]
    parts = ['<div class="grid">']
    for lat in cards:
        ms = "n/a" if lat["mono_score"] is None else f"{lat['mono_score']:.3f}"
        cands = ", ".join(f"{esc(w)} ({c:.2f})" for w, c in lat["candidates"][1:])
        body = [f'<div class="card"><b>#{lat["latent"]}: {esc(lat["name"])}</b> '
                f'<span class="muted">score {lat["score"]:.3f} · MS {ms} · freq {lat["freq"]:.2e}</span><br>'
                f'<span class="muted">also: {cands}</span><br>']
        for t in lat["top"]:
            tip = f"sample {t['sample_id']} · act {t['activation']:.3g} · {t.get('label', '')} · {t.get('text', '')[:120]}"
            if t.get("heatmap"):
                body.append(img(t["heatmap"], alt=f"sample {t['sample_id']}", title=tip))
            elif t.get("tokens"):
                vmax = max((a for _, a in t["tokens"]), default=0.0)
                body.append(f'<div class="muted">{highlight_tokens(t["tokens"], vmax)}</div>')
        body.append("</div>")
        parts.append("".join(body))
    parts.append("</div>")
    notes = "".join(f"<p class='muted'>{esc(n)}</p>" for n in doc["notes"])
    write_report(path, "Named SAE latents", [("Run", [["field", "value"]] + head),
                                             (f"Best-named latents ({len(cards)})", notes + "\n".join(parts))])
