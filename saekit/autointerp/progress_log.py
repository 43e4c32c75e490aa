"""OUT/progress.jsonl: one line per finished latent, appended and fsynced as it finishes, so an
interrupted run keeps everything explained so far and `--resume` never explains a latent twice.

A line is an `ExplainedLatent` (saekit.results.explain_run): ``{"latent": 3, "explanation": {...}}``,
the `Explanation` names.json will hold. Lines of runs before that layout (the explanation's fields
flat beside "latent", without the client) are read too. A torn last line (the process died
mid-write) is ignored, and so is a line that is not a record."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject
from saekit.results.codec import decode_dataclass, encode
from saekit.results.explain_run import ExplainedLatent

_FLAT_KEYS = ("detection", "fuzzing", "fuzzing_active", "window_freq", "explained_on")


def _nested(rec: JSONObject, client: str) -> JSONObject:
    """A line of the flat layout ({"latent", "explanation": text, "detection", ...}) in the nested one."""
    if not isinstance(rec.get("explanation"), str):
        return rec
    explanation = {"text": rec["explanation"], "client": client, **{k: rec[k] for k in _FLAT_KEYS if k in rec}}
    return {"latent": rec.get("latent"), "explanation": explanation}


class ProgressLog:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = threading.Lock()

    def load(self, client: str) -> dict[int, ExplainedLatent]:
        """Every finished latent; ``client`` names the explainer of lines written before the client was recorded."""
        done: dict[int, ExplainedLatent] = {}
        if not self.path.is_file():
            return done
        text = self.path.read_text()
        if text and not text.endswith("\n"):  # torn last line: drop it so the next append starts clean
            text = text[: text.rfind("\n") + 1]
            with open(self.path, "r+") as f:
                f.truncate(len(text.encode()))
        for n, line in enumerate(text.splitlines(), 1):
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    continue
                rec = decode_dataclass(ExplainedLatent, _nested(data, client), f"{self.path}:{n}")
            except (ValueError, SaekitError):
                continue
            done[rec.latent] = rec
        return done

    def append(self, record: ExplainedLatent) -> None:
        line = json.dumps(encode(record)) + "\n"
        with self._lock, open(self.path, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
