"""Auto-interpretation throughput with the local transformers backend (offline SmolLM2-135M).

Explains and scores the latents of the planted text SAE of the autointerp tests (three latents
firing on the bytes of 'cat', 'dog' and 'tree') with `saekit.autointerp.explain`, default settings
except the latents, cache in a fresh directory (every call is a real generation), and prints ONE
JSON line: latents explained per minute (model load excluded), calls and prompt/completion tokens
per latent, and the mean detection balanced accuracy (a weak 135M judge; not a quality claim).
Judging prompts hold one sample each by default: SmolLM2-135M seldom answers four verdicts in one
reply, and the run stops on answers it cannot parse.

    PYTHONPATH=. python experiments/bench/autointerp_bench.py [--score-batch 1] [--max-tokens 24] [--latents 3]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))  # the tests' planted store builder


def main() -> None:
    ap = argparse.ArgumentParser()
    # SmolLM2-135M rarely gives 4 verdicts in one answer: one sample per judging prompt by default
    ap.add_argument("--score-batch", type=int, default=1)
    ap.add_argument("--max-tokens", type=int, default=24)
    ap.add_argument("--latents", type=int, default=3, help="how many of the planted latents (1-3)")
    ap.add_argument("--malformed-retries", type=int, default=6, help="SmolLM2 often answers without a verdict")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from autointerp_fixtures import planted_sae, text_store
    from saekit.autointerp import ExplainConfig, explain
    from saekit.autointerp.local_client import LocalChatClient

    t0 = time.perf_counter()
    client = LocalChatClient.load("offline:smollm2-135m")
    load_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store, _ = text_store(tmp)
        sae = planted_sae(tmp)
        cfg = ExplainConfig(sae=str(sae), store=str(store), client=client.name, out=str(tmp / "out"),
                            latents=tuple(range(min(3, args.latents))), score_batch=args.score_batch, max_tokens=args.max_tokens,
                            malformed_retries=args.malformed_retries, progress=False)
        t1 = time.perf_counter()
        res = explain(cfg, client=client)
        secs = time.perf_counter() - t1
    n = len(res.latents)
    t = res.tokens
    ba = [r["detection"]["balanced_accuracy"] for r in res.latents.values() if r["detection"]["balanced_accuracy"] is not None]
    print(json.dumps({
        "bench": "autointerp", "client": client.name, "latents": n, "seconds": round(secs, 1),
        "latents_per_minute": round(60 * n / secs, 2), "model_load_s": round(load_s, 1),
        "calls_per_latent": round(t.calls / n, 1), "prompt_tokens_per_latent": round(t.prompt_tokens / n),
        "completion_tokens_per_latent": round(t.completion_tokens / n), "malformed_answers": t.malformed,
        "mean_detection_balanced_accuracy": round(sum(ba) / len(ba), 3) if ba else None,
        "score_batch": args.score_batch, "max_tokens": args.max_tokens, "threads": args.threads,
    }))


if __name__ == "__main__":
    main()
