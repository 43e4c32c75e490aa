"""What the CLI prints after eval, compare, align, name, audit, artifacts, steer and explain (each moves to its
command's folder as `summary.py`; the other commands' summaries already live there)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from saekit.eval.command import Evaluation


def _print_tree(prefix: str, value: Any) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in ("per_class", "hist", "hist_centred", "density_hist"):
                _print_tree(f"{prefix}.{k}" if prefix else str(k), v)
    elif isinstance(value, float):
        print(f"{prefix:<44} {value:.6g}")
    else:
        print(f"{prefix:<44} {value}")


def evaluation(result: Evaluation, cfg: Any) -> None:
    split = result.details["split"]
    print(f"split: {split['name']} (fraction {split['fraction']}){'; ' + split['note'] if split['note'] else ''}")
    _print_tree("", result.details["metrics"])


def explain(result: Any, cfg: Any) -> None:
    t = result.tokens
    dense = [s for s in result.skipped if s.reason == "dense"]
    if dense:
        print(f"{len(dense)} dense latents (firing in more than {cfg.dense_fraction:.0%} of windows) not explained: "
              + ", ".join(f"#{s.latent} ({s.window_freq:.0%})" for s in dense[:10]) + (" ..." if len(dense) > 10 else ""))
    for s in result.skipped:
        if s.reason != "dense":
            print(f"latent {s.latent} not explained: {s.reason} ({s.n_windows} of {result.n_windows} windows)")
    if result.dry_run:
        images = f", {result.images} images" if result.images else ""
        print(f"dry run: {len(result.latents)} latents of {result.n_windows} windows would cost {t.calls} calls, "
              f"about {t.prompt_tokens} prompt tokens{images} and at most {t.completion_tokens} completion tokens; "
              f"nothing was asked and nothing written to {result.out}")
        return
    scores = [r["detection"]["balanced_accuracy"] for r in result.latents.values()
              if r["detection"]["balanced_accuracy"] is not None]
    mean = f"{sum(scores) / len(scores):.3f}" if scores else "n/a"
    print(f"explained {len(result.latents)} latents ({result.n_resumed} resumed) in {result.seconds:.1f} s; "
          f"{len(scores)} with a detection score, mean balanced accuracy {mean}; {t.calls} calls, "
          f"{t.cache_hits} cached, {t.prompt_tokens} prompt + {t.completion_tokens} completion tokens")
    print(f"wrote {result.out}/names.json")


def compare(res: dict[str, Any], cfg: Any) -> None:
    for e in res["saes"]:
        core = e["metrics"].get("core", {})
        print(f"{e['name']:<24} L0={core.get('l0', float('nan')):.2f} FVE={core.get('fve', float('nan')):.4f} "
              f"dead={core.get('dead_frac', float('nan')):.3f}")
    print(f"wrote {cfg.out}/compare.json and report.html ({res['split']['name']} split, {res['n_rows']} rows)")

