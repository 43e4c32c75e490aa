"""saekit activation store: chunked HDF5 files of hook activations (numpy + h5py only)."""
from stores.errors import StoreError
from stores.manifest import write_manifest
from stores.shards import shard_path
from stores.store import ActivationStore
from stores.verify import verify_store
from stores.writer import StoreWriter

__all__ = ["ActivationStore", "StoreError", "StoreWriter", "shard_path", "verify_store", "write_manifest"]
