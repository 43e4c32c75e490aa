"""Stores on object storage: any fsspec URL (``s3://bucket/prefix/store`` through s3fs, ``gs://``,
``memory://``, ...) opens as a store, read by byte ranges.

Credentials and the endpoint are the filesystem's own business (for s3: the AWS environment, shared
config and profiles, ``AWS_ENDPOINT_URL`` for a non-AWS server); saekit never reads, prints or writes
them. Every failure becomes one StoreError line naming the URL and what went wrong; transient network
failures (a dropped connection, a short body) are retried, and a range that still comes back short is
an error, never a silently short read.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from stores.errors import StoreError
from stores.remote_cache import ChunkCache, cache_settings

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem  # an optional dependency ('saekit[remote]')


log = logging.getLogger(__name__)

RETRIES = 5
RETRY_BASE_S = 0.2
T = TypeVar("T")
_CREDENTIAL_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
                     "TokenRefreshRequired", "AccessDenied", "AuthFailure", "NoCredentials", "Unable to locate credentials")


def is_remote(path: object) -> bool:
    """True for a URL with a scheme other than file:// (a local path, Path or file:// URL is local)."""
    text = str(path)
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", text)
    return isinstance(path, str) and match is not None and match.group(1).lower() not in ("file", "local")


def display_url(url: str) -> str:
    """The URL without any user:password@ part (a URL may carry credentials; messages never do)."""
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@]*@", r"\1", url)


class RemotePath(str):
    """A remote store's URL where a local store has a Path: ``.name`` is the last component."""

    @property
    def name(self) -> str:
        return self.rstrip("/").rsplit("/", 1)[-1]

    def join(self, name: str) -> "RemotePath":
        return RemotePath(self.rstrip("/") + "/" + name)


def remote_error(url: str, exc: BaseException, doing: str) -> StoreError:
    """One line for a failed remote operation: missing bucket or key, rejected credentials, or the network."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    where = display_url(url)
    if isinstance(exc, StoreError):
        return exc
    if any(code in text or code in type(exc).__name__ for code in _CREDENTIAL_CODES) or isinstance(exc, PermissionError):
        return StoreError(f"{where}: access denied while {doing} ({text[:160]}); check the AWS credentials, "
                          f"profile and AWS_ENDPOINT_URL")
    if isinstance(exc, FileNotFoundError) or "NoSuchBucket" in text or "NoSuchKey" in text:
        what = "bucket does not exist" if "bucket" in text.lower() else "no such object"
        return StoreError(f"{where}: {what} ({doing})")
    return StoreError(f"{where}: {doing} failed after {RETRIES} tries ({type(exc).__name__}: {text[:160]})")


def _permanent(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}"
    return (isinstance(exc, (FileNotFoundError, PermissionError, StoreError, ImportError, ValueError, TypeError))
            or any(code in text for code in _CREDENTIAL_CODES) or "NoSuchBucket" in text or "NoSuchKey" in text)


def with_retries(url: str, doing: str, call: Callable[[], T]) -> T:
    """call(), retried with backoff on transient failures; a permanent one (or the last) raises StoreError."""
    for attempt in range(RETRIES):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - the filesystem's exceptions vary by backend
            if _permanent(exc) or attempt == RETRIES - 1:
                raise remote_error(url, exc, doing) from None
            log.warning("%s: %s failed (%s); retrying", display_url(url), doing, type(exc).__name__)
            time.sleep(RETRY_BASE_S * 2 ** attempt)
    raise AssertionError("unreachable")


def filesystem(url: str) -> tuple[AbstractFileSystem, str]:
    """(fsspec filesystem, path inside it) for ``url``."""
    try:
        import fsspec
    except ImportError:
        raise StoreError(f"{display_url(url)}: remote stores need fsspec (pip install 'saekit[remote]')") from None
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as exc:
        raise StoreError(f"{display_url(url)}: no filesystem for this URL ({exc}); for s3:// pip install 'saekit[remote]'") from None
    except ValueError as exc:
        raise StoreError(f"{display_url(url)}: not a usable store URL ({exc})") from None


def _or_none(call: Callable[[], T]) -> T | None:
    """call(), None when its object does not exist (a missing bucket still raises)."""
    try:
        return call()
    except FileNotFoundError as exc:
        if "bucket" in str(exc).lower():
            raise
        return None


def object_info(fs: AbstractFileSystem, key: str) -> dict[str, object] | None:
    """fs.info(key), None when there is no such object."""
    return _or_none(lambda: fs.info(key))


def object_bytes(fs: AbstractFileSystem, key: str) -> bytes | None:
    """The whole object, None when there is no such object."""
    return _or_none(lambda: fs.cat_file(key))


class RemoteFile:
    """One remote object read by byte ranges: exact lengths, retries, the local chunk cache, and
    ranges fetched ahead together (``fetch_ahead``) held until they are read."""

    def __init__(self, url: str, cache: ChunkCache | None = None) -> None:
        self.url = url
        self.fs, self.key = filesystem(url)
        info = with_retries(url, "reading the object's size", lambda: self.fs.info(self.key))
        if info.get("type") == "directory":
            raise StoreError(f"{display_url(url)}: is a prefix, not an object")
        self.size = int(info["size"])
        tag = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified") or ""
        self.version = f"{self.size}:{tag}"
        self.cache = cache if cache is not None else cache_settings().open()
        self._ahead: dict[tuple[int, int], bytes] = {}
        self._lock = threading.Lock()
        self.last_error: StoreError | None = None

    def _fetch(self, start: int, n: int) -> bytes:
        def get() -> bytes:
            data = self.fs.cat_file(self.key, start=start, end=start + n)
            if len(data) != n:  # a cut connection can end a body early: retried, never passed on short
                raise ConnectionError(f"range {start}+{n} came back with {len(data)} bytes")
            return data

        return with_retries(self.url, f"reading bytes {start}:{start + n}", get)

    def read(self, start: int, n: int) -> bytes:
        """Bytes [start, start + n): held-ahead, cached or fetched."""
        if start < 0 or start + n > self.size:
            raise StoreError(f"{display_url(self.url)}: bytes {start}:{start + n} lie past the object's end ({self.size})")
        with self._lock:
            data = self._ahead.pop((start, n), None)
        if data is None and self.cache is not None:
            data = self.cache.get(self.version_key(start, n))
        if data is None:
            try:
                data = self._fetch(start, n)
            except StoreError as exc:
                self.last_error = exc
                raise
            if self.cache is not None:
                self.cache.put(self.version_key(start, n), data)
        return data

    def pread(self, view: memoryview, start: int) -> None:
        view[:] = self.read(start, view.nbytes)

    def version_key(self, start: int, n: int) -> str:
        return f"{self.url}|{self.version}|{start}|{n}"

    def missing(self, ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The (start, n) ranges neither cached nor already held."""
        with self._lock:
            todo = [r for r in ranges if r not in self._ahead]
        return [r for r in todo if self.cache is None or not self.cache.has(self.version_key(*r))]

    def hold(self, r: tuple[int, int], data: bytes) -> None:
        with self._lock:
            self._ahead[r] = data
        if self.cache is not None:
            self.cache.put(self.version_key(*r), data)

    def drop_ahead(self) -> None:
        with self._lock:
            self._ahead.clear()

    def file_object(self) -> "RemoteFileObject":
        return RemoteFileObject(self)


