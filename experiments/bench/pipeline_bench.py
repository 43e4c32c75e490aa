"""Training input path vs the store's raw shuffled read, same file, same run (one JSON line).

For each store (d = 768 and 1024, float16 and bfloat16; --rows rows, chunks as the store picks):
  raw_rows_s       the store's own shuffled batches as stored: iter_batches(shuffle=True, raw=True),
                   rows in fp16 / bf16 bits, nothing else done with them
  feed_rows_s      what the trainer's input path hands its step: BatchStream -> stream_feed, i.e. the
                   same shuffled read, the rows in the store's dtype. On the CPU (HostFeed) the batch
                   is gathered out of the window by torch into a reused tensor, in the consumer's
                   thread, and is not checked for NaN/Inf there: the real step checks it by testing
                   its loss, one scalar it computes anyway (saekit/train/feed.py), so this no-op step
                   leaves out nothing of the check but that test. On CUDA (DeviceFeed) background
                   threads gather, pin, copy with non_blocking and check the rows on the device. The
                   step is a no-op (on CUDA the clock stops after a synchronize)
  feed_ratio       feed_rows_s / raw_rows_s (bar: >= 0.9); *_median: the same from median times
  feed_heldout_rows_s  the same feed over the training side of a 10% held-out split (what `saekit
                   train` reads by default), warm
  resident_rows_s  device-resident mode: rows already on the device, batches gathered there by the
                   streaming order's row numbers (resident_load_s: loading them once)
  normalize_ms_*   the step's first op on one batch: normalize_float32 of the rows as fed (float16 /
                   bf16: widened and scaled) against the scaling of rows already in float32 (what the
                   step did when the feed widened): the widening's cost inside the step
Each is measured in three cases, best and median of --repeats runs taken round-robin so load spikes
on a shared machine hit both sides alike:
  cold        the file evicted from the page cache (fsync + posix_fadvise(DONTNEED) before every run,
              as store_bench does; no root needed), each run on a newly opened store object
  warm_first  the file in the page cache, each run on a newly opened store object: its first pass,
              which allocates the shuffle windows
  warm        the file in the page cache, one store object throughout (as a multi-epoch run keeps it):
              the windows are the last pass's

    .venv/bin/python experiments/bench/pipeline_bench.py [--rows 600000] [--device auto] [--dir /tmp/x]
        [--d 768 1024] [--dtypes float16 bfloat16] [--cases cold warm_first warm]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from saekit.common.device import resolve_device  # noqa: E402
from saekit.train.data import BatchStream  # noqa: E402
from saekit.sae.config import SAEConfig  # noqa: E402
from saekit.sae.normalization import normalize_float32  # noqa: E402
from saekit.train.feed import host_tensor, stream_feed  # noqa: E402
from saekit.train.resident import ResidentFeed, load_rows  # noqa: E402
from stores import ActivationStore  # noqa: E402
from stores.dtypes import to_storage  # noqa: E402
from stores.split import SplitView  # noqa: E402
from store_bench import evict  # noqa: E402 - the same page-cache eviction as the store benchmark

HOOK = "blocks.6.hook_resid_post"
HOLDOUT = 0.1


def make_store(path: str, n: int, d: int, dtype: str) -> None:
    rng = np.random.default_rng(d)
    pool = rng.standard_normal((8192, d)).astype(np.float32)
    w = ActivationStore.create(path, hooks={HOOK: d}, dtype=dtype, attrs={"model_id": "bench"})
    per = 8192
    for a in range(0, n, per):
        b = min(n, a + per)
        ids = np.arange(a, b, dtype=np.int64)
        w.add_samples(ids, [{}] * (b - a))
        w.append(HOOK, to_storage(pool[: b - a], dtype), ids, np.zeros(b - a, np.int32))
        w.commit()
    w.close()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def raw_epoch(store: ActivationStore, bs: int) -> int:
    n = 0
    for b in store.iter_batches(HOOK, bs, shuffle=True, seed=1, raw=True, drop_last=True):
        n += len(b)
    return n


def feed_epoch(source: ActivationStore | SplitView, bs: int, device: torch.device) -> int:
    steps = source.n_rows(HOOK) // bs
    feed = stream_feed(BatchStream(source, HOOK, bs, 1, 1, 0, 1), source.dtype, device, HOOK)
    try:
        n = 0
        for _ in range(steps):
            n += next(feed).x.shape[0]  # the no-op step
        sync(device)
        return n
    finally:
        feed.close()


def resident_epoch(store: ActivationStore, data: torch.Tensor, bs: int, device: torch.device) -> int:
    steps = store.n_rows(HOOK) // bs
    feed = ResidentFeed(data, BatchStream(store, HOOK, bs, 1, 1, 0, 1, index_only=True), device)
    try:
        n = 0
        for _ in range(steps):
            n += next(feed).x.shape[0]
        sync(device)
        return n
    finally:
        feed.close()


def normalize_ms(store: ActivationStore, bs: int, device: torch.device, reps: int = 30) -> dict:
    """The step's first op on one batch: rows as fed (store dtype) against rows already in float32."""
    cfg = SAEConfig(arch="topk", d_in=store.d(HOOK), d_sae=store.d(HOOK), k=1, normalization="scale", norm_scale=0.25)
    fed = host_tensor(store.read_raw(HOOK, 0, bs), store.dtype).to(device)
    out = {}
    for name, x in (("as_fed", fed), ("float32", fed.float())):
        best = float("inf")
        for _ in range(reps):
            sync(device)
            t0 = time.perf_counter()
            normalize_float32(cfg, x)
            sync(device)
            best = min(best, time.perf_counter() - t0)
        out[f"normalize_ms_{name}"] = best * 1e3
    return out


