"""OUT/progress.jsonl: one line per finished latent, appended and fsynced as it finishes, so an
interrupted run keeps everything explained so far and `--resume` never explains a latent twice.
A torn last line (the process died mid-write) is ignored."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from saekit.common.jsontypes import JSONObject

#: one finished latent: latent, explanation, window_freq, explained_on and its scores (detection, fuzzing, ...)
LatentRecord = JSONObject


class ProgressLog:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = threading.Lock()

    def load(self) -> dict[int, LatentRecord]:
        done: dict[int, LatentRecord] = {}
        if not self.path.is_file():
            return done
        text = self.path.read_text()
        if text and not text.endswith("\n"):  # torn last line: drop it so the next append starts clean
            text = text[: text.rfind("\n") + 1]
            with open(self.path, "r+") as f:
                f.truncate(len(text.encode()))
        for line in text.splitlines():
            try:
                rec = json.loads(line)
                done[int(rec["latent"])] = rec
            except (ValueError, KeyError, TypeError):
                continue
        return done

    def append(self, record: LatentRecord) -> None:
        line = json.dumps(record) + "\n"
        with self._lock, open(self.path, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
