"""Transcoders, a skip transcoder and a crosscoder on a real language model, next to an SAE of the same width.

Offline SmolLM2-135M on bundled:austen (default flags: every token, massive-activation tokens left out),
one store holding, aligned, blocks.L.ln2.hook_normalized, blocks.L.hook_mlp_out and the residual stream
after blocks L-1, L, L+1. Variants (TopK, --expansion, --k, --tokens each, default flags otherwise):
  sae          an SAE on the MLP's input (the speed baseline: same input width and dictionary width)
  transcoder   blocks.L.ln2.hook_normalized -> blocks.L.hook_mlp_out
  skip         the same with the linear skip path
  crosscoder   blocks.L-1/L/L+1.hook_resid_post, read and reconstructed with shared latents
Each is evaluated on the held-out samples it records (`saekit eval`: target FVE, dead fraction;
crosscoder: per-layer FVE) and, for the transcoders, with the MLP's output replaced in the model
(`--downstream`: CE loss recovered against zero-ablating that MLP) on --eval-samples held-out
paragraphs. With --vit-store (a DINOv2 store of the same two hooks) a ViT transcoder is added, its
downstream number the output-embedding cosine, replaced and with the MLP zero-ablated.
Training speed: rows/s of the whole train() call (wall, and per second of this process's CPU time,
every thread counted) and of the last metrics line (steady state). On a shared machine wall time is at
the mercy of the other processes, CPU time much less so: --speed-pairs N alternates N SAE and N
transcoder runs of --speed-tokens rows (SAE, transcoder, SAE, ...) and reports the median ratios.
Prints ONE JSON line.

    PYTHONPATH=. python experiments/bench/transcoder_bench.py --store smol.h5 --out /tmp/tc_bench
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

MODEL = "offline:smollm2-135m"
DATA = "bundled:austen"


def hooks_of(layer: int) -> dict[str, Any]:
    return {"in": f"blocks.{layer}.ln2.hook_normalized", "out": f"blocks.{layer}.hook_mlp_out",
            "resid": tuple(f"blocks.{i}.hook_resid_post" for i in (layer - 1, layer, layer + 1))}


def capture_store(args: argparse.Namespace) -> None:
    from saekit.capture import CaptureConfig, capture

    h = hooks_of(args.layer)
    capture(CaptureConfig(model=MODEL, data=DATA, hooks=(h["in"], h["out"], *h["resid"]), out=args.store,
                          limit=args.paragraphs, batch_size=8, overwrite=True, progress=False))


def train_one(name: str, store: str, out: Path, tokens: int, args: argparse.Namespace, **kw: Any) -> dict[str, Any]:
    from saekit.results import MetricsLog
    from saekit.train.config import TrainConfig
    from saekit.train.trainer import train

    if out.exists():
        shutil.rmtree(out)
    t0, c0 = time.perf_counter(), time.process_time()
    train(TrainConfig(arch="topk", k=args.k, expansion=args.expansion, tokens=tokens, store=store, out=str(out),
                      progress=False, device="cpu", **kw))
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    last = MetricsLog.load(out).records[-1]
    return {"train_seconds": round(seconds, 1), "rows_per_s": round(tokens / seconds, 1),
            "train_cpu_seconds": round(cpu_seconds, 1), "rows_per_cpu_s": round(tokens / cpu_seconds, 1),
            "rows_per_s_last_window": round(last.tokens_per_s, 1), "train_fve_last_window": round(last.fve, 4)}


def evaluate(out: Path, store: str, model: str | None, data: str | None, n: int) -> dict[str, Any]:
    from saekit.eval.command import eval as run_eval
    from saekit.eval.config import EvalConfig

    ev = run_eval(EvalConfig(sae=str(out), store=store, device="cpu", model=model, data=data,
                             downstream=model is not None, n_samples=n, downstream_batch_size=4)).details
    m = ev["metrics"]
    got: dict[str, Any] = {}
    if "transcoder" in m:
        t = m["transcoder"]
        got.update(fve=t["fve"], dead_frac=t["dead_frac"], l0=t["l0"], fve_per_hook=t["fve_per_hook"],
                   eval_rows=t["n_rows"], **({"fve_skip_only": t["fve_skip_only"]} if "fve_skip_only" in t else {}))
    if "core" in m:
        c = m["core"]
        got.update(fve=c["fve"], fve_rownorm=c["fve_rownorm"], dead_frac=c["dead_frac"], l0=c["l0"], eval_rows=c["n_rows"])
    d = m.get("downstream_replacement")
    if d:
        keys = ("ce_clean", "ce_sae", "ce_zero_ablation", "ce_loss_score", "ce_loss_recovered_kept_tokens", "n_tokens", "embedding_cosine",
                "embedding_cosine_zero_ablation", "n_samples")
        got["downstream"] = {k: d[k] for k in keys if k in d}
    return got


def speed_pairs(args: argparse.Namespace, out: Path, plan: dict[str, dict[str, Any]]) -> dict[str, Any]:
    import statistics

    runs: dict[str, list[dict[str, Any]]] = {"sae": [], "transcoder": []}
    for i in range(args.speed_pairs):
        for name in ("sae", "transcoder"):
            runs[name].append(train_one(name, args.store, out / f"speed_{name}_{i}", args.speed_tokens, args, **plan[name]))
    ratios = [t["rows_per_s_last_window"] / s["rows_per_s_last_window"] for s, t in zip(runs["sae"], runs["transcoder"])]
    whole = [t["rows_per_s"] / s["rows_per_s"] for s, t in zip(runs["sae"], runs["transcoder"])]
    cpu = [t["rows_per_cpu_s"] / s["rows_per_cpu_s"] for s, t in zip(runs["sae"], runs["transcoder"])]
    return {"tokens": args.speed_tokens, "runs": runs, "ratio_last_window": [round(r, 3) for r in ratios],
            "ratio_whole_call": [round(r, 3) for r in whole], "ratio_whole_call_cpu": [round(r, 3) for r in cpu],
            "median_ratio_last_window": round(statistics.median(ratios), 3),
            "median_ratio_whole_call": round(statistics.median(whole), 3),
            "median_ratio_whole_call_cpu": round(statistics.median(cpu), 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", required=True, help="SmolLM2 store with the hooks above (captured when missing)")
    p.add_argument("--out", default="/tmp/saekit_transcoder_bench")
    p.add_argument("--layer", type=int, default=6)
    p.add_argument("--paragraphs", type=int, default=600, help="paragraphs captured when --store is missing")
    p.add_argument("--tokens", type=int, default=1_000_000, help="training rows of each LLM variant")
    p.add_argument("--crosscoder-tokens", type=int, default=None, help="training rows of the crosscoder (default --tokens)")
    p.add_argument("--expansion", type=float, default=8.0)
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--eval-samples", type=int, default=32, help="held-out paragraphs / images for --downstream")
    p.add_argument("--variants", default="transcoder,sae,skip,crosscoder", help="comma-separated; empty: none")
    p.add_argument("--speed-pairs", type=int, default=0, help="alternating SAE / transcoder runs for the speed ratio")
    p.add_argument("--speed-tokens", type=int, default=200_000)
    p.add_argument("--vit-store", default=None, help="offline:dinov2-small store of the same two hooks (adds 'vit')")
    p.add_argument("--vit-tokens", type=int, default=200_000)
    p.add_argument("--vit-data", default="bundled:clipart")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    import torch

    torch.manual_seed(0)
    t0 = time.perf_counter()
    if not Path(args.store).exists():
        capture_store(args)
    from stores import ActivationStore

    h = hooks_of(args.layer)
    with ActivationStore.open(args.store) as s:
        rows, samples = s.n_rows(h["in"]), s.n_samples
    out = Path(args.out)
    result: dict[str, Any] = {"bench": "transcoder", "model": MODEL, "data": DATA, "store_rows": rows,
                              "store_samples": samples, "layer": args.layer, "arch": "topk", "expansion": args.expansion,
                              "k": args.k, "tokens": args.tokens, "torch_threads": torch.get_num_threads()}
    plan = {"sae": dict(hook=h["in"]), "transcoder": dict(hook=h["in"], target_hook=(h["out"],)),
            "skip": dict(hook=h["in"], target_hook=(h["out"],), skip=True), "crosscoder": dict(hook=",".join(h["resid"]))}
    out.mkdir(parents=True, exist_ok=True)
    for name in [v for v in args.variants.split(",") if v]:
        tokens = args.crosscoder_tokens or args.tokens if name == "crosscoder" else args.tokens
        res = train_one(name, args.store, out / name, tokens, args, **plan[name])
        downstream = name in ("transcoder", "skip")
        res.update(tokens=tokens, **evaluate(out / name, args.store, MODEL if downstream else None,
                                              DATA if downstream else None, args.eval_samples))
        result[name] = res
        (out / "partial.json").write_text(json.dumps(result))  # what is done so far, should a later variant fail
    if "sae" in result and "transcoder" in result:
        result["transcoder_speed_vs_sae"] = round(result["transcoder"]["rows_per_s_last_window"]
                                                  / result["sae"]["rows_per_s_last_window"], 3)
    if args.speed_pairs:
        result["speed"] = speed_pairs(args, out, plan)
    if args.vit_store:
        res = train_one("vit", args.vit_store, out / "vit", args.vit_tokens, args, hook=h["in"], target_hook=(h["out"],))
        res.update(tokens=args.vit_tokens, store=args.vit_store,
                   **evaluate(out / "vit", args.vit_store, "offline:dinov2-small", args.vit_data, args.eval_samples))
        result["vit"] = res
    t = result.get("transcoder")
    if t:
        result["bar_met"] = bool(t["dead_frac"] <= 0.10 and t["downstream"]["ce_loss_recovered_kept_tokens"] >= 0.8
                                 and args.tokens >= 1_000_000)
    result["seconds_total"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
