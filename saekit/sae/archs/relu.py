"""ReLU SAE with an L1 penalty (Bricken et al. 2023).

l1_decoder_norm=True follows Anthropic's April 2024 update: decoder rows are left free and the L1
term weights each latent by its decoder norm; the norms are folded into the encoder when saving so
the checkpoint still has unit-norm decoder rows and computes the same function. As in that update,
the trainer ramps lambda linearly from 0 over the first 5% of the steps (TrainConfig.l1_warmup_frac)
and does not resample. With the plain L1 (Bricken et al. 2023) dead latents are resampled by the
trainer (saekit.train.resample).
"""
from __future__ import annotations

import torch

from saekit.sae.base import SAE, StepOutput, TrainContext, TrainingPlan
from saekit.sae.config import SAEConfig
from saekit.sae.options import ArchOptions, ReLUOptions

#: Anthropic's April 2024 update ramps lambda from 0 over the first 5% of the steps
DECODER_NORM_L1_WARMUP = 0.05
#: resample dead latents every steps // 8 by default (Bricken et al. 2023 resample a few times per run)
RESAMPLES_PER_RUN = 8


class ReLUSAE(SAE, arch="relu", options=ReLUOptions):

    @classmethod
    def constrain_decoder(cls, cfg: SAEConfig) -> bool:
        return not cfg.l1_decoder_norm

    @classmethod
    def training_plan(cls, cfg: SAEConfig, opts: ArchOptions, n_steps: int) -> TrainingPlan:
        assert isinstance(opts, ReLUOptions)
        decoder_norm = cfg.l1_decoder_norm
        every = opts.resample_every
        if every is None:  # Anthropic's decoder-norm L1 update does not resample
            every = 0 if decoder_norm else max(1, n_steps // RESAMPLES_PER_RUN)
        warm = opts.l1_warmup_frac
        if warm is None:
            warm = DECODER_NORM_L1_WARMUP if decoder_norm else 0.0
        return TrainingPlan(resample_every=every, penalty_warmup_steps=int(round(warm * n_steps)))

    def before_save(self) -> None:
        if self.cfg.l1_decoder_norm:
            self.fold_decoder_norms()

    def _encode_n(self, xn_BD: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.pre_acts(xn_BD))

    def training_step(self, xn_BD: torch.Tensor, ctx: TrainContext) -> StepOutput:
        z = torch.relu(self.pre_acts(xn_BD))
        recon = self.reconstruct_n(z, xn_BD)
        sse_rows = ((xn_BD if ctx.target is None else ctx.target) - recon).pow(2).sum(-1)
        if self.cfg.l1_decoder_norm:
            l1 = (z * self.W_dec.norm(dim=1)).sum(-1).mean()
        else:
            l1 = z.sum(-1).mean()
        loss = sse_rows.mean() + self.cfg.l1_coeff * ctx.l1_scale * l1
        fired = (z.detach() > 0).sum(0)
        return StepOutput(loss, sse_rows.detach().sum(), int(fired.sum()), fired)

    @torch.no_grad()
    def fold_decoder_norms(self) -> None:
        """Make decoder rows unit-norm without changing the function: z_j scales up by ||W_dec_j||."""
        n = self.W_dec.norm(dim=1).clamp_min(1e-12)
        self.W_dec.div_(n[:, None])
        self.W_encT.mul_(n[:, None])
        self.b_enc.mul_(n)
