"""`saekit train` as one call: one SAE, or with ``cfg.sweep`` one per variant, trained from one pass."""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from saekit.train.config import TrainConfig

if TYPE_CHECKING:
    from saekit.sae import SAE


@dataclasses.dataclass(frozen=True)
class TrainResult:
    saes: tuple["SAE", ...]
    outs: tuple[str, ...]  # checkpoint directory of each SAE, in order


def run_training(cfg: TrainConfig) -> TrainResult:
    from saekit.train.sweep import sweep_configs
    from saekit.train.trainer import train, train_sweep

    if cfg.sweep:
        return TrainResult(tuple(train_sweep(cfg)), tuple(c.out for c in sweep_configs(cfg)))
    return TrainResult((train(cfg),), (cfg.out,))
