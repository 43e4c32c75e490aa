"""`ExplainConfig`: everything one `explain` run needs, frozen. The `saekit explain` flags are
generated from these fields (saekit.cli.configcli): `n_explain` is `--n-explain`, and so on.

Sample sizes default to delphi's (40 explaining windows over 10 activation quantiles, 50 held-out
scoring windows over the same quantiles, as many non-activating windows); `--size small` is the
cheap setting. A number given explicitly (`--n-explain 20`) wins over the size."""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject

CLIENT_MODALITIES = ("auto", "text", "image")
#: size -> (n_explain, n_score, n_negative, n_quantiles)
SIZES: dict[str, tuple[int, int, int, int]] = {"delphi": (40, 50, 50, 10), "small": (10, 10, 10, 5)}


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
        "parse": parse_latents, "help": "latents to explain, e.g. 3,7,10-12 (default: --choose)"})
    choose: Literal["sample", "all"] = "sample"  # without --latents: a seeded sample of --max-latents across the firing-frequency range, or all eligible ones
    max_latents: int = 50  # latents explained by --choose sample
    dense_fraction: float = 0.5  # latents firing in more than this fraction of windows are reported as dense, not explained
    min_windows: int = 4  # latents firing in fewer windows are reported as too rare, not explained
    hook: str | None = None  # store hook (default: the SAE's hook)
    names: str | None = None  # a `saekit name` output directory whose names.json the explanations are added to
    data: str | None = None  # dataset spec to reload images from (default: the one recorded in the store)
    endpoint: str | None = None  # endpoint base URL (default: $SAEKIT_ENDPOINT, then $OPENAI_BASE_URL)
    api_key: str | None = field(default=None, repr=False, metadata={
        "help": "API key (default: $SAEKIT_API_KEY, then $OPENAI_API_KEY; prefer the environment); "
                "never written to any output"})
    client_modality: Literal["auto", "text", "image"] = "auto"  # what the model takes (auto: images for endpoints)
    size: Literal["delphi", "small"] = "delphi"  # sample sizes: delphi (40 explain / 50 score / 50 negative windows, 10 quantiles) or small (10 / 10 / 10, 5)
    n_explain: int | None = None  # activating windows shown to explain (default: from --size)
    n_score: int | None = None  # held-out activating windows scored on (default: from --size)
    n_negative: int | None = None  # non-activating windows scored on (default: from --size)
    n_quantiles: int | None = None  # activation quantiles both samples are drawn across (default: from --size)
    negatives: Literal["random", "similar"] = "random"  # non-activating windows: random, or the most similar to the activating ones in the hooked layer's activations ("hard" negatives)
    context_tokens: int = 32  # tokens per text window (delphi's example_ctx_len)
    fuzzing: bool = True  # also score text latents by fuzzing (delphi's default: non-activating windows with random marks)
    fuzzing_active: bool = False  # also score by the "active" fuzzing variant (each held-out window once with true and once with wrong marks)
    score_batch: int = 5  # windows judged per scoring prompt (delphi's num_examples_per_scorer_prompt)
    logprobs: bool = True  # ask endpoints for token log-probabilities, which give the AUC; --no-logprobs for servers that reject them
    image_px: int = 224  # side of the images sent, in pixels
    concurrency: int = 4  # latents (and calls) in flight at once; local models run one call at a time
    max_retries: int = 4  # retries on rate limits, 5xx, timeouts and unreachable endpoints
    malformed_retries: int = 2  # fresh answers asked for when an answer cannot be parsed
    timeout_s: float = 60.0  # seconds one call may take
    max_tokens: int = 60  # tokens the model may answer an explanation with (judging answers get room for their verdicts)
    cache_dir: str | None = None  # response cache (default OUT/cache); share one to make re-runs elsewhere free
    resume: bool = False  # continue an interrupted run in OUT; finished latents are not asked again
    dry_run: bool = False  # print the calls and tokens the run would cost, call nothing and write nothing to OUT
    device: str = "auto"  # device for the SAE and a local model: auto (CUDA when present), cpu, cuda, cuda:N
    seed: int = 0  # seed of the latent sample and the sampled windows
    progress: bool = True  # show progress bars (--no-progress also hides model-loading bars)

    def __post_init__(self) -> None:
        if self.client_modality not in CLIENT_MODALITIES:
            raise SaekitError(f"--client-modality {self.client_modality!r} is not one of {', '.join(CLIENT_MODALITIES)}")
        if self.size not in SIZES:
            raise SaekitError(f"--size {self.size!r} is not one of {', '.join(SIZES)}")
        for name in ("score_batch", "concurrency", "max_latents", "max_tokens", "image_px", "context_tokens"):
            if getattr(self, name) < 1:
                raise SaekitError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.min_windows < 2:
            raise SaekitError(f"--min-windows must be >= 2 (one window to explain, one to score), got {self.min_windows}")
        for name in ("n_explain", "n_score", "n_quantiles"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SaekitError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        for name in ("max_retries", "malformed_retries"):
            if getattr(self, name) < 0:
                raise SaekitError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.n_negative is not None and self.n_negative < 0:
            raise SaekitError(f"--n-negative must be >= 0, got {self.n_negative}")
        if not 0.0 < self.dense_fraction <= 1.0:
            raise SaekitError(f"--dense-fraction must be in (0, 1], got {self.dense_fraction}")
        if self.timeout_s <= 0:
            raise SaekitError(f"--timeout-s must be > 0, got {self.timeout_s}")
        if any(int(i) < 0 for i in self.latents):
            raise SaekitError("--latents must be non-negative latent indices")

    @property
    def sizes(self) -> tuple[int, int, int, int]:
        """(n_explain, n_score, n_negative, n_quantiles): the --size values with explicit flags applied."""
        base = SIZES[self.size]
        given = (self.n_explain, self.n_score, self.n_negative, self.n_quantiles)
        return tuple(b if g is None else int(g) for b, g in zip(base, given))  # type: ignore[return-value]

    def public(self) -> JSONObject:
        """The fields written to outputs: everything but the API key."""
        d = dataclasses.asdict(self)
        d.pop("api_key")
        d["latents"] = list(self.latents)
        return d

    def judged_params(self) -> JSONObject:
        """What decides the results (a --resume must not change it)."""
        keep = ("client", "client_modality", "fuzzing", "fuzzing_active", "score_batch", "logprobs", "negatives",
                "context_tokens", "image_px", "max_tokens", "seed", "hook", "dense_fraction", "min_windows")
        out = {k: getattr(self, k) for k in keep}
        out["sizes"] = list(self.sizes)
        return out
