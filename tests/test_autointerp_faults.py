"""Faults lose nothing: a server failing 30% of calls (500, 429 with Retry-After, empty answers,
timeouts) gives the same names.json as a healthy one, and a `saekit explain` killed with SIGKILL
mid-run and resumed gives the same result as an uninterrupted run, asking no finished latent again."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from autointerp_fixtures import oracle_client, planted_sae, text_store
from openai_server import OpenAIServer
from saekit.cli.main import main

ROOT = Path(__file__).resolve().parents[1]


def _argv(sae, store, out, url, *extra):
    return ["explain", "--sae", str(sae), "--store", str(store), "--client", "openai:test-model", "--endpoint", url,
            "--out", str(out), "--no-progress", "--size", "small", *extra]


def _scores(out: Path) -> dict:
    doc = json.loads((out / "names.json").read_text())
    return {e["latent"]: (e["explanation"]["text"], e["explanation"]["detection"], e["explanation"]["fuzzing"])
            for e in doc["latents"]}


def _healthy_run(tmp_path, name: str):
    """(sae, store, requests) of a run against a healthy server into tmp_path/name."""
    store, _ = text_store(tmp_path)
    sae = planted_sae(tmp_path)
    with OpenAIServer(oracle_client().complete) as srv:
        assert main(_argv(sae, store, tmp_path / name, srv.url)) == 0
        return sae, store, srv.n_requests


def test_thirty_percent_faults_change_nothing(tmp_path):
    sae, store, n = _healthy_run(tmp_path, "clean")
    rng = np.random.default_rng(0)
    faults = [str(rng.choice(["500", "429", "empty", "slow"])) if rng.random() < 0.3 else None for _ in range(3 * n)]
    with OpenAIServer(oracle_client().complete, faults=faults, slow_s=1.0) as srv:
        assert main(_argv(sae, store, tmp_path / "faulty", srv.url, "--max-retries", "8", "--malformed-retries", "8",
                          "--timeout-s", "0.5", "--concurrency", "2")) == 0
        assert srv.n_requests > n
    assert _scores(tmp_path / "faulty") == _scores(tmp_path / "clean")
    tokens = json.loads((tmp_path / "faulty" / "names.json").read_text())["explanations"]["tokens"]
    assert tokens["retries"] + tokens["malformed"] > 0


def test_kill_minus_nine_then_resume_loses_nothing(tmp_path):
    sae, store, whole = _healthy_run(tmp_path, "whole")

    def slow(req):
        time.sleep(0.15)
        return oracle_client().complete(req)

    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with OpenAIServer(slow) as srv:
        proc = subprocess.Popen([sys.executable, "-m", "saekit", *_argv(sae, store, out, srv.url, "--concurrency", "1")],
                                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        progress = out / "progress.jsonl"
        deadline = time.time() + 300
        while time.time() < deadline and not (progress.exists() and progress.read_text().count("\n") >= 1):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = progress.read_text().count("\n")
    assert 1 <= done < 3 and not (out / "names.json").exists()
    with OpenAIServer(oracle_client().complete) as srv:
        assert main(_argv(sae, store, out, srv.url, "--resume", "--concurrency", "1")) == 0
        assert srv.n_requests <= whole - done * (whole // 3)  # finished latents are not asked again
    assert _scores(out) == _scores(tmp_path / "whole")
    assert sorted(json.loads(x)["latent"] for x in progress.read_text().splitlines()) == [0, 1, 2]
