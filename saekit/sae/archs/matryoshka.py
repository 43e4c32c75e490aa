"""Matryoshka-BatchTopK SAE (Bussmann et al. 2025; Nabeshima 2024).

BatchTopK selection; the loss averages the reconstruction error of every nested prefix of latents
(cfg.matryoshka_prefixes, e.g. d/16, d/8, ..., d), so early latents learn general features that
must stand on their own. Inference is BatchTopK's thresholded encoder.
"""
from __future__ import annotations

import torch

from saekit.common.errors import SaekitError
from saekit.sae.base import TrainContext
from saekit.sae.archs.batchtopk import BatchTopKSAE
from saekit.sae.config import SAEConfig, SAEFields
from saekit.sae.sparse_ops import SparseCode
from saekit.sae.options import MatryoshkaOptions
from saekit.sae.topk_training import decode_code


def default_prefixes(d_sae: int) -> tuple[int, ...]:
    """Nested groups doubling in size: d/16, d/8, d/4, d/2, d (duplicates and zeros dropped)."""
    ends = sorted({d_sae // 2**i for i in range(4, -1, -1)} - {0})
    return tuple(ends)


class MatryoshkaSAE(BatchTopKSAE, arch="matryoshka", options=MatryoshkaOptions):
    shard_selection = None  # its nested prefixes' losses need every latent on one rank

    @classmethod
    def check_config(cls, cfg: SAEConfig) -> SAEFields:
        super().check_config(cfg)
        p = tuple(int(e) for e in (cfg.matryoshka_prefixes or default_prefixes(cfg.d_sae)))
        if any(b <= a for a, b in zip(p, p[1:])) or p[0] <= 0 or p[-1] != cfg.d_sae:
            raise SaekitError(f"matryoshka_prefixes must increase strictly and end at d_sae={cfg.d_sae}, got {list(p)}")
        return {"matryoshka_prefixes": p}

    def _loss(self, xn_BD, x_c, code: SparseCode, ctx: TrainContext) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ends = torch.tensor(self.cfg.matryoshka_prefixes, device=code.col.device)
        group = torch.bucketize(code.col, ends, right=True)  # entry j with col < ends[0] is group 0
        target = xn_BD if ctx.target is None else ctx.target
        skip = self.skip_out(xn_BD)
        recon = self.b_dec.expand_as(target) if skip is None else self.b_dec + skip
        losses = []
        for g in range(len(self.cfg.matryoshka_prefixes)):
            part = SparseCode(code.crow, code.col, code.val * (group == g).to(code.val.dtype), code.by_col)
            recon = recon + decode_code(self, part, ctx, bias=False)
            losses.append((target - recon).pow(2).sum(-1).mean())
        residual = (target - recon).detach()
        return torch.stack(losses).mean(), residual.pow(2).sum(-1), residual
