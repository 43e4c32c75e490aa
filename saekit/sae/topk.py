"""TopK SAE (Gao et al. 2024): keep the k largest pre-activations of each row, ReLU them."""
from __future__ import annotations

import torch

from saekit.sae.base import SAE, StepOutput, TrainContext
from saekit.sae.topk_training import (auxk_loss, encode_for_training, fired_counts, reconstruction_sse,
                                      select_topk)


class TopKSAE(SAE, arch="topk"):

    def _encode_sparse_n(self, xn_BD: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        vals, idx = self.pre_acts(xn_BD).topk(self.cfg.k, dim=1)
        return idx, torch.relu(vals)

    def _encode_n(self, xn_BD: torch.Tensor) -> torch.Tensor:
        idx, vals = self._encode_sparse_n(xn_BD)
        z = torch.zeros(xn_BD.shape[0], self.cfg.d_sae, dtype=vals.dtype, device=vals.device)
        return z.scatter_(1, idx, vals)

    def training_step(self, xn_BD: torch.Tensor, ctx: TrainContext) -> StepOutput:
        code, pre, x_c = encode_for_training(self, xn_BD, ctx, select_topk(self.cfg.k))
        sse_rows, residual = reconstruction_sse(self, xn_BD, x_c, code, ctx)
        loss = sse_rows.mean()
        aux = auxk_loss(self, pre, x_c, residual, ctx)
        if aux is not None:
            loss = loss + aux
        fired = fired_counts(code, self.cfg.d_sae)
        return StepOutput(loss, sse_rows.detach().sum(), int(fired.sum()), fired, aux)
