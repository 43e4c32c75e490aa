"""The autointerp column: explanation scores from a names directory (saekit.eval.autointerp)."""
from __future__ import annotations

from typing import Any

from saekit.eval.autointerp import autointerp_scores
from saekit.eval.registry import Column, Metric, MetricCall
from saekit.results.fingerprint import sae_fingerprint


def _compute(call: MetricCall) -> dict[str, Any]:
    names = call.inp.names
    return autointerp_scores(names, sae_fingerprint(call.sae) if names else None)


METRIC = Metric(
    name="autointerp", compute=_compute, suites=("vision", "text"), inputs=("rows", "names"), counts="rows", order=70,
    columns=(Column("autointerp", ("mean",)),))
