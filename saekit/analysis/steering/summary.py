"""What `saekit steer` prints after a run, from its document."""
from __future__ import annotations

from pathlib import Path

from saekit.analysis.steering.config import SteerConfig
from saekit.results import SteeringDocument


def summarize(doc: SteeringDocument, cfg: SteerConfig) -> None:
    print(f"{doc.model}: latent {doc.latent} ({doc.mode}) at {doc.hook}; effect = {doc.effect}")
    print(f"  baseline {doc.baseline:.4g}")
    for row in doc.rows:
        gen = f"  | {row.generation!r}" if row.generation is not None else ""
        print(f"  strength {row.strength:>6g}: effect {row.effect:.4g} (delta {row.delta:+.4g}){gen}")
    print(f"wrote {Path(cfg.out) / 'steer.json'}")
