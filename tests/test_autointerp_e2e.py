"""End to end over real HTTP: a local OpenAI-compatible server backed by the offline SmolLM2 (the
local transformers backend), and `saekit explain` explaining and scoring latents of a small planted
SAE through it with the `openai` client. SmolLM2-135M is a weak judge: the test checks the plumbing
(explanations come back, scores are computed on held-out windows, tokens counted, a re-run is free),
not the quality of its explanations."""
from __future__ import annotations

import json

import pytest

from autointerp_fixtures import planted_sae, text_store
from openai_server import OpenAIServer
from saekit.cli.main import main


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_explain_through_a_local_openai_server_backed_by_smollm2(tmp_path, capfd, monkeypatch,
                                                                 one_torch_thread):
    from saekit.autointerp.clients import loading_bars
    from saekit.autointerp.local_client import LocalChatClient

    store, _ = text_store(tmp_path)
    sae = planted_sae(tmp_path)
    with loading_bars(False):  # what --no-progress does around model loading
        smol = LocalChatClient.load("offline:smollm2-135m")
    assert "%|" not in capfd.readouterr().err
    monkeypatch.setenv("SAEKIT_API_KEY", "sk-local-test")
    argv = ["explain", "--sae", str(sae), "--store", str(store), "--client", "openai:smollm2-135m",
            "--out", str(tmp_path / "out"), "--latents", "0", "--size", "small", "--n-explain", "4", "--n-score", "2",
            "--n-negative", "2", "--score-batch", "1", "--max-tokens", "16", "--malformed-retries", "4",
            "--no-progress"]
    with OpenAIServer(smol.complete, api_key="sk-local-test", model="smollm2-135m") as srv:
        assert main(argv + ["--endpoint", srv.url]) == 0
        first = srv.n_answered
    assert first >= 1 + 4 + 2  # explain, 4 detection and 2 fuzzing judgements at least
    doc = json.loads((tmp_path / "out" / "names.json").read_text())
    by = {e["latent"]: e for e in doc["latents"]}
    assert sorted(by) == [0]
    for e in by.values():
        ex = e["explanation"]
        assert ex["text"].strip() and ex["client"] == "openai:smollm2-135m"
        det = ex["detection"]
        assert det["n_positive"] == 2 and det["n_negative"] == 2 and len(det["judged"]) == 4
        assert 0.0 <= det["balanced_accuracy"] <= 1.0
        assert det["auc"] is None or 0.0 <= det["auc"] <= 1.0  # log-probabilities pass through when SmolLM2 answers a list
        assert len(ex["explained_on"]) == 4
        assert ex["fuzzing"] is not None and len(ex["fuzzing"]["judged"]) == 4  # 2 true-marked + 2 randomly marked
    tokens = doc["explanations"]["tokens"]
    assert tokens["prompt_tokens"] > 100 and tokens["completion_tokens"] > 0
    # the same command again, resumed: every latent is done, no request reaches the server
    with OpenAIServer(smol.complete, api_key="sk-local-test", model="smollm2-135m") as srv:
        assert main(argv + ["--endpoint", srv.url, "--resume"]) == 0
        assert srv.n_requests == 0
    assert "(1 resumed)" in capfd.readouterr().out
