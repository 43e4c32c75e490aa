"""delphi conformance: the scores that carry delphi's names are what delphi's own scorer code computes
from the same judgements (eai-delphi 0.1.3 in the peer venv, tests/peers/delphi_scores.py).

A seeded noisy judge with confidences (sent as token log-probabilities) judges the planted store
(words firing unevenly over their bytes) through the whole pipeline; then delphi, given the very replies and judged windows, must give:
each reply's verdicts and probabilities (Classifier._parse), each latent's balanced accuracy,
precision, recall, F1 and AUC per score (result_analysis), the true fuzzing marks of every
held-out window (_prepare_text) and the number of wrong marks (mean_n_activations_ceil)."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from autointerp_fixtures import HOOK, ScriptedClient, planted_sae, planted_truth, text_store
from saekit.autointerp import ExplainConfig, explain
from saekit.autointerp.chat import text_of
from saekit.autointerp.judging import read_verdicts
from saekit.sae import load_sae, SAE
from stores import ActivationStore
from test_interop_peers import peer_python

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "peers" / "delphi_scores.py"


def _delphi(tmp_path: Path, payload: dict) -> dict:
    inp, out = tmp_path / "delphi_in.json", tmp_path / "delphi_out.json"
    inp.write_text(json.dumps(payload))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("PYTHONPATH", None)  # the peer venv must not see saekit
    proc = subprocess.run([str(peer_python()), str(SCRIPT), str(inp), str(out)], capture_output=True, text=True,
                          timeout=600, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text())


def _noisy_judge(seed: int = 3):
    """Right about 75% of the time, with a confidence that leans the right way: BA, F1 and AUC in between."""
    rng = np.random.default_rng(seed)

    memo: dict = {}

    def both(kind, expl, ex):
        key = (kind, expl, ex)
        if key not in memo:
            t = planted_truth(kind, expl, ex)
            verdict = t if rng.random() < 0.75 else not t
            p = float(np.clip((0.7 if t else 0.3) + rng.normal(0, 0.2), 0.01, 0.99))
            memo[key] = (verdict, p)
        return memo[key]

    client = ScriptedClient("noisy", lambda k, e, x: both(k, e, x)[0], lambda spans: "the word " + spans[0],
                            confidence=lambda k, e, x: both(k, e, x)[1])
    client.max_concurrency = 1  # one latent at a time: the memo sees the same order every run
    return client


def _window_acts(store: ActivationStore, sae: SAE, latent: int, sample_id: int, start: int, stop: int, n_tok: int):
    """The latent's activation at every token of a window, from the store rows and the SAE directly."""
    acts, pos = store.rows_for_sample(HOOK, sample_id)
    with torch.no_grad():
        z = sae.encode(torch.from_numpy(np.asarray(acts, np.float32)))[:, latent].numpy()
    out = np.zeros(n_tok, np.float32)
    out[pos] = z
    return out[start:stop]


def test_scores_equal_delphis_on_the_same_judgements(tmp_path):
    store_path, texts = text_store(tmp_path, graded=True)  # which bytes reach 0.3 of the peak matters
    sae_dir = planted_sae(tmp_path)
    client = _noisy_judge()
    res = explain(ExplainConfig(sae=str(sae_dir), store=str(store_path), client=client.name, out=str(tmp_path / "o"),
                                progress=False, fuzzing_active=True), client=client)
    judging = [r for r in client.requests if "Activating examples:" not in text_of(r.messages)]
    replies = [client.complete(r) for r in judging]  # the scripted judge answers the same request the same way
    n = [len(re.findall(r"^Example \d+:", text_of(r.messages), re.MULTILINE)) for r in judging]
    groups, ours, windows, expected_marks, test_sets, n_wrong = [], [], [], [], [], []
    sae = load_sae(sae_dir)
    store = ActivationStore.open(store_path)
    for lat, rec in sorted(res.outcome.by_latent().items()):
        for kind in ("detection", "fuzzing", "fuzzing_active"):
            j = getattr(rec, kind).judged
            groups.append({"activating": [x.truth for x in j], "prediction": [x.answer == 1.0 for x in j],
                           "probability": [x.probability for x in j]})
            ours.append(getattr(rec, kind))
        fuzz = rec.fuzzing.judged
        tests = []
        for x in (x for x in fuzz if x.truth):
            toks = [""] + list(texts[x.sample_id])  # BOS shows as nothing
            a = _window_acts(store, sae, lat, x.sample_id, x.start, x.stop, len(toks))
            windows.append({"str_tokens": toks[x.start:x.stop], "activations": a.tolist()})
            expected_marks.append(x.shown)
            tests.append(a.tolist())
        test_sets.append(tests)
        wrong = [x for x in fuzz if not x.truth]
        n_wrong.append({sum(len(s) for s in re.findall(r"<<(.*?)>>", x.shown)) for x in wrong})
    got = _delphi(tmp_path, {
        "replies": [{"text": r.text, "n": k, "logprobs": [t.as_json() for t in r.logprobs]}
                    for r, k in zip(replies, n)],
        "groups": groups, "windows": windows, "test_sets": test_sets})

    for reply, k, theirs in zip(replies, n, got["parsed"]):
        verdicts, probs = read_verdicts(reply, k)
        assert verdicts == theirs["predictions"]
        assert probs == pytest.approx(theirs["probabilities"], abs=1e-12)
    assert any(0 < m["accuracy"] < 1 for m in got["metrics"])  # the judge is neither right nor wrong throughout
    for mine, theirs in zip(ours, got["metrics"]):
        assert mine.balanced_accuracy == pytest.approx(theirs["accuracy"], abs=1e-12)
        assert mine.precision == pytest.approx(theirs["precision"], abs=1e-12)
        assert mine.recall == pytest.approx(theirs["recall"], abs=1e-12)
        assert mine.f1 == pytest.approx(theirs["f1_score"], abs=1e-12)
        assert mine.auc == pytest.approx(theirs["auc"], abs=1e-12)
    assert [" ".join(m.split()) for m in got["marked"]] == expected_marks
    # every wrongly marked window carries delphi's number of wrong marks (windows have enough tokens)
    assert n_wrong == [{k} for k in got["n_incorrect"]]
