"""JumpReLU SAE (Rajamanoharan et al. 2024): z = pre * H(pre - theta) with a learnable log-threshold.

The step function has no useful gradient, so theta learns through straight-through estimators with
a rectangle kernel of width cfg.bandwidth; sparsity is an L0 penalty (cfg.l0_coeff).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from saekit.sae.base import SAE, StepOutput, TrainContext
from saekit.sae.config import SAEConfig
from saekit.sae.options import JumpReLUOptions


def _rect(u: torch.Tensor) -> torch.Tensor:
    return ((u > -0.5) & (u < 0.5)).to(u.dtype)


class _JumpReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre, theta, bandwidth: float):  # type: ignore[override]
        ctx.save_for_backward(pre, theta)
        ctx.bandwidth = bandwidth
        return pre * (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        pre, theta = ctx.saved_tensors
        eps = ctx.bandwidth
        grad_pre = g * (pre > theta).to(pre.dtype)
        grad_theta = (-(theta / eps) * _rect((pre - theta) / eps) * g).sum(0)
        return grad_pre, grad_theta, None


class _Step(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre, theta, bandwidth: float):  # type: ignore[override]
        ctx.save_for_backward(pre, theta)
        ctx.bandwidth = bandwidth
        return (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        pre, theta = ctx.saved_tensors
        eps = ctx.bandwidth
        grad_theta = (-(1.0 / eps) * _rect((pre - theta) / eps) * g).sum(0)
        return torch.zeros_like(pre), grad_theta, None


class JumpReLUSAE(SAE, arch="jumprelu", extra_tensors={"log_threshold": "d_sae"}, options=JumpReLUOptions):

    def __init__(self, cfg: SAEConfig):
        super().__init__(cfg)
        self.log_threshold = nn.Parameter(torch.full((cfg.d_sae,), math.log(cfg.init_threshold)))

    @torch.no_grad()
    def reset_parameters(self, gen: torch.Generator) -> None:
        super().reset_parameters(gen)
        if hasattr(self, "log_threshold"):
            self.log_threshold.fill_(math.log(self.cfg.init_threshold))

    @property
    def threshold(self) -> torch.Tensor:
        return self.log_threshold.exp()

    def _encode_n(self, xn_BD: torch.Tensor) -> torch.Tensor:
        pre = self.pre_acts(xn_BD)
        return torch.where(pre > self.threshold, pre, torch.zeros_like(pre))

    def training_step(self, xn_BD: torch.Tensor, ctx: TrainContext) -> StepOutput:
        pre = torch.relu(self.pre_acts(xn_BD))
        theta = self.threshold
        z = _JumpReLU.apply(pre, theta, self.cfg.bandwidth)
        recon = self.reconstruct_n(z, xn_BD)
        sse_rows = ((xn_BD if ctx.target is None else ctx.target) - recon).pow(2).sum(-1)
        l0 = _Step.apply(pre, theta, self.cfg.bandwidth).sum(-1).mean()
        loss = sse_rows.mean() + self.cfg.l0_coeff * l0
        fired = (z.detach() > 0).sum(0)
        return StepOutput(loss, sse_rows.detach().sum(), int(fired.sum()), fired)
