"""Balanced accuracy and ROC AUC of yes/no (or probability) answers against the truth.

Balanced accuracy = (true-positive rate + true-negative rate) / 2 with a score >= 0.5 read as
"activates": always answering yes scores 0.5, a perfect judge 1, a coin ~0.5. AUC is the
Mann-Whitney probability that a random activating sample scores above a random non-activating one
(ties count half), so binary answers give AUC = balanced accuracy and confidences refine it.
Both are None when one class is missing."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def balanced_accuracy(scores: Sequence[float], truth: Sequence[bool]) -> float | None:
    s = np.asarray(scores, dtype=np.float64) >= 0.5
    t = np.asarray(truth, dtype=bool)
    if t.all() or not t.any():
        return None
    return float((s[t].mean() + (~s[~t]).mean()) / 2)


def roc_auc(scores: Sequence[float], truth: Sequence[bool]) -> float | None:
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(truth, dtype=bool)
    pos, neg = s[t], s[~t]
    if not len(pos) or not len(neg):
        return None
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))
