"""Feature absorption on the first-letter task of a language model: saekit.eval.absorption."""
from __future__ import annotations

from typing import Any

from saekit.eval.absorption import feature_absorption
from saekit.eval.registry import Metric, MetricCall


def _compute(call: MetricCall) -> dict[str, Any]:
    if not call.inp.model:
        return {"skipped": "needs the SAE's language model (--model, e.g. offline:smollm2-135m)"}
    return feature_absorption(call.sae, call.inp.model, seed=call.inp.seed)


METRIC = Metric(
    name="feature_absorption", compute=_compute, suites=("text", "saebench"), inputs=("rows", "model"),
    counts="rows", order=50)
