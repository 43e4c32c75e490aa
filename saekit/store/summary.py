"""What `saekit store info` and `saekit store verify` print after the run."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from saekit.store.config import StoreInfoConfig, StoreVerifyConfig
    from saekit.store.run import StoreCheck, StoreInfo


def summarize_info(result: StoreInfo, cfg: StoreInfoConfig) -> None:
    info = result.info
    print(f"store          {info['path']}")
    print(f"status         {'complete' if info['complete'] else 'INCOMPLETE (writer did not close; resumable)'}")
    print(f"format version {info['format_version']}")
    print(f"model          {info['model_id'] or '?'}" + (f" @ {info['model_revision']}" if info["model_revision"] else ""))
    print(f"dtype          {info['dtype']}")
    print(f"created        {info['created']}")
    print(f"samples        {info['n_samples']} (committed)")
    if len(info["shards"]) > 1:
        print(f"shards         {len(info['shards'])}")
    print("hooks:")
    width = max(len(h) for h in info["hooks"])
    for h, v in info["hooks"].items():
        line = f"  {h:<{width}}  rows {v['rows']:>10}  d {v['d']:>6}  {v['dtype']}"
        if "stats" in v:
            q = v["stats"]["norm_quantiles"]
            line += f"  norm median {q['0.5']:.4g}  mean|x|^2 {v['stats']['mean_sq_norm']:.4g}"
        print(line)
    for w in result.warnings:
        print(f"WARNING {w}")


def summarize_verify(result: StoreCheck, cfg: StoreVerifyConfig) -> None:
    rows = ", ".join(f"{h}={n}" for h, n in result.rows.items())
    state = "complete" if result.complete else "incomplete (resumable)"
    print(f"OK {result.path}: {state}, {result.n_samples} samples, rows {rows}")
