"""`saekit capture --exclude-artifacts`: drop high-norm artifact tokens so SAEs train without them.

The artifact mask needs the last layer's norms, which a capture that stops at an earlier hook
never computes; so the filter runs one extra (full) forward per batch and reuses it for every
hook of that batch.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch

from saekit.analysis.artifacts import artifact_token_mask


def make_token_filter(model: Any, config: Any):
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
