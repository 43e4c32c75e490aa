"""Vocabulary names for the concepts an audit reports, when no names.json from `saekit name` is given.

The "top-images" route of saekit.analysis.naming, computed on the audited images themselves: a
latent's query is the mean text-space embedding of its top images minus the mean over a reference
sample of all audited images (what the top images share beyond the dataset average), and its name is
the vocabulary word closest to it (naming.score_vocab, on vocabulary embeddings centred on their mean).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from saekit.analysis.conceptscope.samples import Samples

if TYPE_CHECKING:
    from saekit.analysis.conceptscope.method import AuditBackend
    from saekit.analysis.conceptscope.result import ConceptScopeResult

log = logging.getLogger(__name__)


@torch.no_grad()
def _embed_rows(backend: AuditBackend, samples: Samples, rows: list[int], batch_size: int) -> np.ndarray:
    out = []
    for a in range(0, len(rows), batch_size):
        px = backend.pixels([samples[i].image for i in rows[a:a + batch_size]])
        out.append(backend.embed(px).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 1), np.float32)


def vocabulary_names(backend: AuditBackend, result: ConceptScopeResult, samples: Samples, words: Sequence[str],
                     top_n: int = 8, n_reference: int = 256, seed: int = 0, batch_size: int = 64
                     ) -> dict[int, tuple[str, float]]:
    """{latent: (word, cosine)} for every latent the audit reports."""
    from saekit.analysis.naming import score_vocab
    from saekit.analysis.naming.vocab_cache import cached_vocab_embeddings, encoder_name

    latents = sorted({x.latent for c in result.classes.values() for x in c.target + c.context})
    if not latents or not words:
        return {}
    acts = result.acts_ND
    tops = {j: np.argsort(-acts[:, j], kind="stable")[:top_n].tolist() for j in latents}
    rng = np.random.default_rng(seed)
    ref = np.sort(rng.choice(len(samples), size=min(n_reference, len(samples)), replace=False)).tolist()
    rows = sorted(set(ref) | {i for r in tops.values() for i in r})
    got = result.emb_Ne if result.emb_Ne is not None else _embed_rows(backend, samples, rows, batch_size)
    emb = {i: got[i] for i in rows} if result.emb_Ne is not None else dict(zip(rows, got))
    mean_ref = np.mean([emb[i] for i in ref], axis=0)
    query = np.stack([np.mean([emb[i] for i in tops[j]], axis=0) - mean_ref for j in latents])
    key = encoder_name(getattr(backend, "text_space", None), str(getattr(getattr(backend, "model", None), "model_id",
                                                                        type(backend).__name__)))
    vocab_emb = cached_vocab_embeddings(words, key, lambda w: backend.encode_texts(w).float().cpu().numpy())
    idx, cos = score_vocab(query, vocab_emb, n_candidates=1)
    return {j: (str(words[idx[k, 0]]), float(cos[k, 0])) for k, j in enumerate(latents)}

