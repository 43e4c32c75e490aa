"""What `saekit capture` prints after the run, and its `--list-hooks` shortcut (a model's hook names)."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from saekit.capture.config import CaptureConfig
    from saekit.capture.run import CaptureResult


def summarize(result: CaptureResult, cfg: CaptureConfig) -> None:
    rows = ", ".join(f"{h}: {n} rows" for h, n in result.rows.items())
    print(f"wrote {result.shard} ({result.n_samples} samples; {rows})"
          + (f"; store {result.path}" if result.path != result.shard else ""))


def list_hooks(model: str, device: str) -> None:
    """`saekit capture --list-hooks`: the model's hook names, one a line."""
    from saekit.models import load_model

    print("\n".join(load_model(model, device).hook_names()))
