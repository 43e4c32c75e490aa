"""TopK SAE (Gao et al. 2024): keep the k largest pre-activations of each row, ReLU them."""
from __future__ import annotations

import torch

from saekit.common.errors import SaekitError
from saekit.sae.base import SAE, StepOutput, TrainContext, TrainingPlan
from saekit.sae.config import SAEConfig, SAEFields
from saekit.sae.options import ArchOptions, TopKOptions
from saekit.sae.topk_training import (auxk_loss, encode_for_training, fired_counts, reconstruction_sse,
                                      select_topk)


class TopKFamily(SAE):
    """What the top-k selecting architectures share in training (TopK, BatchTopK, Matryoshka): a
    required k below the width, AuxK on the dead latents, the selection GEMM under autocast."""

    selects_top_k = True

    @classmethod
    def check_config(cls, cfg: SAEConfig) -> SAEFields:
        if cfg.k is None or cfg.k <= 0:
            raise SaekitError(f"--k must be a positive integer for arch {cfg.arch!r}, got {cfg.k}")
        if cfg.k >= cfg.d_sae:
            raise SaekitError(f"k={cfg.k} must be smaller than the SAE width d_sae={cfg.d_sae}")
        return {}

    @classmethod
    def training_plan(cls, cfg: SAEConfig, opts: ArchOptions, n_steps: int) -> TrainingPlan:
        """k_aux defaults to d_in / 2 (Gao et al. 2024)."""
        assert isinstance(opts, TopKOptions)
        k_aux = opts.k_aux if opts.k_aux is not None else max(1, cfg.d_in // 2)
        return TrainingPlan(k_aux=k_aux, aux_coeff=opts.aux_coeff)


class TopKSAE(TopKFamily, arch="topk", options=TopKOptions):
    shard_selection = "row"

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
