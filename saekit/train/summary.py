"""What `saekit train` prints after the run: one line per trained SAE with its last logged L0, FVE and
dead fraction (on rank 0 only, under torchrun)."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from saekit.results.metrics_log import MetricsLog

if TYPE_CHECKING:
    from saekit.train.command import TrainResult
    from saekit.train.config import TrainConfig


def summarize(result: TrainResult, cfg: TrainConfig) -> None:
    if int(os.environ.get("RANK", "0")) != 0:
        return
    for sae, out in zip(result.saes, result.outs):
        rec = MetricsLog.load(out).last()
        l0, fve, dead = (rec.l0, rec.fve, rec.dead_frac) if rec is not None else (float("nan"),) * 3
        print(f"wrote {out}: {sae.cfg.arch} d_in={sae.cfg.d_in} d_sae={sae.cfg.d_sae} "
              f"L0={l0:.2f} FVE={fve:.4f} dead={dead:.3f}")
