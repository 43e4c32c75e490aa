"""The autointerp column: the mean explanation score of an SAE's latents, when scores exist.

Explanations with detection / fuzzing scores live in a names directory (names.json, one entry per
latent under "latents"); a latent's score is the mean balanced accuracy of the detection and
fuzzing judgements in its `explanation` (written by `saekit explain`), else its "autointerp"
value (a number, or a dict whose numeric values are averaged). Without such scores the column is reported as skipped.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def _score(entry: dict[str, Any]) -> float | None:
    expl = entry.get("explanation")
    if isinstance(expl, dict):  # `saekit explain`: the mean of its detection and fuzzing balanced accuracies
        nums = [float(j["balanced_accuracy"]) for j in (expl.get("detection"), expl.get("fuzzing"))
                if isinstance(j, dict) and isinstance(j.get("balanced_accuracy"), (int, float))]
        if nums:
            return float(np.mean(nums))
    v = entry.get("autointerp")
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, dict):
        nums = [float(x) for x in v.values() if isinstance(x, (int, float))]
        return float(np.mean(nums)) if nums else None
    return None


def autointerp_scores(names_dir: str | None) -> dict[str, Any]:
    if names_dir is None:
        return {"skipped": "no explanations with scores given (--names DIR written by `saekit explain`)"}
    path = Path(names_dir) / "names.json"
    if not path.is_file():
        return {"skipped": f"{path} not found"}
    try:
        doc = json.loads(path.read_text())
    except ValueError as exc:
        return {"skipped": f"{path} is not JSON ({exc})"}
    latents = doc.get("latents", []) if isinstance(doc, dict) else []
    scores = [s for s in (_score(e) for e in latents if isinstance(e, dict)) if s is not None]
    if not scores:
        return {"skipped": f"{path} holds no explanation scores (run `saekit explain` with scoring)"}
    return {"n_latents": len(scores), "mean": float(np.mean(scores)), "median": float(np.median(scores))}
