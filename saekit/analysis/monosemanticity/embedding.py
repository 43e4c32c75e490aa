"""Which embedding the Monosemanticity Score compares images (or texts) with, never the SAE's own input.

Pach et al. 2025 weigh pairs of images by how strongly a latent fires on both and average the cosine
similarity of the pair under an image encoder *other than the model the SAE reads* (DINOv2 for their
CLIP SAEs). Comparing with the SAE's own input (or a linear map of it) makes the score circular: every
latent then looks about as monosemantic as the input space is clustered. The choice, in order:

  1. ``mono_hook`` given: that store hook's mean-pooled features; refused when it is the SAE's hook.
  2. Text stores: the text encoder (offline MiniLM by default) over each sample's text, the context
     the latent fired in.
  3. Image stores: the final embedding of an image encoder, read from the store when it holds that
     hook, else computed on the reloaded images: ``encoder`` when given; for CLIP-style (image-text)
     stores offline DINOv2 ViT-S/14 (``offline:dinov2-small``), the paper's encoder for its CLIP SAEs;
     for other ViTs the store's own model when the SAE sits at another hook (the CLS token of
     ``ln_final.hook_normalized``), else (the SAE reads that final embedding itself) offline DINOv2,
     unless that is the store's model too, in which case it is refused.

At most ``max_samples`` samples (a seeded subset, all when fewer) are embedded; the score is then the
paper's estimator on that subset. ``MonoEmbedding.source`` says what was used and goes in names.json.

``mono_scores`` computes the scores from the store: each image's activation of a latent is its mean over
the image's rows (the SAE's tokens); saekit.analysis.monosemanticity.monosemanticity_scores gives the
paper's score, saekit's centred variant and the subset's mean pair cosine, as `saekit eval` reports them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np

from saekit.analysis.monosemanticity.score import MonosemanticityScores, monosemanticity_scores
from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    from saekit.data import Dataset
    from saekit.models.base import HookedModel
    from saekit.sae import SAE
    from stores import ActivationStore

#: loads a model by spec (a command's ``Inputs.load_model``, so each is loaded once per run)
ModelLoader = Callable[[str], "HookedModel"]

log = logging.getLogger(__name__)

FALLBACK_ENCODER = "offline:dinov2-small"
CLIP_FINAL = "image_embeds"
VIT_FINAL = "ln_final.hook_normalized"


@dataclass(frozen=True)
class MonoEmbedding:
    sample_ids: np.ndarray    # [N] int64
    emb: np.ndarray           # [N, D] float32, unit rows
    source: str


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def sample_subset(ids: np.ndarray, max_samples: int | None, seed: int) -> np.ndarray:
    ids = np.unique(np.asarray(ids, dtype=np.int64))
    if max_samples is None or len(ids) <= max_samples:
        return ids
    return np.sort(np.random.default_rng(seed).choice(ids, size=max_samples, replace=False))


def mean_latent_batches(sae: "SAE", store: "ActivationStore", hook: str, sample_ids: np.ndarray,
                        batch_size: int = 16384) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (sample ids [b], activations [b, d_sae]): each of ``sample_ids``' latents averaged over its rows."""
    import torch

    from saekit.analysis.summaries.streaming import iter_whole_samples

    dev, dt = sae.W_dec.device, sae.W_dec.dtype
    for acts, sid, _ in iter_whole_samples(store, hook, batch_size):
        keep = np.isin(sid, sample_ids)
        if not keep.any():
            continue
        rows, ids = acts[keep], sid[keep]
        with torch.no_grad():
            z = sae.encode(torch.from_numpy(rows).to(dev, dt)).float().cpu().numpy()
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        counts = np.diff(np.r_[starts, len(ids)])
        yield ids[starts], np.add.reduceat(z, starts, axis=0) / counts[:, None]


def mono_scores(sae: "SAE", store: "ActivationStore", hook: str, me: MonoEmbedding) -> MonosemanticityScores:
    """Both Monosemanticity Scores [d_sae] of every latent over the embedded samples of ``me``."""
    order = np.argsort(me.sample_ids)
    batches = ((order[np.searchsorted(me.sample_ids, ids, sorter=order)], acts)
               for ids, acts in mean_latent_batches(sae, store, hook, me.sample_ids))
    return monosemanticity_scores(batches, me.emb, int(sae.W_dec.shape[0]))


def store_dataset(store: "ActivationStore") -> "Dataset":
    """The image dataset recorded in the store (attribute ``data``), reloaded; one-line error when it cannot be."""
    spec = store.attrs.get("data")
    if not spec:
        raise SaekitError("the store does not record its dataset (attribute 'data'), so its images cannot be reloaded")
    from saekit.data import load_dataset

    try:
        return load_dataset(str(spec))
    except SaekitError as exc:
        raise SaekitError(f"the store's dataset {spec!r} cannot be reloaded: {exc}") from None


