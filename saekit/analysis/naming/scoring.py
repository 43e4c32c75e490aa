"""Vocabulary candidates for query vectors: cosine against vocabulary embeddings centred on their mean."""
from __future__ import annotations

import numpy as np

from saekit.models.text_encoder import unit_rows


def score_vocab(query_LD: np.ndarray, vocab_emb_VD: np.ndarray, n_candidates: int = 5
                ) -> tuple[np.ndarray, np.ndarray]:
    """Top candidates per query by cosine against vocabulary embeddings centred on their mean.

    Returns (indices [L, C] int64, cosines [L, C] float32), best first. Zero queries score 0."""
    V = unit_rows(np.asarray(vocab_emb_VD, dtype=np.float32) - np.asarray(vocab_emb_VD, dtype=np.float32).mean(0))
    Q = unit_rows(query_LD)
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
