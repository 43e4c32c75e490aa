"""Shuffled training reads from a store on object storage against the same store on local disk.

A store of --rows random rows (float16, d --d) in --shards shard files (as --shards capture ranks
write it) is written to local disk and published to a local S3 API server (moto's server, a separate
process on 127.0.0.1) the way `saekit capture --out s3://` does. One shuffled epoch (the trainer's read: iter_batches(shuffle=True, raw=True), batches of
--batch rows, a --buffer-mib shuffle buffer) is timed on each of:

  local_rows_s      the local file (page cache warm: it was just written)
  s3_rows_s         the s3:// store without a disk cache: every chunk is a range request
  s3_cold_rows_s    the s3:// store filling an empty --cache-dir (first epoch)
  s3_cached_rows_s  the s3:// store again, every chunk from the --cache-dir (second epoch)

and each s3 epoch's batches are checked equal to the local epoch's. raw_get_rows_s is the server's own
rate for the same bytes: every chunk fetched once by concurrent range requests (fsspec cat_ranges, no
saekit code), so s3_over_raw_get says how much of what the server delivers the reader turns into
batches. (moto copies the whole object for every range request, so its rate falls with the shard's
size; a real object store does not.) Prints ONE JSON line.

    .venv/bin/python experiments/bench/remote_bench.py [--rows 262144] [--d 384]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from stores import ActivationStore
from stores.remote_cache import configure
from stores.remote_upload import publish_if_complete, upload_shard

HOOK = "h"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write(directory: Path, rows: int, d: int, shards: int) -> list[Path]:
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True)
    per = rows // shards
    paths = []
    for k in range(shards):
        path = directory / f"shard-{k:05d}.h5"
        w = ActivationStore.create(path, {HOOK: d}, dtype="float16")
        lo = k * per
        w.add_samples(np.arange(lo // 64, (lo + per) // 64), [{"source": f"s{i}"} for i in range(lo // 64, (lo + per) // 64)])
        for a in range(lo, lo + per, 16384):
            n = min(16384, lo + per - a)
            w.append(HOOK, rng.standard_normal((n, d), dtype=np.float32), np.arange(a, a + n) // 64,
                     (np.arange(a, a + n) % 64).astype(np.int32))
        w.close()
        paths.append(path)
    return paths


def _raw_get_rate(rows: int) -> float:
    """Rows/s of fetching every full chunk of the s3 store once with concurrent range requests."""
    with ActivationStore.open("s3://bench/store") as s:
        t0 = time.perf_counter()
        for shard in s._shards:
            ranges = shard.chunk_ranges(HOOK, 0, shard.committed[HOOK])
            shard.remote.fs.cat_ranges([shard.remote.key] * len(ranges), [a for a, _ in ranges],
                                       [a + n for a, n in ranges])
        return rows / (time.perf_counter() - t0)


def _epoch(store: ActivationStore, args: argparse.Namespace) -> tuple[float, list[np.ndarray]]:
    buffer_rows = int(args.buffer_mib * 2**20) // (args.d * 2)
    t0, out = time.perf_counter(), []
    for b in store.iter_batches(HOOK, args.batch, shuffle=True, seed=1, raw=True, buffer_rows=buffer_rows):
        out.append(b[:2].copy())  # two rows a batch: enough to prove the order
    return args.rows / (time.perf_counter() - t0), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=262_144)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--buffer-mib", type=float, default=64.0)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="remote_bench-", dir=args.dir)
    port = _port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        os.environ.pop("SAEKIT_CACHE_DIR", None)  # the no-cache epoch must have none
        os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                          AWS_DEFAULT_REGION="us-east-1")
        for _ in range(100):
            try:
                urllib.request.urlopen(urllib.request.Request(f"{endpoint}/bench", method="PUT")).close()
                break
            except OSError:
                time.sleep(0.1)
        local = Path(tmp) / "store"
        paths = _write(local, args.rows, args.d, args.shards)
        t0 = time.perf_counter()
        for k, p in enumerate(paths):
            upload_shard(p, "s3://bench/store", k, "bench")
        publish_if_complete("s3://bench/store", args.shards, "bench")
        upload_s = time.perf_counter() - t0
        with ActivationStore.open(local) as s:
            local_rate, want = _epoch(s, args)
        rates = {}
        for name, cache in (("s3_rows_s", None), ("s3_cold_rows_s", os.path.join(tmp, "cache")),
                            ("s3_cached_rows_s", os.path.join(tmp, "cache"))):
            configure(cache, 64.0)
            with ActivationStore.open("s3://bench/store") as s:
                rates[name], got = _epoch(s, args)
            assert len(got) == len(want) and all(np.array_equal(x, y) for x, y in zip(got, want)), name
        raw = _raw_get_rate(args.rows)
        size_mib = sum(p.stat().st_size for p in paths) / 2**20
        print(json.dumps({"bench": "remote_bench", "rows": args.rows, "d": args.d, "dtype": "float16",
                          "store_mib": round(size_mib, 1), "shards": args.shards, "batch": args.batch, "buffer_mib": args.buffer_mib,
                          "upload_mib_s": round(size_mib / upload_s, 1), "local_rows_s": round(local_rate),
                          **{k: round(v) for k, v in rates.items()},
                          "raw_get_rows_s": round(raw), "s3_over_raw_get": round(rates["s3_rows_s"] / raw, 3),
                          "s3_over_local": round(rates["s3_rows_s"] / local_rate, 3),
                          "s3_cached_over_local": round(rates["s3_cached_rows_s"] / local_rate, 3),
                          "same_batches": True}))
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
