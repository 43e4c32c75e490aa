"""Memory per rank of a 2-process training run with and without latent sharding.

Trains the same SAE (d_in --d, --latents latents, TopK) with `torchrun --nproc-per-node 2` twice: plain
data parallelism (every rank holds the whole dictionary) and --shard-latents 2 (each rank half of
it). Each rank reports (from inside the training process) the bytes of its parameters and Adam state,
its peak resident memory (VmHWM, which includes torch itself) over the training steps, and over the
whole run (the checkpoint's gather on rank 0 included). Prints ONE JSON line.

    .venv/bin/python experiments/bench/shard_memory_bench.py [--d 256] [--latents 65536]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _peak_rss_mib() -> float:
    status = Path("/proc/self/status").read_text()
    return round(int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("VmHWM"))) / 1024, 1)


def _rank_worker(argv: list[str]) -> None:
    """One torchrun rank: train, then print this rank's memory as one JSON line."""
    import torch.distributed as dist

    from saekit.train.config import TrainConfig
    from saekit.train.trainer import train

    cfg = TrainConfig(**json.loads(argv[0]))
    seen: dict[str, int] = {}
    import saekit.train.member as member

    finish = member.Member.finish

    def measuring_finish(self):  # the member's state before checkpointing gathers anything
        seen["param_bytes"] = sum(p.numel() * p.element_size() for p in self.sae.parameters())
        seen["adam_bytes"] = sum(t.numel() * t.element_size() for s in self.opt.state.values()
                                 for t in s.values() if hasattr(t, "numel") and t.dim())
        seen["training_peak_rss_mib"] = _peak_rss_mib()
        return finish(self)

    member.Member.finish = measuring_finish
    train(cfg)
    print(json.dumps({"rank": int(os.environ["RANK"]), **seen, "peak_rss_mib": _peak_rss_mib()}), flush=True)
    if dist.is_initialized():
        dist.destroy_process_group()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--latents", type=int, default=65536)
    ap.add_argument("--rows", type=int, default=8192)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--rank-worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rank_worker is not None:
        _rank_worker([args.rank_worker])
        return
    from stores import ActivationStore

    tmp = Path(tempfile.mkdtemp(prefix="shard_memory_bench-"))
    store = tmp / "s.h5"
    w = ActivationStore.create(store, {"h": args.d}, dtype="float32")
    w.add_samples(np.arange(args.rows), [{"source": str(i)} for i in range(args.rows)])
    w.append("h", np.random.default_rng(0).standard_normal((args.rows, args.d), dtype=np.float32),
             np.arange(args.rows), np.zeros(args.rows, np.int32))
    w.close()
    out: dict[str, object] = {"bench": "shard_memory_bench", "d_in": args.d, "d_sae": args.latents, "ranks": 2}
    for name, shard in (("data_parallel", 1), ("shard_latents_2", 2)):
        cfg = dict(store=str(store), hook="h", arch="topk", k=32, d_sae=args.latents, tokens=args.batch * args.steps,
                   batch_size=args.batch, out=str(tmp / name), progress=False, autocast="off", holdout=0.0,
                   shard_latents=shard, data_on_device="off")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                               str(port), __file__, "--rank-worker", json.dumps(cfg)], capture_output=True, text=True,
                              env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1"), cwd=ROOT)
        ranks = sorted((json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")), key=lambda r: r["rank"])
        if proc.returncode != 0 or len(ranks) != 2:
            raise SystemExit(f"{name}: rc={proc.returncode} {proc.stderr.strip().splitlines()[-3:]}")
        out[name] = {"param_mib_per_rank": round(ranks[0]["param_bytes"] / 2**20, 2),
                     "adam_mib_per_rank": round(ranks[0]["adam_bytes"] / 2**20, 2),
                     "training_peak_rss_mib_per_rank": [r["training_peak_rss_mib"] for r in ranks],
                     "peak_rss_mib_per_rank": [r["peak_rss_mib"] for r in ranks]}
    dp, sh = out["data_parallel"], out["shard_latents_2"]
    out["param_ratio"] = round(sh["param_mib_per_rank"] / dp["param_mib_per_rank"], 3)  # type: ignore[index]
    for key in ("training_peak_rss_mib_per_rank", "peak_rss_mib_per_rank"):
        out[key.replace("_mib_per_rank", "_ratio")] = round(max(sh[key]) / max(dp[key]), 3)  # type: ignore[index]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
