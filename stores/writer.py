"""StoreWriter: appends activations to one store file, crash-safely.

Protocol (crash safety): rows are buffered per hook until a chunk of whole rows
is full and then written with one direct chunk write; ``commit()`` also writes the partial
tail chunk, the row index and the pending samples, flushes, and only then rewrites the ONE
attribute ``n_committed`` (rows per hook + samples) and flushes again. The file is written
in HDF5 SWMR mode, whose ordered metadata flushes keep the on-disk structure readable at
any instant, so after a SIGKILL a SWMR reader sees a consistent file whose ``n_committed``
names exactly the durable rows. ``StoreWriter.resume`` copies those committed rows into a
fresh file and renames it over the old one (this HDF5 refuses to reopen a crashed file for
writing: its superblock still says "open for write", and ``locking=False`` does not help).
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
import h5py
import numpy as np
import numpy.typing as npt

from stores.dtypes import STORAGE_DTYPES, storage_dtype, to_float32, to_storage
from stores.errors import StoreError
from stores.layout import (
    FORMAT_VERSION,
    HOOKS_GROUP,
    INDEX_CHUNK_ROWS,
    NORM_QUANTILES,
    RECORDS_CHUNK_BYTES,
    RESERVED_ATTRS,
    SAMPLES_GROUP,
    TARGET_CHUNK_BYTES,
    encode_user_attrs,
    now_iso,
    rows_per_chunk,
)
from stores.samples import encode_records
from stores.stats import StreamingStats

log = logging.getLogger(__name__)

GROW_CHUNKS = 32


class _HookState:
    """Write-side state of one hook: the open chunk buffer and the unwritten index rows."""

    def __init__(self, group: h5py.Group, n_rows: int, buf_dtype: np.dtype) -> None:
        self.acts: h5py.Dataset = group["acts"]
        self.sample_id: h5py.Dataset = group["sample_id"]
        self.position: h5py.Dataset = group["position"]
        self.d = int(self.acts.shape[1])
        self.rpc = int(self.acts.chunks[0])
        self.buf = np.empty((self.rpc, self.d), dtype=buf_dtype)
        self.chunk_start = (n_rows // self.rpc) * self.rpc  # first row of the open chunk
        self.fill = n_rows - self.chunk_start  # rows in the open chunk
        self.index_written = n_rows  # rows of sample_id/position on disk
        self.pending_sid: list[np.ndarray] = []
        self.pending_pos: list[np.ndarray] = []
        self.n_committed = n_rows
        self.extent = int(self.acts.shape[0])  # tracked here: h5py's .shape costs a C call
        if self.fill:  # resuming mid-chunk: the open chunk's committed rows go back in the buffer
            self.buf[: self.fill] = self.acts[self.chunk_start : n_rows]

    @property
    def n_rows(self) -> int:
        return self.chunk_start + self.fill


class StoreWriter:
    """Append-only writer of one store file; obtain it with ``ActivationStore.create`` or
    ``ActivationStore.resume``."""

    def __init__(self, path: Path, f: h5py.File) -> None:
        self.path = path
        self._f = f
        self.hooks: list[str] = json.loads(f.attrs["hooks"])
        self.dtype: str = str(f.attrs["dtype"])
        committed = np.asarray(f.attrs["n_committed"], dtype=np.int64)
        hooks_group = f[HOOKS_GROUP]
        self._state = {
            h: _HookState(hooks_group[h], int(committed[i]), STORAGE_DTYPES[self.dtype])
            for i, h in enumerate(self.hooks)
        }
        self._samples = f[SAMPLES_GROUP]
        self.n_samples_committed = int(committed[-1])
        self._n_records_bytes = int(self._samples["record_end"][self.n_samples_committed - 1]) if self.n_samples_committed else 0
        self._known_ids: set[int] = set(self._samples["sample_id"][: self.n_samples_committed].tolist())
        self._pending_ids: list[np.ndarray] = []
        self._pending_records: list[Mapping[str, object]] = []
        self._closed = False
        if not f.swmr_mode:
            f.swmr_mode = True

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        hooks: Mapping[str, int],
        dtype: str = "float16",
        attrs: Mapping[str, object] | None = None,
        *,
        chunk_bytes: int = TARGET_CHUNK_BYTES,
        chunk_rows: Mapping[str, int] | None = None,
        overwrite: bool = False,
        created: str | None = None,
    ) -> "StoreWriter":
        path = Path(path)
        if not hooks:
            raise StoreError("a store needs at least one hook: hooks={name: d, ...} was empty")
        for hook, d in hooks.items():
            if not isinstance(hook, str) or not hook or "/" in hook:
                raise StoreError(f"bad hook name {hook!r}: expected a non-empty string without '/'")
            if int(d) <= 0:
                raise StoreError(f"hook {hook!r}: width d must be a positive integer, got {d!r}")
        sdtype = storage_dtype(dtype)
        if path.exists() and not overwrite:
            raise StoreError(f"{path} already exists; pass overwrite=True or resume it")
        attrs = dict(attrs or {})
        clash = RESERVED_ATTRS & attrs.keys()
        if clash:
            raise StoreError(f"attrs may not set reserved store attributes: {', '.join(sorted(clash))}")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            f = h5py.File(path, "w", libver="latest")
        except OSError as exc:
            raise StoreError(f"cannot create store {path}: {exc}") from None
        plain, json_keys = encode_user_attrs(attrs)
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["hooks"] = json.dumps(list(hooks))
        f.attrs["dtype"] = dtype
        f.attrs["created"] = created or now_iso()
        for key in ("model_id", "model_revision", "config_hash"):
            plain.setdefault(key, "")
        if "preprocessing" not in plain:
            plain["preprocessing"] = "{}"
            json_keys.append("preprocessing")
        for key, value in plain.items():
            f.attrs[key] = value
        f.attrs["json_attrs"] = json.dumps(sorted(json_keys))
        f.attrs.create("n_committed", np.zeros(len(hooks) + 1, np.int64))
        f.attrs.create("complete", np.int8(0))
        hg = f.create_group(HOOKS_GROUP)
        for hook, d in hooks.items():
            d = int(d)
            g = hg.create_group(hook)
            rpc = int(chunk_rows[hook]) if chunk_rows and hook in chunk_rows else rows_per_chunk(d, sdtype.itemsize, chunk_bytes)
            g.create_dataset("acts", shape=(0, d), maxshape=(None, d), chunks=(rpc, d), dtype=sdtype)
            ic = max(rpc, INDEX_CHUNK_ROWS)
            g.create_dataset("sample_id", shape=(0,), maxshape=(None,), chunks=(ic,), dtype=np.int64)
            g.create_dataset("position", shape=(0,), maxshape=(None,), chunks=(ic,), dtype=np.int32)
            # stats are created now, filled at close: SWMR writing cannot create objects
            g.create_dataset("stats_mean", shape=(d,), dtype=np.float64, fillvalue=np.nan)
            g.create_dataset("stats_var", shape=(d,), dtype=np.float64, fillvalue=np.nan)
            q = g.create_dataset("stats_norm_quantiles", shape=(len(NORM_QUANTILES),), dtype=np.float64, fillvalue=np.nan)
            q.attrs["levels"] = np.asarray(NORM_QUANTILES, np.float64)
            g.attrs.create("stats_n", np.int64(-1))
            g.attrs.create("stats_mean_sq_norm", np.float64(np.nan))
            g.attrs.create("stats_n_nonfinite", np.int64(0))
        sg = f.create_group(SAMPLES_GROUP)
        sg.create_dataset("sample_id", shape=(0,), maxshape=(None,), chunks=(INDEX_CHUNK_ROWS,), dtype=np.int64)
        sg.create_dataset("record_end", shape=(0,), maxshape=(None,), chunks=(INDEX_CHUNK_ROWS,), dtype=np.int64)
        sg.create_dataset("records", shape=(0,), maxshape=(None,), chunks=(RECORDS_CHUNK_BYTES,), dtype=np.uint8)
        f.flush()
        return cls(path, f)

    # ------------------------------------------------------------------ appending
    def d(self, hook: str) -> int:
        return self._hook(hook).d

    def n_rows(self, hook: str) -> int:
        """Rows appended so far (committed or not)."""
        return self._hook(hook).n_rows

    def n_rows_committed(self, hook: str) -> int:
        return self._hook(hook).n_committed

    @property
    def sample_ids_committed(self) -> np.ndarray:
        return np.asarray(self._samples["sample_id"][: self.n_samples_committed], dtype=np.int64)

    def _hook(self, hook: str) -> _HookState:
        try:
            return self._state[hook]
        except KeyError:
            raise StoreError(f"unknown hook {hook!r}; this store has: {', '.join(self.hooks)}") from None

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"store {self.path} is closed for writing")

    def append(self, hook: str, acts: npt.ArrayLike, sample_id: npt.ArrayLike, position: npt.ArrayLike) -> None:
        """Append rows acts[n, d] with their sample_id[n] (int64) and position[n] (int32)."""
        self._check_open()
        st = self._hook(hook)
        raw = to_storage(acts, self.dtype)
        if raw.ndim != 2 or raw.shape[1] != st.d:
            got = raw.shape[1] if raw.ndim == 2 else f"shape {raw.shape}"
            raise StoreError(f"hook {hook!r}: appended activations have width {got}, the store expects d={st.d}")
        n = raw.shape[0]
        sid = np.asarray(sample_id, dtype=np.int64).reshape(-1)
        pos = np.asarray(position, dtype=np.int32).reshape(-1)
        if sid.size == 1 and n != 1:
            sid = np.full(n, sid[0], np.int64)
        if sid.shape[0] != n or pos.shape[0] != n:
            raise StoreError(f"hook {hook!r}: {n} rows but {sid.shape[0]} sample ids and {pos.shape[0]} positions")
        if n == 0:
            return
        st.pending_sid.append(sid.copy())
        st.pending_pos.append(pos.copy())
        i = 0
        while i < n:
            if st.fill == 0 and n - i >= st.rpc:
                self._write_chunk(st, raw[i : i + st.rpc])  # no copy: the caller's rows go straight out
                i += st.rpc
                continue
            take = min(st.rpc - st.fill, n - i)
            st.buf[st.fill : st.fill + take] = raw[i : i + take]
            st.fill += take
            i += take
            if st.fill == st.rpc:
                self._write_chunk(st, st.buf)

    def _grow(self, st: _HookState, end: int) -> None:
        """Extend acts to at least ``end`` rows, GROW_CHUNKS chunks at a time: fewer SWMR
        metadata updates. Rows past the commit are invisible to readers; close() trims."""
        if st.extent < end:
            st.extent = max(end, st.chunk_start + GROW_CHUNKS * st.rpc)
            st.acts.resize(st.extent, axis=0)

    def _write_chunk(self, st: _HookState, rows: np.ndarray) -> None:
        end = st.chunk_start + st.rpc
        self._grow(st, end)
        st.acts.id.write_direct_chunk((st.chunk_start, 0), np.ascontiguousarray(rows))
        st.chunk_start = end
        st.fill = 0

    def add_samples(self, sample_ids: npt.ArrayLike, records: Sequence[Mapping[str, object]]) -> None:

        """Add per-sample metadata rows (keys source, label, text; extra keys are kept)."""
        self._check_open()
        ids = np.asarray(sample_ids, dtype=np.int64).reshape(-1)
        if ids.shape[0] != len(records):
            raise StoreError(f"add_samples: {ids.shape[0]} sample ids but {len(records)} records")
        new = set(ids.tolist())
        if len(new) != ids.shape[0] or new & self._known_ids:
            dup = sorted((new & self._known_ids) or {i for i in ids.tolist() if (ids == i).sum() > 1})
            raise StoreError(f"add_samples: sample id {dup[0]} is already in the store; sample ids must be unique")
        self._known_ids |= new
        self._pending_ids.append(ids)
        self._pending_records.extend(dict(r) for r in records)

    # ------------------------------------------------------------------ durability
    def commit(self) -> None:
        """Make everything appended so far durable and visible to readers.

        Commit at sample boundaries (all hooks' rows of whole samples plus their
        add_samples): ``n_samples_committed`` is then exactly where a resumed capture
        continues. Rows whose sample id has no /samples record are refused here.
        """
        self._check_open()
        for hook, st in self._state.items():
            if st.pending_sid:
                ids = np.unique(np.concatenate(st.pending_sid))
                unknown = [int(i) for i in ids if int(i) not in self._known_ids]
                if unknown:
                    raise StoreError(
                        f"commit: hook {hook!r} has rows for sample id {unknown[0]} with no add_samples record; "
                        "add the samples before committing"
                    )
        for st in self._state.values():
            if st.fill:
                end = st.chunk_start + st.fill
                self._grow(st, end)
                st.acts[st.chunk_start : end] = st.buf[: st.fill]
            if st.pending_sid:
                sid = np.concatenate(st.pending_sid)
                pos = np.concatenate(st.pending_pos)
                a, b = st.index_written, st.index_written + sid.shape[0]
                st.sample_id.resize(b, axis=0)
                st.position.resize(b, axis=0)
                st.sample_id[a:b] = sid
                st.position[a:b] = pos
                st.index_written = b
                st.pending_sid.clear()
                st.pending_pos.clear()
        n_samples = self.n_samples_committed
        if self._pending_ids:
            ids = np.concatenate(self._pending_ids)
            blob, lengths = encode_records(self._pending_records)
            a, b = n_samples, n_samples + ids.shape[0]
            sg = self._samples
            sg["sample_id"].resize(b, axis=0)
            sg["sample_id"][a:b] = ids
            sg["record_end"].resize(b, axis=0)
            sg["record_end"][a:b] = self._n_records_bytes + np.cumsum(lengths)
            if blob.size:
                ra, rb = self._n_records_bytes, self._n_records_bytes + blob.size
                sg["records"].resize(rb, axis=0)
                sg["records"][ra:rb] = blob
                self._n_records_bytes = rb
            n_samples = b
            self._pending_ids.clear()
            self._pending_records.clear()
        self._f.flush()  # data and structure first ...
        counts = [st.n_rows for st in (self._state[h] for h in self.hooks)] + [n_samples]
        self._f.attrs["n_committed"] = np.asarray(counts, np.int64)  # ... then one atomic count update
        self._f.flush()
        for st in self._state.values():
            st.n_committed = st.n_rows
        self.n_samples_committed = n_samples

    def close(self, compute_stats: bool = True) -> None:
        """Commit, compute and cache per-hook stats, mark the store complete, close the file."""
        if self._closed:
            return
        self.commit()
        for st in self._state.values():
            if st.extent != st.n_rows:  # trim the grow-ahead so a complete store is exact
                st.acts.resize(st.n_rows, axis=0)
                st.extent = st.n_rows
        if compute_stats:
            for hook in self.hooks:
                self._write_stats(hook)
        self._f.attrs["complete"] = np.int8(1)
        self._f.flush()
        self._f.close()
        self._closed = True

    def abandon(self) -> None:
        """Close the file WITHOUT committing pending rows or marking it complete (resumable)."""
        if not self._closed:
            self._f.close()
            self._closed = True

    def _write_stats(self, hook: str) -> None:
        st = self._state[hook]
        n = st.n_committed
        acc = StreamingStats(st.d, n_expected=n)
        block = max(st.rpc, (32 << 20) // (st.d * 4) // st.rpc * st.rpc)
        for a in range(0, n, block):
            b = min(n, a + block)
            acc.update(to_float32(st.acts[a:b], self.dtype))
        res = acc.result()
        g = st.acts.parent
        g["stats_mean"][...] = res["mean"]
        g["stats_var"][...] = res["var"]
        g["stats_norm_quantiles"][...] = np.asarray(list(res["norm_quantiles"].values()))
        g.attrs["stats_mean_sq_norm"] = np.float64(res["mean_sq_norm"])
        g.attrs["stats_n_nonfinite"] = np.int64(res["n_nonfinite"])
        g.attrs["stats_n"] = np.int64(n)

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abandon()  # leave the last commit in place, incomplete and resumable
