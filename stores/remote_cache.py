"""The bounded local cache of a remote store's chunks: one file per byte range under a cache
directory, least recently used ranges evicted once the directory passes its size limit.

A second epoch of shuffled training reads the same chunks again; with the cache they come from the
local disk. Each entry's key names the object's URL, its version (size and ETag) and the range, so a
replaced object never serves stale bytes. Entries are written atomically (temp file + rename) and
several processes may share one directory: a missing or half-evicted entry is only a cache miss.

Where the cache lives is a process-wide setting (``configure``; the CLI's ``--cache-dir`` and
``--cache-size`` set it for every command, SAEKIT_CACHE_DIR / SAEKIT_CACHE_GB in the environment
set the default). Without a directory nothing is cached on disk.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from stores.errors import StoreError

DEFAULT_CACHE_GB = 10.0


@dataclass(frozen=True)
class CacheSettings:
    directory: str | None = None
    max_bytes: int = int(DEFAULT_CACHE_GB * (1 << 30))

    def open(self) -> "ChunkCache | None":
        return None if not self.directory else shared_cache(self.directory, self.max_bytes)


_settings: CacheSettings | None = None
_caches: dict[tuple[str, int], "ChunkCache"] = {}
_caches_lock = threading.Lock()


def configure(directory: str | os.PathLike | None, size_gb: float | None = None) -> CacheSettings:
    """Set where remote stores opened from now on cache their chunks, and how much (GiB) at most."""
    global _settings
    if size_gb is not None and size_gb <= 0:
        raise StoreError(f"--cache-size must be positive GiB, got {size_gb}")
    base = cache_settings()
    _settings = CacheSettings(str(directory) if directory else base.directory,
                              int(size_gb * (1 << 30)) if size_gb is not None else base.max_bytes)
    return _settings


def cache_settings() -> CacheSettings:
    if _settings is not None:
        return _settings
    try:
        size_gb = float(os.environ.get("SAEKIT_CACHE_GB", DEFAULT_CACHE_GB))
    except ValueError:
        raise StoreError(f"SAEKIT_CACHE_GB must be a number of GiB, got {os.environ['SAEKIT_CACHE_GB']!r}") from None
    return CacheSettings(os.environ.get("SAEKIT_CACHE_DIR") or None, int(size_gb * (1 << 30)))


def shared_cache(directory: str, max_bytes: int) -> "ChunkCache":
    """One ChunkCache object per (directory, limit) in a process, so its size tally is shared."""
    with _caches_lock:
        key = (str(Path(directory).resolve()), max_bytes)
        if key not in _caches:
            _caches[key] = ChunkCache(directory, max_bytes)
        return _caches[key]


class ChunkCache:
    """Byte ranges on local disk, at most ``max_bytes`` in all (oldest use evicted first)."""

    def __init__(self, directory: str | os.PathLike, max_bytes: int) -> None:
        self.directory = Path(directory) / "chunks"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"--cache-dir {directory}: cannot create it ({exc.strerror})") from None
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._bytes = sum(p.stat().st_size for p in self.directory.glob("*.bin"))

    def _path(self, key: str) -> Path:
        return self.directory / (hashlib.sha256(key.encode()).hexdigest()[:40] + ".bin")

    def has(self, key: str) -> bool:
        return self._path(key).is_file()

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
            os.utime(path)  # marks the use for eviction
            return data
        except OSError:
            return None

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        path = self._path(key)
        if path.is_file():
            return
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            return  # a full disk makes a cache miss, not a failed read
        with self._lock:
            self._bytes += len(data)
            if self._bytes > self.max_bytes:
                self._evict()

    def _evict(self) -> None:
        """Oldest-used entries go until the cache is back to 90% of its limit (so not every put evicts)."""
        entries = []
        for p in self.directory.glob("*.bin"):
            try:
                st = p.stat()
                entries.append((st.st_mtime_ns, st.st_size, p))
            except OSError:
                continue
        entries.sort()
        total = sum(size for _, size, _ in entries)
        for _, size, p in entries:
            if total <= 0.9 * self.max_bytes:
                break
            p.unlink(missing_ok=True)
            total -= size
        self._bytes = total

    @property
    def nbytes(self) -> int:
        return self._bytes
