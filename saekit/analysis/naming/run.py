"""`saekit name`: ``name(NameConfig)`` opens the command's inputs once (``saekit.inputs.Inputs``) and runs
``run_naming``, the naming steps in order on them; both return the names.json document."""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from saekit.analysis.naming.config import NameConfig, NamingOptions
from saekit.analysis.naming.document import NamingParts, names_document
from saekit.analysis.naming.embeddings import SampleEmbeddings, mono_embeddings, text_space_embeddings
from saekit.analysis.naming.entries import latent_entries
from saekit.analysis.naming.queries import build_query, choose_method
from saekit.analysis.naming.report import write_index
from saekit.analysis.naming.scoring import score_vocab
from saekit.analysis.naming.sources import ImageSource, TokenSource, Tokenizer
from saekit.analysis.naming.text_side import resolve_text_side
from saekit.analysis.naming.vocab_cache import cached_vocab_embeddings, encoder_name
from saekit.analysis.summaries import load_or_compute
from saekit.common.atomic import atomic_directory
from saekit.common.errors import SaekitError
from saekit.inputs import Inputs
from saekit.results import NamesDocument
from saekit.results.store_meta import StoreMetadata
from saekit.results.summaries import LatentSummaries

if TYPE_CHECKING:
    from saekit.analysis.monosemanticity.score import MonosemanticityScores
    from saekit.analysis.alignment.text_space import TextSpace
    from saekit.models.text_encoder import TextEncoder

log = logging.getLogger(__name__)

FORMAT_VERSION = NamesDocument.FORMAT_VERSION


def name(cfg: NameConfig) -> NamesDocument:
    """Name the live latents of the SAE in ``cfg.sae`` over ``cfg.store``; write ``cfg.out``; return names.json."""
    from saekit.common.device import resolve_device
    from saekit.sae.formats import work_dir

    with Inputs(sae=cfg.sae, store=cfg.store, hook=cfg.hook, data=cfg.data,
                device=str(resolve_device(cfg.device))) as inputs:
        return run_naming(inputs, cfg.out, sae_dir=work_dir(cfg.sae), vocab=cfg.vocab, text_space=cfg.text_space,
                          text_encoder=cfg.text_encoder, options=cfg.options, progress=cfg.progress)


def load_words(vocab: "Sequence[str] | str | os.PathLike | None") -> tuple[list[str], str]:
    """(words, source): the given words, a vocabulary file, or the shipped default vocabulary."""
    if vocab is None or isinstance(vocab, (str, os.PathLike)):
        from saekit.data.vocab import load_vocab

        return load_vocab(vocab), str(vocab) if vocab is not None else "default"
    words = list(vocab)
    if not words:
        raise SaekitError("the vocabulary is empty (expected at least one word)")
    return words, "given"


def summaries_and_mono(inputs: Inputs, sae_dir: str | os.PathLike | None, opts: NamingOptions,
                       mono_emb: SampleEmbeddings | None,
                       progress: bool) -> tuple[LatentSummaries, MonosemanticityScores | None]:
    """The latent summaries (reused from SAE_DIR when fresh) and the latents' Monosemanticity Scores, the
    paper's and the centred one (None without an embedding; saekit.analysis.monosemanticity.embedding.mono_scores)."""
    from saekit.analysis.monosemanticity.embedding import MonoEmbedding, mono_scores

    sae, store, hook = inputs.sae, inputs.store, inputs.hook
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
    inputs: Inputs,
    out: str | os.PathLike,
    *,
    sae_dir: str | os.PathLike | None = None,
    vocab: Sequence[str] | str | os.PathLike | None = None,
    text_space: "TextSpace | str | os.PathLike | None" = None,
    text_encoder: "TextEncoder | str" = "offline:minilm",
    tokenizer: Tokenizer | None = None,
    options: NamingOptions = NamingOptions(),
    progress: bool = False,
) -> NamesDocument:
    """Name the live latents of ``inputs.sae`` over ``inputs.store`` at ``inputs.hook`` and write OUT (see
    ``saekit.analysis.naming``); images come from ``inputs.dataset``, models through ``inputs.load_model``.

    ``text_space``: a TextSpace, an align output directory or a CLIP spec; None picks CLIP's own
    for CLIP stores and the text encoder on sample texts for text stores. ``vocab``: words, a
    file, or None for the default vocabulary. ``tokenizer`` overrides the store's model's for token
    strings. ``sae_dir``: where cached latent summaries live. Returns the names.json document."""
    t0 = time.time()
    sae, store, hook = inputs.sae, inputs.store, inputs.hook
    modality = StoreMetadata.from_store(store).sample_modality
    words, vocab_src = load_words(vocab)
    side = resolve_text_side(inputs, modality, text_space, text_encoder)
    images = ImageSource.of(inputs) if modality == "image" else None
    in_text_space = text_space_embeddings(store, side, progress)
    mono_emb, mono_note = mono_embeddings(inputs, options, modality, side, images)
    summ, mono = summaries_and_mono(inputs, sae_dir, options, mono_emb, progress)
    live = live_latents(summ, options.max_latents, hook)

    vocab_emb = cached_vocab_embeddings(words, encoder_name(side.space, side.encoder_spec), side.embed)
    if vocab_emb.shape[0] != len(words):
        raise SaekitError("the text encoder returned a different number of embeddings than vocabulary words")
    method = choose_method(options.method, side, sae, hook, in_text_space, images)
    query = build_query(method, side, sae, hook, store, summ, live, options.top_n, in_text_space, images, options.seed)
    cand_idx, cand_cos = score_vocab(query, vocab_emb, options.n_candidates)
    best = np.argsort(-cand_cos[:, 0], kind="stable")[: options.heatmap_latents]

    with atomic_directory(Path(out)) as tmp:
        (tmp / "heatmaps").mkdir()
        tokens = TokenSource.of(inputs, tokenizer) if modality == "text" else None
        latents = latent_entries(store, summ, live, words, cand_idx, cand_cos, mono, set(int(i) for i in best),
                                 images, tokens, options, tmp)
        notes = [f"{what}: {src.problem}" for what, src in (("heatmaps", images), ("tokens", tokens))
                 if src is not None and src.problem] + ([mono_note] if mono_note else [])
        parts = NamingParts(summaries=summ, modality=modality, vocab_source=vocab_src, vocab_size=len(words),
                            method=method, side=side, mono_embedding=mono_emb, mono=mono, notes=notes,
                            latents=latents, seconds=time.time() - t0)
        doc = names_document(inputs=inputs, sae_dir=sae_dir, parts=parts, options=options)
        doc.save(tmp)
        write_index(tmp / "index.html", doc, [doc.latents[int(i)] for i in best])
    return doc
