"""Which samples a latent is explained on and which it is scored on.

From the latent summaries' top samples (best first) the even ranks explain the latent and the odd
ranks are held out as activating samples for scoring, so explanation and score never share a
sample and both see comparably strong activations. Non-activating samples are drawn (seeded) from a
pool of random samples on which the latent's maximum activation is exactly 0."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from saekit.results.summaries import LatentSummaries
    from saekit.sae import SAE
    from stores import ActivationStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    """One sample as evidence: its max activation and per-token activations at store positions
    (None for non-activating samples, whose tokens are all 0)."""

    sample_id: int
    activation: float
    token_acts: np.ndarray | None = None
    positions: np.ndarray | None = None


@dataclass(frozen=True)
class LatentEvidence:
    latent: int
    max_act: float
    explain: tuple[Example, ...]
    positives: tuple[Example, ...]  # held-out activating samples
    negatives: tuple[Example, ...]  # held-out non-activating samples


def summaries_top_k(n_explain: int, n_positive: int) -> int:
    """Top samples the summaries must keep so that both halves are full."""
    return max(16, 2 * max(n_explain, n_positive))


class EvidenceBuilder:
    """Splits each latent's top samples and finds non-activating samples in a random pool."""

    def __init__(self, sae: SAE, store: ActivationStore, hook: str, summaries: LatentSummaries, n_explain: int,
                 n_positive: int, n_negative: int, seed: int = 0, pool_size: int | None = None):
        self.summaries = summaries
        self.n_explain, self.n_positive, self.n_negative = n_explain, n_positive, n_negative
        self.seed = seed
        ids = np.asarray(store.sample_ids, dtype=np.int64)
        rng = np.random.default_rng(seed)
        pool = pool_size or max(64, 8 * n_negative)
        self.pool_ids = rng.permutation(ids)[: min(pool, len(ids))]
        self.pool_max = self._pool_max(sae, store, hook)  # [P, d_sae]

    def _pool_max(self, sae: SAE, store: ActivationStore, hook: str) -> np.ndarray:
        import torch

        device = sae.W_dec.device
        rows = []
        with torch.no_grad():
            for sid in self.pool_ids:
                acts, _ = store.rows_for_sample(hook, int(sid))
                x = torch.from_numpy(np.asarray(acts, dtype=np.float32)).to(device=device, dtype=sae.W_dec.dtype)
                rows.append(sae.encode(x).float().amax(0).cpu().numpy())
        return np.stack(rows) if rows else np.zeros((0, int(sae.W_dec.shape[0])), np.float32)

    def build(self, latent: int) -> LatentEvidence:
        top = [Example(int(t["sample_id"]), float(t["activation"]), t["token_acts"], t["positions"])
               for t in self.summaries.top_examples(latent)]
        explain = tuple(top[0::2][: self.n_explain])
        positives = tuple(top[1::2][: self.n_positive])
        used = {e.sample_id for e in top}
        silent = [int(s) for s, m in zip(self.pool_ids, self.pool_max[:, latent]) if m <= 0 and int(s) not in used]
        rng = np.random.default_rng([self.seed, latent])
        picked = [silent[i] for i in rng.permutation(len(silent))[: self.n_negative]]
        return LatentEvidence(latent=latent, max_act=float(self.summaries.max_act[latent]), explain=explain,
                              positives=positives, negatives=tuple(Example(s, 0.0) for s in picked))
