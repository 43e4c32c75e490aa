"""verify_store: check a store file or shard directory end to end; returns the problems found."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from stores.errors import StoreError
from stores.layout import HOOKS_GROUP, SAMPLES_GROUP
from stores.remote import RemoteFile, is_remote
from stores.shard_reader import ShardReader
from stores.shards import shard_files

BLOCK_BYTES = 32 << 20


def verify_store(path: str | os.PathLike) -> list[str]:
    """Every problem found, one line each; an empty list means intact.

    Checks: the file opens as a store of a known format version; dataset lengths cover the
    committed counts (and equal them when complete); every committed chunk of every hook can
    be read; row sample ids exist in /samples; positions >= -1; sample ids unique; records
    parse; cached stats, when present, count the committed rows.
    """
    remote = is_remote(path)
    try:
        if remote:  # object storage: every shard object read by range requests
            from stores.remote_layout import remote_store_files

            files: list = remote_store_files(str(path))[0]
        else:
            path = Path(path)
            files = shard_files(path) if path.is_dir() else [path]
    except StoreError as exc:
        return [str(exc)]
    problems: list[str] = []
    all_ids: set[int] = set()
    for p in files:
        try:
            problems += _verify_file(ShardReader(p, remote=RemoteFile(p)) if remote else ShardReader(p), all_ids)
        except StoreError as exc:
            problems.append(str(exc))
    return problems


def _verify_file(r: ShardReader, all_ids: set[int]) -> list[str]:
    problems: list[str] = []
    path = r.path
    try:
        f = r._f  # noqa: SLF001
        name = path.name
        sg = f[SAMPLES_GROUP]
        m = r.n_samples
        for ds in ("sample_id", "record_end"):
            if sg[ds].shape[0] < m:
                problems.append(f"{name}: /samples/{ds} has {sg[ds].shape[0]} rows, fewer than the {m} committed")
        if problems:
            return problems
        try:
            table = r.samples
            for i in range(m):
                table.record_at(i)
        except (ValueError, OSError) as exc:
            return [f"{name}: /samples records unreadable ({exc})"]
        ids = table.sample_ids
        if len(set(ids.tolist())) != m:
            problems.append(f"{name}: /samples has duplicate sample ids")
        dup = all_ids & set(ids.tolist())
        if dup:
            problems.append(f"{name}: sample id {min(dup)} also appears in another shard")
        all_ids |= set(ids.tolist())
        sorted_ids = np.sort(ids)
        for h in r.hooks:
            g = f[HOOKS_GROUP][h]
            n = r.committed[h]
            for ds in ("acts", "sample_id", "position"):
                have = g[ds].shape[0]
                if have < n:
                    problems.append(f"{name}: hook {h!r} {ds} has {have} rows, fewer than the {n} committed")
                elif r.complete and have != n:
                    problems.append(f"{name}: hook {h!r} {ds} has {have} rows but the complete store committed {n}")
            if any(p.startswith(f"{name}: hook {h!r}") for p in problems):
                continue
            block = max(r.rows_per_chunk(h), BLOCK_BYTES // max(1, r.d(h) * g["acts"].dtype.itemsize))
            for a in range(0, n, block):
                b = min(n, a + block)
                try:
                    r.read_raw(h, a, b)
                    sid, pos = r.read_index(h, a, b)
                except StoreError as exc:
                    problems.append(f"{name}: hook {h!r}: {exc}")
                    break
                missing = sid[~_isin_sorted(sid, sorted_ids)]
                if missing.size:
                    problems.append(f"{name}: hook {h!r} row sample id {int(missing[0])} is not in /samples")
                    break
                if pos.size and int(pos.min()) < -1:
                    problems.append(f"{name}: hook {h!r} has a position below -1 ({int(pos.min())})")
                    break
            sn = int(g.attrs.get("stats_n", -1))
            if r.complete and sn not in (-1, n):
                problems.append(f"{name}: hook {h!r} cached stats count {sn} rows, committed {n}")
    finally:
        r.close()
    return problems


def _isin_sorted(values: np.ndarray, sorted_ref: np.ndarray) -> np.ndarray:
    if sorted_ref.size == 0:
        return np.zeros(values.shape, bool)
    i = np.clip(np.searchsorted(sorted_ref, values), 0, sorted_ref.size - 1)
    return sorted_ref[i] == values
