"""The configs of `saekit eval` and `saekit compare` and the names of the metric suites (no torch here:
the CLI's --help imports only this)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from saekit.common.errors import SaekitError

#: the named suites; which metrics each runs is declared by the metrics (saekit.eval.registry), "all" runs every one
SUITE_NAMES = ("core", "vision", "text", "saebench", "visaebench", "all")
SPLITS = ("auto", "holdout", "train", "all")  # see saekit.eval.rows
SAE_SPEC = ("SAE: a saekit checkpoint directory or FORMAT:PATH (saelens:, sparsify:, dictlearn:, saev:, gemmascope:; "
            "PATH may be hf:REPO[@REV]/PATH)")


@dataclass(frozen=True)
class EvalConfig:
    sae: str = dataclasses.field(metadata={"help": SAE_SPEC})
    store: str  # activation store to evaluate on
    hook: str | None = None  # hook in the store (default: the SAE's hook)
    suite: str = "core"  # metric suite; 'all' skips what does not apply, named suites fail on it
    split: str = "auto"  # rows to evaluate (auto: the held-out samples recorded in the checkpoint)
    holdout: float | None = None  # held-out fraction for SAEs whose checkpoint records none (e.g. foreign SAEs)
    max_rows: int | None = 500_000  # evaluate at most N rows (whole samples)
    max_samples: int | None = 20_000  # ... and at most N samples
    batch_size: int = 4096  # rows per SAE forward
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:N
    reference_sae: str | None = None  # second SAE for the stability metric
    ms_embeddings: str | None = None  # embeddings for the Monosemanticity Score: hook:OTHER_HOOK, text, or FILE.npy (default: an encoder other than the SAE's input, chosen from the store's model)
    ms_max_samples: int | None = 1024  # evaluated samples the chosen encoder embeds for the Monosemanticity Score (a seeded subset)
    names: str | None = None  # names directory with explanation scores (autointerp column)
    out: str | None = None  # also write the evaluation document (eval.json) into this directory
    seed: int = 0  # seed of the metrics' random choices
    model: str | None = None  # the SAE's model (e.g. random:gpt2, offline:smollm2-135m): --downstream and feature absorption
    data: str | None = None  # dataset spec for --downstream (e.g. bundled:austen, DIR)
    downstream: bool = False  # also splice the SAE into the model (downstream fidelity)
    n_samples: int = 64  # samples for --downstream
    downstream_batch_size: int = 8  # samples per model forward for --downstream
    progress: bool = False  # show a progress bar for --downstream

    CLI: ClassVar[dict[str, dict]] = {"suite": {"choices": SUITE_NAMES}, "split": {"choices": SPLITS}}

    def __post_init__(self) -> None:
        if self.suite not in SUITE_NAMES:
            raise SaekitError(f"--suite must be one of {', '.join(SUITE_NAMES)}, got {self.suite!r}")
        if self.downstream and not (self.model and self.data):
            raise SaekitError("--downstream needs --model MODEL and --data DATA")


@dataclass(frozen=True)
class CompareConfig:
    saes: tuple[str, ...] = dataclasses.field(metadata={"flag": "--sae", "help": "SAE checkpoint directory (repeat for each SAE)"})
    store: str  # activation store the SAEs read
    out: str  # output directory (compare.json, report.html)
    names: tuple[str, ...] = dataclasses.field(default=(), metadata={
        "flag": "--name", "help": "display name of each --sae, in order (default: the checkpoint directory names)"})
    suite: str = dataclasses.field(default="all", metadata={
        "choices": SUITE_NAMES, "help": "metric suite (all: what applies to the store, the rest reported as skipped)"})
    hook: str | None = None  # hook in the store (default: the SAEs' hook)
    split: str = dataclasses.field(default="auto", metadata={
        "choices": SPLITS, "help": "rows to compare on (auto: the held-out samples the checkpoints record)"})
    holdout: float | None = None  # held-out fraction for SAEs that record none
    max_rows: int | None = 500_000  # evaluate at most N rows (whole samples)
    max_samples: int | None = 20_000  # ... and at most N samples
    batch_size: int = 4096  # rows per SAE forward
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:N
    ms_embeddings: str | None = None  # hook:OTHER_HOOK, text, or FILE.npy (Monosemanticity Score; default: chosen from the store's model)
    ms_max_samples: int | None = 1024  # evaluated samples the chosen encoder embeds for the Monosemanticity Score
    model: str | None = None  # the SAEs' language model (feature absorption)
    seed: int = 0  # seed of the metrics' random choices

    def __post_init__(self) -> None:
        object.__setattr__(self, "saes", tuple(self.saes))
        object.__setattr__(self, "names", tuple(self.names))
        if len(self.saes) < 1:
            raise SaekitError("compare needs at least one --sae")
        if self.names and len(self.names) != len(self.saes):
            raise SaekitError(f"--name was given {len(self.names)} times for {len(self.saes)} SAEs")
        if self.suite not in SUITE_NAMES:
            raise SaekitError(f"--suite must be one of {', '.join(SUITE_NAMES)}, got {self.suite!r}")
