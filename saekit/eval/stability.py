"""Stability across SAEs: Hungarian matching of decoder directions (as in Paulo & Belrose 2025).

The cosine similarity of every pair of unit-normalised decoder rows of SAEs A and B; the one-to-one
assignment maximising the summed cosine (scipy's linear_sum_assignment); the fraction of A's latents
whose partner has cosine >= threshold. An SAE against itself or a permutation of its latents scores
1; two random dictionaries of the same shape score about 0 at any useful threshold.
"""
from __future__ import annotations


import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject
from saekit.sae import SAE

THRESHOLD = 0.7
MAX_EXACT = 8192


def _unit_decoder(sae: SAE) -> np.ndarray:
    W = sae.W_dec.detach().double().cpu()
    return (W / W.norm(dim=1, keepdim=True).clamp_min(1e-12)).numpy()


def check_comparable(a: SAE, b: SAE) -> None:
    if a.cfg.d_in != b.cfg.d_in:
        raise SaekitError(f"stability compares decoder directions of the same space, but the SAEs have d_in "
                          f"{a.cfg.d_in} and {b.cfg.d_in}")
    if a.cfg.hook and b.cfg.hook and a.cfg.hook != b.cfg.hook:
        raise SaekitError(f"stability compares SAEs of one hook, got {a.cfg.hook!r} and {b.cfg.hook!r}")


@torch.no_grad()
def decoder_stability(a: SAE, b: SAE, threshold: float = THRESHOLD) -> JSONObject:
    check_comparable(a, b)
    A, B = _unit_decoder(a), _unit_decoder(b)
    if max(len(A), len(B)) > MAX_EXACT:
        raise SaekitError(f"stability: exact matching is limited to {MAX_EXACT} latents per SAE "
                          f"(got {len(A)} and {len(B)})")
    cos = A @ B.T
    ra, cb = linear_sum_assignment(cos, maximize=True)
    matched = cos[ra, cb]
    n = min(len(A), len(B))
    return {"threshold": threshold, "d_sae": [len(A), len(B)], "frac_matched": float((matched >= threshold).sum() / n),
            "mean_matched_cosine": float(matched.mean()), "other_hook": b.cfg.hook}
