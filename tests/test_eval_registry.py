"""The metric registry: every file in saekit/eval/metrics/ is one registered metric, the suites come from
the metrics' declarations, and the compare columns and document counts follow them."""
from __future__ import annotations

from pathlib import Path

import pytest

from saekit.common.errors import SaekitError
from saekit.eval.config import SUITE_NAMES
from saekit.eval.registry import Column, Metric, all_metrics, get_metric, suite_metrics, suites

ROOT = Path(__file__).resolve().parents[1]


def test_every_metric_file_registers_one_metric_named_after_it():
    files = sorted(p.stem for p in (ROOT / "saekit/eval/metrics").glob("*.py") if p.stem != "__init__")
    assert sorted(m.name for m in all_metrics()) == files


def test_suites_are_declared_by_the_metrics():
    s = suites()
    assert set(s) == set(SUITE_NAMES)
    # transcoders and crosscoders run "transcoder" and "downstream_replacement" instead (saekit.eval.suite.applicable)
    assert s["core"] == ("core", "transcoder", "downstream", "downstream_replacement")
    assert s["saebench"] == ("core", "transcoder", "sparse_probing", "feature_absorption", "downstream",
                             "downstream_replacement")
    assert s["visaebench"] == ("downstream_preservation", "spatial_coherence")
    assert s["vision"] == ("core", "transcoder", "sparse_probing", "downstream_preservation", "spatial_coherence",
                           "monosemanticity", "stability", "autointerp", "downstream", "downstream_replacement")
    assert set(s["all"]) == {m.name for m in all_metrics()}
    assert all(s[name] for name in SUITE_NAMES)
    with pytest.raises(SaekitError, match="--suite"):
        suite_metrics("nope")
    with pytest.raises(SaekitError, match="unknown metric"):
        get_metric("nope")


def test_data_metrics_and_counts_follow_the_declared_inputs():
    data = {m.name for m in all_metrics() if m.data_only}
    assert data == {"core", "transcoder", "sparse_probing", "downstream_preservation", "spatial_coherence"}
    per_sample = {m.name for m in all_metrics() if m.counts == "samples"}
    assert {"sparse_probing", "downstream_preservation", "spatial_coherence", "monosemanticity"} <= per_sample
    assert get_metric("downstream").on_request and get_metric("downstream_replacement").on_request


def test_compare_columns_come_from_the_metrics():
    from saekit.eval.compare_report import columns

    cols = columns()
    assert cols[0] == ("L0", "core", ("l0",))
    assert [c for c in cols if c[1] == "sparse_probing"][0] == ("probe acc k=1", "sparse_probing", ("acc", "1"))
    assert {m for _, m, _ in cols} <= {m.name for m in all_metrics()}


def test_a_metric_with_unknown_inputs_or_suites_is_refused():
    def compute(call):
        return {}

    with pytest.raises(SaekitError, match="unknown inputs"):
        Metric("x", compute, suites=("vision",), inputs=("rows", "telepathy"), counts="rows", order=1)
    with pytest.raises(SaekitError, match="unknown inputs or suites"):
        Metric("x", compute, suites=("nope",), inputs=("rows",), counts="rows", order=1)
    ok = Metric("x", compute, suites=("vision",), inputs=("rows", "labels"), counts="samples", order=1,
                columns=(Column("x", ("v",)),))
    assert ok.data_only
