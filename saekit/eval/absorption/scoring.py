"""Absorption of one word (SAEBench's full absorption and absorption fraction), and their means.

For a test word of letter L that the letter probe recognises (logit > 0), with p the probe's unit
direction for L, a = <x, p> the activation's probe projection, z the SAE latents and
c_j = cos(d_j, p) each decoder row's cosine with p, every latent contributes z_j c_j:

  full absorption   every main latent of L is silent (z < 1e-8), a >= 0, and the latent with the
                    largest contribution has c >= FULL_COS and carries >= PROJ_SHARE of a.
  absorption frac.  m = the main latents' summed contribution; the absorbers are the other latents
                    with c >= FRACTION_COS and a positive contribution, of which the MAX_ABSORBERS
                    largest sum to s. 0 when m >= a or s / a < PROJ_SHARE; 1 when m <= 0; otherwise
                    min(s, a - m) / (min(s, a - m) + m), clipped to [0, 1].
A letter's rates are sums over its recognised words divided by their number; the headline means
are over letters whose probe F1 exceeds the minimum.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np
import torch

FULL_COS = 0.025
FRACTION_COS = 0.1
PROJ_SHARE = 0.4
MAX_ABSORBERS = 3
TOP_LATENTS = 10
SILENT = 1e-8


@dataclass(frozen=True)
class WordAbsorption:
    fraction: float
    full: bool
    top_latent: int


def word_absorption(x: torch.Tensor, z: torch.Tensor, direction: torch.Tensor, cos: torch.Tensor,
                    main: list[int]) -> WordAbsorption:
    """One word: activation x [d], its latents z [d_sae], the unit probe direction [d], cos [d_sae]."""
    a = float(x @ direction)
    contrib = z * cos
    m = float(torch.sum(contrib[main]))
    absorber = torch.ones(contrib.shape[0], dtype=torch.bool)
    absorber[main] = False
    absorber &= (cos >= FRACTION_COS) & (contrib > 0)
    cand = contrib[absorber]
    s = float(torch.sum(cand.topk(min(MAX_ABSORBERS, cand.numel())).values))
    if m >= a or s / a < PROJ_SHARE:
        fraction = 0.0
    elif m <= 0.0:
        fraction = 1.0
    else:
        absorbed = min(s, a - m)
        fraction = float(np.clip(absorbed / (absorbed + m), 0.0, 1.0))
    top = int(contrib.topk(TOP_LATENTS).indices[0])
    full = (all(float(z[j]) < SILENT for j in main) and float(cos[top]) >= FULL_COS and a >= 0
            and float(contrib[top]) / a >= PROJ_SHARE)
    return WordAbsorption(fraction, full, top)


def mean_scores(per_letter: list[dict]) -> dict[str, float]:
    """SAEBench's headline means (and sample standard deviations) over the letters given."""
    out = {}
    for key, src in (("absorption_fraction", "mean_absorption_fraction"), ("full_absorption", "full_absorption_rate"),
                     ("num_split_features", "num_split_features")):
        vals = [float(p[src]) for p in per_letter]
        name = "mean_num_split_features" if key == "num_split_features" else f"mean_{key}_score"
        out[name] = statistics.mean(vals)
        std = "std_dev_num_split_features" if key == "num_split_features" else f"std_dev_{key}_score"
        out[std] = statistics.stdev(vals) if len(vals) > 1 else float("nan")
    return out
