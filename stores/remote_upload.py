"""Publishing a store to object storage so that readers only ever see whole stores.

Shards are written on local disk first (capture's staging directory), then each complete shard is
uploaded under a name that carries its content digest (``shard-00003-<digest>.h5``), so an upload
never overwrites an object the current manifest lists. Each rank then records its shard's manifest
entry under ``PREFIX/.pending/<config hash>/``; whoever finds every rank's record writes
``manifest.json`` with one PUT (atomic in S3 and its kin), the switch from the old store to the new
one. An upload cut short leaves the previous manifest, and every object it lists, untouched; running
again (``--resume``) skips shards already uploaded whole and finishes the job. Objects the new
manifest no longer lists are deleted after it is written.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from stores.errors import StoreError
from stores.manifest import manifest_data, merge_manifests
from stores.remote import display_url, filesystem, object_bytes, object_info, with_retries
from stores.shards import MANIFEST

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

    from stores.manifest import Manifest

log = logging.getLogger(__name__)

PENDING = ".pending"
DIGEST_BYTES = 1 << 22


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(DIGEST_BYTES):
            h.update(block)
    return h.hexdigest()[:16]


def _exists_with_size(fs: AbstractFileSystem, key: str, size: int) -> bool:
    info = object_info(fs, key)
    return info is not None and int(info["size"]) == size


def upload_shard(local: Path, url: str, rank: int, config_hash: str) -> str:
    """Upload the complete local shard ``local`` into the store prefix ``url`` and record its manifest
    entry for rank ``rank``; returns the object's name. Skips the upload when that object is there whole."""
    fs, root = filesystem(url)
    root = root.rstrip("/")
    name = f"shard-{rank:05d}-{file_digest(local)}.h5"
    key = f"{root}/{name}"
    size = local.stat().st_size
    if not with_retries(url, f"checking {name}", lambda: _exists_with_size(fs, key, size)):
        log.info("uploading %s to %s", local, display_url(f"{url.rstrip('/')}/{name}"))
        with_retries(url, f"uploading {name}", lambda: fs.put_file(str(local), key))
        if not with_retries(url, f"checking {name}", lambda: _exists_with_size(fs, key, size)):
            raise StoreError(f"{display_url(url)}: {name} did not arrive whole after its upload")
    entry = json.dumps(manifest_data([local], [name]), sort_keys=True, default=str).encode()
    marker = f"{root}/{PENDING}/{config_hash}/rank-{rank:05d}.json"
    with_retries(url, f"recording {name}", lambda: fs.pipe_file(marker, entry))
    return name


def publish_if_complete(url: str, world: int, config_hash: str) -> bool:
    """Write ``url``/manifest.json once all ``world`` ranks recorded their shard; True when written here."""
    fs, root = filesystem(url)
    root = root.rstrip("/")
    pending = f"{root}/{PENDING}/{config_hash}"
    markers = [f"{pending}/rank-{r:05d}.json" for r in range(world)]
    parts = []
    for m in markers:
        data = with_retries(url, "reading the shard records", lambda m=m: object_bytes(fs, m))
        if data is None:
            return False
        parts.append(json.loads(data))
    manifest = merge_manifests(parts)
    old = with_retries(url, f"reading {MANIFEST}", lambda: object_bytes(fs, f"{root}/{MANIFEST}"))
    body = json.dumps(manifest, indent=1, sort_keys=True, default=str).encode()
    with_retries(url, f"writing {MANIFEST}", lambda: fs.pipe_file(f"{root}/{MANIFEST}", body))
    stale = set(json.loads(old).get("shards", [])) - set(manifest["shards"]) if old else set()
    for key in [f"{root}/{n}" for n in sorted(stale)] + markers:
        try:
            fs.rm_file(key)
        except (FileNotFoundError, OSError) as exc:  # a leftover object costs storage, never correctness
            log.warning("%s: could not remove %s (%s)", display_url(url), key.rsplit("/", 1)[-1], exc)
    log.info("published %s (%d shards)", display_url(url), len(manifest["shards"]))
    return True


def remote_manifest(url: str) -> Manifest | None:

    """The manifest at ``url``, None when there is none yet."""
    fs, root = filesystem(url)
    data = with_retries(url, f"reading {MANIFEST}", lambda: object_bytes(fs, f"{root.rstrip('/')}/{MANIFEST}"))
    return None if data is None else json.loads(data)
