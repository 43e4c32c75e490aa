"""The `export` command: ``export(ExportConfig(...))`` writes an SAE in another library's checkpoint
format (saekit.sae.formats.export_sae) and returns the written directory."""
from __future__ import annotations

from pathlib import Path

from saekit.common.errors import SaekitError
from saekit.export.config import ExportConfig


def export(cfg: ExportConfig) -> Path:
    from saekit.sae import load_sae
    from saekit.sae.formats import EXPORTERS, export_sae

    if cfg.format not in EXPORTERS:  # before loading: a wrong format needs no SAE
        raise SaekitError(f"--format {cfg.format!r} is not one saekit writes (expected one of {', '.join(EXPORTERS)})")
    return export_sae(load_sae(cfg.sae), cfg.format, cfg.out)
