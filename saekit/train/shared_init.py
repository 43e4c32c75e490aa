"""What every SAE of a run starts from and a sweep computes once: the b_dec init.

The recipe sets b_dec to the geometric median of a seeded sample of (normalised) rows. The
sample depends only on the store, the hook, the seed and --gm-sample, none of which a sweep may
vary, and the median only on the normalisation, so a sweep's members share one read of the sample
and one median per normalisation instead of reading and solving it once each.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from saekit.sae.config import SAEConfig
from saekit.sae.paired import split_rows
from saekit.train.data import BatchSource, check_finite
from saekit.train.geometric_median import geometric_median

GM_SEED_OFFSET = 7919  # the b_dec sample's seed is cfg.seed + this (a stream apart from the training order)


class SharedInit:
    """The b_dec init sample of (source, hook, seed, gm_sample), read on first use, and its medians."""

    def __init__(self, source: BatchSource, hook: str, seed: int, gm_sample: int) -> None:
        self.source, self.hook, self.seed, self.gm_sample = source, hook, seed, gm_sample
        self._acts: np.ndarray | None = None
        self._medians: dict[tuple[Any, ...], torch.Tensor] = {}

    def sample(self) -> np.ndarray:
        """float32 rows of the seeded sample (checked for NaN/Inf once)."""
        if self._acts is None:
            n = min(self.gm_sample, self.source.n_rows(self.hook))
            batches = self.source.iter_batches(self.hook, n, shuffle=True, seed=self.seed + GM_SEED_OFFSET,
                                               with_index=True)
            acts, sid, pos = next(iter(batches))
            check_finite(acts, sid, pos, f"store sample for the b_dec init (hook {self.hook})")
            self._acts = acts
        return self._acts

    @torch.no_grad()
    def b_dec(self, cfg: SAEConfig, device: torch.device) -> torch.Tensor:
        """Geometric median of the normalised sample, for an SAE of ``cfg`` on ``device`` (of the target's
        columns for a transcoder, whose b_dec lives in the target's space)."""
        key = (cfg.normalization, cfg.norm_scale, cfg.target_scale, cfg.d_in, str(device))
        if key not in self._medians:
            xn, yn = split_rows(cfg, torch.from_numpy(self.sample()).to(device))
            self._medians[key] = geometric_median(xn if yn is None else yn)
        return self._medians[key]
