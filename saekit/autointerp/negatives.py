""""Similar" non-activating windows (hard negatives): windows where the latent never fires whose
context resembles the activating ones. delphi finds them by sentence-embedding similarity (FAISS);
saekit uses the model's own hooked-layer activations, which need no extra model and work for images
too: each window is the mean of its rows, and the non-activating windows of a seeded random pool
(`POOL` times the number wanted) closest by cosine to the mean of the latent's explaining windows win."""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from saekit.autointerp.windows import WindowTable
    from stores import ActivationStore

POOL = 20


class SimilarNegatives:
    def __init__(self, store: ActivationStore, hook: str, table: WindowTable):
        self.store, self.hook, self.table = store, hook, table
        self._rows = lru_cache(maxsize=4096)(self._read)

    def _read(self, sample_id: int) -> tuple[np.ndarray, np.ndarray]:
        return self.store.rows_for_sample(self.hook, sample_id)

    def vector(self, w: int) -> np.ndarray:
        """The mean hooked-layer activation of window w's rows."""
        acts, pos = self._rows(int(self.table.sample_id[w]))
        start, stop = self.table.span(w)
        keep = (pos >= start) & ((pos < stop) if stop is not None else True)
        rows = acts[keep] if keep.any() else acts
        return np.asarray(rows, np.float64).mean(0)

    def pick(self, reference: list[int], silent: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """`n` windows of `silent` (window numbers where the latent never fires) most similar to the
        `reference` windows."""
        if len(silent) <= n or not reference:
            return silent[:n] if len(silent) > n else silent
        pool = rng.choice(silent, size=min(len(silent), POOL * n), replace=False)
        ref = np.mean([self.vector(w) for w in reference], axis=0)
        vecs = np.stack([self.vector(int(w)) for w in pool])
        cos = vecs @ ref / (np.linalg.norm(vecs, axis=1) * np.linalg.norm(ref) + 1e-12)
        return np.sort(pool[np.argsort(-cos, kind="stable")[:n]])
