"""Multi-shard stores: DIR/manifest.json + DIR/shard-NNNNN.h5 (one file per capture rank).

The manifest lists the shard files in order plus the attributes they share; rows of the
logical store are the shards' rows concatenated in that order. A directory without a
manifest but with shard-*.h5 files is read in file-name order.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from stores.errors import StoreError
from stores.layout import FORMAT_VERSION

MANIFEST = "manifest.json"
SHARD_GLOB = "shard-*.h5"


def shard_path(directory: str | os.PathLike, rank: int) -> Path:
    """Where capture rank ``rank`` writes its shard."""
    return Path(directory) / f"shard-{rank:05d}.h5"


def shard_files(directory: str | os.PathLike) -> list[Path]:
    """The shard files of a store directory, from its manifest or by name."""
    directory = Path(directory)
    manifest = directory / MANIFEST
    if manifest.is_file():
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            names = data["shards"]
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"{manifest}: unreadable manifest ({exc})") from None
        if int(data.get("format_version", 1)) > FORMAT_VERSION:
            raise StoreError(f"{manifest}: format version {data['format_version']} is newer than this saekit reads (<= {FORMAT_VERSION})")
        files = [directory / n for n in names]
        missing = [str(p.name) for p in files if not p.is_file()]
        if missing:
            raise StoreError(f"{manifest}: shard file(s) missing: {', '.join(missing)}")
    else:
        files = sorted(directory.glob(SHARD_GLOB))
    if not files:
        raise StoreError(f"{directory}: no {MANIFEST} and no {SHARD_GLOB} files; not a store directory")
    return files
