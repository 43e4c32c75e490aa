"""Resampling dead latents of ReLU SAEs (Bricken et al. 2023), as the recipe's dead-latent remedy for L1 SAEs.

Dead latents get the direction of inputs the SAE reconstructs badly (drawn with probability
proportional to the squared loss), an encoder of 0.2 x the mean alive encoder norm, zero bias, and
fresh Adam moments.
"""
from __future__ import annotations

import torch

from saekit.sae.base import SAE


@torch.no_grad()
def resample_dead(sae: SAE, opt: torch.optim.Optimizer, xn_BD: torch.Tensor, dead_idx: torch.Tensor,
                  gen: torch.Generator, target: torch.Tensor | None = None) -> int:
    """``target``: a transcoder's normalised target rows (the decoder rows then take the direction of the
    target's residual error, the encoder rows the direction of the input)."""
    n = int(dead_idx.numel())
    if n == 0:
        return 0
    recon = sae.reconstruct_n(sae._encode_n(xn_BD), xn_BD)
    loss = ((xn_BD if target is None else target) - recon).pow(2).sum(-1)
    probs = loss.pow(2).double().cpu()
    if not probs.sum() > 0:
        probs = torch.ones_like(probs)
    rows = torch.multinomial(probs, n, replacement=True, generator=gen).to(xn_BD.device)
    dirs = sae.centre(xn_BD[rows])
    dirs = dirs / dirs.norm(dim=1, keepdim=True).clamp_min(1e-12)
    dec_dirs = dirs
    if target is not None:
        dec_dirs = target[rows] - recon[rows]
        dec_dirs = dec_dirs / dec_dirs.norm(dim=1, keepdim=True).clamp_min(1e-12)
    alive = torch.ones(sae.cfg.d_sae, dtype=torch.bool, device=dirs.device)
    alive[dead_idx] = False
    enc_norm = sae.W_encT[alive].norm(dim=1).mean() if alive.any() else torch.tensor(1.0, device=dirs.device)
    sae.W_dec[dead_idx] = dec_dirs
    sae.W_encT[dead_idx] = dirs * 0.2 * enc_norm
    sae.b_enc[dead_idx] = 0.0
    for p in (sae.W_dec, sae.W_encT, sae.b_enc):
        st = opt.state.get(p, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in st:
                st[key][dead_idx] = 0.0
    return n
