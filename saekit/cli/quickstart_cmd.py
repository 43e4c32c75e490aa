"""`saekit quickstart`: the main job on the embedded default, resumable step by step."""
from __future__ import annotations

import argparse

HELP = "capture, train, evaluate, align, name and report on the embedded default (DINOv2 ViT-S + bundled clipart)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from saekit.quickstart import QuickstartConfig

    d = QuickstartConfig()
    p.add_argument("--out", default=d.out, help=f"output directory (default {d.out}); a second run reuses finished steps")
    p.add_argument("--model", default=d.model, help=f"model spec (default {d.model})")
    p.add_argument("--data", default=d.data, help=f"dataset spec (default {d.data})")
    p.add_argument("--hook", default=d.hook, help=f"hook to capture and train on (default {d.hook})")
    p.add_argument("--tokens", default=d.tokens, help=f"token selection (default {d.tokens})")
    p.add_argument("--limit", type=int, default=d.limit, help="use only the first N samples")
    p.add_argument("--arch", default=d.arch, help=f"SAE architecture (default {d.arch})")
    p.add_argument("--expansion", type=float, default=d.expansion, help=f"dictionary size / d_in (default {d.expansion:g})")
    p.add_argument("--k", type=int, default=d.k, help=f"active latents per token for top-k SAEs (default {d.k})")
    p.add_argument("--train-tokens", type=int, default=d.train_tokens, help=f"training tokens (default {d.train_tokens})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"training batch (default {d.batch_size})")
    p.add_argument("--device", default=d.device, help="auto (CUDA when present), cpu, cuda, cuda:N")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from saekit.quickstart import QuickstartConfig, dashboard_command, run_quickstart

    cfg = QuickstartConfig(out=args.out, model=args.model, data=args.data, hook=args.hook, tokens=args.tokens,
                           limit=args.limit, arch=args.arch, expansion=args.expansion, k=args.k,
                           train_tokens=args.train_tokens, batch_size=args.batch_size, device=args.device,
                           seed=args.seed, progress=not args.no_progress)
    report, results = run_quickstart(cfg)
    for r in results:
        print(f"  {r.name:<8} {'reused' if r.reused else f'{r.seconds:.1f} s'}")
    print(f"report: {report}")
    print(f"dashboard: {dashboard_command(cfg)}")
    return 0
