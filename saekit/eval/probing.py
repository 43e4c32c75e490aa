"""Sparse probing and downstream preservation: logistic probes on per-sample (mean-pooled) features.

Sparse probing: SAEBench's protocol on the user's labels (saekit.eval.saebench_probing), over the
classes with at least MIN_PER_CLASS labelled samples in them and outside them.

Downstream preservation: one multinomial probe per fold fitted on the raw pooled activations of
the training folds, scored on the held-out fold's raw activations and on the SAE's reconstructions
of them: how much class information survives the SAE.
"""
from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject
from saekit.eval.saebench_probing import balanceable, class_accuracies, class_sets, split_classes

KS = (1, 2, 5, 10, 20)
MIN_PER_CLASS = 4
MAX_FOLDS = 5


def _probe() -> Any:
    """Standardised features, multinomial L2 logistic regression, C = 1."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=300, tol=1e-3))


def usable_classes(labels: Sequence[str]) -> list[str]:
    names, counts = np.unique(np.asarray(labels, dtype=object).astype(str), return_counts=True)
    return [str(n) for n, c in zip(names, counts) if n and c >= MIN_PER_CLASS and c <= len(labels) - MIN_PER_CLASS]


def check_labels(labels: Sequence[str], what: str) -> list[str]:
    """The classes a probe can use, or SaekitError naming why there are none."""
    if not any(labels):
        raise SaekitError(f"{what} needs labelled samples, but the evaluated samples carry no labels "
                          f"(capture a labelled dataset, or leave {what} out)")
    classes = usable_classes(labels)
    if not classes:
        raise SaekitError(f"{what} needs at least {MIN_PER_CLASS} evaluated samples in a class and outside it; "
                          f"the {len(labels)} evaluated samples have too few (use more held-out samples)")
    return classes


def sparse_probing(pooled_z: np.ndarray, pooled_x: np.ndarray, labels: Sequence[str], ks: Sequence[int] = KS,
                   seed: int = 0) -> JSONObject:
    """SAEBench's sparse probing on the labelled samples (saekit.eval.saebench_probing): `acc[k]` is its
    sae_top_{k}_test_accuracy, `raw_acc_top[k]` its llm_top_{k}_test_accuracy and `raw_acc` its
    llm_test_accuracy, each the mean over classes."""
    y_all = np.asarray(labels, dtype=object).astype(str)
    classes = check_labels(list(y_all), "sparse probing")
    split = split_classes(y_all, classes, seed)
    sizes = [{c: ix[j] for c, ix in split.items()} for j in (0, 1)]
    classes = balanceable(*sizes)
    if len(classes) < 2:
        raise SaekitError("sparse probing needs at least two classes whose one-vs-rest tasks the other classes "
                          "can balance with negatives (use more held-out samples)")
    split = {c: split[c] for c in classes}
    z_train, z_test = class_sets(pooled_z, split)
    x_train, x_test = class_sets(pooled_x, split)
    ks = [k for k in ks if k <= pooled_z.shape[1]]
    sae = {k: class_accuracies(z_train, z_test, k, seed) for k in ks}
    raw_top = {k: class_accuracies(x_train, x_test, k, seed) for k in ks if k <= pooled_x.shape[1]}
    raw = class_accuracies(x_train, x_test, None, seed, full_probe=True)
    per_class = [{"class": c, "n_train": len(z_train[c]), "n_test": len(z_test[c]),
                  "acc": {str(k): sae[k][c] for k in ks}, "raw_acc_top": {str(k): raw_top[k][c] for k in raw_top},
                  "raw_acc": raw[c]} for c in classes]
    return {"protocol": "saebench", "ks": list(ks), "n_classes": len(classes), "n_samples": int((y_all != "").sum()),
            "acc": {str(k): float(np.mean(list(sae[k].values()))) for k in ks},
            "raw_acc_top": {str(k): float(np.mean(list(raw_top[k].values()))) for k in raw_top},
            "raw_acc": float(np.mean(list(raw.values()))), "per_class": per_class}


def downstream_preservation(pooled_x: np.ndarray, pooled_xhat: np.ndarray, labels: Sequence[str],
                            seed: int = 0) -> JSONObject:
    y_all = np.asarray(labels, dtype=object).astype(str)
    classes = check_labels(list(y_all), "downstream preservation")
    keep = np.isin(y_all, classes)
    X, Xh, y = pooled_x[keep], pooled_xhat[keep], y_all[keep]
    n_min = int(min(np.unique(y, return_counts=True)[1]))
    folds = StratifiedKFold(n_splits=min(MAX_FOLDS, n_min), shuffle=True, random_state=seed)
    correct_raw = correct_rec = 0
    for tr, te in folds.split(X, y):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = _probe().fit(X[tr], y[tr])
        correct_raw += int((clf.predict(X[te]) == y[te]).sum())
        correct_rec += int((clf.predict(Xh[te]) == y[te]).sum())
    n = len(y)
    acc_raw, acc_rec = correct_raw / n, correct_rec / n
    chance = float(np.max(np.unique(y, return_counts=True)[1]) / n)
    return {"n_samples": int(n), "n_classes": len(classes), "acc_raw": acc_raw, "acc_reconstruction": acc_rec,
            "preserved": acc_rec / acc_raw if acc_raw > 0 else float("nan"), "majority_baseline": chance}
