"""`run_naming`: the naming steps in order, on objects in memory; `name`: the `saekit name` command
(paths in, names.json document out)."""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from saekit.analysis.naming.embeddings import SampleEmbeddings, mono_embeddings, text_space_embeddings
from saekit.analysis.naming.entries import latent_entries
from saekit.analysis.naming.options import NamingOptions
from saekit.analysis.naming.queries import build_query, choose_method
from saekit.analysis.naming.report import write_index
from saekit.analysis.naming.scoring import score_vocab
from saekit.analysis.naming.vocab_cache import cached_vocab_embeddings, encoder_name
from saekit.analysis.naming.sources import ImageSource, TokenSource
from saekit.analysis.naming.text_side import TextSide, resolve_text_side
from saekit.analysis.summaries import (LatentSummaries, check_sae_matches_store, load_or_compute, open_store,
                                       resolve_hook)
from saekit.common.atomic import atomic_directory
from saekit.common.errors import SaekitError
from saekit.results import NamesDocument
from saekit.results.store_meta import StoreMetadata

if TYPE_CHECKING:
    from saekit.analysis.alignment import TextSpace
    from saekit.analysis.monosemanticity import MonosemanticityScores
    from saekit.data import Dataset
    from saekit.models.text_encoder import TextEncoder
    from saekit.sae import SAE
    from stores import ActivationStore

log = logging.getLogger(__name__)

FORMAT_VERSION = NamesDocument.FORMAT_VERSION


def load_words(vocab: "Sequence[str] | str | os.PathLike | None") -> tuple[list[str], str]:
    """(words, source): the given words, a vocabulary file, or the shipped default vocabulary."""
    if vocab is None or isinstance(vocab, (str, os.PathLike)):
        from saekit.data.vocab import load_vocab

        return load_vocab(vocab), str(vocab) if vocab is not None else "default"
    words = list(vocab)
    if not words:
        raise SaekitError("the vocabulary is empty (expected at least one word)")
    return words, "given"


def summaries_and_mono(sae: "SAE", store: "ActivationStore", hook: str, sae_dir: str | os.PathLike | None,
                       opts: NamingOptions, mono_emb: SampleEmbeddings | None,
                       progress: bool) -> tuple[LatentSummaries, MonosemanticityScores | None]:
    """The latent summaries (reused from SAE_DIR when fresh) and the latents' Monosemanticity Scores, the
    paper's and the centred one (None without an embedding; saekit.analysis.mono_embedding.mono_scores)."""
    from saekit.analysis.mono_embedding import MonoEmbedding, mono_scores

    summ = load_or_compute(sae, sae_dir, store, hook, min_top_k=opts.top_n,
                           top_k=max(opts.summaries_top_k, opts.top_n), batch_size=opts.batch_size,
                           seed=opts.seed, progress=progress)
    if mono_emb is None:
        return summ, None
    return summ, mono_scores(sae, store, hook, MonoEmbedding(mono_emb.ids, mono_emb.emb, mono_emb.described))


def live_latents(summ: LatentSummaries, max_latents: int | None, hook: str) -> np.ndarray:
    """The latents to name: every live one, or the ``max_latents`` most frequent, in index order."""
    live = np.nonzero(summ.live)[0]
    if max_latents is not None and len(live) > max_latents:
        live = np.sort(live[np.argsort(-summ.freq[live], kind="stable")[:max_latents]])
    if len(live) == 0:
        raise SaekitError(f"no latent of the SAE fires on store hook {hook!r}: nothing to name")
    return live


