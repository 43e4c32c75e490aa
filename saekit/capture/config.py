"""CaptureConfig: everything that decides what a capture writes."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import ClassVar

from saekit.common.errors import SaekitError
from saekit.results.fingerprint import fingerprint
from saekit.common.token_selections import TOKEN_SELECTIONS

DTYPES = ("float16", "bfloat16", "float32")
MASSIVE_POLICIES = ("auto", "drop", "keep")  # see saekit.capture.massive
DEFAULT_NORM_RATIO = 10.0  # rows above this multiple of the batch's median norm are massive


@dataclass(frozen=True)
class CaptureConfig:
    """model / data: specs for load_model / load_dataset. out: a .h5 file, or (under torchrun, or
    with world_size > 1) a shard directory. dtype None keeps the model's dtype. limit takes the first
    N samples. massive_tokens (auto | drop | keep, see saekit.capture.massive): auto drops language
    models' massive-activation tokens (the first position and rows above massive_norm_ratio x the
    batch's median norm). exclude_artifacts is reserved for the artifact analysis: when set, capture asks
    `saekit.capture.artifact_tokens.make_token_filter(model, config)` for a token filter."""

    model: str  # random:vit|random:vit-s|random:clip|random:gpt2, hf:<name or dir>, tl:<name or dir>, offline:<name>
    data: str  # image folder (sub-folders = labels), file.txt, folder of .txt, hfds:<dir>, bundled:<name>
    hooks: tuple[str, ...]  # hook name, e.g. blocks.3.hook_resid_post (--list-hooks shows them)
    out: str  # store file (.h5); under torchrun a shard directory
    tokens: str = "all"  # which tokens of each sample to store
    dtype: str | None = None  # storage dtype (default: the model's dtype)
    batch_size: int = 32  # samples per model forward
    limit: int | None = None  # capture only the first N samples
    resume: bool = False  # continue an interrupted capture at its last commit
    overwrite: bool = False  # replace an existing store
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:N
    exclude_artifacts: bool = False  # drop high-norm artifact tokens (see `saekit artifacts`) so SAEs train without them
    massive_tokens: str = "auto"  # auto drops language models' massive-activation tokens, drop: any model's, keep: none
    massive_norm_ratio: float = DEFAULT_NORM_RATIO  # rows above this multiple of the batch's median norm are massive
    seed: int = 0  # seed of the capture's random choices
    progress: bool = True  # show a progress bar
    extra: dict = field(default_factory=dict)  # settings for token filters (part of the config hash)
    artifact_threshold: float | None = None  # fixed norm threshold for --exclude-artifacts (default: from each batch's norm gap)

    #: command-line spelling (saekit.cli.configcli): the flag names and choices the CLI always had
    CLI: ClassVar[dict[str, dict]] = {
        "hooks": {"flag": "--hook", "metavar": "HOOK"}, "tokens": {"choices": TOKEN_SELECTIONS},
        "dtype": {"choices": DTYPES}, "massive_tokens": {"choices": MASSIVE_POLICIES}}

    def __post_init__(self) -> None:
        if self.artifact_threshold is not None:  # kept in extra, where the filter and the config hash read it
            object.__setattr__(self, "extra", {**self.extra, "artifact_threshold": self.artifact_threshold})
        if isinstance(self.hooks, str):
            object.__setattr__(self, "hooks", (self.hooks,))
        object.__setattr__(self, "hooks", tuple(dict.fromkeys(self.hooks)))
        if not self.hooks:
            raise SaekitError("capture needs at least one --hook")
        if self.tokens not in TOKEN_SELECTIONS:
            raise SaekitError(f"--tokens {self.tokens!r} is not one of {', '.join(TOKEN_SELECTIONS)}")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise SaekitError(f"--dtype {self.dtype!r} is not one of {', '.join(DTYPES)}")
        if self.batch_size < 1:
            raise SaekitError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.limit is not None and self.limit < 1:
            raise SaekitError(f"--limit must be at least 1, got {self.limit}")
        if self.massive_tokens not in MASSIVE_POLICIES:
            raise SaekitError(f"--massive-tokens {self.massive_tokens!r} is not one of {', '.join(MASSIVE_POLICIES)}")
        if not self.massive_norm_ratio > 1:
            raise SaekitError(f"--massive-norm-ratio must be above 1, got {self.massive_norm_ratio}")
        if self.resume and self.overwrite:
            raise SaekitError("--resume and --overwrite contradict each other; pick one")

    def identity(self, dtype: str, world_size: int) -> dict:
        """The fields that decide the stored values (not how fast or where they are computed)."""
        return {"model": self.model, "data": self.data, "hooks": list(self.hooks), "tokens": self.tokens,
                "dtype": dtype, "limit": self.limit, "seed": self.seed, "world_size": world_size,
                "exclude_artifacts": self.exclude_artifacts, "extra": self.extra,
                "massive_tokens": [self.massive_tokens, self.massive_norm_ratio]}

    def config_hash(self, dtype: str, world_size: int) -> str:
        return fingerprint(self.identity(dtype, world_size))

    def as_dict(self) -> dict:
        return asdict(self)
