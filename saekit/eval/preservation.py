"""ViSAEBench's M3, downstream classification preservation, on per-sample mean-pooled activations.

saekit's own implementation of what ViSAEBench 0.1.0 computes with its default settings
(tests/test_eval_visaebench.py runs ViSAEBench's code on the same activations and labels):

  - each sample's activations and the SAE's reconstructions are mean-pooled over its rows;
  - classes are numbered in sorted order; one stratified split holds out TEST_SIZE of the samples
    (scikit-learn's train_test_split, random_state = seed, 42 in ViSAEBench; unstratified when a
    class has a single sample);
  - a logistic regression (lbfgs, C = 1, max_iter = 1000, random_state = seed, unscaled features)
    is fitted on the training samples' pooled activations and scored on the test samples' pooled
    activations (accuracy_original) and pooled reconstructions (accuracy_reconstructed);
  - accuracy_gap = original - reconstructed; preservation_ratio_raw = reconstructed / original (0 when
    the original accuracy is 0), and preservation_ratio is that clamped to [0, 2].
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject

TEST_SIZE = 0.2
SEED = 42  # ViSAEBench's default
C = 1.0
MAX_ITER = 1000


def visaebench_preservation(pooled_x: np.ndarray, pooled_xhat: np.ndarray, labels: Sequence[str],
                            seed: int = SEED) -> JSONObject:
    """M3 on the labelled samples (unlabelled ones, label "", are left out)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    y_str = np.asarray(labels, dtype=object).astype(str)
    keep = y_str != ""
    classes, y = np.unique(y_str[keep], return_inverse=True)
    if len(classes) < 2:
        raise SaekitError(f"downstream preservation needs labelled samples of at least two classes; the "
                          f"{len(y_str)} evaluated samples have {len(classes)}")
    X = np.asarray(pooled_x, np.float32)[keep]
    Xh = np.asarray(pooled_xhat, np.float32)[keep]
    stratify = y if np.bincount(y).min() >= 2 else None
    try:
        tr, te = train_test_split(np.arange(len(y)), test_size=TEST_SIZE, stratify=stratify, random_state=seed)
    except ValueError as exc:
        raise SaekitError(f"downstream preservation: cannot split the {len(y)} labelled samples of {len(classes)} "
                          f"classes ({exc})") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = LogisticRegression(solver="lbfgs", max_iter=MAX_ITER, C=C, random_state=seed).fit(X[tr], y[tr])
    acc_orig = float(clf.score(X[te], y[te]))
    acc_rec = float(clf.score(Xh[te], y[te]))
    raw = acc_rec / acc_orig if acc_orig > 0 else 0.0
    return {"preservation_ratio": float(min(max(raw, 0.0), 2.0)), "preservation_ratio_raw": raw,
            "accuracy_original": acc_orig, "accuracy_reconstructed": acc_rec, "accuracy_gap": acc_orig - acc_rec,
            "n_samples": int(len(y)), "n_test": int(len(te)), "n_classes": int(len(classes)), "seed": int(seed)}
