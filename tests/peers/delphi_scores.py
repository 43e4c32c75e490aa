"""Run with the peer venv's python (eai-delphi 0.1.3 installed --no-deps), never with saekit's:
delphi's own scorer code computes its numbers from judgements saekit wrote, for
tests/test_autointerp_delphi.py to compare.

    python tests/peers/delphi_scores.py IN.json OUT.json

IN.json: {"replies": [{"text", "n", "logprobs": [[token, logprob, [[alt, logprob], ...]], ...] | null}],
          "groups": [{"activating": [...], "prediction": [...], "probability": [... | null]}],
          "windows": [{"str_tokens": [...], "activations": [...]}],
          "test_sets": [[[activations of one window], ...], ...]}
OUT.json: per reply delphi's Classifier._parse (predictions, probabilities); per group its per-latent
metrics (compute_confusion -> compute_classification_metrics, compute_auc); per window the text
its fuzzing highlights ("true" marks, _prepare_text with n_incorrect=0); per test set the number of
wrong marks FuzzingScorer uses (mean_n_activations_ceil).

Only the modules that compute these are imported: delphi's package __init__ files pull in vLLM,
FAISS and sentence-transformers, so the packages on the way are registered bare (their own
modules load from delphi's files unchanged), and `blobfile` (file I/O of latent records, unused
here) is an empty module. Nothing of the scoring is replaced.
"""
from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from types import SimpleNamespace


def _bare_packages() -> None:
    import delphi

    root = Path(delphi.__file__).parent
    for name in ("delphi.clients", "delphi.latents", "delphi.scorers", "delphi.scorers.classifier", "delphi.log"):
        mod = types.ModuleType(name)
        mod.__path__ = [str(root.joinpath(*name.split(".")[1:]))]
        sys.modules[name] = mod
    sys.modules.setdefault("blobfile", types.ModuleType("blobfile"))
    from delphi.latents import latents

    for attr in ("ActivatingExample", "NonActivatingExample", "LatentRecord", "Example", "Latent"):
        setattr(sys.modules["delphi.latents"], attr, getattr(latents, attr))


def main(inp: str, out: str) -> None:
    _bare_packages()
    import pandas as pd
    import torch
    from delphi.latents.latents import ActivatingExample
    from delphi.log.result_analysis import compute_auc, compute_classification_metrics, compute_confusion
    from delphi.scorers.classifier.detection import DetectionScorer
    from delphi.scorers.classifier.fuzz import FuzzingScorer
    from delphi.scorers.classifier.sample import _prepare_text

    data = json.loads(Path(inp).read_text())
    parsed = []
    for r in data["replies"]:
        scorer = DetectionScorer(client=None, n_examples_shown=r["n"], log_prob=r["logprobs"] is not None)
        lps = None if r["logprobs"] is None else [
            SimpleNamespace(token=t, logprob=lp, top_logprobs=[SimpleNamespace(token=a, logprob=alp) for a, alp in top])
            for t, lp, top in r["logprobs"]]
        try:
            predictions, probabilities = scorer._parse(r["text"], lps)
        except (AssertionError, ValueError):
            predictions, probabilities = None, None
        parsed.append({"predictions": predictions, "probabilities": probabilities})
    metrics = []
    for g in data["groups"]:
        df = pd.DataFrame({"activating": g["activating"], "prediction": g["prediction"],
                           "probability": [float("nan") if p is None else p for p in g["probability"]]})
        m = compute_classification_metrics(compute_confusion(df))
        auc = compute_auc(df)
        metrics.append({k: float(m[k]) for k in ("accuracy", "precision", "recall", "f1_score")}
                       | {"auc": None if auc is None else float(auc)})
    marked = []
    for w in data["windows"]:
        ex = ActivatingExample(tokens=torch.zeros(len(w["str_tokens"]), dtype=torch.long),
                               activations=torch.tensor(w["activations"], dtype=torch.float32),
                               str_tokens=w["str_tokens"])
        marked.append(_prepare_text(ex, n_incorrect=0, threshold=0.3, highlighted=True)[0])
    fuzz = FuzzingScorer(client=None)
    n_incorrect = [fuzz.mean_n_activations_ceil([
        ActivatingExample(tokens=torch.zeros(len(a), dtype=torch.long), activations=torch.tensor(a, dtype=torch.float32))
        for a in test]) for test in data["test_sets"]]
    Path(out).write_text(json.dumps({"parsed": parsed, "metrics": metrics, "marked": marked,
                                     "n_incorrect": n_incorrect}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
