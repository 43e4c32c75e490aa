"""DIR/manifest.json of a multi-shard store: written once every shard is complete, after checking
that the shards agree (see stores.shards for the layout)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TypedDict

from stores.atomic import write_json_atomic
from stores.errors import StoreError
from stores.layout import FORMAT_VERSION
from stores.shards import MANIFEST, SHARD_GLOB
from stores.jsontypes import JSONValue
from stores.store import ActivationStore


class Manifest(TypedDict):
    """What DIR/manifest.json holds."""

    format_version: int
    shards: list[str]                   # shard file names, in order
    hooks: dict[str, int]               # hook -> width
    dtype: str
    attrs: dict[str, JSONValue]         # the first shard's user attributes
    rows: dict[str, dict[str, int]]     # shard -> hook -> rows
    samples: dict[str, int]             # shard -> samples
    complete: bool


def write_manifest(directory: str | os.PathLike, shards: list[str] | None = None) -> Path:
    """Write DIR/manifest.json for the shards in ``directory`` (default: every shard-*.h5 in
    name order) after checking that they agree on hooks, widths and dtype and that sample ids
    are globally unique. Atomic (temp file + rename). Returns the manifest path."""
    directory = Path(directory)
    files = [directory / s for s in shards] if shards is not None else sorted(directory.glob(SHARD_GLOB))
    if not files:
        raise StoreError(f"{directory}: no shard files to put in a manifest")
    out = directory / MANIFEST
    return write_json_atomic(out, manifest_data(files), indent=1, sort_keys=True, default=str)


def manifest_data(files: list[Path], names: list[str] | None = None) -> Manifest:
    """The manifest of the store made of ``files`` in order, each listed under its name (or ``names``)."""
    names = [p.name for p in files] if names is None else names
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
        data: Manifest = {
            "format_version": FORMAT_VERSION,
            "shards": list(names),
            "hooks": {h: first.d(h) for h in first.hooks},
            "dtype": first.dtype,
            "attrs": first.attrs,
            "rows": {n: {h: r.n_rows(h) for h in r.hooks} for n, r in zip(names, readers)},
            "samples": {n: r.n_samples for n, r in zip(names, readers)},
            "complete": all(r.complete for r in readers),
        }
    finally:
        for r in readers:
            r.close()
    return data


def merge_manifests(parts: list[Manifest]) -> Manifest:

    """One manifest from the one-shard manifests of a store's shards, in order (each rank of a capture
    to object storage records its own; the last to finish merges them)."""
    first = parts[0]
    for p in parts[1:]:
        if p["hooks"] != first["hooks"] or p["dtype"] != first["dtype"]:
            raise StoreError(f"shard {p['shards'][0]} disagrees with {first['shards'][0]} on hooks/d/dtype")
    return {**first, "shards": [n for p in parts for n in p["shards"]],
            "rows": {k: v for p in parts for k, v in p["rows"].items()},
            "samples": {k: v for p in parts for k, v in p["samples"].items()},
            "complete": all(p["complete"] for p in parts)}
