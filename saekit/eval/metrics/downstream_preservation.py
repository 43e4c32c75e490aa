"""Downstream preservation: class information kept by the reconstruction (saekit.eval.probing)."""
from __future__ import annotations

from typing import Any

from saekit.eval.probing import downstream_preservation
from saekit.eval.registry import Column, Metric, MetricCall


def _compute(call: MetricCall) -> dict[str, Any]:
    return downstream_preservation(call.enc.pooled_x, call.enc.pooled_xhat, call.labels(), seed=call.inp.seed)


METRIC = Metric(
    name="downstream_preservation", compute=_compute, suites=("vision", "text", "visaebench"),
    inputs=("rows", "labels"), counts="samples", order=20, columns=(Column("preserved acc", ("preserved",)),))
