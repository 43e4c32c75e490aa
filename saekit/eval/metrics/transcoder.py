"""Transcoders and crosscoders: FVE of the target on held-out rows, per written hook: saekit.eval.transcoder."""
from __future__ import annotations

from typing import Any

from saekit.eval.registry import Column, Metric, MetricCall
from saekit.eval.transcoder import transcoder_metrics


def _compute(call: MetricCall) -> dict[str, Any]:
    widths = [call.inp.source.d(h) for h in call.sae.cfg.output_hooks]
    return transcoder_metrics(call.sae, call.rows, widths)


METRIC = Metric(
    name="transcoder", compute=_compute, suites=("core", "vision", "text", "saebench"), inputs=("rows", "paired"),
    counts="rows", order=1, columns=(Column("L0", ("l0",)), Column("target FVE", ("fve",)),
                                     Column("dead", ("dead_frac",)), Column("dense", ("dense_frac",))))
