"""Learning-rate schedule: linear warm-up, constant, then linear decay to zero at the end."""
from __future__ import annotations


def lr_at(step: int, n_steps: int, base_lr: float, warmup_steps: int, decay_frac: float) -> float:
    warm = min(1.0, (step + 1) / max(1, warmup_steps))
    decay_start = int(n_steps * (1 - decay_frac))
    if decay_frac > 0 and step >= decay_start:
        decay = max(0.0, (n_steps - step) / max(1, n_steps - decay_start))
    else:
        decay = 1.0
    return base_lr * warm * decay


def l1_scale_at(step: int, warmup_steps: int) -> float:
    """The L1 coefficient's multiplier: linear from 1/warmup_steps at step 0 to 1 at warmup_steps."""
    return 1.0 if warmup_steps <= 0 else min(1.0, (step + 1) / warmup_steps)


def default_warmup(n_steps: int) -> int:
    return max(1, min(1000, n_steps // 20))
