"""`saekit explain`: explain SAE latents with a chat model and score the explanations (detection,
fuzzing) on held-out samples; writes OUT/names.json, keeps OUT/progress.jsonl for --resume."""
from __future__ import annotations

import argparse

HELP = "explain SAE latents with a (vision-)language model and score the explanations"


def _latents(text: str) -> tuple[int, ...]:
    try:
        out: list[int] = []
        for part in text.split(","):
            if "-" in part:
                a, b = part.split("-")
                out.extend(range(int(a), int(b) + 1))
            elif part.strip():
                out.append(int(part))
        return tuple(out)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected latent indices like 3,7,10-12, got {text!r}") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    from saekit.autointerp.config import CLIENT_MODALITIES, ExplainConfig

    d = ExplainConfig("", "", "", "")
    p.add_argument("--sae", required=True, help="SAE checkpoint directory")
    p.add_argument("--store", required=True, help="activation store (.h5 file or shard directory)")
    p.add_argument("--client", required=True,
                   help="openai:MODEL (any OpenAI-compatible endpoint) or local:offline:smollm2-135m / local:HF_ID_OR_DIR")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--latents", type=_latents, default=(), help="latents to explain, e.g. 3,7,10-12 "
                   f"(default: the --max-latents live latents firing on the most samples)")
    p.add_argument("--max-latents", type=int, default=d.max_latents)
    p.add_argument("--hook", default=None, help="store hook (default: the SAE's hook)")
    p.add_argument("--names", default=None, help="`saekit name` output directory to add the explanations to")
    p.add_argument("--data", default=None, help="dataset spec to reload images from (default: the store's)")
    p.add_argument("--endpoint", default=None, help="endpoint base URL (default $SAEKIT_ENDPOINT, then $OPENAI_BASE_URL)")
    p.add_argument("--api-key", default=None,
                   help="API key (default $SAEKIT_API_KEY, then $OPENAI_API_KEY); prefer the environment")
    p.add_argument("--client-modality", default="auto", choices=CLIENT_MODALITIES)
    p.add_argument("--n-explain", type=int, default=d.n_explain, help="top samples shown to explain")
    p.add_argument("--n-positive", type=int, default=d.n_positive, help="held-out activating samples to score on")
    p.add_argument("--n-negative", type=int, default=d.n_negative, help="held-out non-activating samples")
    p.add_argument("--no-fuzzing", action="store_true", help="skip fuzzing (text)")
    p.add_argument("--score-batch", type=int, default=d.score_batch, help="samples judged per prompt")
    p.add_argument("--context-tokens", type=int, default=d.context_tokens)
    p.add_argument("--image-px", type=int, default=d.image_px)
    p.add_argument("--concurrency", type=int, default=d.concurrency)
    p.add_argument("--max-retries", type=int, default=d.max_retries)
    p.add_argument("--timeout-s", type=float, default=d.timeout_s)
    p.add_argument("--max-tokens", type=int, default=d.max_tokens)
    p.add_argument("--cache-dir", default=None, help="response cache (default OUT/cache)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in OUT")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from saekit.autointerp import ExplainConfig, explain

    cfg = ExplainConfig(
        sae=args.sae, store=args.store, client=args.client, out=args.out, latents=args.latents,
        max_latents=args.max_latents, hook=args.hook, names=args.names, data=args.data, endpoint=args.endpoint,
        api_key=args.api_key, client_modality=args.client_modality, n_explain=args.n_explain,
        n_positive=args.n_positive, n_negative=args.n_negative, fuzzing=not args.no_fuzzing,
        score_batch=args.score_batch, context_tokens=args.context_tokens, image_px=args.image_px,
        concurrency=args.concurrency, max_retries=args.max_retries, timeout_s=args.timeout_s,
        max_tokens=args.max_tokens, cache_dir=args.cache_dir, resume=args.resume, device=args.device,
        seed=args.seed, progress=not args.no_progress)
    res = explain(cfg)
    scores = [r["detection"]["balanced_accuracy"] for r in res.latents.values()
              if r["detection"]["balanced_accuracy"] is not None]
    mean = f"{sum(scores) / len(scores):.3f}" if scores else "n/a"
    t = res.tokens
    print(f"explained {len(res.latents)} latents ({res.n_resumed} resumed) in {res.seconds:.1f} s; "
          f"mean detection balanced accuracy {mean}; {t.calls} calls, {t.cache_hits} cached, "
          f"{t.prompt_tokens} prompt + {t.completion_tokens} completion tokens")
    print(f"wrote {res.out}/names.json")
    return 0
