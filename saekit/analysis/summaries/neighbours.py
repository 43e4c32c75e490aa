"""Nearest latents by decoder-direction cosine."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def decoder_neighbours(W_dec: "torch.Tensor", n: int = 10, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Nearest latents by cosine of decoder rows W_dec [L, d], in row chunks (never an L x L matrix).

    Returns (indices [L, n] int64, cosines [L, n] float32), best first; n is capped at L - 1.
    """
    import torch

    with torch.no_grad():
        W = W_dec.detach().float()
        W = W / W.norm(dim=1, keepdim=True).clamp_min(1e-12)
        L = W.shape[0]
        n_eff = max(0, min(n, L - 1))
        idx_out = np.full((L, n), -1, dtype=np.int64)
        cos_out = np.zeros((L, n), dtype=np.float32)
        if n_eff == 0:
            return idx_out, cos_out
        for start in range(0, L, chunk):
            stop = min(L, start + chunk)
            sims = W[start:stop] @ W.T  # [chunk, L]
            ar = torch.arange(stop - start, device=sims.device)
            sims[ar, ar + start] = float("-inf")
            top = sims.topk(n_eff, dim=1)
            idx_out[start:stop, :n_eff] = top.indices.cpu().numpy()
            cos_out[start:stop, :n_eff] = top.values.cpu().numpy()
    return idx_out, cos_out
