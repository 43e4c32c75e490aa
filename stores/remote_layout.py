"""Which objects make up a store at a URL: one .h5 object, or a prefix holding manifest.json and
its shard objects (the same layout as a shard directory on disk, see stores.shards)."""
from __future__ import annotations

import json
from collections.abc import Callable

from stores.batching import Segment
from stores.errors import StoreError
from stores.layout import FORMAT_VERSION
from stores.remote import (RemoteFile, RemotePath, display_url, fetch_ahead, filesystem, object_bytes, object_info,
                           with_retries)
from stores.shard_reader import ShardReader
from stores.shards import MANIFEST, SHARD_GLOB


def remote_store_files(url: str) -> tuple[list[RemotePath], bool]:
    """(shard object URLs in order, is_sharded) of the store at ``url``."""
    fs, key = filesystem(url)
    base = RemotePath(url.rstrip("/"))
    info = with_retries(url, "looking up the store", lambda: object_info(fs, key.rstrip("/")))
    if info is not None and info.get("type") != "directory":
        return [base], False
    manifest = with_retries(url, f"reading {MANIFEST}", lambda: object_bytes(fs, f"{key.rstrip('/')}/{MANIFEST}"))
    if manifest is not None:
        try:
            data = json.loads(manifest.decode("utf-8"))
            names = list(data["shards"])
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"{display_url(base.join(MANIFEST))}: unreadable manifest ({exc})") from None
        if int(data.get("format_version", 1)) > FORMAT_VERSION:
            raise StoreError(f"{display_url(base.join(MANIFEST))}: format version {data['format_version']} is newer "
                             f"than this saekit reads (<= {FORMAT_VERSION})")
        return [base.join(n) for n in names], True
    found = with_retries(url, "listing shards", lambda: sorted(fs.glob(f"{key.rstrip('/')}/{SHARD_GLOB}")))
    if not found:
        raise StoreError(f"{display_url(url)}: no such store (no object, no {MANIFEST} and no {SHARD_GLOB} under it)")
    return [base.join(k.rsplit("/", 1)[-1]) for k in found], True


def open_remote_shards(url: str, rdcc_nbytes: int) -> tuple[list[ShardReader], bool]:
    """The shard readers of the store at ``url`` (each reading its object by range requests)."""
    urls, sharded = remote_store_files(url)
    shards: list[ShardReader] = []
    try:
        for u in urls:
            shards.append(ShardReader(u, rdcc_nbytes, remote=RemoteFile(u)))
    except StoreError:
        for s in shards:
            s.close()
        raise
    return shards, sharded


def chunk_fetcher(shards: list[ShardReader], hook: str, with_index: bool) -> Callable[[list[Segment]], None]:
    """segments -> their full chunks, from every shard at once, fetched with one batch of concurrent
    range requests and held until read: a shuffle window arrives whole instead of chunk by chunk."""

    def fetch(segs: list[Segment]) -> None:
        by_shard: dict[int, list[tuple[int, int]]] = {}
        for k, a, b in segs:
            by_shard.setdefault(k, []).extend(shards[k].chunk_ranges(hook, a, b, with_index))
        fetch_ahead([(shards[k].remote, ranges) for k, ranges in by_shard.items() if shards[k].remote is not None])

    return fetch