def run_naming(
    sae: "SAE",
    store: "ActivationStore | str | os.PathLike",
    out: str | os.PathLike,
    *,
    hook: str | None = None,
    sae_dir: str | os.PathLike | None = None,
    vocab: Sequence[str] | str | os.PathLike | None = None,
    text_space: "TextSpace | str | os.PathLike | None" = None,
    text_encoder: "TextEncoder | str" = "offline:minilm",
    dataset: Dataset | None = None,
    tokenizer: Any = None,
    cfg: NamingOptions = NamingOptions(),
    device: str = "cpu",
    progress: bool = False,
) -> NamesDocument:
    """Name the live latents of ``sae`` over ``store`` and write OUT (see ``saekit.analysis.naming``).

    ``text_space``: a TextSpace, an align output directory or a CLIP spec; None picks CLIP's own
    for CLIP stores and the text encoder on sample texts for text stores. ``vocab``: words, a
    file, or None for the default vocabulary. ``dataset``/``tokenizer`` override what the store
    records for reloading images / token strings. Returns the names.json document (NamesDocument)."""
    t0 = time.time()
    store_path = str(store) if isinstance(store, (str, os.PathLike)) else str(getattr(store, "path", ""))
    store = open_store(store, sae)
    hook = resolve_hook(sae, store, hook)
    check_sae_matches_store(sae, store, hook)
    modality = StoreMetadata.from_store(store).sample_modality
    words, vocab_src = load_words(vocab)
    side = resolve_text_side(store, modality, text_space, text_encoder, device)
    in_text_space = text_space_embeddings(store, side, progress)
    mono_emb, mono_note = mono_embeddings(store, hook, cfg, modality, side, dataset, device)
    summ, mono = summaries_and_mono(sae, store, hook, sae_dir, cfg, mono_emb, progress)
    live = live_latents(summ, cfg.max_latents, hook)

    vocab_emb = cached_vocab_embeddings(words, encoder_name(side.space, side.encoder_spec), side.embed)
    if vocab_emb.shape[0] != len(words):
        raise SaekitError("the text encoder returned a different number of embeddings than vocabulary words")
    method = choose_method(cfg.method, side, sae, hook, in_text_space, store, dataset)
    query = build_query(method, side, sae, hook, store, summ, live, cfg.top_n, in_text_space, dataset, cfg.seed)
    cand_idx, cand_cos = score_vocab(query, vocab_emb, cfg.n_candidates)
    best = np.argsort(-cand_cos[:, 0], kind="stable")[: cfg.heatmap_latents]

    with atomic_directory(Path(out)) as tmp:
        (tmp / "heatmaps").mkdir()
        images = ImageSource(store, dataset) if modality == "image" else None
        tokens = TokenSource(store, tokenizer) if modality == "text" else None
        latents = latent_entries(store, summ, live, words, cand_idx, cand_cos, mono, set(int(i) for i in best),
                                 images, tokens, cfg, tmp)
        notes = [f"{what}: {src.problem}" for what, src in (("heatmaps", images), ("tokens", tokens))
                 if src is not None and src.problem] + ([mono_note] if mono_note else [])
        doc = NamesDocument.of(names_document(summ, sae_dir, store_path, modality, hook, vocab_src, len(words), method,
                                              side, mono_emb, mono, cfg, notes, latents, time.time() - t0))
        doc.save(tmp)
        write_index(tmp / "index.html", doc.to_json(), [latents[int(i)] for i in best])
    return doc


def names_document(summ: LatentSummaries, sae_dir: str | os.PathLike | None, store_path: str,
                   modality: str, hook: str, vocab_src: str, vocab_size: int, method: str, side: TextSide,
                   mono_emb: SampleEmbeddings | None, mono: MonosemanticityScores | None, opts: NamingOptions,
                   notes: list[str],
                   latents: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """The fields of the names.json document (saekit.results.NamesDocument; docs/formats.md)."""
    return {
        "kind": "names",
        "format_version": FORMAT_VERSION,
        "sae": {"path": str(sae_dir) if sae_dir is not None else "", "fingerprint": summ.sae_fingerprint,
                "hook": hook, "d_sae": summ.d_sae},
        "store": {"path": store_path, "fingerprint": summ.store_fingerprint,
                  "modality": modality, "n_samples": summ.n_samples},
        "vocab": {"source": vocab_src, "size": vocab_size},
        "method": method,
        "text_space": side.describe(),
        "mono_embedding": mono_emb.described if mono_emb is not None else None,
        "mono_mean_pair_cosine": mono.mean_pair_cosine if mono is not None else None,
        "params": dataclasses.asdict(opts),
        "n_live": int(summ.live.sum()),
        "n_named": len(latents),
        "notes": notes,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "seconds": round(seconds, 1),
        "latents": latents,
    }