def final_hook(model: "HookedModel") -> str:
    """The hook holding a vision model's final image embedding (CLIP's image_embeds, else ln_final)."""
    names = set(model.hook_names())
    if CLIP_FINAL in names:
        return CLIP_FINAL
    if VIT_FINAL in names:
        return VIT_FINAL
    raise SaekitError(f"{getattr(model, 'model_id', 'the model')} exposes neither {CLIP_FINAL} nor {VIT_FINAL}: "
                      f"pass --mono-hook or --mono-encoder for the Monosemanticity Score")


def embed_images_with(model: "HookedModel", dataset: "Dataset", sample_ids: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """[N, D] final embeddings of `model` (pooled vector, or the CLS token) for dataset samples."""
    hook = final_hook(model)
    out = []
    for s in range(0, len(sample_ids), batch_size):
        samples = [dataset[int(i)] for i in sample_ids[s:s + batch_size]]
        act = model.capture(model.prepare(samples), [hook])[hook]
        vec = act if act.dim() == 2 else act[:, 0]          # pooled [B, d] or CLS of [B, T, d]
        out.append(vec.float().cpu().numpy())
    return np.concatenate(out)


def choose_mono_embedding(store: "ActivationStore", sae_hook: str, *, modality: str, mono_hook: str | None = None,
                          encoder: str | None = None, dataset: "Dataset | None" = None,
                          embed_texts: Callable[[Sequence[str]], np.ndarray] | None = None,
                          text_encoder_name: str = "text encoder", max_samples: int | None = 1024, seed: int = 0,
                          device: str = "cpu", candidate_ids: np.ndarray | None = None,
                          load_model: ModelLoader | None = None) -> MonoEmbedding:
    """The Monosemanticity Score's embedding for an SAE at `sae_hook` of `store` (module docstring);
    ``candidate_ids``: draw the samples from these (e.g. an evaluation split) instead of the whole store;
    ``load_model``: how an image encoder is loaded (a command's ``Inputs.load_model``; None: loaded here on
    ``device``)."""
    from saekit.analysis.alignment import pooled_features

    if mono_hook is not None:
        if mono_hook == sae_hook:
            raise SaekitError(f"--mono-hook {mono_hook!r} is the SAE's own input: the Monosemanticity Score needs an "
                              f"embedding independent of it (another hook, --mono-encoder, or the default)")
        if mono_hook not in store.hooks:
            raise SaekitError(f"--mono-hook {mono_hook!r} is not in the store (it has {sorted(store.hooks)})")
        ids, feats = pooled_features(store, mono_hook, "mean")
        pool = ids if candidate_ids is None else ids[np.isin(ids, candidate_ids)]
        keep = np.isin(ids, sample_subset(pool, max_samples, seed))
        return MonoEmbedding(ids[keep], _unit(feats[keep]), f"mean-pooled store features at {mono_hook}")

    all_ids = np.asarray(store.sample_ids if candidate_ids is None else candidate_ids, dtype=np.int64)
    ids = sample_subset(all_ids, max_samples, seed)
    if modality == "text":
        if embed_texts is None:
            raise SaekitError("the Monosemanticity Score of a text SAE needs a text encoder")
        texts = [str(store.samples[int(i)].get("text") or "") for i in ids]
        return MonoEmbedding(ids, _unit(embed_texts(texts)), f"{text_encoder_name} over each sample's text")

    own_model = str(store.attrs.get("model_id", ""))
    clip_style = store.attrs.get("modality") == "image-text"
    spec = FALLBACK_ENCODER if encoder is None and clip_style else encoder  # Pach et al. embed CLIP's images by DINOv2
    if spec is None:
        spec = own_model if sae_hook != VIT_FINAL else FALLBACK_ENCODER
        if spec == own_model and VIT_FINAL in store.hooks and sae_hook != VIT_FINAL:
            s_ids, feats = pooled_features(store, VIT_FINAL, "first")
            keep = np.isin(s_ids, ids)
            return MonoEmbedding(s_ids[keep], _unit(feats[keep]), f"{own_model} {VIT_FINAL} (from the store)")
        if spec == own_model and sae_hook == VIT_FINAL:
            raise SaekitError(f"the SAE reads {own_model}'s final embedding and no other image encoder is available: "
                              f"pass --mono-encoder MODEL or --mono-hook HOOK for the Monosemanticity Score")
    if not spec:
        raise SaekitError("the store does not record its model; pass --mono-encoder MODEL for the Monosemanticity Score")
    if dataset is None:
        raise SaekitError(f"the Monosemanticity Score embeds the images with {spec}, but the store's images cannot be "
                          f"reloaded; pass --data (or --mono-hook HOOK)")
    if load_model is None:
        import saekit.models

        model = saekit.models.load_model(spec, device)
    else:
        model = load_model(spec)
    hook = final_hook(model)
    if spec == own_model and hook == sae_hook:
        raise SaekitError(f"--mono-encoder {spec} at {hook} is the SAE's own input; choose another encoder")
    log.info("Monosemanticity Score: embedding %d images with %s %s", len(ids), spec, hook)
    emb = embed_images_with(model, dataset, ids)
    what = "CLS token of " if hook == VIT_FINAL else ""
    return MonoEmbedding(ids, _unit(emb), f"{spec} {what}{hook} on the images")
