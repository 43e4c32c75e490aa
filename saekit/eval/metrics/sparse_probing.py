"""Sparse probing of per-sample pooled latents against class labels: saekit.eval.probing.sparse_probing."""
from __future__ import annotations

from typing import Any

from saekit.eval.probing import sparse_probing
from saekit.eval.registry import Column, Metric, MetricCall


def _compute(call: MetricCall) -> dict[str, Any]:
    return sparse_probing(call.enc.pooled_z, call.enc.pooled_x, call.labels(), seed=call.inp.seed)


METRIC = Metric(
    name="sparse_probing", compute=_compute, suites=("vision", "text", "saebench"), inputs=("rows", "labels"),
    counts="samples", order=10,
    columns=(Column("probe acc k=1", ("acc", "1")), Column("probe acc k=5", ("acc", "5")),
             Column("probe acc raw", ("raw_acc",))))
