"""The one fingerprint function: sha256 over a sequence of parts, 16 hex characters by default.

Parts are hashed in order: bytes as they are, str as UTF-8, numpy arrays by their bytes, and
anything else as sorted-key JSON (``default=str``). It lives in the lowest layer so the store (the
held-out split's salt) and every saekit output (SAE / store / dataset fingerprints in
``saekit.results.fingerprint``, foreign-SAE cache keys, explanation cache keys) hash one way.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np

LENGTH = 16


def fingerprint(*parts: object, length: int | None = LENGTH) -> str:
    """Hex sha256 of ``parts``, cut to ``length`` characters (None: all 64)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, bytes):
            h.update(part)
        elif isinstance(part, str):
            h.update(part.encode())
        elif isinstance(part, np.ndarray):
            h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()[:length]
