"""Samples spread over the quantiles of each latent's per-sample activations, from its reservoir of
random firing samples."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def quantile_picks(res_vals: "torch.Tensor", res_ids: "torch.Tensor", Q: int, S: int) -> tuple[np.ndarray, np.ndarray]:
    """S samples from each of Q equal-count bands of each latent's reservoir, lowest band first."""
    import torch

    L, R = res_vals.shape
    valid = res_ids >= 0
    n_valid = valid.sum(1)  # [L]
    v = torch.where(valid, res_vals, float("inf"))
    order = v.argsort(dim=1)  # valid entries ascending, invalid at the end
    vals_sorted = res_vals.gather(1, order)
    ids_sorted = res_ids.gather(1, order)
    qs = torch.arange(Q, device=res_vals.device, dtype=torch.float64)
    ss = torch.arange(S, device=res_vals.device, dtype=torch.float64)
    frac = ((qs[:, None] + (ss[None, :] + 0.5) / S) / Q).reshape(-1)  # [Q*S] in (0, 1)
    idx = (frac[None, :] * n_valid[:, None].double()).floor().long()
    idx = torch.minimum(idx, (n_valid[:, None] - 1).clamp_min(0))
    ids = ids_sorted.gather(1, idx)
    vals = vals_sorted.gather(1, idx)
    dup = torch.zeros_like(idx, dtype=torch.bool)
    dup[:, 1:] = idx[:, 1:] == idx[:, :-1]
    empty = (n_valid == 0)[:, None] | dup
    ids = torch.where(empty, -1, ids)
    vals = torch.where(empty, 0.0, vals)
    return ids.reshape(L, Q, S).cpu().numpy(), vals.reshape(L, Q, S).float().cpu().numpy()
