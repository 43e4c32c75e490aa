"""Every command is one library function: the Python call and the generated CLI give the same result
document on tiny random models (store, capture, eval, audit, artifacts, steer, dashboard)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import concept_benchmark as cb
from saekit.cli.main import main

HOOK = "blocks.1.hook_resid_post"


def _ok(rc: int, capsys) -> str:
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    return captured.out


def _without(doc: dict, *keys: str) -> dict:
    return {k: v for k, v in doc.items() if k not in keys}


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    """A labelled image folder, a random:vit store of it and a random SAE on that store."""
    from saekit.capture import CaptureConfig, capture
    from saekit.sae import SAE, SAEConfig

    root = tmp_path_factory.mktemp("vit")
    for s in cb.make_dataset(2, 4, seed=0):
        (root / "images" / s.label).mkdir(parents=True, exist_ok=True)
        s.image.save(root / "images" / s.label / f"{s.id:03d}.png")
    capture(CaptureConfig(model="random:vit", data=str(root / "images"), hooks=(HOOK,), out=str(root / "store.h5"),
                          device="cpu", progress=False))
    SAE.create(SAEConfig(arch="relu", d_in=64, d_sae=32, hook=HOOK, model_id="random:vit"), seed=1).save(root / "sae")
    return root


def test_store_info_and_verify(vit, capsys):
    from saekit import StoreInfoConfig, StoreVerifyConfig, store_info, store_verify

    store = str(vit / "store.h5")
    out = _ok(main(["store", "info", store, "--json"]), capsys)
    assert json.loads(out) == json.loads(json.dumps(store_info(StoreInfoConfig(store)).to_json(), default=str))
    info = store_info(StoreInfoConfig(store, stats=True))
    assert info.metadata.model_id == "random:vit" and "stats" in info.info["hooks"][HOOK]
    check = store_verify(StoreVerifyConfig(store))
    assert check.complete and check.n_samples == 8
    assert _ok(main(["store", "verify", store]), capsys).startswith(f"OK {store}: complete, 8 samples")


def test_capture(vit, tmp_path, capsys):
    from saekit.capture import CaptureConfig, capture
    from saekit.results import StoreMetadata
    from stores import ActivationStore

    data = str(vit / "images")
    res = capture(CaptureConfig(model="random:vit", data=data, hooks=(HOOK,), out=str(tmp_path / "py.h5"),
                                tokens="patches", limit=6, device="cpu", progress=False))
    out = _ok(main(["capture", "--model", "random:vit", "--data", data, "--hook", HOOK, "--out", str(tmp_path / "cli.h5"),
                    "--tokens", "patches", "--limit", "6", "--device", "cpu", "--no-progress"]), capsys)
    assert out.startswith(f"wrote {tmp_path / 'cli.h5'} (6 samples; {HOOK}: {res.rows[HOOK]} rows)")
    with ActivationStore.open(res.path) as a, ActivationStore.open(tmp_path / "cli.h5") as b:
        assert StoreMetadata.from_store(a) == StoreMetadata.from_store(b)
        np.testing.assert_array_equal(a.read_rows(HOOK, 0, a.n_rows(HOOK)), b.read_rows(HOOK, 0, b.n_rows(HOOK)))


def test_capture_list_hooks_needs_only_the_model(capsys):
    assert "blocks.2.hook_resid_post" in _ok(main(["capture", "--model", "random:vit", "--list-hooks"]), capsys)
    assert main(["capture", "--model", "random:vit"]) == 2
    assert capsys.readouterr().err.strip() == ("saekit capture: error: missing --data, --hook, --out "
                                               "(only --list-hooks works without them)")


def test_eval(vit, tmp_path, capsys):
    import saekit
    from saekit.results import EvaluationDocument

    cfg = saekit.EvalConfig(sae=str(vit / "sae"), store=str(vit / "store.h5"), device="cpu", out=str(tmp_path / "py"))
    res = saekit.eval(cfg)
    out = _ok(main(["eval", "--sae", cfg.sae, "--store", cfg.store, "--device", "cpu", "--out", str(tmp_path / "cli"),
                    "--json"]), capsys)
    cli, py = json.loads(out), json.loads(json.dumps(res.to_json()))
    assert _without(cli["metrics"], "timing_s") == _without(py["metrics"], "timing_s")
    assert _without(cli, "metrics") == _without(py, "metrics")
    cli_doc = EvaluationDocument.load(tmp_path / "cli")
    assert cli_doc.metrics == res.document.metrics == EvaluationDocument.load(tmp_path / "py").metrics
    assert res.document.value("core.l0") == res.details["metrics"]["core"]["l0"]
    assert "core.l0" in _ok(main(["eval", "--sae", cfg.sae, "--store", cfg.store, "--device", "cpu"]), capsys)


def test_audit(tmp_path, capsys):
    from saekit import AuditConfig, audit
    from saekit.results import AuditDocument
    from saekit.sae import SAE, SAEConfig

    for s in cb.make_dataset(2, 6, seed=0):
        (tmp_path / "data" / s.label).mkdir(parents=True, exist_ok=True)
        s.image.save(tmp_path / "data" / s.label / f"{s.id:03d}.png")
    SAE.create(SAEConfig(arch="relu", d_in=48, d_sae=16, hook=HOOK, model_id="random:clip"), seed=1).save(tmp_path / "sae")
    args = dict(model="random:clip", data=str(tmp_path / "data"), sae=str(tmp_path / "sae"), n_per_class=2, top_k=3,
                active_threshold=0.0, test_frac=0.0, vocab="none", device="cpu")
    doc = audit(AuditConfig(out=str(tmp_path / "py"), **args))
    out = _ok(main(["audit", "--model", "random:clip", "--data", args["data"], "--sae", args["sae"], "--out",
                    str(tmp_path / "cli"), "--per-class", "2", "--top-k", "3", "--active-threshold", "0",
                    "--test-frac", "0", "--vocab", "none", "--device", "cpu", "--json"]), capsys)
    assert doc == AuditDocument.load(tmp_path / "py")
    assert _without(json.loads(out), "timings_s") == _without(doc.to_json(), "timings_s")
    assert "valid latents" in _ok(main(["audit", "--model", "random:clip", "--data", args["data"], "--sae", args["sae"],
                                        "--out", str(tmp_path / "cli2"), "--per-class", "2", "--top-k", "3",
                                        "--test-frac", "0", "--vocab", "none", "--device", "cpu"]), capsys)


def test_artifacts(vit, tmp_path, capsys):
    from saekit import ArtifactConfig, ArtifactsConfig, artifacts
    from saekit.results import ArtifactsDocument

    data = str(vit / "images")
    doc = artifacts(ArtifactsConfig(model="random:vit", data=data, out=str(tmp_path / "py"), limit=4, registers=False,
                                    device="cpu", method=ArtifactConfig(min_ratio=2.0, batch_size=2)))
    out = _ok(main(["artifacts", "--model", "random:vit", "--data", data, "--out", str(tmp_path / "cli"), "--limit", "4",
                    "--no-registers", "--min-ratio", "2", "--batch-size", "2", "--device", "cpu", "--json"]), capsys)
    assert json.loads(out) == doc.to_json() == ArtifactsDocument.load(tmp_path / "cli").to_json()
    assert doc.params["min_ratio"] == 2.0 and doc.register_neurons == ()


def test_steer(tmp_path, capsys):
    from saekit import SteerConfig, steer
    from saekit.results import SteeringDocument
    from saekit.sae import SAE, SAEConfig

    hook = "blocks.0.hook_resid_post"
    SAE.create(SAEConfig(arch="relu", d_in=64, d_sae=16, hook=hook), seed=0).save(tmp_path / "sae")
    doc = steer(SteerConfig(model="random:gpt2", sae=str(tmp_path / "sae"), latent=2, out=str(tmp_path / "py"),
                            mode="add", value=1.0, strengths=(0, 4), prompt="the cat", max_new_tokens=2, device="cpu"))
    out = _ok(main(["steer", "--model", "random:gpt2", "--sae", str(tmp_path / "sae"), "--latent", "2", "--mode", "add",
                    "--value", "1", "--strengths", "0,4", "--prompt", "the cat", "--max-new-tokens", "2",
                    "--out", str(tmp_path / "cli"), "--device", "cpu"]), capsys)
    assert SteeringDocument.load(tmp_path / "cli") == doc and [r.strength for r in doc.rows] == [0.0, 4.0]
    assert f"latent 2 (add) at {hook}" in out and out.strip().endswith(f"wrote {tmp_path / 'cli' / 'steer.json'}")
    assert main(["steer", "--model", "random:gpt2", "--sae", str(tmp_path / "sae"), "--latent", "2",
                 "--out", str(tmp_path / "x")]) == 2
    assert "give one of --prompt" in capsys.readouterr().err


def test_dashboard_check(vit, capsys):
    from dashboards.cli import DashboardConfig, dashboard

    inputs = dashboard(DashboardConfig(sae=str(vit / "sae"), store=str(vit / "store.h5"), check=True))
    py = capsys.readouterr().out
    assert inputs.summaries.d_sae == 32 and "loaded: model random:vit (on first use)" in py
    assert _ok(main(["dashboard", "--sae", str(vit / "sae"), "--store", str(vit / "store.h5"), "--check"]), capsys) == py


def test_every_command_is_a_saekit_function_named_like_it():
    import types

    import saekit
    from saekit.commands import COMMANDS, resolve

    for name, command in COMMANDS.items():
        if command.requires == "dashboards":
            continue  # a layer above saekit: dashboards.cli.dashboard
        assert command.summary == "" or callable(resolve(command.summary))
        public = getattr(saekit, name.replace(" ", "_"))
        if isinstance(public, types.ModuleType):  # saekit.train / capture / eval: packages callable as their command
            assert callable(public), name
        else:
            assert public is resolve(command.function), name
