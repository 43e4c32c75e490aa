"""High-norm artifact tokens as capture needs them (`saekit capture --exclude-artifacts`): the
per-layer norm-gap threshold, the artifact-token mask of a batch, and a capture token filter that
drops those tokens. The full analysis (saekit.analysis.artifacts) builds on the same threshold.

The artifact mask needs the last layer's norms, which a capture that stops at an earlier hook
never computes; so the filter runs one extra (full) forward per batch and reuses it for every
hook of that batch.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping

import numpy as np
import torch

from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    from saekit.capture.config import CaptureConfig
    from saekit.capture.run import TokenFilter
    from saekit.models.base import HookedModel


def auto_threshold(norms: np.ndarray, min_ratio: float = 2.5, min_gap: float = 1.3) -> float | None:
    """Threshold separating high-norm outliers from the bulk of a layer's patch-token norms, or None.

    Sort the norms; among consecutive pairs (a, b) above the median with b >= min_ratio * median
    and b / a >= min_gap (a jump in log-norm of at least log(min_gap)), take the LOWEST one: the
    first clear gap above the bulk. The threshold is sqrt(a * b). The lowest, not the largest,
    because the high-norm mode is itself spread out (its sparse top can hold a larger jump than the
    bulk-to-outlier valley). A clean layer has no token min_ratio times its median, so no outliers.
    """
    x = np.sort(np.asarray(norms, dtype=np.float64).ravel())
    x = x[np.isfinite(x)]
    if x.size < 2:
        return None
    med = float(np.median(x))
    if med <= 0:
        return None
    start = int(np.searchsorted(x, med, side="left"))
    a, b = x[start:-1], x[start + 1:]
    if a.size == 0:
        return None
    ok = (b >= min_ratio * med) & (b >= min_gap * np.maximum(a, 1e-12))
    hits = np.nonzero(ok)[0]
    if hits.size == 0:
        return None
    i = int(hits[0])
    return float(math.sqrt(max(a[i], 1e-12) * b[i]))


def vision_checks(model: HookedModel) -> None:
    if getattr(model, "patch_grid", None) is None or not getattr(model, "n_layers", 0):
        raise SaekitError(f"artifact detection needs a vision transformer with a patch grid; "
                          f"{getattr(model, 'model_id', '?')} is a {getattr(model, 'modality', '?')} model")


def artifact_token_mask(model: HookedModel, inputs: Mapping[str, torch.Tensor], layer: int | None = None, threshold: float | None = None,
                        min_ratio: float = 2.5, min_gap: float = 1.3) -> torch.Tensor:
    """bool [B, T]: True at artifact (high-norm) patch tokens, for `saekit capture --exclude-artifacts`.

    Norms are read at blocks.{layer}.hook_resid_post (default: the last layer: a token that becomes
    an artifact anywhere is one there too, since artifacts persist to the output). With no fixed
    `threshold`, the automatic gap rule runs on this batch's patch norms at that layer.
    """
    vision_checks(model)
    L = int(model.n_layers)
    layer = L - 1 if layer is None else (layer + L if layer < 0 else layer)
    if not 0 <= layer < L:
        raise SaekitError(f"artifact layer {layer} is out of range (the model has {L} layers)")
    hook = f"blocks.{layer}.hook_resid_post"
    x = model.capture(inputs, [hook])[hook]
    patches = model.token_mask(inputs, "patches").to(x.device)
    norms = x.float().norm(dim=-1)
    t = threshold if threshold is not None else auto_threshold(norms[patches].cpu().numpy(), min_ratio, min_gap)
    if t is None:
        return torch.zeros_like(patches)
    return (norms > t) & patches


def make_token_filter(model: HookedModel, config: CaptureConfig) -> TokenFilter:

    """A capture TokenFilter: keeps the selected tokens that are not artifact tokens."""
    threshold = (getattr(config, "extra", None) or {}).get("artifact_threshold")
    cache: dict[int, torch.Tensor] = {}

    def token_filter(inputs: Mapping[str, torch.Tensor], acts: Mapping[str, torch.Tensor],
                     mask_BT: torch.Tensor, hook: str) -> torch.Tensor:
        key = id(inputs)
        if key not in cache:
            cache.clear()  # one batch at a time: never hold masks of earlier batches
            cache[key] = artifact_token_mask(model, inputs, threshold=threshold)
        return mask_BT & ~cache[key].to(mask_BT.device)

    return token_filter
