"""A local OpenAI-compatible server judging by a known rule gives, through the whole `saekit explain`
command with default settings, the scores that rule implies.

The planted latents fire exactly on 'cat', 'dog' and 'owl'. The server explains a latent by its
marked word X and judges: detection, "yes" when the window holds X or the next planted word Y (so
windows with Y are false positives); fuzzing, "yes" when every marked span is X or Y. Its P(yes),
sent as token log-probabilities, is 0.9 for X, 0.6 for Y only, 0.1 otherwise. The expected scores
are worked out here from windows cut independently of saekit."""
from __future__ import annotations

import json
import re

import pytest

from autointerp_fixtures import PLANTED, ScriptedClient, planted_sae, text_store, windows_of
from openai_server import OpenAIServer
from saekit.cli.main import main

NEXT = {w: PLANTED[(i + 1) % len(PLANTED)] for i, w in enumerate(PLANTED)}


def _has(word: str, text: str) -> bool:
    return re.search(rf"\b{word}\b", text) is not None


def _rule_client() -> ScriptedClient:
    def judge(kind, expl, ex):
        x = expl.split()[-1]
        if kind == "detection":
            return _has(x, ex) or _has(NEXT[x], ex)
        marked = re.findall(r"<<(.*?)>>", ex)
        return bool(marked) and all(m.strip() in (x, NEXT[x]) for m in marked)

    def confidence(kind, expl, ex):
        x = expl.split()[-1]
        return 0.9 if _has(x, ex) else 0.6 if _has(NEXT[x], ex) else 0.1

    return ScriptedClient("rule", judge, lambda spans: "the word " + max(set(spans), key=spans.count), confidence)


def _ba(verdicts, truth):
    pos = [v for v, t in zip(verdicts, truth) if t]
    neg = [v for v, t in zip(verdicts, truth) if not t]
    return (sum(pos) / len(pos) + sum(not v for v in neg) / len(neg)) / 2


@pytest.fixture
def planted(tmp_path):
    store, texts = text_store(tmp_path, n=400)
    return planted_sae(tmp_path), store, texts


def _argv(sae, store, out, url, *extra):
    return ["explain", "--sae", str(sae), "--store", str(store), "--client", "openai:rule", "--endpoint", url,
            "--out", str(out), "--no-progress", *extra]


def test_a_rule_judge_gets_the_scores_its_rule_implies(tmp_path, planted, capsys):
    sae, store, texts = planted
    windows: dict[tuple[int, int], str] = {}  # (sample id, start) -> text
    seen: dict[int, int] = {}
    for sid, text in windows_of(texts):
        windows[(sid, 32 * seen.get(sid, 0))] = text
        seen[sid] = seen.get(sid, 0) + 1
    with OpenAIServer(_rule_client().complete) as srv:
        assert main(_argv(sae, store, tmp_path / "out", srv.url)) == 0
        assert all(b.get("logprobs") for b in srv.bodies if "Explanation:" in json.dumps(b["messages"][-1]))
    doc = json.loads((tmp_path / "out" / "names.json").read_text())
    assert sorted(e["latent"] for e in doc["latents"]) == [0, 1, 2]
    for e in doc["latents"]:
        x = PLANTED[e["latent"]]
        ex = e["explanation"]
        assert ex["text"] == f"the word {x}"
        det = ex["detection"]
        assert det["n_negative"] == 50 and det["n_positive"] == 50
        for j in det["judged"]:  # the window judged is the window cut here, and its truth is the planted word
            assert j["shown"] == " ".join(windows[(j["sample_id"], j["start"])].split())
            assert j["truth"] == _has(x, j["shown"])
        truth = [j["truth"] for j in det["judged"]]
        said = [_has(x, j["shown"]) or _has(NEXT[x], j["shown"]) for j in det["judged"]]
        assert det["balanced_accuracy"] == pytest.approx(_ba(said, truth))
        n_fp = sum(s and not t for s, t in zip(said, truth))
        assert n_fp > 0 and det["balanced_accuracy"] == pytest.approx(1 - n_fp / 50 / 2)
        assert det["precision"] == pytest.approx(50 / (50 + n_fp)) and det["recall"] == 1.0
        assert det["auc"] == 1.0  # X windows at 0.9 outrank every non-activating window (0.6 or 0.1)
        fuz = ex["fuzzing"]
        said = [bool(m) and all(s.strip() in (x, NEXT[x]) for s in m)
                for m in (re.findall(r"<<(.*?)>>", j["shown"]) for j in fuz["judged"])]
        assert fuz["balanced_accuracy"] == pytest.approx(_ba(said, [j["truth"] for j in fuz["judged"]]))
    out = capsys.readouterr().out
    assert "explained 3 latents" in out and "3 with a detection score" in out


@pytest.mark.parametrize("logprobs", [False, "reject"])
def test_without_logprobs_there_is_no_auc(tmp_path, planted, logprobs):
    sae, store, _ = planted
    with OpenAIServer(_rule_client().complete, logprobs=logprobs) as srv:
        assert main(_argv(sae, store, tmp_path / "out", srv.url, "--size", "small", "--latents", "0")) == 0
        if logprobs == "reject":  # turned down once, then never asked for again
            assert sum(bool(b.get("logprobs")) for b in srv.bodies) == 1
    det = json.loads((tmp_path / "out" / "names.json").read_text())["latents"][0]["explanation"]["detection"]
    assert det["auc"] is None and det["balanced_accuracy"] is not None
    assert all(j["probability"] is None for j in det["judged"])


def test_dry_run_counts_what_the_run_sends_and_writes_nothing(tmp_path, planted, capsys):
    sae, store, _ = planted
    with OpenAIServer(_rule_client().complete) as srv:
        assert main(_argv(sae, store, tmp_path / "dry", srv.url, "--dry-run")) == 0
        assert srv.n_requests == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    m = re.search(r"dry run: 3 latents of 800 windows would cost (\d+) calls, about (\d+) prompt tokens", line)
    assert m, line
    assert not (tmp_path / "dry").exists()
    with OpenAIServer(_rule_client().complete) as srv:
        assert main(_argv(sae, store, tmp_path / "out", srv.url)) == 0
        assert srv.n_requests == int(m.group(1))  # one explanation + 20 detection + 20 fuzzing prompts per latent
    tokens = json.loads((tmp_path / "out" / "names.json").read_text())["explanations"]["tokens"]
    assert tokens["prompt_tokens"] == pytest.approx(int(m.group(2)), rel=0.05)  # the scripted server counts ~4 chars a token
