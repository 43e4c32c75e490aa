"""What adding something to saekit takes, shown by adding it: a new evaluation metric is one file (a
module beside saekit/eval/metrics/'s, found by the registry and run by `saekit eval` and listed in
`saekit compare`), and a new field of an output file is one line of its result document (saved,
loaded, older files read with its default, described in docs/formats.md by the generator). A new
SAE architecture (tests/test_new_architecture.py) and a new dashboard view
(tests/test_dashboard_new_view.py) are shown beside these."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

import saekit.eval.metrics as metrics_package
from saekit.results import Document
from saekit.eval.registry import all_metrics

METRIC_FILE = '''
"""Mean active latents per row, the throw-away metric of tests/test_house_extension.py."""
from saekit.eval.registry import Column, Metric, MetricCall


def _compute(call: MetricCall) -> dict:
    return {"mean_active": float((call.enc.val > 0).sum(axis=1).mean())}


METRIC = Metric(name="house_mean_active", compute=_compute, suites=("core",), inputs=("rows",), counts="rows",
                order=999, columns=(Column("mean active", ("mean_active",)),))
'''


@pytest.fixture
def one_more_metric_file(tmp_path, monkeypatch):
    """The new metric as a file on the metrics package's path (where a contributor would add it)."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "house_mean_active.py").write_text(METRIC_FILE)
    monkeypatch.setattr(metrics_package, "__path__", [*metrics_package.__path__, str(folder)])
    all_metrics.cache_clear()
    yield
    all_metrics.cache_clear()


def _tiny_store_and_sae(tmp_path: Path) -> tuple[Path, Path]:
    from saekit.sae import SAE, SAEConfig
    from stores import ActivationStore

    X = np.random.default_rng(0).standard_normal((200, 12)).astype(np.float32)
    w = ActivationStore.create(tmp_path / "s.h5", hooks={"h": 12}, dtype="float32")
    w.add_samples(np.arange(200, dtype=np.int64), [{"source": str(i)} for i in range(200)])
    w.append("h", X, np.arange(200, dtype=np.int64), np.zeros(200, np.int32))
    w.close()
    SAE.create(SAEConfig(arch="topk", d_in=12, d_sae=40, k=3, hook="h")).save(tmp_path / "sae")
    return tmp_path / "s.h5", tmp_path / "sae"


def test_a_new_metric_is_one_file(one_more_metric_file, tmp_path, capsys):
    from saekit.cli.main import main
    from saekit.eval.compare_report import columns
    from saekit.eval.registry import get_metric

    assert get_metric("house_mean_active").suites == ("core",)
    store, sae = _tiny_store_and_sae(tmp_path)
    assert main(["eval", "--sae", str(sae), "--store", str(store), "--suite", "core", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["metrics"]["house_mean_active"]["mean_active"] == pytest.approx(3.0)
    assert ("mean active", "house_mean_active", ("mean_active",)) in columns()


def test_without_the_file_there_is_no_such_metric():
    all_metrics.cache_clear()
    assert "house_mean_active" not in {m.name for m in all_metrics()}


#: a document with one new field (``colour``), as a contributor would add it to saekit/results/<doc>.py
@dataclasses.dataclass(frozen=True)
class LatentNameWithColour:
    latent: int                   # the latent's index
    colour: str = "grey"          # the new field: the colour the dashboard draws it in


@dataclasses.dataclass(frozen=True)
class Doc(Document, kind="house", filename="house.json", version=1, command="name",
          what="a throw-away document"):
    latents: tuple[LatentNameWithColour, ...]  # one entry per named latent


def test_a_new_output_field_is_one_line_of_its_document(tmp_path):
    from saekit.results.formats import describe

    Doc(latents=(LatentNameWithColour(3, "red"),)).save(tmp_path)
    assert Doc.load(tmp_path).latents[0].colour == "red"
    old = json.loads((tmp_path / "house.json").read_text())
    del old["latents"][0]["colour"]  # a file written before the field existed
    (tmp_path / "house.json").write_text(json.dumps(old))
    assert Doc.load(tmp_path).latents[0].colour == "grey"
    described = "\n".join(describe(LatentNameWithColour, set()))
    assert "| `colour` (optional) | string |" in described and "the colour the dashboard draws it in" in described
