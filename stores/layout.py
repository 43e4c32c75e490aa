"""On-disk layout of one store file: names, attributes, chunk geometry.

/                       attrs: format_version, hooks (JSON list, the order of n_committed),
                               dtype, created, model_id, model_revision, config_hash,
                               preprocessing (JSON), other caller attrs, json_attrs (which
                               attrs are JSON), n_committed int64[len(hooks) + 1] (rows per
                               hook, then samples: ONE attribute so it is written atomically),
                               complete (int8)
/hooks/<hook>/acts      [N, d] float16 | uint16 (bfloat16 bits) | float32, chunks (rows, d)
/hooks/<hook>/sample_id [N] int64
/hooks/<hook>/position  [N] int32 (-1 for a pooled vector)
/hooks/<hook>/stats_mean, stats_var [d] float64, stats_norm_quantiles [Q] float64;
                        group attrs stats_n (-1 until computed), stats_mean_sq_norm,
                        stats_n_nonfinite. Pre-created so SWMR writing can fill them at close.
/samples/sample_id      [M] int64
/samples/record_end     [M] int64 end offsets into records
/samples/records        [*] uint8: UTF-8 JSON objects {source, label, text, ...}, concatenated
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Mapping

import numpy as np

if TYPE_CHECKING:
    from stores.jsontypes import JSONValue


FORMAT_VERSION = 1
HOOKS_GROUP = "hooks"
SAMPLES_GROUP = "samples"
TARGET_CHUNK_BYTES = 2 << 20
INDEX_CHUNK_ROWS = 16384
RECORDS_CHUNK_BYTES = 1 << 20
NORM_QUANTILES: tuple[float, ...] = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
RESERVED_ATTRS = frozenset(
    {"format_version", "hooks", "dtype", "created", "n_committed", "complete", "json_attrs"}
)


def rows_per_chunk(d: int, itemsize: int, target_bytes: int = TARGET_CHUNK_BYTES) -> int:
    """Whole rows per chunk so a chunk is about ``target_bytes`` (never splits a row)."""
    return max(1, int(target_bytes // (d * itemsize)))


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def encode_user_attrs(attrs: Mapping[str, object]) -> tuple[dict[str, str | int | float], list[str]]:
    """Strings and numbers stay plain HDF5 attributes; anything else is stored as JSON."""
    plain: dict[str, str | int | float] = {}
    json_keys: list[str] = []
    for key, value in attrs.items():
        if isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            plain[key] = value
        else:
            plain[key] = json.dumps(value, sort_keys=True)
            json_keys.append(key)
    return plain, json_keys


def decode_attr(value: object) -> JSONValue:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value  # type: ignore[return-value]  # h5py gives back str and numbers as they were stored


def read_user_attrs(h5attrs: Mapping[str, object]) -> dict[str, JSONValue]:
    """Caller attributes of a store file (an h5py AttributeManager), JSON ones decoded; reserved names excluded."""
    json_keys = set(json.loads(decode_attr(h5attrs.get("json_attrs", "[]"))))
    out: dict[str, JSONValue] = {}

    for key in h5attrs.keys():
        if key in RESERVED_ATTRS:
            continue
        value = decode_attr(h5attrs[key])
        out[key] = json.loads(value) if key in json_keys else value
    return out