def fetch_ahead(wanted: list[tuple[RemoteFile, list[tuple[int, int]]]]) -> None:
    """Fetch the (start, n) ranges of several objects not yet cached with one batch of concurrent range
    requests per filesystem, each held by its object until read: a shuffle window's chunks (across all
    the shards it draws from) arrive together instead of one round trip at a time."""
    by_fs: dict[int, list[tuple[RemoteFile, tuple[int, int]]]] = {}
    for remote, ranges in wanted:
        for r in remote.missing(ranges):
            by_fs.setdefault(id(remote.fs), []).append((remote, r))
    for todo in by_fs.values():
        fs, url = todo[0][0].fs, todo[0][0].url

        def get(todo=todo, fs=fs) -> list[bytes]:
            got = fs.cat_ranges([rf.key for rf, _ in todo], [a for _, (a, _) in todo], [a + n for _, (a, n) in todo],
                                on_error="raise")
            for (_, (a, n)), data in zip(todo, got):
                if isinstance(data, BaseException):
                    raise data
                if len(data) != n:
                    raise ConnectionError(f"range {a}+{n} came back with {len(data)} bytes")
            return got

        try:
            got = with_retries(url, f"reading {len(todo)} chunks ahead", get)
        except StoreError as exc:
            for rf, _ in todo:
                rf.last_error = exc
            raise
        for (rf, r), data in zip(todo, got):
            rf.hold(r, data)


class RemoteFileObject:
    """A read-only, seekable file over a RemoteFile (what h5py reads the header and small datasets
    through), in aligned blocks with a few kept: HDF5 metadata reads are small and clustered."""

    BLOCK = 1 << 16
    KEEP = 64

    def __init__(self, remote: RemoteFile) -> None:
        self.remote, self.pos = remote, 0
        self._blocks: dict[int, bytes] = {}

    def _block(self, k: int) -> bytes:
        if k not in self._blocks:
            if len(self._blocks) >= self.KEEP:
                self._blocks.pop(next(iter(self._blocks)))
            start = k * self.BLOCK
            self._blocks[k] = self.remote.read(start, min(self.BLOCK, self.remote.size - start))
        return self._blocks[k]

    def readinto(self, buf: bytearray | memoryview) -> int:

        view = memoryview(buf).cast("B")
        n = max(0, min(view.nbytes, self.remote.size - self.pos))
        done = 0
        while done < n:
            k, within = divmod(self.pos + done, self.BLOCK)
            block = self._block(k)
            take = min(n - done, len(block) - within)
            view[done : done + take] = block[within : within + take]
            done += take
        self.pos += n
        return n

    def read(self, n: int = -1) -> bytes:
        n = self.remote.size - self.pos if n is None or n < 0 else n
        buf = bytearray(max(0, min(n, self.remote.size - self.pos)))
        self.readinto(buf)
        return bytes(buf)

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else self.pos + offset if whence == 1 else self.remote.size + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._blocks.clear()
