"""Stability across SAEs: Hungarian matching of decoder directions (saekit.eval.stability).

`saekit compare` measures it for every pair of its SAEs instead (metrics that need a second SAE are
left out of its per-SAE pass)."""
from __future__ import annotations

from typing import Any

from saekit.eval.registry import Metric, MetricCall
from saekit.eval.stability import decoder_stability


def _compute(call: MetricCall) -> dict[str, Any]:
    if call.inp.reference is None:
        return {"skipped": "needs a second SAE (--reference-sae, or several SAEs in `saekit compare`)"}
    return decoder_stability(call.sae, call.inp.reference)


METRIC = Metric(
    name="stability", compute=_compute, suites=("vision", "text"), inputs=("rows", "second_sae"), counts="rows",
    order=60)
