"""ShardReader: read-only view of the committed part of ONE store file.

Opened read-only; a file still being written (or left by a killed writer) is opened in SWMR
read mode, so only rows below ``n_committed`` are ever returned.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from stores.dtypes import STORAGE_DTYPES, to_float32
from stores.errors import StoreError
from stores.layout import FORMAT_VERSION, HOOKS_GROUP, NORM_QUANTILES, SAMPLES_GROUP, decode_attr, read_user_attrs
from stores.remote import RemoteFile, RemotePath, display_url
from stores.samples import SampleTable

if TYPE_CHECKING:
    from stores.jsontypes import JSONValue
    from stores.stats import HookStats

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
DEFAULT_CACHE_BYTES = 4 << 20
SWMR_OPEN_RETRIES = 5


def open_h5(path: Path, rdcc_nbytes: int = DEFAULT_CACHE_BYTES) -> tuple[h5py.File, bool]:
    """Open a store file read-only; returns (file, opened_in_swmr_mode)."""
    if not path.is_file():
        raise StoreError(f"{path}: no such store file")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head != HDF5_SIGNATURE:
        raise StoreError(f"{path}: not an HDF5 activation store (no HDF5 signature at the start of the file)")
    kw = dict(rdcc_nbytes=rdcc_nbytes, rdcc_nslots=521)
    try:
        return _retry_while_truncated(lambda: h5py.File(path, "r", **kw)), False
    except OSError as exc:
        if "already open for write" not in str(exc):
            raise StoreError(f"{path}: truncated or corrupt HDF5 file ({_first_line(exc)})") from None
    # Being written now, or left open by a killed writer: the SWMR view is consistent.
    try:
        return _retry_while_truncated(lambda: h5py.File(path, "r", swmr=True, **kw)), True
    except OSError as exc:
        raise StoreError(f"{path}: truncated or corrupt HDF5 file ({_first_line(exc)})") from None


def open_remote_h5(remote: RemoteFile, rdcc_nbytes: int = DEFAULT_CACHE_BYTES) -> tuple[h5py.File, bool]:
    """Open an object in object storage read-only through range requests; (file, False)."""
    if remote.read(0, min(8, remote.size)) != HDF5_SIGNATURE:
        raise StoreError(f"{display_url(remote.url)}: not an HDF5 activation store (no HDF5 signature at the start of the object)")
    try:
        return h5py.File(remote.file_object(), "r", rdcc_nbytes=rdcc_nbytes, rdcc_nslots=521), False
    except OSError as exc:
        if remote.last_error is not None:
            raise remote.last_error from None
        raise StoreError(f"{display_url(remote.url)}: truncated or corrupt HDF5 object ({_first_line(exc)})") from None


def _retry_while_truncated(open_file: Callable[[], h5py.File]) -> h5py.File:
    """open_file(), retried briefly while it fails with "truncated file": a live writer can be caught
    between growing its recorded end of file and writing the bytes up to it (the plain open checks
    the end of file before the writer's flag, so it sees this too). A file truly cut short still fails,
    after about 1.5 s."""
    for attempt in range(SWMR_OPEN_RETRIES):
        try:
            return open_file()
        except OSError as exc:
            if "truncated file" not in str(exc):
                raise
            time.sleep(0.05 * 2 ** attempt)
    return open_file()


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class ShardReader:
    """Committed rows, samples and attributes of one store file."""

    def __init__(self, path: str | os.PathLike, rdcc_nbytes: int = DEFAULT_CACHE_BYTES,
                 remote: RemoteFile | None = None) -> None:
        self.path = Path(path) if remote is None else RemotePath(display_url(str(path)))
        self._remote = remote  # an object in object storage: bytes come by range requests, not pread
        self._rdcc = rdcc_nbytes
        self._f: h5py.File | None = None
        self._samples: SampleTable | None = None
        self._load()

    def _load(self) -> None:
        f, self.swmr = open_h5(self.path, self._rdcc) if self._remote is None else open_remote_h5(self._remote, self._rdcc)
        self._chunk_addr: dict[str, np.ndarray] = {}
        try:
            self._read_header(f)
        except StoreError:
            f.close()
            raise
        except (KeyError, OSError, ValueError, TypeError) as exc:
            f.close()
            raise StoreError(f"{self.path}: not a valid activation store ({_first_line(exc)})") from None
        self._f = f
        self._fd = os.open(self.path, os.O_RDONLY) if self._remote is None else -1

    def _read_header(self, f: h5py.File) -> None:
        a = f.attrs
        if "format_version" not in a or HOOKS_GROUP not in f:
            raise StoreError(f"{self.path}: HDF5 file is not an activation store (no format_version / hooks)")
        self.format_version = int(a["format_version"])
        if self.format_version > FORMAT_VERSION:
            raise StoreError(
                f"{self.path}: store format version {self.format_version} is newer than this saekit reads "
                f"(<= {FORMAT_VERSION}); upgrade saekit"
            )
        self.hooks: list[str] = json.loads(decode_attr(a["hooks"]))
        self.dtype: str = decode_attr(a["dtype"])
        if self.dtype not in STORAGE_DTYPES:
            raise StoreError(f"{self.path}: unknown store dtype {self.dtype!r}")
        committed = np.asarray(a["n_committed"], dtype=np.int64)
        if committed.shape != (len(self.hooks) + 1,):
            raise StoreError(f"{self.path}: n_committed has {committed.size} entries, expected {len(self.hooks) + 1}")
        self.committed = {h: int(committed[i]) for i, h in enumerate(self.hooks)}
        self.n_samples = int(committed[-1])
        self.complete = bool(int(a["complete"]))
        self.created = decode_attr(a.get("created", ""))
        self.attrs: dict[str, JSONValue] = read_user_attrs(a)

        self._acts = {h: f[HOOKS_GROUP][h]["acts"] for h in self.hooks}
        self._sid = {h: f[HOOKS_GROUP][h]["sample_id"] for h in self.hooks}
        self._pos = {h: f[HOOKS_GROUP][h]["position"] for h in self.hooks}

    def refresh(self) -> None:
        """Pick up rows committed since opening (a concurrent writer)."""
        self.close()
        self._samples = None
        self._load()

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
            if self._fd >= 0:
                os.close(self._fd)
        if self._remote is not None:
            self._remote.drop_ahead()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown; nothing left to report
            pass

    # ------------------------------------------------------------------ geometry
    def d(self, hook: str) -> int:
        return int(self._acts[hook].shape[1])

    def rows_per_chunk(self, hook: str) -> int:
        return int(self._acts[hook].chunks[0])

    def dataset(self, hook: str) -> h5py.Dataset:
        return self._acts[hook]

    # ------------------------------------------------------------------ rows
    def _dataset(self, hook: str, name: str) -> h5py.Dataset:
        """The hook's dataset ``name``: acts, sample_id or position."""
        return {"acts": self._acts, "sample_id": self._sid, "position": self._pos}[name][hook]

    def chunk_addresses(self, hook: str, name: str = "acts") -> np.ndarray:
        """File offsets of the FULL committed chunks of the hook's dataset ``name`` (acts, sample_id or
        position; int64, -1 where a chunk is not a plain uncompressed chunk of its full size). Full
        committed chunks are allocated once and never move, so reading them with pread is safe even
        during a SWMR write; the open tail chunk always goes through HDF5."""
        key = f"{hook}/{name}"
        if key not in self._chunk_addr:
            ds = self._dataset(hook, name)
            rpc = int(ds.chunks[0])
            # an object in object storage never changes, so its tail chunk (allocated whole) is safe too
            n_full = self.committed[hook] // rpc if self._remote is None else -(-self.committed[hook] // rpc)
            addr = np.full(n_full, -1, np.int64)
            nbytes = rpc * int(np.prod(ds.shape[1:], dtype=np.int64)) * ds.dtype.itemsize

            def visit(info) -> None:
                k = info.chunk_offset[0] // rpc
                if k < n_full and info.filter_mask == 0 and info.size == nbytes and info.byte_offset is not None:
                    addr[k] = info.byte_offset

            try:
                if n_full:
                    ds.id.chunk_iter(visit)
            except (OSError, AttributeError, RuntimeError):
                addr[:] = -1  # fall back to HDF5 reads
            self._chunk_addr[key] = addr
        return self._chunk_addr[key]

    def _pread_rows(self, hook: str, name: str, start: int, out: np.ndarray) -> bool:
        """Rows [start, start + len(out)) of a dataset with one pread when they lie in one full committed
        chunk of known address (no HDF5 call, the GIL released); False when they do not."""
        ds = self._dataset(hook, name)
        rpc = int(ds.chunks[0])
        k, within = divmod(start, rpc)
        if not out.flags.c_contiguous or within + len(out) > rpc:
            return False
        addr = self.chunk_addresses(hook, name)
        if k >= addr.size or addr[k] < 0:
            return False
        view = memoryview(out).cast("B")
        row_bytes = view.nbytes // max(1, len(out))
        if self._remote is not None:
            self._remote.pread(view, int(addr[k]) + within * row_bytes)
            return True
        got = os.preadv(self._fd, [view], int(addr[k]) + within * row_bytes)
        if got != view.nbytes:
            raise StoreError(f"{self.path}: {name} chunk at row {start} of {hook!r} is cut short ({got} of {view.nbytes} bytes); file truncated")
        return True

    def read_raw(self, hook: str, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Rows [start, stop) in storage dtype (caller checked bounds). Whole committed chunks
        are read with one pread straight into ``out`` (no HDF5 call, GIL released); anything
        else goes through h5py."""
        ds = self._acts[hook]
        if out is None:
            out = np.empty((stop - start, ds.shape[1]), dtype=ds.dtype)
        if stop <= start:
            return out
        rpc = self.rows_per_chunk(hook)
        whole = stop - start == rpc or (self._remote is not None and stop == self.committed[hook])
        if whole and start % rpc == 0 and self._pread_rows(hook, "acts", start, out):
            return out
        try:
            ds.read_direct(out, np.s_[start:stop], np.s_[0 : stop - start])
        except OSError as exc:
            self._raise_remote_failure()
            raise StoreError(f"{self.path}: cannot read rows {start}:{stop} of {hook!r} ({_first_line(exc)}); file truncated or corrupt?") from None
        return out

    def read_rows(self, hook: str, start: int, stop: int) -> np.ndarray:
        return to_float32(self.read_raw(hook, start, stop), self.dtype)

    def read_index(self, hook: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """(sample_id int64, position int32) of rows [start, stop); ranges inside full committed index
        chunks are read with pread (the shuffled reader asks for one acts chunk's worth at a time)."""
        sid, pos = np.empty(stop - start, np.int64), np.empty(stop - start, np.int32)
        if stop > start and self._pread_rows(hook, "sample_id", start, sid) and self._pread_rows(hook, "position", start, pos):
            return sid, pos
        try:
            return (np.asarray(self._sid[hook][start:stop], np.int64), np.asarray(self._pos[hook][start:stop], np.int32))
        except OSError as exc:
            self._raise_remote_failure()
            raise StoreError(f"{self.path}: cannot read the row index of {hook!r} ({_first_line(exc)})") from None

    def _raise_remote_failure(self) -> None:
        """h5py reports a failed read of a remote object as a generic OSError: name the real cause."""
        if self._remote is not None and self._remote.last_error is not None:
            raise self._remote.last_error

    def chunk_ranges(self, hook: str, start: int, stop: int, with_index: bool = False) -> list[tuple[int, int]]:
        """(byte offset, length) of each read by range that reading rows [start, stop) makes (read_raw's
        whole chunks, per chunk; with_index also read_index's ranges, rows [start, stop) lying in one
        index chunk, as a shuffle segment does): what to fetch ahead, matching the reads byte for byte."""
        out: list[tuple[int, int]] = []
        names = ("acts", "sample_id", "position") if with_index else ("acts",)
        for name in names:
            ds = self._dataset(hook, name)
            rpc, addr = int(ds.chunks[0]), self.chunk_addresses(hook, name)
            row_bytes = int(np.prod(ds.shape[1:], dtype=np.int64)) * ds.dtype.itemsize
            if name == "acts":  # chunks beginning in [start, stop), whole or the object's tail
                spans = [(k * rpc, min(stop, (k + 1) * rpc)) for k in range(-(-start // rpc), -(-stop // rpc))]
                pieces = [(lo, hi) for lo, hi in spans if hi - lo == rpc or hi == stop == self.committed[hook]]
            else:
                pieces = [(start, stop)] if (start % rpc) + stop - start <= rpc else []
            for lo, hi in pieces:
                k, within = divmod(lo, rpc)
                if k < addr.size and addr[k] >= 0:
                    out.append((int(addr[k]) + within * row_bytes, (hi - lo) * row_bytes))
        return out

    @property
    def remote(self) -> RemoteFile | None:
        return self._remote

    # ------------------------------------------------------------------ samples / stats
    @property
    def samples(self) -> SampleTable:
        if self._samples is None:
            sg = self._f[SAMPLES_GROUP]  # type: ignore[index]
            m = self.n_samples
            ids = np.asarray(sg["sample_id"][:m], np.int64)
            ends = np.asarray(sg["record_end"][:m], np.int64)
            blob = np.asarray(sg["records"][: int(ends[-1]) if m else 0], np.uint8)
            self._samples = SampleTable(ids, ends, blob)
        return self._samples

    def cached_stats(self, hook: str) -> HookStats | None:

        g = self._f[HOOKS_GROUP][hook]  # type: ignore[index]
        if int(g.attrs.get("stats_n", -1)) != self.committed[hook]:
            return None
        qs = np.asarray(g["stats_norm_quantiles"][:], np.float64)
        return {
            "n": int(g.attrs["stats_n"]),
            "mean": np.asarray(g["stats_mean"][:], np.float64),
            "var": np.asarray(g["stats_var"][:], np.float64),
            "norm_quantiles": {q: float(v) for q, v in zip(NORM_QUANTILES, qs)},
            "mean_sq_norm": float(g.attrs["stats_mean_sq_norm"]),
            "n_nonfinite": int(g.attrs.get("stats_n_nonfinite", 0)),
        }
