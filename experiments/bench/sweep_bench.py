"""A sweep of several SAEs from one pass over a store vs the same SAEs trained one after another (one JSON line).

Measured as a user runs them: separate `saekit train` commands (one per k) against one
`saekit train --sweep k=...` command, each a fresh process, end-to-end wall time (interpreter and
torch start-up, store open, statistics, the dominance check, the b_dec init, the training, the
checkpoints). Store: --rows rows of d = --d (fp16, planted sparse structure so training is
realistic), written once. Both sides train the same TopK SAEs (k in --ks, expansion --expansion,
batch --batch-size, --tokens each, default held-out split) streaming from the store
(--data-on-device, default off, so each separate run reads and converts the store itself),
alternating which side goes first over --repeats rounds; the best time of each side is kept.
  separate_s   sum of the separate commands' wall times
  sweep_s      the one sweep command's wall time
  speedup      separate_s / sweep_s
The members' final weights equal the separate runs' (tests/test_train_feed.py checks that), so the
difference is only what the sweep shares: one process, one store open, one read / conversion /
NaN-Inf check of each batch, one statistics pass, one dominance check, one b_dec sample and median.

    .venv/bin/python experiments/bench/sweep_bench.py [--rows 400000] [--d 384] [--ks 16 24 32 48]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from stores import ActivationStore  # noqa: E402

HOOK = "h"


def make_store(path: Path, n: int, d: int) -> None:
    rng = np.random.default_rng(0)
    atoms = rng.standard_normal((4 * d, d)).astype(np.float32)
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    w = ActivationStore.create(path, hooks={HOOK: d}, dtype="float16", attrs={"model_id": "planted"})
    block = 16384
    for a in range(0, n, block):
        b = min(n, a + block)
        idx = rng.integers(0, len(atoms), (b - a, 16))
        x = (rng.exponential(1.0, (b - a, 16, 1)).astype(np.float32) * atoms[idx]).sum(1)
        ids = np.arange(a, b, dtype=np.int64)
        w.add_samples(ids, [{}] * (b - a))
        w.append(HOOK, x, ids, np.zeros(b - a, np.int32))
        w.commit()
    w.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--ks", type=int, nargs="+", default=[16, 24, 32, 48])
    ap.add_argument("--expansion", type=float, default=8)
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--tokens", type=int, default=4096 * 40)
    ap.add_argument("--data-on-device", default="off")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sweep_bench_"))
    try:
        store = work / "store.h5"
        make_store(store, args.rows, args.d)
        base = [sys.executable, "-m", "saekit", "train", "--store", str(store), "--hook", HOOK, "--arch", "topk",
                "--expansion", str(args.expansion), "--tokens", str(args.tokens), "--batch-size", str(args.batch_size),
                "--device", args.device, "--no-progress", "--data-on-device", args.data_on_device]
        env = dict(os.environ, PYTHONPATH=str(ROOT))

        def command(argv: list[str]) -> None:
            proc = subprocess.run(argv, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.strip().splitlines()[-1:]}")

        best = {"separate": float("inf"), "sweep": float("inf")}
        for r in range(args.repeats):
            def separate() -> None:
                for k in args.ks:
                    command(base + ["--k", str(k), "--out", str(work / f"sep{r}" / f"k{k}")])

            def sweep() -> None:
                command(base + ["--k", str(args.ks[0]), "--out", str(work / f"sweep{r}"),
                                "--sweep", "k=" + ",".join(map(str, args.ks))])

            order = [("separate", separate), ("sweep", sweep)]
            for name, fn in (order if r % 2 == 0 else order[::-1]):
                t0 = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - t0)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({
        "bench": "sweep", "n_saes": len(args.ks), "ks": args.ks, "d_in": args.d, "expansion": args.expansion,
        "tokens_each": args.tokens, "batch_size": args.batch_size, "rows": args.rows,
        "data_on_device": args.data_on_device, "device": args.device, "threads": torch.get_num_threads(),
        "separate_s": round(best["separate"], 2), "sweep_s": round(best["sweep"], 2),
        "speedup": round(best["separate"] / best["sweep"], 3), "repeats": args.repeats,
        "timing": "end-to-end wall of `saekit train` processes",
    }))


if __name__ == "__main__":
    main()
