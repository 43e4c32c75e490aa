"""Gated SAE (Rajamanoharan et al. 2024): a gate path decides which latents fire, a magnitude path
how strongly, both from one shared encoder matrix.

    h      = (x_n - b_dec) W_enc
    gate   = h + b_enc > 0                      (b_enc is the paper's b_gate)
    z      = gate * ReLU(h * exp(r_mag) + b_mag)

This is the inference function of SAELens' and dictionary_learning's gated SAEs. Training uses the
paper's loss: reconstruction + L1 of ReLU(gate pre-activation) + an auxiliary reconstruction of the
gate path through a frozen copy of the decoder, which gives the gate its gradient.
"""
from __future__ import annotations

import torch
from torch import nn

from saekit.sae.base import SAE, StepOutput, TrainContext
from saekit.sae.config import SAEConfig
from saekit.sae.options import L1Options


class GatedSAE(SAE, arch="gated", extra_tensors={"b_mag": "d_sae", "r_mag": "d_sae"}, options=L1Options):

    def __init__(self, cfg: SAEConfig):
        super().__init__(cfg)
        self.b_mag = nn.Parameter(torch.zeros(cfg.d_sae))
        self.r_mag = nn.Parameter(torch.zeros(cfg.d_sae))

    @torch.no_grad()
    def reset_parameters(self, gen: torch.Generator) -> None:
        super().reset_parameters(gen)
        if hasattr(self, "b_mag"):
            self.b_mag.zero_()
            self.r_mag.zero_()

    def _paths(self, xn_BD: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.centre(xn_BD) @ self.W_encT.t()
        return h + self.b_enc, h * self.r_mag.exp() + self.b_mag

    def _encode_n(self, xn_BD: torch.Tensor) -> torch.Tensor:
        pi_gate, pi_mag = self._paths(xn_BD)
        return (pi_gate > 0).to(pi_mag.dtype) * torch.relu(pi_mag)

    def training_step(self, xn_BD: torch.Tensor, ctx: TrainContext) -> StepOutput:
        pi_gate, pi_mag = self._paths(xn_BD)
        z = (pi_gate > 0).to(pi_mag.dtype) * torch.relu(pi_mag)
        target = xn_BD if ctx.target is None else ctx.target
        recon = self.reconstruct_n(z, xn_BD)
        sse_rows = (target - recon).pow(2).sum(-1)
        gate_act = torch.relu(pi_gate)
        aux_recon = gate_act @ self.W_dec.detach() + self.b_dec.detach()
        skip = self.skip_out(xn_BD)
        aux_recon = aux_recon if skip is None else aux_recon + skip.detach()
        aux = (target - aux_recon).pow(2).sum(-1).mean()
        loss = sse_rows.mean() + self.cfg.l1_coeff * gate_act.sum(-1).mean() + aux
        fired = (z.detach() > 0).sum(0)
        return StepOutput(loss, sse_rows.detach().sum(), int(fired.sum()), fired, aux.detach())
