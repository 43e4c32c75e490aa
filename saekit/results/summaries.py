"""LatentSummaries: per-latent statistics of one SAE over one store hook (written by the summary
pass in saekit.analysis.summaries; read by naming, the dashboard and the quickstart report).

Files: SAE_DIR/summaries/<store fingerprint>/summaries.json (scalars) + arrays.npz (the arrays).
Shapes: L = d_sae, K = top_k, T = tokens_per_sample (max tokens per sample seen),
Q = n_quantiles, S = per_quantile, N = n_neighbours.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from saekit.common.errors import SaekitError
from saekit.results.document import Document
from saekit.results.fingerprint import sae_fingerprint, store_fingerprint

if TYPE_CHECKING:
    from saekit.sae import SAE
    from stores import ActivationStore


@dataclass(frozen=True)
class LatentSummaries(Document, kind="latent_summaries", filename="summaries.json", version=1,
                      command="name", what="latent summaries"):

    hook: str                        # the store hook the SAE was run on
    d_sae: int                       # number of latents (L)
    n_samples: int                   # samples seen
    n_rows: int                      # store rows (tokens) seen
    tokens_per_sample: int           # T: the most rows one sample had
    sae_fingerprint: str             # of the SAE (config + weights)
    store_fingerprint: str           # of the store hook
    freq: np.ndarray                 # [L] float32, fraction of rows where z > 0
    sample_freq: np.ndarray          # [L] float32, fraction of samples where any token has z > 0
    mean_act: np.ndarray             # [L] float32, mean of positive activations (0 if dead)
    max_act: np.ndarray              # [L] float32
    hist_edges: np.ndarray           # [n_bins + 1] float32 over [0, 1] in units of max_act
    hist_counts: np.ndarray          # [L, n_bins] int64, positive activations only
    top_sample_ids: np.ndarray       # [L, K] int64, -1 = empty, best first
    top_values: np.ndarray           # [L, K] float32, per-sample max activation (0 where empty)
    top_token_acts: np.ndarray       # [L, K, T] float16
    top_positions: np.ndarray        # [L, K, T] int32, store position of each token, -1 = padding
    quantile_sample_ids: np.ndarray  # [L, Q, S] int64, -1 = none; band 0 = lowest activations
    quantile_values: np.ndarray      # [L, Q, S] float32
    neighbours: np.ndarray           # [L, N] int64, nearest latents by decoder cosine
    neighbour_cos: np.ndarray        # [L, N] float32
    params: dict[str, Any] = field(default_factory=dict)  # top_k, n_quantiles, per_quantile, n_bins, ... of the pass
    created: str = ""                # ISO time of writing

    @property
    def top_k(self) -> int:
        return int(self.top_sample_ids.shape[1])

    @property
    def live(self) -> np.ndarray:
        """Bool [L]: latents that fired at least once."""
        return self.freq > 0

    def top_examples(self, latent: int) -> list[dict[str, int | float | np.ndarray]]:
        """The latent's top samples, best first: {sample_id, activation, token_acts [T'], positions [T']}
        with padding removed."""
        out = []
        for k in range(self.top_k):
            sid = int(self.top_sample_ids[latent, k])
            if sid < 0:
                break
            pos = self.top_positions[latent, k]
            keep = pos >= 0
            if not keep.any():  # a pooled sample: its one row carries position -1
                keep[0] = True
            out.append({
                "sample_id": sid,
                "activation": float(self.top_values[latent, k]),
                "token_acts": self.top_token_acts[latent, k][keep].astype(np.float32),
                "positions": pos[keep].astype(np.int64),
            })
        return out

    def check_matches(self, sae: SAE | None = None, store: ActivationStore | None = None,
                      hook: str | None = None) -> None:
        """Raise SaekitError when these summaries were made from a different SAE, store or hook."""
        if hook is not None and hook != self.hook:
            raise SaekitError(f"latent summaries are for hook {self.hook!r}, not {hook!r}; recompute them")
        if sae is not None:
            fp = sae_fingerprint(sae)
            if fp != self.sae_fingerprint:
                raise SaekitError(
                    f"latent summaries are stale: made from SAE {self.sae_fingerprint}, this SAE is {fp}; recompute them")
        if store is not None:
            fp = store_fingerprint(store, self.hook)
            if fp != self.store_fingerprint:
                raise SaekitError(
                    f"latent summaries are stale: made from store {self.store_fingerprint}, this store is {fp}; recompute them")
