"""Storage dtypes of the store: float16, bfloat16 (kept as raw uint16 bits) and float32.

numpy has no bfloat16, so bf16 rows live on disk as the upper 16 bits of float32 and are
converted here with bit shifts (round-to-nearest-even on the way in, exact on the way out).
"""
from __future__ import annotations

import numpy as np

from stores.errors import StoreError

STORAGE_DTYPES: dict[str, np.dtype] = {
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(np.uint16),
    "float32": np.dtype(np.float32),
}


def storage_dtype(name: str) -> np.dtype:
    """The numpy dtype a store of dtype ``name`` keeps on disk."""
    try:
        return STORAGE_DTYPES[name]
    except KeyError:
        raise StoreError(
            f"unknown store dtype {name!r}; expected one of {', '.join(STORAGE_DTYPES)}"
        ) from None


def float32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 array -> uint16 bf16 bit patterns, round-to-nearest-even; NaN stays NaN."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    u = x.view(np.uint32)
    rounded = ((u + (np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1)))) >> np.uint32(16)).astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():
        # rounding could carry a NaN's payload into the exponent and make it Inf
        rounded[nan] = ((u[nan] >> np.uint32(16)) | np.uint32(0x0040)).astype(np.uint16)
    return rounded


def bf16_bits_to_float32(bits: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """uint16 bf16 bit patterns -> float32 (exact)."""
    wide = bits.astype(np.uint32) << np.uint32(16)
    if out is None:
        return wide.view(np.float32)
    out.view(np.uint32)[...] = wide
    return out


def to_storage(acts: object, dtype_name: str) -> np.ndarray:
    """Convert caller activations (numpy, or anything with ``__array__``; torch tensors are
    detached to float32) to the on-disk representation, C-contiguous."""
    if type(acts).__module__.split(".")[0] == "torch":  # duck-typed: stores never imports torch
        acts = acts.detach().float().cpu().numpy()  # type: ignore[attr-defined]
    arr = np.asarray(acts)
    if dtype_name == "bfloat16":
        if arr.dtype == np.uint16:  # already bf16 bits (e.g. a torch bf16 tensor viewed as int16)
            return np.ascontiguousarray(arr)
        return float32_to_bf16_bits(arr)
    if arr.dtype.kind not in "fiu":
        raise StoreError(f"activations must be a numeric array, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=storage_dtype(dtype_name))


def to_float32(raw: np.ndarray, dtype_name: str, out: np.ndarray | None = None) -> np.ndarray:
    """On-disk rows -> float32 (into ``out`` when given)."""
    if dtype_name == "bfloat16":
        return bf16_bits_to_float32(raw, out)
    if out is None:
        return raw.astype(np.float32, copy=raw.dtype != np.float32)
    out[...] = raw
    return out
