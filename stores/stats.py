"""Streaming per-hook statistics: mean, variance, norm quantiles, mean squared norm.

Blocks are merged with Chan's parallel update in float64, so one pass over a store larger
than RAM is enough. Norm quantiles are exact up to ``max_norms`` rows and computed on a
seeded uniform row subsample beyond that. NaN/Inf rows do not crash anything: they
propagate into mean/var and are counted in ``n_nonfinite``.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict

import numpy as np

from stores.layout import NORM_QUANTILES


class HookStats(TypedDict):
    """One hook's activation statistics (ActivationStore.stats)."""

    n: int
    mean: np.ndarray              # [d] float64
    var: np.ndarray               # [d] float64
    norm_quantiles: dict[float, float]
    mean_sq_norm: float
    n_nonfinite: int


MAX_NORMS = 1 << 21


class StreamingStats:
    """Accumulates blocks of rows acts_BD (float32) into running moments."""

    def __init__(self, d: int, n_expected: int | None = None, max_norms: int = MAX_NORMS, seed: int = 0) -> None:
        self.d = d
        self.n = 0
        self.mean = np.zeros(d, np.float64)
        self.m2 = np.zeros(d, np.float64)
        self.sum_sq_norm = 0.0
        self.n_nonfinite = 0
        self._norms: list[np.ndarray] = []
        self._keep = 1.0 if n_expected is None or n_expected <= max_norms else max_norms / n_expected
        self._rng = np.random.default_rng(seed)

    def update(self, acts_BD: np.ndarray) -> None:
        b = acts_BD.shape[0]
        if b == 0:
            return
        x = acts_BD.astype(np.float64, copy=False)
        block_mean = x.mean(axis=0)
        block_m2 = ((x - block_mean) ** 2).sum(axis=0)
        delta = block_mean - self.mean
        total = self.n + b
        self.mean = self.mean + delta * (b / total)
        self.m2 = self.m2 + block_m2 + delta**2 * (self.n * b / total)
        self.n = total
        sq_norms = np.einsum("ij,ij->i", x, x)
        self.sum_sq_norm += float(sq_norms.sum())
        self.n_nonfinite += int((~np.isfinite(sq_norms)).sum())
        norms = np.sqrt(sq_norms)
        if self._keep < 1.0:
            norms = norms[self._rng.random(b) < self._keep]
        self._norms.append(norms.astype(np.float32))

    def result(self) -> HookStats:
        norms = np.concatenate(self._norms) if self._norms else np.zeros(0, np.float32)
        finite = norms[np.isfinite(norms)]
        qs = np.quantile(finite, NORM_QUANTILES) if finite.size else np.full(len(NORM_QUANTILES), np.nan)
        return {
            "n": self.n,
            "mean": self.mean.copy(),
            "var": self.m2 / self.n if self.n else np.full(self.d, np.nan),
            "norm_quantiles": {q: float(v) for q, v in zip(NORM_QUANTILES, qs)},
            "mean_sq_norm": self.sum_sq_norm / self.n if self.n else float("nan"),
            "n_nonfinite": self.n_nonfinite,
        }


def compute_stats(blocks: Iterable[np.ndarray], d: int, n_expected: int | None = None) -> HookStats:

    acc = StreamingStats(d, n_expected)
    for block in blocks:
        acc.update(block)
    return acc.result()
