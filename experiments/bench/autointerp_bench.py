"""Auto-interpretation throughput against a local fast endpoint, and what the run gives each latent.

A local OpenAI-compatible server (tests/openai_server.py) answers instantly (or after --latency-ms)
by a fixed rule: it explains a latent by the span marked most often in its explaining windows,
says a window activates when it holds that span and a mark is right when it is that span, with a
P(yes) sent as token log-probabilities. `saekit.autointerp.explain` runs with default settings
(delphi's sample sizes, the default concurrency) on --sae / --store (default: the planted text SAE
of the tests), cache in a fresh directory, so every call reaches the server. Prints ONE JSON line:
latents per minute (the whole explain call: window scan, tokenizer, calls) and the CPU seconds it
took (explain and server, one process), calls and prompt tokens per latent, and per explained latent its window frequency and detection / fuzzing scores.

    PYTHONPATH=. python experiments/bench/autointerp_bench.py [--sae DIR --store FILE] [--latency-ms 0]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))  # the tests' server and fixtures


def rule_backend(latency_s: float):
    from autointerp_fixtures import ScriptedClient

    def explain(spans):
        spans = [s.strip() for s in spans if s.strip()]
        return f"the text [{Counter(spans).most_common(1)[0][0] if spans else ''}]"

    def span_of(expl: str) -> str:
        m = re.search(r"the text \[(.*)\]$", expl)
        return m.group(1) if m else ""

    def judge(kind, expl, ex):
        span = span_of(expl)
        if kind == "detection":
            return bool(span) and span in ex
        marked = [m.strip() for m in re.findall(r"<<(.*?)>>", ex)]
        return bool(marked) and all(m == span for m in marked)

    client = ScriptedClient("rule", judge, explain, lambda k, e, x: 0.8 if judge(k, e, x) else 0.2)

    def complete(request):
        if latency_s:
            time.sleep(latency_s)
        return client.complete(request)

    return complete


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sae", default=None, help="SAE checkpoint (default: the planted test SAE)")
    ap.add_argument("--store", default=None, help="its store (default: the planted test store, 400 documents)")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="server delay per call")
    ap.add_argument("--max-latents", type=int, default=None)
    args = ap.parse_args()

    from openai_server import OpenAIServer
    from saekit.autointerp import ExplainConfig, explain

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sae, store = args.sae, args.store
        if sae is None or store is None:
            from autointerp_fixtures import planted_sae, text_store

            store, _ = text_store(tmp, n=400)
            sae = planted_sae(tmp)
        extra = {} if args.max_latents is None else {"max_latents": args.max_latents}
        with OpenAIServer(rule_backend(args.latency_ms / 1000)) as srv:
            cfg = ExplainConfig(sae=str(sae), store=str(store), client="openai:rule", endpoint=srv.url,
                                out=str(tmp / "out"), progress=False, **extra)
            t0, c0 = time.perf_counter(), time.process_time()
            res = explain(cfg)
            secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    outcome = res.outcome
    n = len(outcome.latents)
    t = outcome.tokens
    per = [{"latent": k, "window_freq": round(r.window_freq, 4), "explanation": r.text[:60],
            "detection": r.detection.balanced_accuracy, "detection_auc": r.detection.auc,
            "fuzzing": r.fuzzing.balanced_accuracy if r.fuzzing else None}
           for k, r in sorted(outcome.by_latent().items())]
    scored = sum(p["detection"] is not None for p in per)
    print(json.dumps({
        "bench": "autointerp", "endpoint": "local rule server", "latency_ms": args.latency_ms,
        "concurrency": cfg.concurrency, "latents": n, "with_detection": scored, "n_windows": outcome.n_windows,
        "dense": sum(s.reason == "dense" for s in outcome.skipped), "seconds": round(secs, 1),
        "cpu_seconds": round(cpu, 1),  # this process (explain and the server), all threads: a figure load hardly moves
        "latents_per_minute": round(60 * n / secs, 1), "calls_per_latent": round(t.calls / max(n, 1), 1),
        "prompt_tokens_per_latent": round(t.prompt_tokens / max(n, 1)), "per_latent": per,
    }))


if __name__ == "__main__":
    main()
