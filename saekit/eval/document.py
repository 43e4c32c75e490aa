"""An evaluation result as the typed evaluation document (saekit.results.evaluation, eval.json).

Scalar results become metrics named "<metric>.<key>" (nested keys joined by "."; e.g. core.fve,
sparse_probing.acc.1), each with the split it was computed on and its row or sample count (as the metric declares,
saekit.eval.registry); a
skipped metric becomes one entry "<metric>" with the reason. Histograms and per-class tables stay
in the full JSON that `saekit eval --json` prints.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from saekit.common.jsontypes import JSONObject
from saekit.eval.registry import all_metrics
from saekit.results.evaluation import EvaluationDocument, Metric
from saekit.results.refs import SaeRef, StoreRef

if TYPE_CHECKING:
    from saekit.sae import SAE
    from stores import ActivationStore

_DETAIL = ("per_class", "hist", "hist_centred", "density_hist", "timing_s", "ks", "grid", "log10_edges")


def _flatten(prefix: str, value: Any, out: dict[str, float]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in _DETAIL:
                _flatten(f"{prefix}.{k}", v, out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out[prefix] = float(value)


def _counts_samples(name: str) -> bool:
    """Whether the registered metric's figures count samples (per-sample pools) rather than rows."""
    return any(m.name == name and m.counts == "samples" for m in all_metrics())


def evaluation_document(result: JSONObject, sae_ref: SaeRef, store_ref: StoreRef | None) -> EvaluationDocument:
    split = result["split"]["name"]
    metrics: dict[str, Metric] = {}
    n_rows = result["metrics"].get("core", {}).get("n_rows")
    for name, res in result["metrics"].items():
        if name == "timing_s" or not isinstance(res, dict):
            continue
        if "skipped" in res:
            metrics[name] = Metric.skip(str(res["skipped"]), split=split)
            continue
        flat: dict[str, float] = {}
        _flatten(name, res, flat)
        n = res.get("n_samples") if _counts_samples(name) else n_rows
        for key, v in flat.items():
            metrics[key] = Metric(value=v if math.isfinite(v) else None, split=res.get("split", split),
                                  n=int(n) if isinstance(n, (int, float)) else None)
    return EvaluationDocument(sae=sae_ref, store=store_ref, metrics=metrics,
                              created=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def sae_ref(sae: SAE, path: str) -> SaeRef:
    from saekit.results.fingerprint import sae_fingerprint

    return SaeRef.of(sae.cfg, path=str(path), fingerprint=sae_fingerprint(sae))


def store_ref(source: ActivationStore, path: str, hook: str) -> StoreRef:
    from saekit.results.fingerprint import store_fingerprint

    attrs = getattr(source, "attrs", {}) or {}
    modality = str(attrs.get("dataset_modality", attrs.get("modality", "")))
    return StoreRef(path=str(path), fingerprint=store_fingerprint(source, hook), modality=modality, n_samples=int(getattr(source, "n_samples", 0)))
