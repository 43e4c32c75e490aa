"""The main job end to end: every step runs, the report is written, a second run reuses it all."""
from __future__ import annotations

import json

import pytest

from saekit.cli.main import main
from saekit.quickstart import QuickstartConfig, run_quickstart
from saekit.results import EvaluationDocument, NamesDocument


def _tiny(out, **kw) -> QuickstartConfig:
    base = dict(out=str(out), model="random:vit", data="bundled:clipart", hook="blocks.1.hook_resid_post", limit=60,
                expansion=4.0, k=8, train_tokens=30_000, batch_size=512, device="cpu", progress=False)
    base.update(kw)
    return QuickstartConfig(**base)


def test_quickstart_runs_every_step_then_reuses_them(tmp_path):
    report, results = run_quickstart(_tiny(tmp_path))
    assert [r.name for r in results] == ["capture", "train", "eval", "align", "name", "report"]
    assert not any(r.reused for r in results)
    html = report.read_text()
    for section in ("Training curves", "Feature density", "Named features", "saekit dashboard --sae"):
        assert section in html
    assert (report.parent / "plotly.min.js").stat().st_size > 1_000_000  # offline: no CDN
    doc = EvaluationDocument.load(tmp_path)
    assert doc.metrics["core.fve"].split == "holdout"  # the samples the trainer kept out
    assert doc.value("core.l0") <= 8 + 1e-6 and 0 < doc.value("core.fve") <= 1
    assert "held-out samples" in html
    names = NamesDocument.load(tmp_path / "names")
    assert names.latents and all(entry.name for entry in names.latents)

    _, again = run_quickstart(_tiny(tmp_path))
    assert all(r.reused for r in again[:-1]), [(r.name, r.reused) for r in again]


def test_changing_a_step_reruns_it_and_everything_after(tmp_path):
    run_quickstart(_tiny(tmp_path))
    _, results = run_quickstart(_tiny(tmp_path, k=4))
    reused = {r.name: r.reused for r in results}
    assert reused["capture"] and not reused["train"] and not reused["name"]
    assert EvaluationDocument.load(tmp_path).value("core.l0") <= 4 + 1e-6


def test_cli_prints_report_and_dashboard_command(tmp_path, capsys):
    code = main(["quickstart", "--out", str(tmp_path), "--model", "random:vit", "--hook", "blocks.1.hook_resid_post",
                 "--limit", "40", "--expansion", "2", "--k", "4", "--train-tokens", "10000", "--batch-size", "256",
                 "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "report: " in out and "dashboard: saekit dashboard --sae" in out


def test_cli_bad_input_exits_2(tmp_path, capsys):
    code = main(["quickstart", "--out", str(tmp_path), "--model", "random:nope", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "random:nope" in err[0]


@pytest.mark.slow
def test_quickstart_on_the_real_default_model(tmp_path):
    report, results = run_quickstart(QuickstartConfig(out=str(tmp_path), limit=32, train_tokens=20_000, expansion=2,
                                                      batch_size=1024, progress=False, device="cpu"))
    assert report.exists()
    assert EvaluationDocument.load(tmp_path).value("core.fve") > 0.3


def test_quickstart_compare_k_adds_a_comparison_on_held_out_rows(tmp_path):
    report, results = run_quickstart(_tiny(tmp_path, compare_k=(4,), limit=80))
    assert "compare" in [r.name for r in results]
    res = json.loads((tmp_path / "compare" / "compare.json").read_text())
    assert [e["name"] for e in res["saes"]] == ["k=8", "k=4"] and res["split"]["name"] == "holdout"
    assert res["saes"][1]["metrics"]["core"]["l0"] <= 4 + 1e-6
    html = report.read_text()
    assert "Comparison" in html and "full comparison report" in html
