"""What the CLI prints after a command: one short summary of the command's result per command."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from saekit.results import NamesDocument


def train(result: Any, cfg: Any) -> None:
    if int(os.environ.get("RANK", "0")) != 0:
        return
    for sae, out in zip(result.saes, result.outs):
        metrics = Path(out) / "metrics.jsonl"
        last = metrics.read_text().splitlines()[-1] if metrics.exists() and metrics.stat().st_size else "{}"
        rec = json.loads(last)
        print(f"wrote {out}: {sae.cfg.arch} d_in={sae.cfg.d_in} d_sae={sae.cfg.d_sae} "
              f"L0={rec.get('l0', float('nan')):.2f} FVE={rec.get('fve', float('nan')):.4f} "
              f"dead={rec.get('dead_frac', float('nan')):.3f}")


def name(doc: NamesDocument, cfg: Any) -> None:
    for note in doc.notes:
        print(f"note: {note}")
    best = sorted(doc.latents, key=lambda l: -l.score)[:5]
    print(f"named {doc.n_named} of {doc.n_live} live latents ({doc.method}); best: "
          + ", ".join(f"#{l.latent} {l.name} ({l.score:.2f})" for l in best))
    print(f"wrote {cfg.out}/names.json and {cfg.out}/index.html")


def explain(result: Any, cfg: Any) -> None:
    scores = [r["detection"]["balanced_accuracy"] for r in result.latents.values()
              if r["detection"]["balanced_accuracy"] is not None]
    mean = f"{sum(scores) / len(scores):.3f}" if scores else "n/a"
    t = result.tokens
    print(f"explained {len(result.latents)} latents ({result.n_resumed} resumed) in {result.seconds:.1f} s; "
          f"mean detection balanced accuracy {mean}; {t.calls} calls, {t.cache_hits} cached, "
          f"{t.prompt_tokens} prompt + {t.completion_tokens} completion tokens")
    print(f"wrote {result.out}/names.json")


def export(out: Path, cfg: Any) -> None:
    print(f"wrote {out} ({cfg.format})")


def align(meta: dict[str, Any], cfg: Any) -> None:
    m, k = meta["metrics"], cfg.fit.k
    line = f"recall@{k} {m[f'recall_at_{k}']:.3f} on {m['n_test']} held-out pairs (chance {m[f'chance_recall_at_{k}']:.3f}"
    if f"baseline_shuffled_recall_at_{k}" in m:
        line += f", shuffled-caption fit {m[f'baseline_shuffled_recall_at_{k}']:.3f}"
    print(line + ")")
    print(f"wrote {cfg.out}/align.json")


def compare(res: dict[str, Any], cfg: Any) -> None:
    for e in res["saes"]:
        core = e["metrics"].get("core", {})
        print(f"{e['name']:<24} L0={core.get('l0', float('nan')):.2f} FVE={core.get('fve', float('nan')):.4f} "
              f"dead={core.get('dead_frac', float('nan')):.3f}")
    print(f"wrote {cfg.out}/compare.json and report.html ({res['split']['name']} split, {res['n_rows']} rows)")


def quickstart(result: Any, cfg: Any) -> None:
    from saekit.quickstart import dashboard_command

    report, results = result
    for r in results:
        print(f"  {r.name:<8} {'reused' if r.reused else f'{r.seconds:.1f} s'}")
    print(f"report: {report}")
    print(f"dashboard: {dashboard_command(cfg)}")
