"""BatchTopK SAE (Bussmann et al. 2024): the B*k largest pre-activations of the whole batch fire.

At inference rows are encoded independently with a global threshold theta (JumpReLU-style), kept
during training as an EMA of the smallest selected positive activation of each batch.
"""
from __future__ import annotations

import torch

from saekit.sae.archs.topk import TopKFamily
from saekit.sae.base import StepOutput, TrainContext
from saekit.sae.config import SAEConfig
from saekit.sae.options import TopKOptions
from saekit.sae.topk_training import (auxk_loss, encode_for_training, fired_counts, reconstruction_sse,
                                      select_batch_topk)

# theta <- 0.99 theta + 0.01 min_active, the update rate of the reference implementations (Bussmann et al.'s
# code, SAELens). One departure: theta starts at the first batch's minimum instead of 0, so a short run
# does not end with a threshold biased low (from 0 it reaches only 1 - 0.99^s of its level after s steps).
THRESHOLD_EMA = 0.99


class BatchTopKSAE(TopKFamily, arch="batchtopk", extra_tensors={"threshold": "scalar"}, options=TopKOptions):
    shard_selection = "batch"
    shares_min_active = True  # the threshold EMA follows the smallest selected activation of the global batch

    def __init__(self, cfg: SAEConfig):
        super().__init__(cfg)
        # -1 marks "not estimated yet"; inference then falls back to theta = 0
        self.register_buffer("threshold", torch.tensor(-1.0))

    def _encode_n(self, xn_BD: torch.Tensor) -> torch.Tensor:
        pre = self.pre_acts(xn_BD)
        theta = self.threshold.clamp_min(0)
        return torch.where(pre > theta, pre, torch.zeros_like(pre))

    def _loss(self, xn_BD, x_c, code, ctx) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss, sse [B] detached, residual [B, d_in] detached)."""
        sse_rows, residual = reconstruction_sse(self, xn_BD, x_c, code, ctx)
        return sse_rows.mean(), sse_rows.detach(), residual

    def training_step(self, xn_BD: torch.Tensor, ctx: TrainContext) -> StepOutput:
        code, pre, x_c = encode_for_training(self, xn_BD, ctx, select_batch_topk(self.cfg.k))
        loss, sse_rows, residual = self._loss(xn_BD, x_c, code, ctx)
        sse = sse_rows.sum()
        aux = auxk_loss(self, pre, x_c, residual, ctx)
        if aux is not None:
            loss = loss + aux
        fired = fired_counts(code, self.cfg.d_sae)
        val = code.val.detach()
        pos = val[val > 0]
        min_active = pos.min() if pos.numel() else None
        return StepOutput(loss, sse, int(fired.sum()), fired, aux, min_active)

    @torch.no_grad()
    def after_step(self, out: StepOutput) -> None:
        if out.min_active is None:
            return
        m = out.min_active.to(self.threshold)
        if self.threshold.item() < 0:
            self.threshold.copy_(m)
        else:
            self.threshold.mul_(THRESHOLD_EMA).add_((1 - THRESHOLD_EMA) * m)
