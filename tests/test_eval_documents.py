"""The typed documents of eval, compare, explain and training: round trips, and files of the layouts
written before the documents existed."""
from __future__ import annotations

import json

import pytest

from saekit.common.errors import SaekitError
from saekit.results import CompareDocument, ExplainRunDocument, MetricsLog, MetricsRecord, SweepDocument
from saekit.train.config import TrainConfig
from saekit.train.sweep import sweep_configs, sweep_document

_COMPARE_V0 = {"store": "s.h5", "hook": "h", "suite": "core",
               "split": {"name": "holdout", "fraction": 0.25, "salt": "t", "note": ""}, "n_rows": 40, "n_samples": 10,
               "saes": [{"name": "a", "path": "runs/a", "arch": "topk", "d_sae": 12, "k": 2,
                         "metrics": {"core": {"l0": 2.0, "fve": 0.5, "dead_frac": 0.0},
                                     "sparse_probing": {"skipped": "the store is not labelled"},
                                     "timing_s": {"encode": 0.1}}}],
               "stability": [{"a": "a", "b": "b", "skipped": "different widths"}]}


def test_compare_json_without_kind_loads_and_saves_as_version_1(tmp_path):
    (tmp_path / "compare.json").write_text(json.dumps(_COMPARE_V0))
    doc = CompareDocument.load(tmp_path)
    a = doc.saes[0]
    assert a.value("core", "fve") == 0.5 and a.value("core", "missing") is None
    assert a.skipped("sparse_probing") == "the store is not labelled" and a.value("sparse_probing", "acc") is None
    assert doc.stability[0].skipped == "different widths" and doc.stability[0].frac_matched is None
    doc.save(tmp_path / "again")
    raw = json.loads((tmp_path / "again" / "compare.json").read_text())
    assert raw["kind"] == "compare" and raw["format_version"] == 1
    assert raw["saes"][0]["metrics"] == _COMPARE_V0["saes"][0]["metrics"]
    assert CompareDocument.load(tmp_path / "again") == doc
    (tmp_path / "compare.json").write_text(json.dumps({**_COMPARE_V0, "n_rows": "many"}))
    with pytest.raises(SaekitError, match=r"compare.json\.n_rows: expected an integer"):
        CompareDocument.load(tmp_path)


def test_metrics_log_reads_every_record_and_drops_a_torn_last_line(tmp_path):
    rec = MetricsRecord(step=10, tokens=40960, lr=1e-4, loss=0.5, mse=0.01, fve=0.3, l0=32.0, dead_frac=0.0,
                        aux_loss=0.0, tokens_per_s=3000.0)
    later = MetricsRecord(**{**rec.__dict__, "step": 20, "fve": 0.4})
    assert MetricsLog.load(tmp_path).records == ()  # no log yet
    path = tmp_path / "metrics.jsonl"
    path.write_text(rec.dumps() + "\n" + later.dumps() + "\n" + later.dumps()[:20])
    log = MetricsLog.load(tmp_path)
    assert log.records == (rec, later) and log.last() == later
    assert json.loads(rec.dumps()) == {"step": 10, "tokens": 40960, "lr": 1e-4, "loss": 0.5, "mse": 0.01, "fve": 0.3,
                                       "l0": 32.0, "dead_frac": 0.0, "aux_loss": 0.0, "tokens_per_s": 3000.0}
    path.write_text(rec.dumps() + "\n{\"step\": 1}\n")
    with pytest.raises(SaekitError, match=r"metrics.jsonl:2: missing field 'tokens'"):
        MetricsLog.load(path)


def test_sweep_json_version_1_loads_and_the_document_lists_every_member(tmp_path):
    base = TrainConfig(hook="h", arch="topk", k=2, d_sae=24, tokens=1024, out=str(tmp_path / "sweep"),
                       sweep=("k=2,3",))
    doc = sweep_document(base, sweep_configs(base))
    assert [m.name for m in doc.members] == ["k2", "k3"] and [m.k for m in doc.members] == [2, 3]
    doc.save(tmp_path)
    assert SweepDocument.load(tmp_path) == doc
    v1 = {"version": 1, "sweep": ["k=2,3"], "members": [
        {"name": m.name, "out": m.out, "arch": m.arch, "k": m.k, "expansion": m.expansion, "d_sae": m.d_sae,
         "lr": m.lr, "l1": m.l1} for m in doc.members]}
    (tmp_path / "sweep.json").write_text(json.dumps(v1))
    assert SweepDocument.load(tmp_path) == doc


def test_explain_run_json_without_kind_loads_and_names_changed_settings(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"fingerprint": {"sae": "a", "seed": 0}, "config": {"out": "o"}}))
    run = ExplainRunDocument.load(tmp_path)
    assert run.outcome is None and run.changed_settings({"sae": "a", "seed": 1}) == ["seed"]
    assert run.changed_settings({"sae": "a", "seed": 0}) == []
    with pytest.raises(SaekitError, match="holds no explain run"):
        ExplainRunDocument.load(tmp_path / "nothing")


def test_progress_log_reads_both_line_layouts_and_skips_what_is_no_record(tmp_path):
    from saekit.autointerp.progress_log import ProgressLog
    from saekit.results.explain_run import ExplainedLatent
    from saekit.results.names import Explanation, Judgement

    det = {"balanced_accuracy": 0.75, "auc": None, "n_positive": 2, "n_negative": 2, "judged": [],
           "precision": 1.0, "recall": 0.5, "f1": 2 / 3}
    flat = {"latent": 3, "explanation": "cats", "window_freq": 0.1, "explained_on": [5, 6], "detection": det}
    nested = ExplainedLatent(latent=4, explanation=Explanation(text="dogs", client="c", explained_on=(7,),
                                                               detection=Judgement(**{**det, "judged": ()})))
    log = ProgressLog(tmp_path / "progress.jsonl")
    log.path.write_text(json.dumps(flat) + "\n[1, 2]\n{\"latent\": 9}\n")
    log.append(nested)
    done = log.load("old-client")
    assert sorted(done) == [3, 4] and done[4] == nested
    old = done[3].explanation
    assert (old.text, old.client, old.explained_on) == ("cats", "old-client", (5, 6))
    assert old.detection.balanced_accuracy == 0.75