def timed(fn) -> tuple[float, int]:
    t0 = time.perf_counter()
    rows = fn()
    return time.perf_counter() - t0, rows


def fresh(path: str, fn):
    """``fn`` on a store opened for this run alone: its first pass, which allocates its shuffle windows."""
    def run() -> int:
        with ActivationStore.open(path) as s:
            return fn(s)
    return run


CASES = ("cold", "warm_first", "warm")


def measure(path: str, bs: int, device: torch.device, repeats: int, only: tuple[str, ...] = CASES) -> dict:
    store = ActivationStore.open(path)
    heldout = SplitView(store, HOLDOUT, "train")  # what `saekit train` reads by default (--holdout 0.1)
    out: dict = {}
    first_pass = {"raw": fresh(path, lambda s: raw_epoch(s, bs)), "feed": fresh(path, lambda s: feed_epoch(s, bs, device))}
    cases = {
        "cold": first_pass,  # a one-epoch run over a big store reads it this way
        "warm_first": first_pass,  # a store in the page cache, read by a store object for the first time
        # later epochs: one store object throughout, as a multi-epoch run keeps it
        "warm": {"raw": lambda: raw_epoch(store, bs), "feed": lambda: feed_epoch(store, bs, device),
                 "feed_heldout": lambda: feed_epoch(heldout, bs, device)},
    }
    for label, fns in cases.items():
        if label not in only:
            continue
        cold = label == "cold"
        if not cold:
            raw_epoch(store, bs)  # fill the page cache
        if label == "warm":  # and the shared store's windows, as an earlier epoch leaves them
            feed_epoch(store, bs, device)
            feed_epoch(heldout, bs, device)
        times: dict[str, list[float]] = {name: [] for name in fns}
        rows: dict[str, int] = {}
        for _ in range(repeats):
            for name, fn in fns.items():
                if cold:
                    evict(path)
                t, rows[name] = timed(fn)
                times[name].append(t)
        for name in fns:
            out[f"{name}_rows_s_{label}"] = rows[name] / min(times[name])
            out[f"{name}_rows_s_{label}_median"] = rows[name] / float(np.median(times[name]))
        out[f"feed_ratio_{label}"] = out[f"feed_rows_s_{label}"] / out[f"raw_rows_s_{label}"]
        out[f"feed_ratio_{label}_median"] = out[f"feed_rows_s_{label}_median"] / out[f"raw_rows_s_{label}_median"]
    evict(path)
    t_load, _ = timed(lambda: load_rows(store, HOOK, device).shape[0])
    data = load_rows(store, HOOK, device)
    best_res, rows_res = float("inf"), 0
    for _ in range(repeats):
        t, rows_res = timed(lambda: resident_epoch(store, data, bs, device))
        best_res = min(best_res, t)
    out["resident_load_s_cold"] = t_load
    out["resident_rows_s"] = rows_res / best_res
    out.update(normalize_ms(store, bs, device))
    store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=600_000)
    ap.add_argument("--d", type=int, nargs="+", default=[768, 1024])
    ap.add_argument("--dtypes", nargs="+", default=["float16", "bfloat16"])
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dir", default=None)
    ap.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES), help="which cases to measure")
    args = ap.parse_args()
    device = resolve_device(args.device)
    work = args.dir or tempfile.mkdtemp(prefix="pipeline_bench_")
    os.makedirs(work, exist_ok=True)
    results = {}
    try:
        for d in args.d:
            for dtype in args.dtypes:
                path = os.path.join(work, f"d{d}_{dtype}.h5")
                make_store(path, args.rows, d, dtype)
                results[f"d{d}_{dtype}"] = measure(path, args.batch_size, device, args.repeats, tuple(args.cases))
                os.remove(path)
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    ratios = [r[f"feed_ratio_{w}"] for r in results.values() for w in args.cases]
    medians = [r[f"feed_ratio_{w}_median"] for r in results.values() for w in args.cases]
    print(json.dumps({
        "bench": "pipeline", "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(), "rows": args.rows, "batch_size": args.batch_size,
        "repeats": args.repeats, "timing": "best and median of repeats, round-robin", "results": results,
        "min_feed_ratio": min(ratios), "min_feed_ratio_median": min(medians), "bar_feed_ratio": 0.9,
    }))


if __name__ == "__main__":
    main()
