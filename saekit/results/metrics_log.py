"""MetricsRecord: one line of metrics.jsonl, the training log `saekit train` appends next to each checkpoint.

One JSON object per line, every `log_every` steps, over the steps since the line before (a window);
no kind or format_version, so a line stays one flat record. `MetricsLog.load(directory or file)`
reads the whole log (a torn last line, from a process killed while writing it, is left out);
`MetricsRecord.dumps()` is the line a writer appends.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from saekit.common.errors import SaekitError
from saekit.results.codec import decode_dataclass, encode

METRICS_FILENAME = "metrics.jsonl"


@dataclass(frozen=True)
class MetricsRecord:
    step: int                         # optimiser steps done
    tokens: int                       # rows trained on so far (step * batch size)
    lr: float                         # learning rate of the last step
    loss: float                       # mean training loss over the window
    mse: float                        # mean squared error per output dimension over the window
    fve: float                        # fraction of variance explained over the window (1 - SSE / SS about the mean)
    l0: float                         # mean active latents per row over the window
    dead_frac: float                  # fraction of latents that have not fired within the dead-latent horizon
    aux_loss: float                   # mean auxiliary loss (AuxK) over the window (0 without one)
    tokens_per_s: float               # rows per second since the loop started

    def dumps(self) -> str:
        """The record as one line of metrics.jsonl (without the newline)."""
        return json.dumps(encode(self))


@dataclass(frozen=True)
class MetricsLog:
    """Every record of one metrics.jsonl, in order."""

    records: tuple[MetricsRecord, ...]

    @classmethod
    def load(cls, where: str | os.PathLike) -> "MetricsLog":
        """From a checkpoint directory or the file itself; an empty log when the file does not exist yet.
        A line that is not a record is a one-line SaekitError naming the file and line."""
        where = Path(where)
        path = where / METRICS_FILENAME if where.is_dir() else where
        if not path.is_file():
            return cls(())
        text = path.read_text(encoding="utf-8")
        if text and not text.endswith("\n"):  # torn last line: the writer died mid-line
            text = text[: text.rfind("\n") + 1]
        records = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SaekitError(f"{path}:{n} is not valid JSON ({exc.msg})") from None
            records.append(decode_dataclass(MetricsRecord, data, f"{path}:{n}"))
        return cls(tuple(records))

    def last(self) -> MetricsRecord | None:
        """The latest record (None for an empty log)."""
        return self.records[-1] if self.records else None
