"""DIR/manifest.json of a multi-shard store: written once every shard is complete, after checking
that the shards agree (see stores.shards for the layout)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from stores.atomic import write_json_atomic
from stores.errors import StoreError
from stores.layout import FORMAT_VERSION
from stores.shards import MANIFEST, SHARD_GLOB
from stores.store import ActivationStore


def write_manifest(directory: str | os.PathLike, shards: list[str] | None = None) -> Path:
    """Write DIR/manifest.json for the shards in ``directory`` (default: every shard-*.h5 in
    name order) after checking that they agree on hooks, widths and dtype and that sample ids
    are globally unique. Atomic (temp file + rename). Returns the manifest path."""
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
    return write_json_atomic(out, data, indent=1, sort_keys=True, default=str)
