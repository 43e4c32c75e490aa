"""Latent summaries: one streaming pass over a store hook, encoded with an SAE.

For every latent we keep, in memory bounded by ``d_sae`` (never by the number of samples):

- firing frequency per token row and per sample, mean of positive activations, max activation;
- a histogram of positive activations in units of the latent's max activation;
- the top-K samples by per-sample max activation, with the per-token activations and store
  positions of those samples (for patch heatmaps and text highlights);
- samples spread over the quantiles of the latent's per-sample activation distribution;
- the nearest latents by decoder-direction cosine.

Streaming rule: rows of one sample are contiguous in the store's sequential order, so the rows of
the last sample of each batch are held back and joined to the next batch; every sample is then
seen whole exactly once. Top-K and the quantile reservoir are merged per batch with one
``torch.topk`` over ``[d_sae, K + samples_in_batch]``; per-token activations are copied only for
the (latent, slot) pairs whose occupant changed, so the big ``[d_sae, K, T]`` arrays are never
reordered during the pass.

The histogram is exact in a per-latent dyadic frame: each latent's bins span ``[0, s]`` with
``s`` a power of two at or above its running max; when the max outgrows ``s``, ``s`` doubles and
neighbouring bins merge pairwise (no information is invented). At the end the counts are
re-binned onto shared edges over ``[0, 1]`` (activation / max_act) by linear interpolation of the
cumulative counts within internal bins (the only approximation).

Quantile samples come from a per-latent reservoir of uniformly random firing samples (random keys
merged with the same top-k routine, seeded), sorted by activation and cut into equal-count bands,
lowest band first.

The result document is ``saekit.results.summaries.LatentSummaries``. The pass is split by idea,
one module each (the store, hook and SAE checks are ``saekit.inputs.checks``):
``streaming`` (whole samples out of a store), ``slots`` (top-K merging and the reservoir keys),
``histogram``, ``quantiles``, ``neighbours``, ``compute`` (the pass itself) and ``reuse``
(summaries cached next to an SAE checkpoint).
"""
from __future__ import annotations

from saekit.analysis.summaries.compute import compute_summaries
from saekit.results.fingerprint import sae_fingerprint, store_fingerprint
from saekit.results.summaries import LatentSummaries
from saekit.inputs.checks import check_sae_matches_store, open_store, resolve_hook, sae_dims
from saekit.analysis.summaries.neighbours import decoder_neighbours
from saekit.analysis.summaries.reuse import default_summaries_dir, load_or_compute
from saekit.analysis.summaries.streaming import iter_whole_samples, sample_max_batches

__all__ = [
    "LatentSummaries", "check_sae_matches_store", "compute_summaries",
    "decoder_neighbours", "default_summaries_dir", "iter_whole_samples", "load_or_compute", "open_store",
    "resolve_hook", "sae_dims", "sae_fingerprint", "sample_max_batches", "store_fingerprint",
]
