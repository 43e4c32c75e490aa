"""Input normalisation stored with the SAE: raw activations in, raw-space reconstructions out."""
from __future__ import annotations

from typing import NamedTuple

import torch

from saekit.common.errors import SaekitError
from saekit.sae.config import SAEConfig

_LN_EPS = 1e-5


class NormState(NamedTuple):
    """Per-row statistics needed to undo layer-norm normalisation (None for the global scale)."""

    mean_B1: torch.Tensor | None
    std_B1: torch.Tensor | None


def normalize(cfg: SAEConfig, x_BD: torch.Tensor) -> tuple[torch.Tensor, NormState]:
    if cfg.normalization == "scale":
        return x_BD * cfg.norm_scale, NormState(None, None)
    if cfg.normalization == "layernorm":
        mean = x_BD.mean(dim=-1, keepdim=True)
        centred = x_BD - mean
        std = (centred.pow(2).mean(dim=-1, keepdim=True) + _LN_EPS).sqrt()
        return centred / std, NormState(mean, std)
    return x_BD, NormState(None, None)


def normalize_float32(cfg: SAEConfig, x_BD: torch.Tensor) -> torch.Tensor:
    """normalize() of rows in any floating dtype, in float32: what a training step does first.

    The training feeds hand over rows in the store's dtype (float16 / bfloat16). Widening them here
    writes the float32 copy the normalisation needs anyway, and the global scale is then applied to
    that copy in place, so the half-precision rows cost the step no extra float32 pass. The result
    is bitwise the one normalize() gives on the widened rows."""
    if x_BD.dtype == torch.float32:
        return normalize(cfg, x_BD)[0]
    x = x_BD.float()
    if cfg.normalization == "scale":
        return x.mul_(cfg.norm_scale)
    return normalize(cfg, x)[0]


def denormalize(cfg: SAEConfig, xn_BD: torch.Tensor, state: NormState | None) -> torch.Tensor:
    if cfg.normalization == "scale":
        return xn_BD / cfg.norm_scale
    if cfg.normalization == "layernorm":
        if state is None or state.mean_B1 is None:
            raise SaekitError(
                "this SAE uses per-token layernorm normalisation: pass the raw input to undo it, decode(z, x=x)"
            )
        return xn_BD * state.std_B1 + state.mean_B1
    return xn_BD


def scale_from_mean_sq_norm(mean_sq_norm: float) -> float:
    """Factor that gives unit mean squared norm: x * s with s = 1/sqrt(E||x||^2)."""
    if not mean_sq_norm > 0:
        raise SaekitError(f"cannot normalise activations whose mean squared norm is {mean_sq_norm} (expected > 0)")
    return float(mean_sq_norm) ** -0.5
