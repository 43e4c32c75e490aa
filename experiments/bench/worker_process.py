"""Run one library's side of a benchmark in its own interpreter (the peers live in their own venv)
and read back the JSON line it prints."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_worker(python: str | Path, script: str, which: str, *extra: str, timeout: float | None = None) -> dict:
    """``python script --worker which *extra``, run from the repository root offline; its last JSON line."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run([str(python), script, "--worker", which, *extra], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{which} worker failed (rc={proc.returncode}): {proc.stderr.strip().splitlines()[-3:]}")
    return json.loads(lines[-1])
