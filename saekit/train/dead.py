"""Dead-latent tracking: tokens since each latent last fired, updated from sparse firing counts."""
from __future__ import annotations

import torch


class DeadLatentTracker:
    def __init__(self, d_sae: int, dead_tokens: int, device: torch.device):
        self.dead_tokens = int(dead_tokens)
        self.since_fired = torch.zeros(d_sae, dtype=torch.int64, device=device)

    def update(self, fired_counts: torch.Tensor, n_tokens: int) -> None:
        self.since_fired += n_tokens
        self.since_fired.masked_fill_(fired_counts > 0, 0)

    def dead_mask(self, window: int | None = None) -> torch.Tensor:
        return self.since_fired >= (self.dead_tokens if window is None else window)

    def dead_idx(self, window: int | None = None) -> torch.Tensor:
        return self.dead_mask(window).nonzero().flatten()

    def dead_frac(self) -> float:
        return float(self.dead_mask().float().mean())
