"""What `saekit align` prints after a run, from its document."""
from __future__ import annotations

from saekit.analysis.alignment.config import AlignRunConfig
from saekit.results.alignment import AlignDocument


def summarize(doc: AlignDocument, cfg: AlignRunConfig) -> None:
    m, k = doc.metrics, cfg.fit.k
    line = f"recall@{k} {m[f'recall_at_{k}']:.3f} on {m['n_test']} held-out pairs (chance {m[f'chance_recall_at_{k}']:.3f}"
    if f"baseline_shuffled_recall_at_{k}" in m:
        line += f", shuffled-caption fit {m[f'baseline_shuffled_recall_at_{k}']:.3f}"
    print(line + ")")
    print(f"wrote {cfg.out}/align.json")
