"""Scorer known answers: a judge that is always right scores 1, one that always says "activates"
0.5 balanced, a coin about 0.5; through the whole pipeline on a planted text store too, where the
explanation, the held-out split and the judged samples are checked."""
from __future__ import annotations

import json

import numpy as np
import pytest

from autointerp_fixtures import HOOK, PLANTED, always_yes_client, oracle_client, planted_sae, random_client, text_store
from saekit.autointerp import ExplainConfig, explain
from saekit.autointerp.chat import MalformedAnswer
from saekit.autointerp.prompts import parse_explanation, parse_verdicts
from saekit.autointerp.scoring import balanced_accuracy, roc_auc
from saekit.results import NamesDocument


def test_scores_of_known_judges():
    rng = np.random.default_rng(0)
    truth = rng.random(4000) < 0.3  # unbalanced on purpose
    assert balanced_accuracy(truth.astype(float), truth) == 1.0 and roc_auc(truth.astype(float), truth) == 1.0
    assert balanced_accuracy(np.ones(4000), truth) == 0.5 and roc_auc(np.ones(4000), truth) == 0.5
    coin = rng.random(4000) < 0.5
    assert abs(balanced_accuracy(coin.astype(float), truth) - 0.5) < 0.03
    assert abs(roc_auc(rng.random(4000), truth) - 0.5) < 0.03
    assert balanced_accuracy((~truth).astype(float), truth) == 0.0
    assert balanced_accuracy([1, 1], [True, True]) is None and roc_auc([1, 0], [False, False]) is None
    # confidences refine the AUC beyond the thresholded accuracy
    assert roc_auc([0.9, 0.6, 0.4, 0.1], [True, False, True, False]) == 0.75


def test_answer_parsers():
    assert parse_verdicts("1: yes\n2: No\n3: 0.8", 3) == [1.0, 0.0, 0.8]
    assert parse_verdicts("Example 2 - no\nExample 1 - yes", 2) == [1.0, 0.0]
    assert parse_verdicts("Yes, it does.", 1) == [1.0]
    assert parse_verdicts("yes no yes", 3) == [1.0, 0.0, 1.0]
    for bad, n in [("", 2), ("   ", 1), ("1: yes", 3), ("I cannot tell", 2)]:
        with pytest.raises(MalformedAnswer):
            parse_verdicts(bad, n)
    assert parse_explanation("Sure!\nExplanation: the word cat.") == "the word cat."
    assert parse_explanation("**cats and kittens**") == "cats and kittens"
    with pytest.raises(MalformedAnswer):
        parse_explanation("  \n ")


def _run(tmp_path, client, name, **kw):
    store, _ = text_store(tmp_path)
    sae = planted_sae(tmp_path)
    cfg = ExplainConfig(sae=str(sae), store=str(store), client=client.name, out=str(tmp_path / name),
                        progress=False, **kw)
    return explain(cfg, client=client)


def test_oracle_scores_one_and_explains_the_planted_word(tmp_path):
    res = _run(tmp_path, oracle_client(), "oracle")
    assert sorted(res.latents) == [0, 1, 2]  # latent 3 never fires
    for lat, word in enumerate(PLANTED):
        rec = res.latents[lat]
        assert rec["explanation"] == f"the word {word}"
        det, fuz = rec["detection"], rec["fuzzing"]
        assert det["balanced_accuracy"] == 1.0 and det["auc"] == 1.0
        assert det["n_positive"] == 6 and det["n_negative"] == 6
        assert fuz["balanced_accuracy"] == 1.0 and fuz["n_positive"] >= 2 and fuz["n_negative"] >= 2
        judged = {j["sample_id"] for j in det["judged"]}
        assert not judged & set(rec["explained_on"]), "scored on samples used to explain"
        assert len(rec["explained_on"]) == 8
        for j in det["judged"]:  # shown plainly: no marks leak the answer
            assert "<<" not in j["shown"] and (word in j["shown"]) == j["truth"]
    doc = json.loads((tmp_path / "oracle" / "names.json").read_text())
    assert doc["kind"] == "names" and doc["sae"]["hook"] == HOOK
    by = {e["latent"]: e for e in doc["latents"]}
    assert by[0]["explanation"]["text"] == "the word cat"
    assert by[0]["explanation"]["detection"]["balanced_accuracy"] == 1.0
    assert doc["explanations"]["tokens"]["calls"] > 0
    typed = NamesDocument.load(tmp_path / "oracle")
    assert typed.by_latent()[0].explanation.detection.judged[0].shown == by[0]["explanation"]["detection"]["judged"][0]["shown"]


def test_always_activates_scores_half(tmp_path):
    res = _run(tmp_path, always_yes_client(), "yes")
    for rec in res.latents.values():
        assert rec["detection"]["balanced_accuracy"] == 0.5 and rec["detection"]["auc"] == 0.5
        assert rec["fuzzing"]["balanced_accuracy"] == 0.5


def test_random_judge_scores_about_half(tmp_path):
    store, _ = text_store(tmp_path, n=200)
    sae = planted_sae(tmp_path)
    client = random_client(0)
    cfg = ExplainConfig(sae=str(sae), store=str(store), client="random", out=str(tmp_path / "r"), progress=False,
                        n_explain=4, n_positive=40, n_negative=40, concurrency=1, score_batch=8)
    res = explain(cfg, client=client)
    ba = [r["detection"]["balanced_accuracy"] for r in res.latents.values()]
    n = [r["detection"]["n_positive"] + r["detection"]["n_negative"] for r in res.latents.values()]
    assert min(n) == 80
    assert abs(float(np.mean(ba)) - 0.5) < 0.12, ba


def test_eval_autointerp_column_reads_explain_output(tmp_path):
    from saekit.eval.autointerp import autointerp_scores

    _run(tmp_path, always_yes_client(), "yes")
    col = autointerp_scores(str(tmp_path / "yes"))
    assert col["n_latents"] == 3 and col["mean"] == 0.5
