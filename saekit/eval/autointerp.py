"""The autointerp column: explanation scores of an SAE's latents, when `saekit explain` has scored them.

Read from the names document (saekit.results.names) in the given directory: every latent whose
explanation carries a detection and/or fuzzing judgement contributes that judgement's balanced
accuracy (0.5 = chance, 1 = the explanation predicts exactly where the latent fires). The column
is skipped, with the reason, when there is no names document or no scored explanation. The
document must describe the same SAE (its fingerprint), otherwise the scores belong to another SAE.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject


def autointerp_scores(names_dir: str | None, sae_fingerprint: str | None = None) -> JSONObject:
    if names_dir is None:
        return {"skipped": "no explanations given (--names DIR with scores from `saekit explain`)"}
    from saekit.results.names import NamesDocument

    try:
        doc = NamesDocument.load(names_dir)
    except SaekitError as exc:
        return {"skipped": str(exc)}
    if sae_fingerprint and doc.sae.fingerprint and doc.sae.fingerprint != sae_fingerprint:
        return {"skipped": f"{names_dir} describes another SAE (fingerprint {doc.sae.fingerprint[:12]})"}
    det, fuzz = [], []
    for lat in doc.latents:
        ex = lat.explanation
        if ex is None:
            continue
        if ex.detection is not None and ex.detection.balanced_accuracy is not None:
            det.append(ex.detection.balanced_accuracy)
        if ex.fuzzing is not None and ex.fuzzing.balanced_accuracy is not None:
            fuzz.append(ex.fuzzing.balanced_accuracy)
    if not det and not fuzz:
        return {"skipped": f"{names_dir} holds no scored explanations (run `saekit explain` with scoring)"}
    both = det + fuzz
    out: dict[str, Any] = {"n_latents": int(sum(1 for lat in doc.latents if lat.explanation is not None)),
                           "mean": float(np.mean(both))}
    if det:
        out["detection_balanced_accuracy"] = float(np.mean(det))
        out["n_detection"] = len(det)
    if fuzz:
        out["fuzzing_balanced_accuracy"] = float(np.mean(fuzz))
        out["n_fuzzing"] = len(fuzz)
    return out
