"""`saekit store info|verify PATH`: inspect and check an activation store."""
from __future__ import annotations

import argparse
import json

INFO_DOMINANCE_ROWS = 1 << 18  # leading rows per hook read for the dominating-rows check
HELP = "inspect (info) or check (verify) an activation store file or shard directory"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    info = sub.add_parser("info", help="hooks with rows, d, dtype; samples; model; format version; completeness")
    info.add_argument("path", help="store .h5 file or shard directory")
    info.add_argument("--json", action="store_true", help="print the info as one JSON object")
    info.add_argument("--stats", action="store_true", help="also print per-hook norm quantiles and mean squared norm")
    verify = sub.add_parser("verify", help="check lengths, committed counts, sample ids and every chunk; exit 2 on damage")
    verify.add_argument("path", help="store .h5 file or shard directory")


def run(args: argparse.Namespace) -> int:
    from stores import ActivationStore, StoreError, verify_store
    from stores.dominance import dominance_warning, row_dominance

    if args.store_command == "verify":
        problems = verify_store(args.path)
        if problems:
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            raise StoreError(f"{args.path}: store damaged: {problems[0]}{more}")
        with ActivationStore.open(args.path) as s:
            rows = ", ".join(f"{h}={s.n_rows(h)}" for h in s.hooks)
            state = "complete" if s.complete else "incomplete (resumable)"
            print(f"OK {args.path}: {state}, {s.n_samples} samples, rows {rows}")
        return 0

    warnings = []
    with ActivationStore.open(args.path) as s:
        info = s.info()
        info["dominance"] = {}
        for h in s.hooks:
            if s.n_rows(h):
                dom = row_dominance(s, h, max_rows=INFO_DOMINANCE_ROWS)
                info["dominance"][h] = dom
                warnings.append(dominance_warning(h, dom))
        if args.stats:
            for h in s.hooks:
                st = s.stats(h)
                info["hooks"][h]["stats"] = {
                    "norm_quantiles": {str(q): v for q, v in st["norm_quantiles"].items()},
                    "mean_sq_norm": st["mean_sq_norm"],
                    "n_nonfinite": st["n_nonfinite"],
                }
    if args.json:
        print(json.dumps(info, sort_keys=True, default=str))
        return 0
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
    for w in filter(None, warnings):
        print(f"WARNING {w}")
    return 0
