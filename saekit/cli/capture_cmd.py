"""`saekit capture`: run a model over a dataset and store hook activations."""
from __future__ import annotations

import argparse

HELP = "capture hook activations of a model on a dataset into an activation store"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="random:vit|random:vit-s|random:clip|random:gpt2, hf:<name or dir>, tl:<name or dir>, offline:<name>")
    p.add_argument("--data", help="image folder (sub-folders = labels), file.txt, folder of .txt, hfds:<dir>, bundled:<name>")
    p.add_argument("--hook", action="append", default=[], metavar="HOOK",
                   help="hook name, e.g. blocks.3.hook_resid_post (repeatable; --list-hooks shows them)")
    p.add_argument("--out", help="store file (.h5); under torchrun a shard directory")
    p.add_argument("--tokens", default="all", choices=["all", "cls", "patches", "nonspecial"])
    p.add_argument("--dtype", default=None, choices=["float16", "bfloat16", "float32"],
                   help="storage dtype (default: the model's dtype)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--limit", type=int, default=None, help="capture only the first N samples")
    p.add_argument("--resume", action="store_true", help="continue an interrupted capture at its last commit")
    p.add_argument("--overwrite", action="store_true", help="replace an existing store")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--exclude-artifacts", action="store_true",
                   help="drop high-norm artifact tokens (see `saekit artifacts`) so SAEs train without them")
    p.add_argument("--artifact-threshold", type=float, default=None,
                   help="fixed norm threshold for --exclude-artifacts (default: automatic from each batch's norm gap)")
    p.add_argument("--massive-tokens", default="auto", choices=["auto", "drop", "keep"],
                   help="massive-activation tokens (first position, rows far above the median norm): auto drops "
                        "them for language models, drop for any model, keep stores every selected token")
    p.add_argument("--massive-norm-ratio", type=float, default=10.0,
                   help="rows above this multiple of the batch's median norm count as massive (default 10)")
    p.add_argument("--list-hooks", action="store_true", help="print the model's hook names and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from saekit.errors import SaekitError
    from saekit.models import load_model

    if args.list_hooks:
        m = load_model(args.model, args.device)
        print("\n".join(m.hook_names()))
        return 0
    missing = [flag for flag, value in (("--data", args.data), ("--hook", args.hook), ("--out", args.out)) if not value]
    if missing:
        raise SaekitError(f"missing {', '.join(missing)} (only --list-hooks works without them)")
    from saekit.capture import CaptureConfig, capture

    cfg = CaptureConfig(model=args.model, data=args.data, hooks=tuple(args.hook), out=args.out, tokens=args.tokens,
                        dtype=args.dtype, batch_size=args.batch_size, limit=args.limit, resume=args.resume,
                        overwrite=args.overwrite, device=args.device, seed=args.seed, progress=not args.no_progress,
                        exclude_artifacts=args.exclude_artifacts, massive_tokens=args.massive_tokens,
                        massive_norm_ratio=args.massive_norm_ratio,
                        extra={"artifact_threshold": args.artifact_threshold} if args.artifact_threshold else {})
    res = capture(cfg)
    rows = ", ".join(f"{h}: {n} rows" for h, n in res.rows.items())
    print(f"wrote {res.shard} ({res.n_samples} samples; {rows})" + (f"; store {res.path}" if res.path != res.shard else ""))
    return 0
