"""Resume writing a store: rebuild the committed part in a fresh file, rename it over the old.

Why a copy: after a SIGKILL the file's superblock still carries the "open for (SWMR) write"
flags and this HDF5 (2.0 via h5py 3.16) refuses to open it for writing, with or without
``locking=False``; only a SWMR *read* open succeeds, and it shows exactly the consistent,
committed state. Full chunks are copied raw (read_direct_chunk -> write_direct_chunk), so
the copy runs at disk speed. The rename is atomic, so a crash during resume leaves either
the old file (resumable again) or the new one.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from stores.errors import StoreError
from stores.layout import HOOKS_GROUP, SAMPLES_GROUP
from stores.shard_reader import ShardReader
from stores.writer import StoreWriter


def resume_store(path: str | os.PathLike) -> StoreWriter:
    path = Path(path)
    src = ShardReader(path)
    tmp = path.with_name(path.name + ".resume-tmp")
    try:
        f_src = src._f  # noqa: SLF001 - same package
        hooks = {h: src.d(h) for h in src.hooks}
        attrs = src.attrs
        # the chunk geometry must not change: bytes per row * rows per chunk of the source
        rpc = {h: src.rows_per_chunk(h) for h in src.hooks}
        w = StoreWriter.create(tmp, hooks, src.dtype, attrs, overwrite=True, created=src.created, chunk_rows=rpc)
        for h in src.hooks:
            if w._state[h].rpc != rpc[h]:  # noqa: SLF001
                raise StoreError(f"{path}: cannot reproduce chunk geometry of {h!r} while resuming")
            n = src.committed[h]
            ds_src = src.dataset(h)
            st = w._state[h]  # noqa: SLF001
            n_full = n // rpc[h] * rpc[h]
            for a in range(0, n_full, rpc[h]):
                _, raw = ds_src.id.read_direct_chunk((a, 0))
                if len(raw) != rpc[h] * st.d * st.buf.itemsize:
                    raise StoreError(f"{path}: chunk at row {a} of {h!r} has an unexpected size; file corrupt")
                st.chunk_start = a
                w._grow(st, a + rpc[h])  # noqa: SLF001
                st.acts.id.write_direct_chunk((a, 0), raw)
            st.chunk_start = n_full
            if n > n_full:
                st.buf[: n - n_full] = src.read_raw(h, n_full, n)
                st.fill = n - n_full
            g_src = f_src[HOOKS_GROUP][h]
            for name in ("sample_id", "position"):
                block = 1 << 22
                dst = st.acts.parent[name]
                dst.resize(n, axis=0)
                for a in range(0, n, block):
                    b = min(n, a + block)
                    dst[a:b] = g_src[name][a:b]
            st.index_written = n
        m = src.n_samples
        if m:
            sg_src, sg = f_src[SAMPLES_GROUP], w._samples  # noqa: SLF001
            ends = np.asarray(sg_src["record_end"][:m], np.int64)
            nbytes = int(ends[-1])
            for name, count in (("sample_id", m), ("record_end", m), ("records", nbytes)):
                sg[name].resize(count, axis=0)
                if count:
                    sg[name][:count] = sg_src[name][:count]
            w._n_records_bytes = nbytes  # noqa: SLF001
            w._known_ids = set(np.asarray(sg_src["sample_id"][:m]).tolist())  # noqa: SLF001
            w.n_samples_committed = 0  # commit() below writes the count m
            w._pending_ids = []  # noqa: SLF001
        _commit_copied(w, m)
    except BaseException:
        src.close()
        tmp.unlink(missing_ok=True)
        raise
    src.close()
    os.replace(tmp, path)  # the open handle follows the inode
    w.path = path
    return w


def _commit_copied(w: StoreWriter, n_samples: int) -> None:
    f = w._f  # noqa: SLF001
    f.flush()
    counts = [w._state[h].n_rows for h in w.hooks] + [n_samples]  # noqa: SLF001
    f.attrs["n_committed"] = np.asarray(counts, np.int64)
    f.flush()
    for st in w._state.values():  # noqa: SLF001
        st.n_committed = st.n_rows
    w.n_samples_committed = n_samples
