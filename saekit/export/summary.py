"""What `saekit export` prints after the run."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from saekit.export.config import ExportConfig


def summarize(result: Path, cfg: ExportConfig) -> None:
    print(f"wrote {result} ({cfg.format})")
