"""A transcoder's target hook (an MLP's output) replaced in its model, against zero-ablating it:
saekit.eval.downstream_replace. Runs only on request (--downstream with --model and --data), in any suite."""
from __future__ import annotations

from typing import Any

from saekit.eval.metrics.downstream import spliced
from saekit.eval.registry import SUITE_NAMES, Metric, MetricCall


def _compute(call: MetricCall) -> dict[str, Any]:
    from saekit.eval.downstream_replace import evaluate_replacement

    return spliced(call, evaluate_replacement)


METRIC = Metric(
    name="downstream_replacement", compute=_compute,
    suites=tuple(s for s in SUITE_NAMES if s not in ("visaebench", "all")),
    inputs=("rows", "paired", "dataset"), counts="samples", order=81, on_request=True)
