"""TrainConfig: one frozen dataclass for a training run (the CLI's flags map onto it one to one).

The run's own fields are declared here (RunFields); the architectures' hyper-parameters (``--k``,
``--l1``, ``--bandwidth``, ...) are the fields of their options dataclasses (saekit.sae.options, named
by each architecture's class), which TrainConfig inherits: so ``TrainConfig(k=32)``, a sweep over
``k`` and the flags keep their plain names, and ``--help`` imports no torch.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject
from saekit.sae.options import option_groups
from saekit.sae.registry import ARCHS
from stores.split import DEFAULT_SALT as HOLDOUT_SALT

#: OpenAI's TopK recipe (Gao et al. 2024) scales Adam's learning rate as 1/sqrt(width):
#: lr = 2e-4 / sqrt(d_sae / 16384), i.e. 2e-4 at 16k latents, 4e-4 at 4k, 1e-4 at 64k.
BASE_LR = 2e-4
BASE_WIDTH = 16384


def parse_bytes(value: str) -> int:
    """A size such as 4G, 512M, 1.5GiB or 1073741824, in bytes."""
    import argparse

    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    text = value.strip().upper().removesuffix("B").removesuffix("I")
    unit = text[-1:] if text[-1:] in units and not text[-1:].isdigit() else ""
    try:
        return int(float(text[: len(text) - len(unit)]) * units[unit])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a size such as 4G, 512M or 1073741824, got {value!r}") from exc


def auto_lr(d_sae: int) -> float:
    return BASE_LR / math.sqrt(d_sae / BASE_WIDTH)


OPTION_GROUPS = option_groups()


class _ArchFlagHelp(Mapping[str, dict[str, str]]):
    """TrainConfig.CLI (saekit.cli.configcli): --arch's help names the architectures registered when the
    parser is built, so one defined after this module (a plug-in, a test) is listed too."""

    def __getitem__(self, name: str) -> dict[str, str]:
        if name != "arch":
            raise KeyError(name)
        return {"help": "SAE architecture: " + " | ".join(ARCHS)}

    def __iter__(self) -> Iterator[str]:
        return iter(("arch",))

    def __len__(self) -> int:
        return 1


@dataclass(frozen=True)
class RunFields:
    """A training run's fields that belong to no architecture (TrainConfig adds the architectures')."""

    hook: str = field(metadata={"join": ",", "help": "hook point to train on, e.g. blocks.6.hook_resid_post; "
                                "several (repeated, or joined by commas) train a crosscoder on all of them"})
    arch: str  # (help: TrainConfig.CLI, the architectures known when the parser is built)
    tokens: int = field(metadata={"help": "training tokens (rows) to process"})
    out: str = field(metadata={"help": "output directory for the checkpoint"})
    store: str | None = field(default=None, metadata={
        "help": "activation store (.h5 file or shard directory); required unless a source object is passed"})
    expansion: float = field(default=16.0, metadata={"help": "d_sae / d_in"})
    d_sae: int | None = None  # number of latents; overrides --expansion
    batch_size: int = 4096  # global batch size: split evenly over distributed ranks
    lr: float | None = field(default=None, metadata={
        "help": "Adam learning rate or 'auto' (default): 2e-4 / sqrt(d_sae / 16384), as in Gao et al. 2024"})
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:N
    seed: int = 0  # seed of the initialisation, the shuffling and the held-out split
    resume: bool = False  # continue an interrupted run in --out
    normalization: str = field(default="scale", metadata={
        "choices": ("scale", "layernorm", "none"),
        "help": "input normalisation stored in the checkpoint (scale: to unit mean squared norm)"})
    warmup_steps: int | None = None  # LR warm-up steps (default 5% of the steps, at most 1000)
    decay_frac: float = 0.2  # linear decay to 0 over this final fraction of the steps
    grad_clip: float = 1.0  # gradient-norm clip
    dead_tokens: int | None = None  # tokens without firing after which a latent counts as dead (default min(10M, tokens/10))
    shard_latents: int = 1  # ranks one dictionary is split over by latent (0: all; the rest train other data), topk/batchtopk
    data_partitions: int | None = None  # store partitions that make up a global batch (default: the number of processes)
    sparse_kernels: bool = True  # decode from the k active latents (embedding_bag) instead of dense codes
    autocast: str = field(default="auto", metadata={
        "choices": ("auto", "bf16", "off"), "help": "mixed precision: auto = bf16 on CUDA, and for top-k style SAEs on a CPU with native bf16 "
                "(the k latents are chosen by a bf16 GEMM, their values computed in fp32); fp32 otherwise"})
    checkpoint_every_steps: int | None = field(default=None, metadata={
        "flag": "--checkpoint-every", "help": "write trainer state every N steps"})
    checkpoint_every_s: float = 120.0  # ... and at least every S seconds
    log_every: int = 10  # metrics.jsonl line every N steps
    gm_sample: int = 4096  # rows for the geometric-median init of b_dec
    # 2 GiB: a store's own 256 MiB windows hold a few hundred images' rows each, and batches drawn
    # from one window at a time cost held-out FVE (0.8776 against 0.8806 on the quickstart's DINOv2 store)
    shuffle_buffer_mib: float = field(default=2048.0, metadata={
        "help": "MiB of stored rows the shuffle mixes at a time (host memory of the streaming input, in the store's dtype)"})
    progress: bool = True  # show the progress bar
    # held-out split: this fraction of the samples (by a stable hash of the sample id, see
    # stores.split) never reaches training; recorded in the checkpoint for `saekit eval`. 0 = off.
    holdout: float = field(default=0.1, metadata={
        "help": "fraction of samples held out of training (stable hash of the sample id), for `saekit eval`; 0 = off"})
    holdout_salt: str = HOLDOUT_SALT  # salt of the held-out hash (change it for a different split)
    data_on_device: str = field(default="auto", metadata={
        "choices": ("auto", "on", "off"),
        "help": "hold the training rows in device memory (auto: when they fit --device-memory-budget)"})
    device_memory_budget: int | None = field(default=None, metadata={
        "parse": parse_bytes,
        "help": "bytes the resident rows may take, e.g. 8G (default: half the free GPU memory; "
                "a quarter of the available RAM on CPU)"})
    target_hook: tuple[str, ...] = field(default=(), metadata={
        "help": "train a transcoder: the hook the decoder writes (e.g. blocks.6.hook_mlp_out for --hook "
                "blocks.6.ln2.hook_normalized), captured in the same store as --hook"})
    skip: bool = False  # skip transcoder: add a linear path from the input to the target (Paulo et al. 2025)
    sweep: tuple[str, ...] = field(default=(), metadata={
        "help": "FIELD=V1,V2,...: train one SAE per value (repeat for a grid, e.g. --sweep k=16,32,64 "
                "--sweep expansion=8,16) from one pass over the data, each into --out/<name>"})



@dataclass(frozen=True)
class TrainConfig(*OPTION_GROUPS, RunFields):  # type: ignore[misc]  # bases from the architecture registry
    """One training run: RunFields, then every architecture's options (their flags follow the run's)."""

    CLI: ClassVar[Mapping[str, dict[str, str]]] = _ArchFlagHelp()

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise SaekitError(f"unknown SAE architecture {self.arch!r} (expected one of {', '.join(ARCHS)})")
        if self.tokens <= 0:
            raise SaekitError(f"--tokens must be positive, got {self.tokens}")
        if self.batch_size <= 0:
            raise SaekitError(f"--batch-size must be positive, got {self.batch_size}")
        if self.expansion <= 0:
            raise SaekitError(f"--expansion must be positive, got {self.expansion}")
        if self.lr is not None and not self.lr > 0:
            raise SaekitError(f"--lr must be positive or 'auto', got {self.lr}")
        if not self.shuffle_buffer_mib > 0:
            raise SaekitError(f"--shuffle-buffer-mib must be positive, got {self.shuffle_buffer_mib}")
        if self.autocast not in ("auto", "bf16", "off"):
            raise SaekitError(f"autocast must be auto, bf16 or off, got {self.autocast!r}")
        if not 0.0 <= self.holdout < 1.0:
            raise SaekitError(f"--holdout must be in [0, 1), got {self.holdout}")
        if self.data_on_device not in ("auto", "on", "off"):
            raise SaekitError(f"--data-on-device must be auto, on or off, got {self.data_on_device!r}")
        if self.device_memory_budget is not None and self.device_memory_budget < 0:
            raise SaekitError(f"--device-memory-budget must be non-negative, got {self.device_memory_budget}")
        self.validate()  # the architectures' options
        for f in dataclasses.fields(self):  # repeatable flags may arrive as lists
            if isinstance(getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))
        if self.skip and not self.target_hook:
            raise SaekitError("--skip adds a transcoder's linear skip path: it needs --target-hook")

    def to_dict(self) -> JSONObject:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @property
    def n_steps(self) -> int:
        return max(1, math.ceil(self.tokens / self.batch_size))

    def replace(self, **changes: int | float | str | bool | tuple[str, ...] | tuple[int, ...] | None) -> "TrainConfig":
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


#: fields that must match when --resume continues a run (the rest may change, e.g. device, progress)
RESUME_KEYS = (
    "hook", "arch", "tokens", "expansion", "d_sae", "batch_size", "lr", "seed", "normalization",
    "warmup_steps", "decay_frac", "grad_clip", "dead_tokens",
    "data_partitions", "holdout", "holdout_salt", "shuffle_buffer_mib", "target_hook", "skip",
) + tuple(dict.fromkeys(f.name for group in OPTION_GROUPS for f in dataclasses.fields(group)))  # every architecture's
