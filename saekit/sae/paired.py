"""Transcoder rows: one training row holds the input's columns, then the target's.

`saekit.train.paired.PairedRows` lays the hooks of a transcoder side by side; a step splits them
again here and normalises each side with its own scale (cfg.norm_scale for the input,
cfg.target_scale for the target), so both reach the SAE with unit mean squared norm.
"""
from __future__ import annotations

import torch

from saekit.common.errors import SaekitError
from saekit.sae.config import SAEConfig
from saekit.sae.normalization import normalize_float32


def split_rows(cfg: SAEConfig, x_BD: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(normalised input [B, d_in], normalised target [B, d_out] or None for an SAE / crosscoder), float32."""
    if not cfg.target_hooks:
        return normalize_float32(cfg, x_BD), None
    if x_BD.shape[-1] != cfg.d_in + cfg.d_out:
        raise SaekitError(f"transcoder rows have {x_BD.shape[-1]} columns, expected d_in + d_out = "
                          f"{cfg.d_in} + {cfg.d_out}")
    x, y = x_BD[:, : cfg.d_in].float(), x_BD[:, cfg.d_in:].float()
    if cfg.normalization == "scale":
        return x * cfg.norm_scale, y * cfg.target_scale
    return x, y


def normalize_target(cfg: SAEConfig, y_BD: torch.Tensor) -> torch.Tensor:
    """A transcoder's raw target rows in its normalised output space (as split_rows gives them)."""
    y = y_BD.float()
    return y * cfg.target_scale if cfg.normalization == "scale" else y
