"""`saekit compare`: the metric suite on several SAEs over the same held-out rows; JSON + HTML report."""
from __future__ import annotations

import argparse

HELP = "compare SAEs on the same held-out rows of a store: one table and trade-off plots (compare.json, report.html)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sae", action="append", required=True, help="SAE checkpoint directory (repeat for each SAE)")
    p.add_argument("--name", action="append", default=[], help="display name of each --sae, in order")
    p.add_argument("--store", required=True, help="activation store the SAEs read")
    p.add_argument("--out", required=True, help="output directory (compare.json, report.html)")
    p.add_argument("--suite", default="all", choices=["core", "vision", "text", "all"],
                   help="metric suite (default all: what applies to the store, the rest reported as skipped)")
    p.add_argument("--hook", default=None, help="hook in the store (default: the SAEs' hook)")
    p.add_argument("--split", default="auto", choices=["auto", "holdout", "train", "all"])
    p.add_argument("--holdout", type=float, default=None, help="held-out fraction for SAEs that record none")
    p.add_argument("--max-rows", type=int, default=500_000)
    p.add_argument("--max-samples", type=int, default=20_000)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--device", default="auto")
    p.add_argument("--ms-embeddings", default=None, help="hook:OTHER_HOOK, text, or FILE.npy (Monosemanticity Score)")
    p.add_argument("--seed", type=int, default=0)


def config_from_args(args: argparse.Namespace):
    from saekit.eval.compare import CompareConfig

    return CompareConfig(saes=tuple(args.sae), names=tuple(args.name), store=args.store, out=args.out,
                         suite=args.suite, hook=args.hook, split=args.split, holdout=args.holdout,
                         max_rows=args.max_rows, max_samples=args.max_samples, batch_size=args.batch_size,
                         device=args.device, ms_embeddings=args.ms_embeddings, seed=args.seed)


def run(args: argparse.Namespace) -> int:
    from saekit.eval.compare import compare

    res = compare(config_from_args(args))
    for e in res["saes"]:
        core = e["metrics"].get("core", {})
        print(f"{e['name']:<24} L0={core.get('l0', float('nan')):.2f} FVE={core.get('fve', float('nan')):.4f} "
              f"dead={core.get('dead_frac', float('nan')):.3f}")
    print(f"wrote {args.out}/compare.json and report.html ({res['split']['name']} split, {res['n_rows']} rows)")
    return 0
