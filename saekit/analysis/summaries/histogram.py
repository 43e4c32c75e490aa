"""Per-latent activation histograms, exact in a dyadic frame per latent ([0, s], s a power of two that
doubles, merging bins pairwise, when the latent's max outgrows it), re-binned at the end onto shared
edges over [0, 1] in units of the latent's max activation."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def hist_update(hist: "torch.Tensor", scale: "torch.Tensor", lat: "torch.Tensor", vals: "torch.Tensor",
                bmax: "torch.Tensor", n_int: int) -> None:
    """Add this batch's positive activations (latent ``lat``, value ``vals``) to the dyadic per-latent
    histograms, in place."""
    import torch

    fired = bmax > 0
    if not bool(fired.any()):
        return
    fresh = fired & (scale == 0)
    if bool(fresh.any()):
        scale[fresh] = torch.exp2(torch.ceil(torch.log2(bmax[fresh])))
    # double the frame of latents whose max outgrew it, merging bins pairwise each time
    while True:
        grow = bmax > scale
        if not bool(grow.any()):
            break
        idx = grow.nonzero().squeeze(1)
        h = hist[idx]
        merged = h.view(len(idx), n_int // 2, 2).sum(-1)
        hist[idx] = torch.cat([merged, torch.zeros_like(merged)], dim=1)
        scale[idx] = scale[idx] * 2
    b = (vals / scale[lat] * n_int).long().clamp_(0, n_int - 1)
    hist.view(-1).index_add_(0, lat * n_int + b, torch.ones_like(b))


def hist_finalise(hist: "torch.Tensor", scale: "torch.Tensor", max_act: "torch.Tensor", n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Re-bin the dyadic histograms onto shared edges over [0, 1] in units of max_act."""
    import torch

    L, n_int = hist.shape
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64, device=hist.device)
    cum = torch.zeros(L, n_int + 1, dtype=torch.float64, device=hist.device)
    cum[:, 1:] = hist.double().cumsum(1)
    ratio = torch.where(scale > 0, max_act.double() / scale.double().clamp_min(1e-30), 0.0)
    t = edges[None, :] * ratio[:, None] * n_int  # position of each shared edge in internal bins
    j0 = t.floor().long().clamp(0, n_int - 1)
    frac = (t - j0).clamp(0, 1)
    c_at = cum.gather(1, j0) + frac * (cum.gather(1, j0 + 1) - cum.gather(1, j0))
    c_at[:, -1] = cum[:, -1]  # nothing lies above max_act
    c_at = c_at.round().long()
    counts = c_at.diff(dim=1).clamp_min(0)
    return edges.float().cpu().numpy(), counts.cpu().numpy()
