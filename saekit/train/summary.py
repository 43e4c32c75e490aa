"""What `saekit train` prints after the run: one line per trained SAE with its last logged L0, FVE and
dead fraction (on rank 0 only, under torchrun)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from saekit.train.state import METRICS_NAME

if TYPE_CHECKING:
    from saekit.train.command import TrainResult
    from saekit.train.config import TrainConfig


def summarize(result: TrainResult, cfg: TrainConfig) -> None:
    if int(os.environ.get("RANK", "0")) != 0:
        return
    for sae, out in zip(result.saes, result.outs):
        metrics = Path(out) / METRICS_NAME
        last = metrics.read_text().splitlines()[-1] if metrics.exists() and metrics.stat().st_size else "{}"
        rec = json.loads(last)
        print(f"wrote {out}: {sae.cfg.arch} d_in={sae.cfg.d_in} d_sae={sae.cfg.d_sae} "
              f"L0={rec.get('l0', float('nan')):.2f} FVE={rec.get('fve', float('nan')):.4f} "
              f"dead={rec.get('dead_frac', float('nan')):.3f}")
