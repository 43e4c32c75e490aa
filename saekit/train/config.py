"""TrainConfig: one frozen dataclass for a training run (the CLI's flags map onto it one to one)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from saekit.errors import SaekitError
from stores.split import DEFAULT_SALT as HOLDOUT_SALT

#: OpenAI's TopK recipe (Gao et al. 2024) scales Adam's learning rate as 1/sqrt(width):
#: lr = 2e-4 / sqrt(d_sae / 16384), i.e. 2e-4 at 16k latents, 4e-4 at 4k, 1e-4 at 64k.
BASE_LR = 2e-4
BASE_WIDTH = 16384


def auto_lr(d_sae: int) -> float:
    return BASE_LR / math.sqrt(d_sae / BASE_WIDTH)


@dataclass(frozen=True)
class TrainConfig:
    hook: str
    arch: str
    tokens: int
    out: str
    store: str | None = None  # path of the activation store (None when a source object is passed)
    expansion: float = 16.0
    d_sae: int | None = None  # overrides expansion
    k: int | None = None
    l1: float | None = None  # relu L1 coefficient (SAEConfig default when None)
    batch_size: int = 4096  # global batch: split evenly over distributed ranks
    lr: float | None = None  # None = auto_lr(d_sae)
    device: str = "auto"
    seed: int = 0
    resume: bool = False
    normalization: str = "scale"
    warmup_steps: int | None = None  # None: 5% of the steps, at most 1000
    decay_frac: float = 0.2  # linear decay to 0 over this final fraction of the steps
    grad_clip: float = 1.0
    k_aux: int | None = None  # None: d_in // 2
    aux_coeff: float = 1 / 32
    dead_tokens: int | None = None  # a latent silent this long is dead; None: min(10M, tokens / 10)
    resample_every: int | None = None  # relu: resample dead latents every N steps (None: steps // 8), 0 = never
    l1_decoder_norm: bool = False
    l0_coeff: float | None = None
    bandwidth: float | None = None
    init_threshold: float | None = None
    matryoshka_prefixes: tuple[int, ...] = ()
    data_partitions: int | None = None  # None: the world size (see saekit.train.data)
    sparse_kernels: bool = True
    autocast: str = "auto"  # auto: bf16 on CUDA, fp32 on CPU; "bf16" | "off"
    checkpoint_every_steps: int | None = None
    checkpoint_every_s: float = 120.0
    log_every: int = 10
    gm_sample: int = 4096  # rows for the geometric-median init of b_dec
    progress: bool = True
    # held-out split: this fraction of the samples (by a stable hash of the sample id, see
    # stores.split) never reaches training; recorded in the checkpoint for `saekit eval`. 0 = off.
    holdout: float = 0.1
    holdout_salt: str = HOLDOUT_SALT
    data_on_device: str = "auto"  # auto | on | off: hold the rows in device memory (saekit.train.resident)
    device_memory_budget: int | None = None  # bytes the rows may take there; None: half the free GPU memory / a quarter of RAM
    sweep: tuple[str, ...] = ()  # e.g. ("k=16,32,64", "expansion=8,16"): train_sweep trains every combination

    def __post_init__(self) -> None:
        if self.tokens <= 0:
            raise SaekitError(f"--tokens must be positive, got {self.tokens}")
        if self.batch_size <= 0:
            raise SaekitError(f"--batch-size must be positive, got {self.batch_size}")
        if self.expansion <= 0:
            raise SaekitError(f"--expansion must be positive, got {self.expansion}")
        if self.lr is not None and not self.lr > 0:
            raise SaekitError(f"--lr must be positive or 'auto', got {self.lr}")
        if self.autocast not in ("auto", "bf16", "off"):
            raise SaekitError(f"autocast must be auto, bf16 or off, got {self.autocast!r}")
        if not 0.0 <= self.holdout < 1.0:
            raise SaekitError(f"--holdout must be in [0, 1), got {self.holdout}")
        if self.data_on_device not in ("auto", "on", "off"):
            raise SaekitError(f"--data-on-device must be auto, on or off, got {self.data_on_device!r}")
        if self.device_memory_budget is not None and self.device_memory_budget < 0:
            raise SaekitError(f"--device-memory-budget must be non-negative, got {self.device_memory_budget}")
        object.__setattr__(self, "matryoshka_prefixes", tuple(self.matryoshka_prefixes))
        object.__setattr__(self, "sweep", tuple(self.sweep))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["matryoshka_prefixes"] = list(self.matryoshka_prefixes)
        d["sweep"] = list(self.sweep)
        return d

    @property
    def n_steps(self) -> int:
        return max(1, math.ceil(self.tokens / self.batch_size))

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


#: fields that must match when --resume continues a run (the rest may change, e.g. device, progress)
RESUME_KEYS = (
    "hook", "arch", "tokens", "expansion", "d_sae", "k", "l1", "batch_size", "lr", "seed", "normalization",
    "warmup_steps", "decay_frac", "grad_clip", "k_aux", "aux_coeff", "dead_tokens", "resample_every",
    "l1_decoder_norm", "l0_coeff", "bandwidth", "init_threshold", "matryoshka_prefixes", "data_partitions",
    "holdout", "holdout_salt",
)
