"""The `export` command: ``export(ExportConfig(...))`` writes an SAE in another library's checkpoint
format (saekit.sae.formats.export_sae); the config lives here, away from torch, for the CLI's --help."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from saekit.common.errors import SaekitError


@dataclass(frozen=True)
class ExportConfig:
    """`saekit export`: write the SAE named by `sae` (any spec) as a `format` checkpoint in the new folder `out`."""

    sae: str = field(metadata={"help": "SAE: a saekit checkpoint directory or FORMAT:PATH (saelens:, sparsify:, "
                                       "dictlearn:, saev:, gemmascope:; PATH may be hf:REPO[@REV]/PATH)"})
    format: Literal["saelens", "sparsify", "dictlearn"] = field(metadata={"help": "format to write"})
    out: str = field(metadata={"help": "new (or empty) output directory"})


def export(cfg: ExportConfig) -> Path:
    from saekit.sae import load_sae
    from saekit.sae.formats import EXPORTERS, export_sae

    if cfg.format not in EXPORTERS:  # before loading: a wrong format needs no SAE
        raise SaekitError(f"--format {cfg.format!r} is not one saekit writes (expected one of {', '.join(EXPORTERS)})")
    return export_sae(load_sae(cfg.sae), cfg.format, cfg.out)
