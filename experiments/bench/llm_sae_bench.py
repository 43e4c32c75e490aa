"""An SAE on a real language model with default flags, next to the same run with the old behaviour.

Offline SmolLM2-135M, bundled:austen, blocks.15.hook_resid_post, --tokens nonspecial, TopK 8x, k 32:
  default   capture with the default --massive-tokens auto (the first position and rows above 10x the
            batch's median norm left out; the SAE records it and downstream splicing skips them);
  keep      the behaviour before: every non-special token stored, spliced everywhere.
Each variant: capture the first --paragraphs paragraphs, train --train-tokens tokens (several epochs
over the capture when it holds fewer tokens: reported as "epochs"), evaluate on the store (dead fraction,
FVE variants) and splice into the model on --eval-paragraphs held-out paragraphs (CE loss recovered).
Prints ONE JSON line. The bar: dead_frac <= 0.10 and ce_loss_recovered >= 0.8 for "default" (saekit's kept-token
variant, downstream.ce_loss_recovered_kept_tokens).

    PYTHONPATH=. python experiments/bench/llm_sae_bench.py --out /tmp/llm_bench
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

MODEL = "offline:smollm2-135m"
DATA = "bundled:austen"
HOOK = "blocks.15.hook_resid_post"


def run_variant(name: str, policy: str, model: Any, eval_samples: list, args: argparse.Namespace) -> dict[str, Any]:
    from saekit.capture import CaptureConfig, capture
    from saekit.eval import evaluate, evaluate_downstream
    from saekit.train.config import TrainConfig
    from saekit.train.trainer import train
    from stores import ActivationStore
    from stores.dominance import row_dominance

    out = Path(args.out) / name
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    store = out / "store.h5"
    capture(CaptureConfig(model=MODEL, data=DATA, hooks=(HOOK,), out=str(store), tokens="nonspecial",
                          massive_tokens=policy, limit=args.paragraphs, batch_size=args.capture_batch_size,
                          overwrite=True, progress=False), model=model)
    t_capture = time.perf_counter() - t0
    with ActivationStore.open(store) as s:
        rows = s.n_rows(HOOK)
        dom = row_dominance(s, HOOK)
    t1 = time.perf_counter()
    sae_dir = out / "sae"
    if sae_dir.exists():
        import shutil

        shutil.rmtree(sae_dir)
    sae = train(TrainConfig(hook=HOOK, arch="topk", k=32, expansion=8, tokens=args.train_tokens,
                            batch_size=args.batch_size, out=str(sae_dir), store=str(store), progress=False, device="cpu"))
    t_train = time.perf_counter() - t1
    metrics = evaluate(sae, str(store))
    t2 = time.perf_counter()
    down = evaluate_downstream(sae, model, eval_samples, batch_size=4)
    t_down = time.perf_counter() - t2
    return {"massive_tokens": policy, "rows": rows, "epochs": round(args.train_tokens / rows, 2),
            "store_dominated": dom["dominated"], "store_top_share_sq_norm": round(dom["share_sq_norm"], 4),
            "dead_frac": metrics["dead_frac"], "l0": metrics["l0"], "fve_rownorm": metrics["fve_rownorm"],
            "fve_pooled": metrics["fve"], "fve_per_token": metrics["fve_per_token"], "cosine": metrics["cosine"],
            "ce_clean": down["ce_clean"], "ce_sae": down["ce_sae"], "ce_zero_ablation": down["ce_zero_ablation"],
            "ce_loss_recovered": down["ce_loss_recovered_kept_tokens"], "eval_tokens": down["n_tokens"],
            "seconds": {"capture": round(t_capture, 1), "train": round(t_train, 1), "downstream": round(t_down, 1)}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="/tmp/saekit_llm_bench")
    p.add_argument("--paragraphs", type=int, default=600, help="paragraphs captured for training")
    p.add_argument("--eval-paragraphs", type=int, default=32, help="held-out paragraphs for CE loss recovered")
    p.add_argument("--train-tokens", type=int, default=1_000_000)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--capture-batch-size", type=int, default=8)
    p.add_argument("--variants", default="default,keep", help="comma-separated: default, keep")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    import torch

    from saekit.data import load_dataset
    from saekit.models import load_model

    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = load_model(MODEL, "cpu")
    ds = load_dataset(DATA)
    eval_samples = [ds[i] for i in range(args.paragraphs, min(len(ds), args.paragraphs + args.eval_paragraphs))]
    policies = {"default": "auto", "keep": "keep"}
    result: dict[str, Any] = {"bench": "llm_sae", "model": MODEL, "data": DATA, "hook": HOOK, "tokens": "nonspecial",
                              "arch": "topk", "expansion": 8, "k": 32, "paragraphs": args.paragraphs,
                              "eval_paragraphs": len(eval_samples), "train_tokens": args.train_tokens,
                              "torch_threads": torch.get_num_threads()}
    for name in args.variants.split(","):
        result[name] = run_variant(name, policies[name], model, eval_samples, args)
    d = result.get("default")
    if d is not None:
        result["bar_met"] = bool(d["dead_frac"] <= 0.10 and d["ce_loss_recovered"] >= 0.8
                                 and args.train_tokens >= 1_000_000)
    result["seconds_total"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
