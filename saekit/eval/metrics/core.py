"""Core reconstruction metrics (L0, FVE, MSE, cosine, dead and dense fractions): saekit.eval.core."""
from __future__ import annotations

from typing import Any

from saekit.eval.core import core_metrics
from saekit.eval.registry import Column, Metric, MetricCall


def _compute(call: MetricCall) -> dict[str, Any]:
    return core_metrics(call.enc, call.rows.n_rows, call.sae.cfg.d_in)


METRIC = Metric(
    name="core", compute=_compute, suites=("core", "vision", "text", "saebench"), inputs=("rows",), counts="rows",
    order=0, columns=(Column("L0", ("l0",)), Column("FVE", ("fve",)), Column("FVE/token", ("fve_per_token",)),
                      Column("dead", ("dead_frac",)), Column("dense", ("dense_frac",))))
