"""`ExplainConfig`: everything one `explain` run needs, frozen (the CLI flags mirror the fields)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from saekit.errors import SaekitError

CLIENT_MODALITIES = ("auto", "text", "image")


@dataclass(frozen=True)
class ExplainConfig:
    sae: str
    """SAE checkpoint directory."""
    store: str
    """Activation store (.h5 file or shard directory)."""
    client: str
    """openai:MODEL (any OpenAI-compatible endpoint) or local:offline:smollm2-135m / local:HF_ID_OR_DIR."""
    out: str
    """Output directory: names.json, progress.jsonl (for --resume), run.json, cache/."""
    latents: tuple[int, ...] = ()
    """Latents to explain (default: the `max_latents` live latents that fire on the most samples)."""
    max_latents: int = 50
    hook: str | None = None
    """Store hook (default: the SAE's hook)."""
    names: str | None = None
    """A `saekit name` output directory whose names.json the explanations are added to."""
    data: str | None = None
    """Dataset spec to reload images from (default: the one recorded in the store)."""
    endpoint: str | None = None
    """Base URL of the OpenAI-compatible endpoint (default: $SAEKIT_ENDPOINT, then $OPENAI_BASE_URL)."""
    api_key: str | None = field(default=None, repr=False)
    """API key (default: $SAEKIT_API_KEY, then $OPENAI_API_KEY); never written to any output."""
    client_modality: str = "auto"
    """What the model takes: auto (text for local models, images too for endpoints), text or image."""
    n_explain: int = 8
    """Top samples shown to explain (even ranks of the top list)."""
    n_positive: int = 6
    """Held-out activating samples for scoring (odd ranks of the top list)."""
    n_negative: int = 6
    """Held-out non-activating samples for detection."""
    fuzzing: bool = True
    """Also score text latents by fuzzing."""
    score_batch: int = 4
    """Samples judged per scoring prompt."""
    context_tokens: int = 16
    """Tokens shown on each side of a text sample's peak."""
    image_px: int = 224
    """Side of the images sent, in pixels."""
    concurrency: int = 4
    """Latents (and calls) in flight at once (local models run one call at a time)."""
    max_retries: int = 4
    """Retries of a call on rate limits, 5xx, timeouts and unreachable endpoints."""
    malformed_retries: int = 2
    """Fresh samples asked for when an answer cannot be parsed."""
    timeout_s: float = 60.0
    max_tokens: int = 60
    """Tokens the model may answer with."""
    cache_dir: str | None = None
    """Response cache (default OUT/cache); share one to make re-runs elsewhere free."""
    resume: bool = False
    """Continue an interrupted run in OUT: latents already explained are kept and not asked again."""
    device: str = "cpu"
    seed: int = 0
    progress: bool = True

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
