"""CaptureConfig: everything that decides what a capture writes."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from saekit.capture.massive import DEFAULT_NORM_RATIO, POLICIES as MASSIVE_POLICIES
from saekit.errors import SaekitError
from saekit.models.base import TOKEN_SELECTIONS
from saekit.results.fingerprint import fingerprint

DTYPES = ("float16", "bfloat16", "float32")


@dataclass(frozen=True)
class CaptureConfig:
    """model / data: specs for load_model / load_dataset. out: a .h5 file, or (under torchrun, or
    with world_size > 1) a shard directory. dtype None keeps the model's dtype. limit takes the first
    N samples. massive_tokens (auto | drop | keep, see saekit.capture.massive): auto drops language
    models' massive-activation tokens (the first position and rows above massive_norm_ratio x the
    batch's median norm). exclude_artifacts is reserved for the artifact analysis: when set, capture asks
    `saekit.capture.artifact_tokens.make_token_filter(model, config)` for a token filter."""

    model: str
    data: str
    hooks: tuple[str, ...]
    out: str
    tokens: str = "all"
    dtype: str | None = None
    batch_size: int = 32
    limit: int | None = None
    resume: bool = False
    overwrite: bool = False
    device: str = "auto"
    exclude_artifacts: bool = False
    massive_tokens: str = "auto"
    massive_norm_ratio: float = DEFAULT_NORM_RATIO
    seed: int = 0
    progress: bool = True
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
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
