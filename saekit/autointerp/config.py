"""`ExplainConfig`: everything one `explain` run needs, frozen. The `saekit explain` flags are
generated from these fields (saekit.cli.configcli): `n_explain` is `--n-explain`, and so on."""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from saekit.errors import SaekitError

CLIENT_MODALITIES = ("auto", "text", "image")


def parse_latents(text: str) -> tuple[int, ...]:
    """'3,7,10-12' -> (3, 7, 10, 11, 12)."""
    try:
        out: list[int] = []
        for part in text.split(","):
            if "-" in part.strip()[1:]:
                a, b = part.split("-")
                out.extend(range(int(a), int(b) + 1))
            elif part.strip():
                out.append(int(part))
        return tuple(out)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected latent indices like 3,7,10-12, got {text!r}") from None


@dataclass(frozen=True)
class ExplainConfig:
    sae: str  # SAE checkpoint directory
    store: str  # activation store (.h5 file or shard directory)
    client: str  # openai:MODEL (an OpenAI-compatible endpoint), local:offline:smollm2-135m or local:HF_ID_OR_DIR
    out: str  # output directory: names.json, progress.jsonl (for --resume), run.json, cache/
    latents: tuple[int, ...] = field(default=(), metadata={
        "parse": parse_latents, "help": "latents to explain, e.g. 3,7,10-12 (default: the --max-latents live "
                                        "latents that fire on the most samples)"})
    max_latents: int = 50  # latents explained when --latents is not given
    hook: str | None = None  # store hook (default: the SAE's hook)
    names: str | None = None  # a `saekit name` output directory whose names.json the explanations are added to
    data: str | None = None  # dataset spec to reload images from (default: the one recorded in the store)
    endpoint: str | None = None  # endpoint base URL (default: $SAEKIT_ENDPOINT, then $OPENAI_BASE_URL)
    api_key: str | None = field(default=None, repr=False, metadata={
        "help": "API key (default: $SAEKIT_API_KEY, then $OPENAI_API_KEY; prefer the environment); "
                "never written to any output"})
    client_modality: Literal["auto", "text", "image"] = "auto"  # what the model takes (auto: images for endpoints)
    n_explain: int = 8  # top samples shown to explain (even ranks of the top list)
    n_positive: int = 6  # held-out activating samples to score on (odd ranks of the top list)
    n_negative: int = 6  # held-out non-activating samples for detection
    fuzzing: bool = True  # also score text latents by fuzzing
    score_batch: int = 4  # samples judged per scoring prompt
    context_tokens: int = 16  # tokens shown on each side of a text sample's peak
    image_px: int = 224  # side of the images sent, in pixels
    concurrency: int = 4  # latents (and calls) in flight at once; local models run one call at a time
    max_retries: int = 4  # retries on rate limits, 5xx, timeouts and unreachable endpoints
    malformed_retries: int = 2  # fresh answers asked for when an answer cannot be parsed
    timeout_s: float = 60.0  # seconds one call may take
    max_tokens: int = 60  # tokens the model may answer with
    cache_dir: str | None = None  # response cache (default OUT/cache); share one to make re-runs elsewhere free
    resume: bool = False  # continue an interrupted run in OUT; finished latents are not asked again
    device: str = "auto"  # device for the SAE and a local model: auto (CUDA when present), cpu, cuda, cuda:N
    seed: int = 0  # seed of the sampled examples
    progress: bool = True  # show a progress bar

    def __post_init__(self) -> None:
        if self.client_modality not in CLIENT_MODALITIES:
            raise SaekitError(f"--client-modality {self.client_modality!r} is not one of {', '.join(CLIENT_MODALITIES)}")
        for name in ("n_explain", "n_positive", "score_batch", "concurrency", "max_latents", "max_tokens",
                     "image_px"):
            if getattr(self, name) < 1:
                raise SaekitError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        for name in ("n_negative", "max_retries", "malformed_retries", "context_tokens"):
            if getattr(self, name) < 0:
                raise SaekitError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.timeout_s <= 0:
            raise SaekitError(f"--timeout-s must be > 0, got {self.timeout_s}")
        if any(int(i) < 0 for i in self.latents):
            raise SaekitError("--latents must be non-negative latent indices")

    def public(self) -> dict[str, Any]:
        """The fields written to outputs: everything but the API key."""
        d = dataclasses.asdict(self)
        d.pop("api_key")
        d["latents"] = list(self.latents)
        return d

    def judged_params(self) -> dict[str, Any]:
        """What decides the results (a --resume must not change it)."""
        keep = ("client", "client_modality", "n_explain", "n_positive", "n_negative", "fuzzing", "score_batch",
                "context_tokens", "image_px", "max_tokens", "seed", "hook")
        return {k: getattr(self, k) for k in keep}
