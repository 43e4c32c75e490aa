"""The atomic writers (``stores.atomic``, the lowest layer, so the store's own files use them too)."""
from stores.atomic import (atomic_directory, atomic_file, write_bytes_atomic, write_json_atomic,  # noqa: F401
                           write_text_atomic)

__all__ = ["atomic_directory", "atomic_file", "write_bytes_atomic", "write_json_atomic", "write_text_atomic"]
