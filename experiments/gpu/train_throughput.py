"""TopK training tokens/s from a bf16 store, streaming vs device-resident, with GPU utilisation (one JSON line).

Writes a bf16 store of --rows rows of width --d-in (random rows), then trains a TopK SAE
(--expansion x, k --k, batch --batch-size) on it twice with the same trainer: --data-on-device off
(streaming: store-dtype rows through pinned memory, widened and checked on the GPU) and on (rows
held on the device). tokens/s is the trainer's own figure over the steps after --warm (from
metrics.jsonl, log every step). On CUDA, nvidia-smi samples utilisation.gpu every 200 ms during each
run (mean and median reported); on CPU those fields are null. --small shrinks everything so the
script is exercised on a CPU.

    python experiments/gpu/train_throughput.py [--small] [--device auto]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from saekit.common.device import resolve_device  # noqa: E402
from saekit.results import MetricsLog  # noqa: E402
from saekit.train import TrainConfig, train  # noqa: E402
from stores import ActivationStore  # noqa: E402
from stores.dtypes import to_storage  # noqa: E402


def make_store(path: Path, n: int, d: int) -> None:
    rng = np.random.default_rng(0)
    pool = rng.standard_normal((16384, d)).astype(np.float32)
    w = ActivationStore.create(path, hooks={"h": d}, dtype="bfloat16", attrs={"model_id": "bench"})
    for a in range(0, n, 16384):
        b = min(n, a + 16384)
        ids = np.arange(a, b, dtype=np.int64)
        w.add_samples(ids, [{}] * (b - a))
        w.append("h", to_storage(pool[: b - a] * rng.uniform(0.5, 2.0), "bfloat16"), ids, np.zeros(b - a, np.int32))
        w.commit()
    w.close()


class GpuSampler:
    """nvidia-smi utilisation samples while a run lasts (None on CPU or without nvidia-smi)."""

    def __init__(self, device: torch.device) -> None:
        self.proc = None
        if device.type == "cuda" and shutil.which("nvidia-smi"):
            idx = device.index if device.index is not None else torch.cuda.current_device()
            self.proc = subprocess.Popen(["nvidia-smi", "-i", str(idx), "--query-gpu=utilization.gpu",
                                          "--format=csv,noheader,nounits", "-lms", "200"],
                                         stdout=subprocess.PIPE, text=True)

    def stop(self) -> dict:
        if self.proc is None:
            return {"gpu_util_mean": None, "gpu_util_median": None}
        self.proc.terminate()
        out, _ = self.proc.communicate()
        vals = [float(v) for v in out.split() if v.strip().replace(".", "", 1).isdigit()]
        return {"gpu_util_mean": round(statistics.fmean(vals), 1) if vals else None,
                "gpu_util_median": statistics.median(vals) if vals else None}


def run(store: Path, out: Path, args: argparse.Namespace, mode: str) -> dict:
    cfg = TrainConfig(store=str(store), hook="h", arch="topk", k=args.k, expansion=args.expansion,
                      tokens=args.steps * args.batch_size, batch_size=args.batch_size, out=str(out), device=args.device,
                      progress=False, data_on_device=mode, log_every=1, checkpoint_every_s=1e9, holdout=0.0,
                      autocast="bf16" if resolve_device(args.device).type == "cuda" else "off")
    sampler = GpuSampler(resolve_device(args.device))
    t0 = time.perf_counter()
    train(cfg)
    wall = time.perf_counter() - t0
    util = sampler.stop()
    recs = MetricsLog.load(out).records
    a, b = recs[args.warm - 1], recs[-1]
    # tokens_per_s in each line is cumulative since the loop started: recover the time stamps
    t_a, t_b = a.tokens / a.tokens_per_s, b.tokens / b.tokens_per_s
    return {"tokens_per_s": round((b.tokens - a.tokens) / (t_b - t_a), 1), "wall_s": round(wall, 2),
            "final_fve": round(b.fve, 4), **util}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="CPU-sized: d_in 64, batch 1024, 40k rows, 12 steps")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--rows", type=int, default=4_000_000)
    ap.add_argument("--d-in", type=int, default=768)
    ap.add_argument("--expansion", type=float, default=32)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=16384)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warm", type=int, default=20)
    args = ap.parse_args()
    if args.small:
        args.rows, args.d_in, args.expansion, args.k, args.batch_size, args.steps, args.warm = 40_000, 64, 8, 8, 1024, 12, 3
    device = resolve_device(args.device)
    work = Path(tempfile.mkdtemp(prefix="train_throughput_"))
    try:
        make_store(work / "s.h5", args.rows, args.d_in)
        res = {mode: run(work / "s.h5", work / mode, args, mode) for mode in ("off", "on")}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({
        "bench": "train_throughput", "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "d_in": args.d_in, "d_sae": int(args.d_in * args.expansion), "k": args.k, "batch_size": args.batch_size,
        "store_dtype": "bfloat16", "autocast": "bf16" if device.type == "cuda" else "off", "steps": args.steps,
        "warm_steps": args.warm, "rows": args.rows, "streaming": res["off"], "device_resident": res["on"],
    }))


if __name__ == "__main__":
    main()
