"""The /samples table: per-sample metadata kept as UTF-8 JSON records in one byte blob.

Variable-length HDF5 strings live in the global heap, which SWMR writing does not support,
so records are packed into a uint8 dataset with an int64 end-offset column instead.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from stores.jsontypes import JSONObject

RECORD_KEYS = ("source", "label", "text")


def encode_records(records: Sequence[Mapping[str, object]]) -> tuple[np.ndarray, np.ndarray]:
    """records -> (bytes uint8[*], lengths int64[m])."""
    parts = [json.dumps(_normalise(r), ensure_ascii=False, sort_keys=True).encode("utf-8") for r in records]
    lengths = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
    blob = np.frombuffer(b"".join(parts), dtype=np.uint8)
    return blob, lengths


def _normalise(record: Mapping[str, object]) -> dict[str, object]:
    out = {k: None for k in RECORD_KEYS}
    for key, value in record.items():
        out[str(key)] = value.item() if isinstance(value, np.generic) else value
    return out


class SampleTable(Mapping[int, "JSONObject"]):
    """Read-only mapping sample_id -> record dict (source, label, text, ...)."""

    def __init__(self, sample_ids: np.ndarray, ends: np.ndarray, blob: np.ndarray) -> None:
        self.sample_ids = np.asarray(sample_ids, dtype=np.int64)
        self._ends = np.asarray(ends, dtype=np.int64)
        self._blob = blob
        self._pos = {int(s): i for i, s in enumerate(self.sample_ids)}

    def record_at(self, i: int) -> JSONObject:
        start = int(self._ends[i - 1]) if i > 0 else 0
        return json.loads(self._blob[start : int(self._ends[i])].tobytes().decode("utf-8"))

    def __getitem__(self, sample_id: int) -> JSONObject:

        try:
            i = self._pos[int(sample_id)]
        except KeyError:
            raise KeyError(sample_id) from None
        return self.record_at(i)

    def __contains__(self, sample_id: object) -> bool:
        try:
            return int(sample_id) in self._pos  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return False

    def __iter__(self) -> Iterator[int]:
        return (int(s) for s in self.sample_ids)

    def __len__(self) -> int:
        return len(self.sample_ids)

    @staticmethod
    def concat(tables: list["SampleTable"]) -> "SampleTable":
        ids = np.concatenate([t.sample_ids for t in tables]) if tables else np.zeros(0, np.int64)
        blobs, ends, offset = [], [], 0
        for t in tables:
            blobs.append(t._blob)
            ends.append(t._ends + offset)
            offset += int(t._ends[-1]) if len(t._ends) else 0
        blob = np.concatenate(blobs) if blobs else np.zeros(0, np.uint8)
        end = np.concatenate(ends) if ends else np.zeros(0, np.int64)
        return SampleTable(ids, end, blob)
