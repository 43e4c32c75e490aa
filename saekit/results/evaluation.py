"""EvaluationDocument: eval.json, written by `saekit eval` and the quickstart (saekit.eval).

Every metric records the split of the store it was computed on ("holdout": the samples the trainer
held out; "train": the others; "all": every sample) and can instead be marked skipped, with the
reason. Files written before this document existed (a flat JSON object of numbers, without kind
or format_version) load as format version 0: every number becomes a metric on split "all".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from saekit.common.jsontypes import JSONObject
from saekit.results.document import Document
from saekit.results.refs import SaeRef, StoreRef

Split = Literal["holdout", "train", "all"]


@dataclass(frozen=True)
class Metric:
    value: float | None               # None when skipped (or not finite)
    split: Split                      # the store samples it was computed on
    n: int | None = None              # rows (or samples) it was computed on
    skipped: str | None = None        # why it was not computed

    @classmethod
    def skip(cls, reason: str, split: Split = "all") -> "Metric":
        return cls(value=None, split=split, skipped=reason)


@dataclass(frozen=True)
class EvaluationDocument(Document, kind="evaluation", filename="eval.json", version=1,
                         command="eval", what="evaluation"):

    sae: SaeRef                       # the SAE evaluated
    store: StoreRef | None            # None for metrics that need no store
    metrics: dict[str, Metric]        # name (fve, l0, downstream.ce_loss_increase, ...) -> metric
    created: str = ""                 # ISO time of writing

    def value(self, name: str) -> float | None:
        m = self.metrics.get(name)
        return None if m is None else m.value

    @classmethod
    def unversioned(cls, data: JSONObject, where: str) -> int:
        if "kind" not in data and any(isinstance(v, (int, float)) for v in data.values()):
            return 0
        return super().unversioned(data, where)


_SAE_KEYS = ("hook", "arch", "d_in", "d_sae")


def _from_flat(data: dict[str, Any]) -> JSONObject:
    """Version 0 (a flat object of metrics, downstream ones nested under "downstream") -> version 1."""
    sae = {k: data[k] for k in _SAE_KEYS if k in data}
    n = data.get("n_rows") if isinstance(data.get("n_rows"), int) else None
    metrics: dict[str, Any] = {}

    def add(prefix: str, d: dict[str, Any], n_rows: int | None) -> None:
        for k, v in d.items():
            if k in _SAE_KEYS or k == "n_rows":
                continue
            if isinstance(v, dict):
                add(f"{prefix}{k}.", v, None)
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                metrics[prefix + k] = {"value": float(v), "split": "all", "n": n_rows}
    add("", data, n)
    return {"kind": "evaluation", "format_version": 1, "sae": sae, "store": None, "metrics": metrics}


EvaluationDocument.UPGRADES = {0: _from_flat}
