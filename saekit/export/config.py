"""The config of `saekit export` (torch-free, for the CLI's --help)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class ExportConfig:
    """`saekit export`: write the SAE named by `sae` (any spec) as a `format` checkpoint in the new folder `out`."""

    sae: str = field(metadata={"help": "SAE: a saekit checkpoint directory or FORMAT:PATH (saelens:, sparsify:, "
                                       "dictlearn:, saev:, gemmascope:; PATH may be hf:REPO[@REV]/PATH)"})
    format: Literal["saelens", "sparsify", "dictlearn"] = field(metadata={"help": "format to write"})
    out: str = field(metadata={"help": "new (or empty) output directory"})
