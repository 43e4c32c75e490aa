"""Capture into object storage (``--out s3://bucket/prefix/store``): each rank writes its shard in a
local staging directory exactly as a local capture would (commits, ``--resume``), then uploads it
whole; the manifest that makes the upload visible is written last (see stores.remote_upload), so an
interrupted upload leaves the previous store readable and ``--resume`` finishes it.

The staging directory is ``<cache dir>/staging/<digest of the URL>`` (the cache dir of
``--cache-dir`` / SAEKIT_CACHE_DIR, else ~/.cache/saekit): the same URL finds the same staged shards
on the next run, which is what lets ``--resume`` continue a capture or an upload.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from saekit.common.errors import SaekitError


def staging_dir(url: str) -> Path:
    from stores.remote import display_url
    from stores.remote_cache import cache_settings

    base = cache_settings().directory or os.path.join(os.path.expanduser("~"), ".cache", "saekit")
    return Path(base) / "staging" / hashlib.sha256(display_url(url).rstrip("/").encode()).hexdigest()[:16]


def check_remote_out(url: str, resume: bool, overwrite: bool) -> None:
    """Refuse to capture over a published store unless --overwrite (or --resume) says so."""
    from stores.remote_upload import remote_manifest

    if remote_manifest(url) is not None and not (resume or overwrite):
        raise SaekitError(f"--out {url} already holds a store; pass --overwrite to replace it (it stays readable "
                          f"until the new one is published) or --resume to finish an interrupted capture or upload")


def publish_shard(url: str, shard: Path, rank: int, world: int, config_hash: str) -> bool:
    """Upload this rank's complete shard; True when this rank published the manifest."""
    from stores.remote_upload import publish_if_complete, upload_shard

    upload_shard(shard, url, rank, config_hash)
    return publish_if_complete(url, world, config_hash)
