"""Monosemanticity Score distribution of an SAE's latents on the evaluated samples (Pach et al. 2025).

Two scores per latent, both reported with the samples' mean pair cosine:
  ms           the paper's: raw cosines of the independent embedding (saekit.analysis.monosemanticity)
  ms_centred   saekit's variant: the embeddings centred on the scored samples' mean first, so a random
               pair of images scores about 0 instead of the mean pair cosine (docs/evaluation.md: why)
Per-image activation of a latent = its mean over the image's rows (the pooled latents of the
encoding pass); image embeddings come from an encoder other than the SAE's input. By default the
encoder saekit.analysis.monosemanticity.embedding chooses from the store's model (the model's final image
embedding on the reloaded images when the SAE sits at an earlier hook, offline DINOv2 when it reads
that final embedding, the offline text encoder over the samples' texts for text stores), except for
CLIP-style stores, whose images are embedded by offline DINOv2 as in the paper; on at most
``max_samples`` of the evaluated samples. ``--ms-embeddings`` overrides it:
  "hook:NAME"   mean-pooled rows of another hook of the same store (a different layer or tower)
  PATH.npy      an array [n, D] indexed by sample id
  "text"        the samples' texts embedded by the offline sentence encoder (all-MiniLM-L6-v2)
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from saekit.analysis.monosemanticity.score import monosemanticity_scores
from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject
from saekit.eval.encode import Encoded
from saekit.eval.rows import EvalRows

if TYPE_CHECKING:
    from saekit.data import Dataset
    from saekit.inputs import Inputs
    from stores import ActivationStore


def sample_embeddings(spec: str, rows: EvalRows, enc: Encoded, source: ActivationStore) -> np.ndarray:
    """Embeddings [S, D] aligned with enc.sample_ids."""
    ids = enc.sample_ids
    if spec.startswith("hook:"):
        hook = spec[len("hook:"):]
        if hook == rows.hook:
            raise SaekitError(f"--ms-embeddings {spec}: the SAE's own input is not an independent encoder; "
                              "name another hook")
        if hook not in source.hooks:
            raise SaekitError(f"--ms-embeddings {spec}: the store has no hook {hook!r}; it has {', '.join(source.hooks)}")
        return np.stack([source.rows_for_sample(hook, int(s))[0].mean(0) for s in ids])
    if spec == "text":
        texts = [rows.texts.get(int(s), "") for s in ids]
        if not all(texts):
            raise SaekitError("--ms-embeddings text needs a text for every evaluated sample; some have none")
        from saekit.models.text_encoder import embed_texts

        return np.asarray(embed_texts(texts), dtype=np.float64)
    path = Path(spec)
    if path.suffix != ".npy" or not path.is_file():
        raise SaekitError(f"--ms-embeddings {spec!r} is not hook:NAME, text, or an existing .npy file")
    emb = np.load(path, mmap_mode="r")
    if emb.ndim != 2 or int(ids.max()) >= len(emb):
        raise SaekitError(f"{path}: expected an array [n_samples, D] indexed by sample id covering id {int(ids.max())}, "
                          f"got shape {emb.shape}")
    return np.asarray(emb[ids], dtype=np.float64)


def _store_dataset(source: ActivationStore, inputs: Inputs | None) -> Dataset:
    """The image dataset the store records, loaded once by ``inputs`` when given."""
    from saekit.analysis.monosemanticity.embedding import store_dataset

    spec = source.attrs.get("data")
    if inputs is None or not spec:
        return store_dataset(source)
    try:
        return inputs.load_dataset(str(spec))
    except SaekitError as exc:
        raise SaekitError(f"the store's dataset {spec!r} cannot be reloaded: {exc}") from None


def chosen_embeddings(rows: EvalRows, enc: Encoded, source: ActivationStore, device: str, max_samples: int | None,
                      seed: int, inputs: Inputs | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(positions in enc.sample_ids, their embeddings, what embedded them) from the encoder
    saekit.analysis.monosemanticity.embedding chooses for the store's model; the store's dataset comes from ``inputs``
    (loaded once per command) when given."""
    from saekit.analysis.monosemanticity.embedding import choose_mono_embedding
    from saekit.results.store_meta import StoreMetadata

    modality = StoreMetadata.from_store(source).sample_modality
    embed = None
    if modality == "text":
        from saekit.models.text_encoder import DEFAULT_TEXT_ENCODER, embed_texts as embed
    me = choose_mono_embedding(source, rows.hook, modality=modality, dataset=None if modality == "text" else
                               _store_dataset(source, inputs), embed_texts=embed, max_samples=max_samples, seed=seed,
                               text_encoder_name=f"text encoder {DEFAULT_TEXT_ENCODER}" if embed else "", device=device,
                               candidate_ids=enc.sample_ids,
                               load_model=inputs.load_model if inputs is not None else None)
    order = np.argsort(enc.sample_ids)
    pos = order[np.searchsorted(enc.sample_ids, me.sample_ids, sorter=order)]
    return pos, me.emb, me.source


def _summary(prefix: str, v: np.ndarray) -> dict[str, float]:
    return {f"{prefix}_mean": float(v.mean()), f"{prefix}_median": float(np.median(v)),
            f"{prefix}_p10": float(np.quantile(v, 0.1)), f"{prefix}_p90": float(np.quantile(v, 0.9)),
            f"{prefix}_std": float(v.std())}


def ms_distribution(enc: Encoded, emb: np.ndarray, source_name: str, positions: np.ndarray | None = None
                    ) -> JSONObject:
    """Both scores of every latent over the evaluated samples (or those at ``positions``, the rows of ``emb``):
    ``ms_*`` with the paper's raw cosines, ``ms_centred_*`` with the embeddings centred on those samples'
    mean, and the samples' mean pair cosine (what the raw score of an indiscriminate latent comes to)."""
    pooled = enc.pooled_z if positions is None else enc.pooled_z[positions]
    if len(pooled) < 2:
        raise SaekitError("the Monosemanticity Score needs at least two evaluated samples")
    scores = monosemanticity_scores([(np.arange(len(pooled)), pooled)], emb, pooled.shape[1])
    raw, centred = scores.ms, scores.ms_centred
    ok = np.isfinite(raw) & np.isfinite(centred)
    if not ok.any():
        raise SaekitError("the Monosemanticity Score is undefined for every latent (no latent varies over the samples)")
    edges = np.linspace(-0.2, 1.0, 13)
    return {"embeddings": source_name, "n_samples": int(len(pooled)), "n_latents": int(ok.sum()),
            "mean_pair_cosine": scores.mean_pair_cosine, **_summary("ms", raw[ok]), **_summary("ms_centred", centred[ok]),
            "hist": {"edges": edges.round(3).tolist(), "counts": np.histogram(raw[ok], bins=edges)[0].tolist()},
            "hist_centred": {"edges": edges.round(3).tolist(),
                             "counts": np.histogram(centred[ok], bins=edges)[0].tolist()}}
