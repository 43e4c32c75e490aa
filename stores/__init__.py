"""saekit activation store: chunked HDF5 files of hook activations (numpy + h5py only).

The names below load on first use, so the light primitives every layer shares (``stores.atomic``,
``stores.fingerprint``, ``stores.lazy``) cost no h5py import."""
from __future__ import annotations

from typing import TYPE_CHECKING

from stores.lazy import lazy_exports

if TYPE_CHECKING:
    from stores.errors import StoreError
    from stores.manifest import write_manifest
    from stores.shards import shard_path
    from stores.store import ActivationStore
    from stores.verify import verify_store
    from stores.writer import StoreWriter

__all__ = ["ActivationStore", "StoreError", "StoreWriter", "shard_path", "verify_store", "write_manifest"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "ActivationStore": "stores.store", "StoreError": "stores.errors", "StoreWriter": "stores.writer",
    "shard_path": "stores.shards", "verify_store": "stores.verify", "write_manifest": "stores.manifest"})
