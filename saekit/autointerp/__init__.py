"""Auto-interpretation: explain SAE latents with a language or vision-language model and score the
explanations on held-out samples (detection for images and text, fuzzing for text).

    from saekit.autointerp import ExplainConfig, explain
    result = explain(ExplainConfig(sae=..., store=..., client="openai:MODEL", out=...))

One idea per module: `config` (the frozen settings), `chat` (requests, replies, errors), the clients
(`openai_client`, `local_client`, chosen by `clients`), `cache`, `runner` (concurrency, retries,
tokens), `evidence` (which samples explain and which score), `render` (marked text, highlighted
images), `prompts`, `judging` (detection, fuzzing), `scoring`, `progress_log` (resume), `output`
(names.json) and `explain` (the whole run)."""
from __future__ import annotations

from saekit.autointerp.config import ExplainConfig
from saekit.autointerp.explain import ExplainResult, explain

__all__ = ["ExplainConfig", "ExplainResult", "explain"]
