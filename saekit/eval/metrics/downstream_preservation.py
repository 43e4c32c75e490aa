"""Downstream preservation: class information kept by the reconstruction. ViSAEBench's M3 (one stratified
split, saekit.eval.preservation) and, beside it, saekit's own cross-validated estimate (`cv_*` keys,
saekit.eval.probing.downstream_preservation: every labelled sample is tested once)."""
from __future__ import annotations

from typing import Any

from saekit.eval.preservation import SEED, visaebench_preservation
from saekit.eval.probing import downstream_preservation
from saekit.eval.registry import Column, Metric, MetricCall


def _compute(call: MetricCall) -> dict[str, Any]:
    enc, labels = call.enc, call.labels()
    cv = downstream_preservation(enc.pooled_x, enc.pooled_xhat, labels, seed=call.inp.seed)
    m3 = visaebench_preservation(enc.pooled_x, enc.pooled_xhat, labels, seed=SEED + call.inp.seed)
    return {**m3, "cv_acc_raw": cv["acc_raw"], "cv_acc_reconstruction": cv["acc_reconstruction"],
            "cv_preserved": cv["preserved"], "cv_n_samples": cv["n_samples"], "majority_baseline": cv["majority_baseline"]}


METRIC = Metric(
    name="downstream_preservation", compute=_compute, suites=("vision", "text", "visaebench"),
    inputs=("rows", "labels"), counts="samples", order=20,
    reference="ViSAEBench 0.1.0 M3 (preservation_ratio, accuracy_*); cv_*: saekit's own",
    columns=(Column("M3 preservation", ("preservation_ratio",)), Column("M3 accuracy gap", ("accuracy_gap",)),
             Column("preserved acc (CV)", ("cv_preserved",))))
