"""Resumable pipeline steps: a finished step leaves a marker and is skipped on the next run.

A step is finished when its marker exists and records the same configuration hash; changing a
step's configuration (or deleting its outputs) makes it run again, and every step after it. A
step whose configuration changed first removes the paths it owns (so a stale half-result is never
resumed); a step that was interrupted (no marker yet) finds its partial outputs and may resume.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from saekit.common.atomic import write_json_atomic
from saekit.common.jsontypes import JSONObject
from saekit.results.fingerprint import fingerprint

log = logging.getLogger(__name__)


def config_hash(config: JSONObject) -> str:
    return fingerprint(config)


@dataclass(frozen=True)
class StepResult:
    name: str
    reused: bool
    seconds: float
    info: JSONObject


class StepRunner:
    """Runs named steps under `root/.steps/`, chaining each step's hash into the next."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.marker_dir = self.root / ".steps"
        self.marker_dir.mkdir(parents=True, exist_ok=True)
        self._upstream = ""
        self.results: list[StepResult] = []

    def run(self, name: str, config: JSONObject, outputs: list[Path], fn: Callable[[], JSONObject | None],
            owned: list[Path] = ()) -> StepResult:
        digest = config_hash({"config": config, "upstream": self._upstream})
        marker = self.marker_dir / f"{name}.json"
        recorded = json.loads(marker.read_text()) if marker.exists() else None
        if recorded is not None and recorded.get("hash") != digest:
            log.info("step %s: configuration changed, removing its old outputs", name)
            for path in owned:
                _remove(Path(path))
        if recorded is not None and all(Path(p).exists() for p in outputs):
            if recorded.get("hash") == digest:
                log.info("step %s: reusing finished outputs", name)
                self._upstream = digest
                result = StepResult(name, True, 0.0, recorded.get("info", {}))
                self.results.append(result)
                return result
        marker.unlink(missing_ok=True)
        start = time.perf_counter()
        info = fn() or {}
        seconds = time.perf_counter() - start
        write_json_atomic(marker, {"hash": digest, "seconds": seconds, "info": info}, default=str)
        self._upstream = digest
        result = StepResult(name, False, seconds, info)
        self.results.append(result)
        return result


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
