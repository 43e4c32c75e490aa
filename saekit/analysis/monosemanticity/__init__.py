"""The Monosemanticity Score of SAE latents (Pach et al. 2025) and the embedding it compares samples in.

``score``: the score itself (Pach et al.'s, saekit's centred variant, the samples' mean pair cosine), exact
and streaming; ``embedding``: which embedding independent of the SAE's input the samples are compared in,
and the per-sample latent activations scored against it. `saekit eval` and `saekit name` both use them.
"""
from __future__ import annotations

from saekit.common.lazy import lazy_exports

__all__ = ["MonoEmbedding", "MonosemanticityScores", "choose_mono_embedding", "mono_scores", "monosemanticity_score",
           "monosemanticity_scores"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "MonosemanticityScores": "saekit.analysis.monosemanticity.score",
    "monosemanticity_score": "saekit.analysis.monosemanticity.score",
    "monosemanticity_scores": "saekit.analysis.monosemanticity.score",
    "MonoEmbedding": "saekit.analysis.monosemanticity.embedding",
    "choose_mono_embedding": "saekit.analysis.monosemanticity.embedding",
    "mono_scores": "saekit.analysis.monosemanticity.embedding"})
