"""Feature absorption equals SAEBench's: SAEBench's own letter probe, k-sparse probes, feature-split
rule, absorption calculator and aggregation run in the peer venv (tests/peers/saebench_absorption.py)
on the same activations and SAE weights as saekit's first_letter_absorption; plus known answers."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from absorption_world import letter_world
from saekit.common.errors import SaekitError
from saekit.eval.absorption import AbsorptionSettings, first_letter_absorption
from saekit.eval.absorption.prompts import TEMPLATE, icl_prompt, split_words
from saekit.sae import load_sae, SAE, SAEConfig

ROOT = Path(__file__).resolve().parents[1]


def world_sae(w: dict) -> SAE:
    d_in, d_sae = w["W_enc"].shape
    sae = SAE.create(SAEConfig(arch="relu", d_in=d_in, d_sae=d_sae, hook="blocks.3.hook_resid_post",
                               normalization="none"))
    with torch.no_grad():
        sae.W_encT.copy_(torch.from_numpy(w["W_enc"].T))
        sae.W_dec.copy_(torch.from_numpy(w["W_dec"]))
        sae.b_enc.copy_(torch.from_numpy(w["b_enc"]))
        sae.b_dec.zero_()
    return sae


def run_reference(script: str, out: Path, *args: str) -> None:
    from test_interop_peers import peer_python

    # JAXTYPING_DISABLE: SAEBench annotates its train and test sets with one shared size name, which
    # jaxtyping 0.3 enforces across them (only equal-sized sets would pass)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1",
           "JAXTYPING_DISABLE": "1"}
    env.pop("PYTHONPATH", None)  # the peer venv must not see saekit
    proc = subprocess.run([str(peer_python()), str(ROOT / "tests" / "peers" / script), str(out), *args],
                          capture_output=True, text=True, timeout=900, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]


def test_absorption_equals_saebench(tmp_path, one_torch_thread):
    w = letter_world(seed=3)
    np.savez(tmp_path / "inputs.npz", seed=np.int64(5), **{k: w[k] for k in
             ("x_train", "x_test", "x_fresh", "W_enc", "b_enc", "W_dec", "b_dec")})
    (tmp_path / "words.json").write_text(json.dumps({"train": w["train"], "test": w["test"]}))
    run_reference("saebench_absorption.py", tmp_path)
    ref = json.loads((tmp_path / "reference.json").read_text())

    sae = load_sae(f"saelens:{tmp_path / 'sae'}")  # the SAE SAEBench scored, loaded by saekit
    mine = first_letter_absorption(w["x_train"], w["train"], w["x_test"], w["test"], w["x_fresh"], sae, seed=5)
    assert mine["n_letters"] == ref["means"]["n_letters"]
    for key in ("mean_absorption_fraction_score", "mean_full_absorption_score", "mean_num_split_features"):
        assert mine[key] == pytest.approx(ref["means"][key], abs=1e-6), key
    assert {p["letter"] for p in mine["per_letter"]} == set(ref["per_letter"])
    for p in mine["per_letter"]:
        r = ref["per_letter"][p["letter"]]
        assert p["main_latents"] == r["main_latents"], p["letter"]
        for key in ("num_probe_true_positives", "num_full_absorption"):
            assert p[key] == r[key], (p["letter"], key)
        for key in ("f1_probe", "full_absorption_rate", "mean_absorption_fraction"):
            assert p[key] == pytest.approx(r[key], abs=1e-6), (p["letter"], key)
    # the world has absorption to find, and partial cases (the main latent still fires) that are not full
    assert 0.05 < ref["means"]["mean_full_absorption_score"] < 0.6
    assert any(0 < r["mean_absorption_fraction"] < 1 for r in ref["per_letter"].values()) or \
        ref["means"]["mean_absorption_fraction_score"] != ref["means"]["mean_full_absorption_score"]


def test_absorption_known_answers(one_torch_thread):
    w = letter_world(seed=0)
    res = first_letter_absorption(w["x_train"], w["train"], w["x_test"], w["test"], w["x_fresh"], world_sae(w))
    strong = {}
    for li, _, strength in w["absorbed"]:
        strong[li] = strong.get(li, 0) + (strength > 2)
    for p in res["per_letter"]:
        li = ord(p["letter"]) - ord("a")
        if p["main_latents"] != [li]:
            continue  # k-sparse probing chose another latent (the L1 probe trains 50 steps on these few words)
        assert p["num_probe_true_positives"] == 8
        assert p["num_full_absorption"] == strong.get(li, 0), p["letter"]  # weak absorbers leave the main latent on


def test_absorption_needs_enough_letters(one_torch_thread):
    w = letter_world(seed=0)
    sae = world_sae(w)
    with pytest.raises(SaekitError, match="fewer than the 27 needed"):
        first_letter_absorption(w["x_train"], w["train"], w["x_test"], w["test"], w["x_fresh"], sae,
                                settings=AbsorptionSettings(min_letters=27))
    with pytest.raises(SaekitError, match="differ in number"):
        first_letter_absorption(w["x_train"], w["train"][1:], w["x_test"], w["test"], w["x_fresh"], sae)


def test_prompts_follow_saebench_layout():
    import random

    words = [" cat", "dog", " emu", "fox", " gnu", "hen", " ibis", "jay", " kiwi", "lark", " moth", "newt"]
    p = icl_prompt(" cat", words, random.Random(0))
    lines = p.split("\n")
    assert p.startswith("\n") and lines[-1] == TEMPLATE.format(word=" cat") and len(lines) == 12
    assert all(line.endswith(f": {line.strip()[0].upper()}") for line in lines[1:-1])
    assert " cat has" not in "\n".join(lines[1:-1])
    train, test = split_words(words, random.Random(0))
    assert len(train) == 9 and sorted(train + test) == sorted(words)
