"""Trainer state for --resume: one file written atomically (temp + fsync + rename)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from saekit.common.errors import SaekitError
from saekit.common.atomic import write_bytes_atomic
from saekit.results.metrics_log import METRICS_FILENAME

STATE_NAME = "trainer_state.pt"
METRICS_NAME = METRICS_FILENAME  # one MetricsRecord a line (saekit.results.metrics_log)


def save_state(out_dir: Path, state: dict[str, Any]) -> None:  # Any: tensors, optimiser state, configs
    """Streamed to a temp file (no second in-memory copy of the optimiser state), fsynced, renamed."""
    save_states([(out_dir, state)])


def save_states(states: list[tuple[Path, dict[str, Any]]]) -> None:  # Any: as save_state
    """Several runs' states (a sweep's members): every temp file written and fsynced first, then
    renamed one after the other, so the members' checkpoints move together."""
    moves = []
    for out_dir, state in states:
        path = out_dir / STATE_NAME
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        moves.append((tmp, path))
    for tmp, path in moves:
        os.replace(tmp, path)


def load_state(out_dir: Path) -> dict[str, Any]:  # Any: what save_state pickled (TrainMember.state)
    path = out_dir / STATE_NAME
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a damaged state file is a user-facing condition, not a crash
        raise SaekitError(f"cannot read trainer state {path} ({type(exc).__name__}); delete it to start over") from exc


def truncate_metrics(out_dir: Path, n_lines: int) -> None:
    """Drop metric lines written after the checkpoint that --resume continues from."""
    path = out_dir / METRICS_NAME
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)[:n_lines]
    write_bytes_atomic(path, "".join(lines).encode(), fsync=True)


def has_state(out_dir: Path) -> bool:
    return (out_dir / STATE_NAME).is_file()


def remove_stale_tmp(out_dir: Path) -> None:
    for p in out_dir.glob(".*.tmp*"):
        try:
            os.remove(p)
        except OSError:
            pass
