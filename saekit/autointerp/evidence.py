"""The windows a latent is explained on and scored on (see windows.py and sampling.py).

Explaining and scoring windows are drawn across the latent's activation quantiles and never
overlap; non-activating windows are random (or "similar", negatives.py) windows where the latent
never fires. Each `Example` carries its window's nonzero activations so it can be drawn marked."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from saekit.autointerp.negatives import SimilarNegatives
from saekit.autointerp.sampling import random_negatives, split_quantiles
from saekit.autointerp.windows import LatentWindows, WindowTable

if TYPE_CHECKING:
    from stores import ActivationStore


@dataclass(frozen=True)
class Example:
    """One window as evidence: its sample and position span, the latent's max activation in it
    (0 for non-activating windows) and its nonzero activations at store positions."""

    sample_id: int
    activation: float
    token_acts: np.ndarray | None = None
    positions: np.ndarray | None = None
    start: int = 0
    stop: int | None = None   # None: to the end of the sample (images: the whole image)
    quantile: int = -1        # activation band, 0 the strongest; -1 for non-activating windows
    window: int = -1          # window number in the store's window table


@dataclass(frozen=True)
class LatentEvidence:
    latent: int
    max_act: float
    window_freq: float                # fraction of the store's windows where the latent fires
    explain: tuple[Example, ...]      # shown to the explainer (strongest first)
    positives: tuple[Example, ...]    # held-out activating windows
    negatives: tuple[Example, ...]    # held-out non-activating windows


class EvidenceBuilder:
    def __init__(self, table: WindowTable, latent_windows: dict[int, LatentWindows], sizes: tuple[int, int, int, int],
                 seed: int = 0, negatives: str = "random", store: ActivationStore | None = None,
                 hook: str | None = None):
        self.table = table
        self.latent_windows = latent_windows
        self.n_explain, self.n_score, self.n_negative, self.n_quantiles = sizes
        self.seed = seed
        self.similar = SimilarNegatives(store, hook, table) if negatives == "similar" and store is not None else None

    def _example(self, lw: LatentWindows, w: int, act: float, quantile: int) -> Example:
        start, stop = self.table.span(w)
        pos, acts = lw.tokens_of(w)
        return Example(sample_id=int(self.table.sample_id[w]), activation=float(act), token_acts=acts,
                       positions=pos, start=start, stop=stop, quantile=quantile, window=int(w))

    def build(self, latent: int) -> LatentEvidence:
        lw = self.latent_windows[latent]
        order = np.argsort(-lw.max_act, kind="stable")
        rng = np.random.default_rng([self.seed, latent])
        picked = split_quantiles(len(order), self.n_explain, self.n_score, self.n_quantiles, rng)

        def ex(rank: int, q: int) -> Example:
            k = order[rank]
            return self._example(lw, int(lw.windows[k]), float(lw.max_act[k]), q)

        explain = tuple(ex(r, q) for r, q in picked.explain)
        positives = tuple(ex(r, q) for r, q in picked.score)
        if self.similar is not None:
            silent = np.setdiff1d(np.arange(self.table.n_windows, dtype=np.int64), lw.windows)
            neg = self.similar.pick([e.window for e in explain], silent, self.n_negative, rng)
        else:
            neg = random_negatives(self.table.n_windows, lw.windows, self.n_negative, rng)
        negatives = tuple(self._example(lw, int(w), 0.0, -1) for w in neg)
        return LatentEvidence(latent=latent, max_act=float(lw.max_act.max()) if len(lw.max_act) else 0.0,
                              window_freq=float(self.table.window_freq[latent]), explain=explain,
                              positives=positives, negatives=negatives)
