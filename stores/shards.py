"""Multi-shard stores: DIR/manifest.json + DIR/shard-NNNNN.h5 (one file per capture rank).

The manifest lists the shard files in order plus the attributes they share; rows of the
logical store are the shards' rows concatenated in that order. A directory without a
manifest but with shard-*.h5 files is read in file-name order.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

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


def write_manifest(directory: str | os.PathLike, shards: list[str] | None = None) -> Path:
    """Write DIR/manifest.json for the shards in ``directory`` (default: every shard-*.h5 in
    name order) after checking that they agree on hooks, widths and dtype and that sample ids
    are globally unique. Atomic (temp file + rename). Returns the manifest path."""
    from stores.store import ActivationStore  # local: store imports this module

    directory = Path(directory)
    files = [directory / s for s in shards] if shards is not None else sorted(directory.glob(SHARD_GLOB))
    if not files:
        raise StoreError(f"{directory}: no shard files to put in a manifest")
    readers = [ActivationStore.open(p) for p in files]
    try:
        first = readers[0]
        for r in readers[1:]:
            if r.hooks != first.hooks or r.dtype != first.dtype or any(r.d(h) != first.d(h) for h in r.hooks):
                raise StoreError(
                    f"shard {r.path.name} disagrees with {first.path.name} on hooks/d/dtype: "
                    f"{[(h, r.d(h)) for h in r.hooks]} {r.dtype} vs {[(h, first.d(h)) for h in first.hooks]} {first.dtype}"
                )
        seen: set[int] = set()
        for r in readers:
            ids = set(r.sample_ids.tolist())
            dup = seen & ids
            if dup:
                raise StoreError(f"shard {r.path.name}: sample id {min(dup)} also appears in an earlier shard; ids must be globally unique")
            seen |= ids
        data: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "shards": [p.name for p in files],
            "hooks": {h: first.d(h) for h in first.hooks},
            "dtype": first.dtype,
            "attrs": first.attrs,
            "rows": {p.name: {h: r.n_rows(h) for h in r.hooks} for p, r in zip(files, readers)},
            "samples": {p.name: r.n_samples for p, r in zip(files, readers)},
            "complete": all(r.complete for r in readers),
        }
    finally:
        for r in readers:
            r.close()
    out = directory / MANIFEST
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, out)
    return out
