"""Query vectors in the text space, one per latent, that the vocabulary is scored against:

"decoder"     the decoder direction mapped by the text space's linear part;
"top-images"  the activation-weighted mean embedding of the latent's top samples minus the mean
              over (a sample of) all samples.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from saekit.analysis.naming.embeddings import SampleEmbeddings
from saekit.analysis.naming.sources import ImageSource
from saekit.analysis.naming.text_side import TextSide
from saekit.common.errors import SaekitError
from saekit.models.text_encoder import unit_rows

if TYPE_CHECKING:
    from saekit.results.summaries import LatentSummaries
    from saekit.sae import SAE
    from stores import ActivationStore


def decoder_ok(side: TextSide, sae: "SAE", hook: str) -> bool:
    """Whether the text space can map the SAE's decoder directions."""
    space = side.space
    return space is not None and (
        (space.kind == "linear" and space.feature_hook == hook and getattr(space, "d_feat", -1) == sae.W_dec.shape[1])
        or (space.kind == "clip" and hook == "image_embeds"))


def choose_method(method: str, side: TextSide, sae: "SAE", hook: str, in_text_space: SampleEmbeddings | None,
                  images: ImageSource | None) -> str:
    """``method`` itself, or for "auto": "top-images" when the samples' embeddings can be had, else "decoder"."""
    if method != "auto":
        return method
    space = side.space
    top_ok = space is None or in_text_space is not None or (
        space.kind == "clip" and images is not None and images.available)
    return "top-images" if top_ok or not decoder_ok(side, sae, hook) else "decoder"


def decoder_query(side: TextSide, sae: "SAE", hook: str, live: np.ndarray, method: str) -> np.ndarray:
    if not decoder_ok(side, sae, hook):
        what = side.space.describe() if side.space else "text encoder"
        raise SaekitError(f"--method {method}: the text space ({what}) "
                          f"cannot map decoder directions of hook {hook!r}; use --method top-images")
    W = sae.W_dec.detach().float().cpu().numpy()[live]
    return unit_rows(side.space.direction_to_text(W))


def _clip_image_embeddings(store: "ActivationStore", side: TextSide, src: ImageSource | None, top_ids: np.ndarray,
                           seed: int) -> tuple[SampleEmbeddings, np.ndarray]:
    """CLIP without image_embeds in the store: embed the images involved with its own tower."""
    if src is None or not src.available:
        why = src.problem if src is not None else "not an image store"
        raise SaekitError(f"--method top-images with {side.space.describe().get('model')}: the store has no "
                          f"image_embeds and its images cannot be reloaded ({why})")
    all_ids = np.asarray(store.sample_ids, dtype=np.int64)
    background = np.random.default_rng(seed).choice(all_ids, size=min(len(all_ids), 512), replace=False)
    needed = np.unique(np.concatenate([top_ids[top_ids >= 0], background]))
    chunks = [side.space.embed_images([src.model_view(int(i)) for i in needed[s:s + 64]])
              for s in range(0, len(needed), 64)]
    emb = SampleEmbeddings(needed, np.concatenate(chunks), "CLIP image tower")
    return emb, emb.of(background).mean(0)


def _text_sample_embeddings(store: "ActivationStore", side: TextSide, summ: "LatentSummaries", live: np.ndarray,
                            top_ids: np.ndarray, seed: int) -> tuple[SampleEmbeddings, np.ndarray]:
    """Text stores: embed the texts of the samples involved with the text encoder."""
    needed = np.unique(np.concatenate([top_ids[top_ids >= 0], summ.quantile_sample_ids[live].reshape(-1)]))
    needed = needed[needed >= 0]
    all_ids = np.asarray(store.sample_ids, dtype=np.int64)
    background = np.random.default_rng(seed).choice(all_ids, size=min(len(all_ids), 2000), replace=False)
    ids_u = np.unique(np.concatenate([needed, background]))
    texts = [str(store.samples[int(i)].get("text") or "") for i in ids_u]
    emb = SampleEmbeddings(ids_u, side.embed(texts), "text encoder on sample texts")
    return emb, emb.of(background).mean(0)


def top_samples_query(store: "ActivationStore", side: TextSide, summ: "LatentSummaries", live: np.ndarray,
                      top_n: int, in_text_space: SampleEmbeddings | None, images: ImageSource | None,
                      seed: int) -> np.ndarray:
    top_ids = summ.top_sample_ids[live, :top_n]
    space = side.space
    if space is None:
        emb, mean_all = _text_sample_embeddings(store, side, summ, live, top_ids, seed)
    elif in_text_space is None and space.kind == "clip":
        emb, mean_all = _clip_image_embeddings(store, side, images, top_ids, seed)
    elif in_text_space is None:
        raise SaekitError(f"--method top-images needs the text space's features (hook "
                          f"{space.feature_hook!r}) in the store; it has {sorted(store.hooks)}")
    else:
        emb, mean_all = in_text_space, in_text_space.emb.mean(0)
    valid = top_ids >= 0
    safe = np.where(valid, top_ids, top_ids[:, :1])
    e = emb.of(safe.reshape(-1)).reshape(len(live), top_ids.shape[1], -1)
    w = summ.top_values[live, :top_n] * valid
    q = (e * w[..., None]).sum(1) / np.maximum(w.sum(1, keepdims=True), 1e-12) - mean_all
    return unit_rows(q)


def build_query(method: str, side: TextSide, sae: "SAE", hook: str, store: "ActivationStore",
                summ: "LatentSummaries", live: np.ndarray, top_n: int, in_text_space: SampleEmbeddings | None,
                images: ImageSource | None, seed: int) -> np.ndarray:
    """The query per live latent [len(live), D]: one of the two, or for "both" their sum."""
    queries = []
    if method in ("decoder", "both"):
        queries.append(decoder_query(side, sae, hook, live, method))
    if method in ("top-images", "both"):
        queries.append(top_samples_query(store, side, summ, live, top_n, in_text_space, images, seed))
    return sum(queries)
