"""Resumable pipeline steps: a finished step leaves a marker and is skipped on the next run.

A step is finished when its marker exists and records the same configuration hash; changing a
step's configuration (or deleting its outputs) makes it run again, and every step after it. A
step whose configuration changed first removes the paths it owns (so a stale half-result is never
resumed); a step that was interrupted (no marker yet) finds its partial outputs and may resume.
"""
from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from saekit.common.atomic import write_json_atomic
from saekit.common.errors import SaekitError
from saekit.common.jsonfile import read_json_object
from saekit.common.jsontypes import JSONObject
from saekit.results.fingerprint import fingerprint

log = logging.getLogger(__name__)


def config_hash(config: JSONObject) -> str:
    return fingerprint(config)


@dataclass(frozen=True)
class StepMarker:
    """``.steps/<name>.json``: the finished step's configuration hash, its duration and what it reported."""

    hash: str
    seconds: float
    info: JSONObject

    @classmethod
    def load(cls, path: Path) -> "StepMarker | None":
        """The marker at ``path``; None when there is none, or when it is unreadable (a marker torn by a
        crash only means the step runs again)."""
        if not path.exists():
            return None
        try:
            data = read_json_object(path)
            return cls(hash=str(data["hash"]), seconds=float(data.get("seconds", 0.0)), info=dict(data.get("info") or {}))
        except (SaekitError, KeyError, TypeError, ValueError) as exc:
            log.warning("step marker %s is unreadable (%s): the step runs again", path, exc)
            return None

    def save(self, path: Path) -> None:
        write_json_atomic(path, {"hash": self.hash, "seconds": self.seconds, "info": self.info}, default=str)


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
        recorded = StepMarker.load(marker)
        if recorded is not None and recorded.hash != digest:
            log.info("step %s: configuration changed, removing its old outputs", name)
            for path in owned:
                _remove(Path(path))
        if recorded is not None and all(Path(p).exists() for p in outputs):
            if recorded.hash == digest:
                log.info("step %s: reusing finished outputs", name)
                self._upstream = digest
                result = StepResult(name, True, 0.0, recorded.info)
                self.results.append(result)
                return result
        marker.unlink(missing_ok=True)
        start = time.perf_counter()
        info = fn() or {}
        seconds = time.perf_counter() - start
        StepMarker(digest, seconds, info).save(marker)
        self._upstream = digest
        result = StepResult(name, False, seconds, info)
        self.results.append(result)
        return result


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
