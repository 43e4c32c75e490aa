"""Auto-interpretation: explain SAE latents with a language or vision-language model and score the
explanations on held-out windows as delphi does (detection for images and text, fuzzing for text).

    from saekit.autointerp import ExplainConfig, explain
    run = explain(ExplainConfig(sae=..., store=..., client="openai:MODEL", out=...))  # ExplainRunDocument

One idea per module: `config` (the frozen settings), `windows` (the store cut into 32-token windows,
or whole images, and each latent's activating windows), `selection` (which latents: across the
firing-frequency range, dense ones reported), `sampling` (delphi's quantile sampling),
`negatives` (similar non-activating windows), `evidence` (one latent's windows), `render` (marked
text, shaded images), `prompts`, `chat` (requests, replies, errors), the clients (`openai_client`,
`local_client`, chosen by `clients`), `tokenizer` (the store model's tokenizer without its
weights), `cache`, `runner` (concurrency, retries, tokens), `judging` (detection, fuzzing),
`logprobs` (verdict probabilities), `scoring` (balanced accuracy, precision, recall, F1, AUC),
`dryrun`, `progress_log` (resume), `output` (names.json), `explain` (the whole run; it returns
saekit.results.ExplainRunDocument, OUT/run.json) and `summary` (what the CLI prints after it)."""
from __future__ import annotations

from saekit.autointerp.config import ExplainConfig
from saekit.autointerp.explain import explain

__all__ = ["ExplainConfig", "explain"]
