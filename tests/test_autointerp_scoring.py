"""Scorer known answers: a judge that is always right scores 1, one that always says "activates"
0.5 balanced, a coin about 0.5; AUC only from probabilities; through the whole pipeline on a planted
text store too, where the explanation, the held-out split and the judged windows are checked."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from autointerp_fixtures import HOOK, PLANTED, always_yes_client, oracle_client, planted_sae, random_client, text_store
from saekit.autointerp import ExplainConfig, explain
from saekit.autointerp.chat import MalformedAnswer, TokenLogprob
from saekit.autointerp.logprobs import verdict_probabilities
from saekit.autointerp.prompts import parse_explanation, parse_verdicts
from saekit.autointerp.scoring import balanced_accuracy, classification, roc_auc
from saekit.results import NamesDocument


def test_scores_of_known_judges():
    rng = np.random.default_rng(0)
    truth = rng.random(4000) < 0.3  # unbalanced on purpose
    assert balanced_accuracy(truth, truth) == 1.0 and roc_auc(truth.astype(float), truth) == 1.0
    assert balanced_accuracy(np.ones(4000, bool), truth) == 0.5 and roc_auc(np.ones(4000), truth) == 0.5
    coin = rng.random(4000) < 0.5
    assert abs(balanced_accuracy(coin, truth) - 0.5) < 0.03
    assert abs(roc_auc(rng.random(4000), truth) - 0.5) < 0.03
    assert balanced_accuracy(~truth, truth) == 0.0
    assert balanced_accuracy([True, True], [True, True]) is None and roc_auc([1, 0], [False, False]) is None
    # probabilities refine the AUC beyond the verdicts; unknown ones are left out, none at all give no AUC
    assert roc_auc([0.9, 0.6, 0.4, 0.1, None], [True, False, True, False, True]) == 0.75
    assert roc_auc([None, None], [True, False]) is None
    m = classification([True, True, False, False, True], [True, False, False, True, True])
    assert m == {"balanced_accuracy": pytest.approx((2 / 3 + 1 / 2) / 2), "precision": pytest.approx(2 / 3),
                 "recall": pytest.approx(2 / 3), "f1": pytest.approx(2 / 3)}


def test_answer_parsers():
    assert parse_verdicts("[1, 0, 1]", 3) == [True, False, True]
    assert parse_verdicts("Sure: [true, false]", 2) == [True, False]
    assert parse_verdicts("1: yes\n2: No\n3: 0.8", 3) == [True, False, True]
    assert parse_verdicts("Example 2 - no\nExample 1 - yes", 2) == [True, False]
    assert parse_verdicts("Yes, it does.", 1) == [True]
    for bad, n in [("", 2), ("   ", 1), ("[1, 0]", 3), ("I cannot tell", 2)]:
        with pytest.raises(MalformedAnswer):
            parse_verdicts(bad, n)
    assert parse_explanation("Sure!\nExplanation: the word cat.") == "the word cat."
    assert parse_explanation("**cats and kittens**") == "cats and kittens"
    with pytest.raises(MalformedAnswer):
        parse_explanation("  \n ")


def test_verdict_probabilities_from_token_logprobs():
    lp = [TokenLogprob("[", 0.0, ()), TokenLogprob("1", math.log(0.8), (("1", math.log(0.8)), ("0", math.log(0.1)))),
          TokenLogprob(",", 0.0, ()), TokenLogprob(" 0", math.log(0.6), ((" 0", math.log(0.6)), ("1", math.log(0.2)),
                                                                            ("0", math.log(0.1)))),
          TokenLogprob("]", 0.0, ())]
    assert verdict_probabilities(lp, 2) == pytest.approx([0.8 / 0.9, 0.2 / 0.9])
    assert verdict_probabilities(lp, 3) is None and verdict_probabilities(None, 2) is None
    assert verdict_probabilities([TokenLogprob("1", 0.0, (("yes", 0.0),))], 1) == [0.0]


def _run(tmp_path, client, name, **kw):
    store, _ = text_store(tmp_path)
    sae = planted_sae(tmp_path)
    cfg = ExplainConfig(sae=str(sae), store=str(store), client=client.name, out=str(tmp_path / name),
                        progress=False, **kw)
    return explain(cfg, client=client)


def test_oracle_scores_one_and_explains_the_planted_word(tmp_path):
    res = _run(tmp_path, oracle_client(), "oracle")
    assert sorted(res.outcome.by_latent()) == [0, 1, 2]  # latent 3 never fires
    for lat, word in enumerate(PLANTED):
        rec = res.outcome.by_latent()[lat]
        assert rec.text == f"the word {word}"
        det, fuz = rec.detection, rec.fuzzing
        assert det.balanced_accuracy == 1.0 and det.f1 == 1.0 and det.auc is None  # no logprobs: no AUC
        assert det.n_negative == 50 and det.n_positive >= 10
        assert fuz.balanced_accuracy == 1.0 and fuz.n_positive == det.n_positive and fuz.n_negative == 50
        judged = {(j.sample_id, j.start) for j in det.judged}
        assert len(judged) == len(det.judged), "a window judged twice"
        assert {j.quantile for j in det.judged if j.truth} == set(range(10))  # across every quantile
        for j in det.judged:  # shown plainly: no marks leak the answer
            assert "<<" not in j.shown and (word in j.shown) == j.truth
            assert len(j.shown) <= 32
    doc = json.loads((tmp_path / "oracle" / "names.json").read_text())
    assert doc["kind"] == "names" and doc["sae"]["hook"] == HOOK and doc["explanations"]["n_windows"] == 120
    by = {e["latent"]: e for e in doc["latents"]}
    assert by[0]["explanation"]["text"] == "the word cat" and 0 < by[0]["explanation"]["window_freq"] < 0.5
    assert doc["explanations"]["tokens"]["calls"] > 0
    typed = NamesDocument.load(tmp_path / "oracle")
    assert typed.by_latent()[0].explanation.detection.judged[0].shown == by[0]["explanation"]["detection"]["judged"][0]["shown"]


def test_always_activates_scores_half(tmp_path):
    res = _run(tmp_path, always_yes_client(), "yes", fuzzing_active=True)
    for rec in res.outcome.by_latent().values():
        assert rec.detection.balanced_accuracy == 0.5 and rec.detection.recall == 1.0
        assert rec.fuzzing.balanced_accuracy == 0.5 and rec.fuzzing_active.balanced_accuracy == 0.5
        # the active variant judges each held-out window twice, once with true and once with wrong marks
        act = rec.fuzzing_active
        assert act.n_positive == act.n_negative == rec.detection.n_positive


def test_random_judge_scores_about_half(tmp_path):
    store, _ = text_store(tmp_path, n=200)
    sae = planted_sae(tmp_path)
    cfg = ExplainConfig(sae=str(sae), store=str(store), client="random", out=str(tmp_path / "r"), progress=False,
                        concurrency=1, fuzzing=False)
    res = explain(cfg, client=random_client(0))
    ba = [r.detection.balanced_accuracy for r in res.outcome.by_latent().values()]
    assert all(r.detection.n_positive >= 40 and r.detection.n_negative == 50 for r in res.outcome.by_latent().values())
    assert abs(float(np.mean(ba)) - 0.5) < 0.1, ba


def test_eval_autointerp_column_reads_explain_output(tmp_path):
    from saekit.eval.autointerp import autointerp_scores

    _run(tmp_path, always_yes_client(), "yes")
    col = autointerp_scores(str(tmp_path / "yes"))
    assert col["n_latents"] == 3 and col["mean"] == 0.5
