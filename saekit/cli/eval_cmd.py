"""`saekit eval`: reconstruction metrics of an SAE on a store, optionally downstream fidelity in the model."""
from __future__ import annotations

import argparse

HELP = "evaluate an SAE: L0, FVE (pooled and per-token), MSE, cosine, dead fraction, downstream fidelity"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sae", required=True, help="SAE checkpoint directory")
    p.add_argument("--store", required=True, help="activation store to evaluate on")
    p.add_argument("--hook", default=None, help="hook in the store (default: the SAE's hook)")
    p.add_argument("--max-rows", type=int, default=None, help="evaluate the first N rows only")
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--downstream", action="store_true", help="also splice the SAE into the model")
    p.add_argument("--model", default=None, help="model spec for --downstream (e.g. random:gpt2, hf:DIR)")
    p.add_argument("--data", default=None, help="dataset spec for --downstream (e.g. bundled:austen, DIR)")
    p.add_argument("--n-samples", type=int, default=64, help="samples for --downstream (default 64)")
    p.add_argument("--downstream-batch-size", type=int, default=8)


def run(args: argparse.Namespace) -> int:
    import json

    from saekit.device import resolve_device
    from saekit.errors import SaekitError
    from saekit.eval import evaluate, evaluate_downstream
    from saekit.sae import SAE

    if args.downstream and (not args.model or not args.data):
        raise SaekitError("--downstream needs --model MODEL and --data DATA")
    device = resolve_device(args.device)
    sae = SAE.load(args.sae, device=device)
    result = evaluate(sae, args.store, hook=args.hook, max_rows=args.max_rows, batch_size=args.batch_size)
    if args.downstream:
        from saekit.data import load_dataset
        from saekit.models import load_model

        model = load_model(args.model, device)
        ds = load_dataset(args.data)
        samples = [ds[i] for i in range(min(args.n_samples, len(ds)))]
        result["downstream"] = evaluate_downstream(sae, model, samples, batch_size=args.downstream_batch_size,
                                                   progress=not args.json)
    if args.json:
        print(json.dumps(result))
        return 0
    for key, value in result.items():
        if isinstance(value, dict):
            for k2, v2 in value.items():
                print(f"downstream.{k2:<26} {v2:.6g}" if isinstance(v2, float) else f"downstream.{k2:<26} {v2}")
        else:
            print(f"{key:<37} {value:.6g}" if isinstance(value, float) else f"{key:<37} {value}")
    return 0
