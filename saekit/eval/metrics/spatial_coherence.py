"""Spatial coherence of patch latents (Moran's I): saekit.eval.spatial."""
from __future__ import annotations

from typing import Any

from saekit.eval.registry import Column, Metric, MetricCall
from saekit.eval.spatial import spatial_coherence


def _compute(call: MetricCall) -> dict[str, Any]:
    return spatial_coherence(call.rows, call.enc, seed=call.inp.seed)


METRIC = Metric(
    name="spatial_coherence", compute=_compute, suites=("vision", "visaebench"), inputs=("rows", "patch_grid"),
    counts="samples", order=30,
    columns=(Column("Moran's I", ("morans_i_mean",)), Column("Moran's I shuffled", ("shuffled_baseline_mean",))))
