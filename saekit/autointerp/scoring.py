"""Scores of a judge's verdicts against the truth, computed as delphi computes them per latent.

Verdicts are yes/no (a number is read as yes when >= 0.5); a verdict that could not be had (None) is
left out. Balanced accuracy = (true-positive rate + true-negative rate) / 2: always answering yes
scores 0.5, a perfect judge 1. Precision, recall and F1 of the "yes" class, 0 where undefined.
AUC is the ROC AUC of the judge's probabilities of "yes" (from token log-probabilities), the
Mann-Whitney probability that an activating window outranks a non-activating one, ties counting
half; without probabilities there is no AUC (yes/no answers would only repeat the balanced
accuracy). Every score is None when one class is missing: delphi would report half a rate."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def _valid(values: Sequence[float | bool | None], truth: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    keep = [i for i, v in enumerate(values) if v is not None]
    v = np.asarray([float(values[i]) for i in keep], dtype=np.float64)
    t = np.asarray([bool(truth[i]) for i in keep], dtype=bool)
    return v, t


def classification(predictions: Sequence[float | bool | None], truth: Sequence[bool]) -> dict[str, float | None]:
    """balanced_accuracy, precision, recall and f1 of the verdicts (None where one class is missing)."""
    v, t = _valid(predictions, truth)
    if t.all() or not t.any():
        return {"balanced_accuracy": None, "precision": None, "recall": None, "f1": None}
    yes = v >= 0.5
    tp, fp = int((yes & t).sum()), int((yes & ~t).sum())
    tn = int((~yes & ~t).sum())
    pos, neg = int(t.sum()), int((~t).sum())
    recall = tp / pos
    precision = tp / (tp + fp) if tp + fp else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"balanced_accuracy": (recall + tn / neg) / 2, "precision": precision, "recall": recall, "f1": f1}


def balanced_accuracy(predictions: Sequence[float | bool | None], truth: Sequence[bool]) -> float | None:
    return classification(predictions, truth)["balanced_accuracy"]


def roc_auc(probabilities: Sequence[float | bool | None], truth: Sequence[bool]) -> float | None:
    """ROC AUC of the probabilities that are known (None without any, or with one class missing)."""
    s, t = _valid(probabilities, truth)
    pos, neg = s[t], s[~t]
    if not len(pos) or not len(neg):
        return None
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))
