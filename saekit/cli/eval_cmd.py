"""`saekit eval`: metric suites of an SAE on a store's held-out samples, optionally downstream fidelity."""
from __future__ import annotations

import argparse

HELP = ("evaluate an SAE on held-out samples: --suite core (L0, FVE, dead/dense, density), vision, text or all "
        "(sparse probing, preservation, spatial coherence, MS, stability, ...)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sae", required=True, help="SAE: a saekit checkpoint directory or FORMAT:PATH (saelens:, sparsify:, dictlearn:, saev:, gemmascope:; PATH may be hf:REPO[@REV]/PATH)")
    p.add_argument("--store", required=True, help="activation store to evaluate on")
    p.add_argument("--hook", default=None, help="hook in the store (default: the SAE's hook)")
    p.add_argument("--suite", default="core", choices=["core", "vision", "text", "all"],
                   help="metric suite (default core); 'all' skips what does not apply, named suites fail on it")
    p.add_argument("--split", default="auto", choices=["auto", "holdout", "train", "all"],
                   help="rows to evaluate (default auto: the held-out samples recorded in the checkpoint)")
    p.add_argument("--holdout", type=float, default=None,
                   help="held-out fraction for SAEs whose checkpoint records none (e.g. foreign SAEs)")
    p.add_argument("--max-rows", type=int, default=500_000, help="evaluate at most N rows (whole samples)")
    p.add_argument("--max-samples", type=int, default=20_000, help="... and at most N samples")
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--device", default="auto")
    p.add_argument("--reference-sae", default=None, help="second SAE for the stability metric")
    p.add_argument("--ms-embeddings", default=None,
                   help="independent embeddings for the Monosemanticity Score: hook:OTHER_HOOK, text, or FILE.npy")
    p.add_argument("--names", default=None, help="names directory with explanation scores (autointerp column)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="also write the evaluation document (eval.json) into this directory")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--downstream", action="store_true", help="also splice the SAE into the model")
    p.add_argument("--model", default=None,
                   help="the SAE's model (e.g. random:gpt2, offline:smollm2-135m): --downstream and feature absorption")
    p.add_argument("--data", default=None, help="dataset spec for --downstream (e.g. bundled:austen, DIR)")
    p.add_argument("--n-samples", type=int, default=64, help="samples for --downstream (default 64)")
    p.add_argument("--downstream-batch-size", type=int, default=8)


def config_from_args(args: argparse.Namespace):
    from saekit.eval import EvalConfig

    return EvalConfig(sae=args.sae, store=args.store, hook=args.hook, suite=args.suite, split=args.split,
                      holdout=args.holdout, max_rows=args.max_rows, max_samples=args.max_samples,
                      batch_size=args.batch_size, device=args.device, reference_sae=args.reference_sae,
                      ms_embeddings=args.ms_embeddings, names=args.names, out=args.out, seed=args.seed,
                      model=args.model, data=args.data, downstream=args.downstream,
                      n_samples=args.n_samples, downstream_batch_size=args.downstream_batch_size,
                      progress=not args.json)


def _print(prefix: str, value) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in ("per_class", "hist", "density_hist"):
                _print(f"{prefix}.{k}" if prefix else str(k), v)
    elif isinstance(value, float):
        print(f"{prefix:<44} {value:.6g}")
    else:
        print(f"{prefix:<44} {value}")


def run(args: argparse.Namespace) -> int:
    import json

    from saekit.errors import SaekitError
    from saekit.eval import run_eval

    if args.downstream and (not args.model or not args.data):
        raise SaekitError("--downstream needs --model MODEL and --data DATA")
    result = run_eval(config_from_args(args))
    if args.json:
        print(json.dumps(result))
        return 0
    split = result["split"]
    print(f"split: {split['name']} (fraction {split['fraction']}){'; ' + split['note'] if split['note'] else ''}")
    _print("", result["metrics"])
    return 0
