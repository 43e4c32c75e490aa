"""Sparse probing and downstream preservation: logistic probes on per-sample (mean-pooled) features.

Sparse probing (after SAEBench, Gurnee et al. 2023): for every class c with at least MIN_PER_CLASS
labelled samples, a balanced one-vs-rest task (all positives, as many seeded random negatives);
in stratified k-fold cross-validation over those samples, the training folds pick the k latents
with the largest mean difference (mean over positives - mean over negatives of the pooled latent),
a logistic probe is fitted on them, and the test fold gives accuracy and AUC. The same probe on all
d_in raw (pooled) activations is the baseline. Results are averaged over folds, then classes.

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
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from saekit.errors import SaekitError

KS = (1, 2, 5, 10, 20)
MIN_PER_CLASS = 4
MAX_FOLDS = 5


def _probe(binary: bool = True) -> Any:
    """Standardised features, L2 logistic regression, C = 1 (liblinear for the small binary tasks)."""
    clf = (LogisticRegression(C=1.0, solver="liblinear", max_iter=1000) if binary
           else LogisticRegression(C=1.0, max_iter=300, tol=1e-3))
    return make_pipeline(StandardScaler(), clf)


def _fit_score(Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, yte: np.ndarray) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = _probe().fit(Xtr, ytr)
    score = clf.decision_function(Xte)
    acc = float(((score > 0).astype(int) == yte).mean())
    auc = float(roc_auc_score(yte, score)) if len(np.unique(yte)) == 2 else float("nan")
    return acc, auc


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
                   seed: int = 0) -> dict[str, Any]:
    y_all = np.asarray(labels, dtype=object).astype(str)
    classes = check_labels(list(y_all), "sparse probing")
    ks = [k for k in ks if k <= pooled_z.shape[1]]
    rng = np.random.default_rng(seed)
    per_class = []
    for c in classes:
        pos = np.flatnonzero(y_all == c)
        neg = np.flatnonzero((y_all != c) & (y_all != ""))
        neg = rng.choice(neg, size=min(len(neg), len(pos)), replace=False)
        idx = np.concatenate([pos, neg])
        y = np.r_[np.ones(len(pos), int), np.zeros(len(neg), int)]
        folds = StratifiedKFold(n_splits=min(MAX_FOLDS, len(neg), len(pos)), shuffle=True, random_state=seed)
        acc = {k: [] for k in ks}
        auc = {k: [] for k in ks}
        raw_acc, raw_auc = [], []
        for tr, te in folds.split(idx, y):
            Z, X = pooled_z[idx], pooled_x[idx]
            diff = Z[tr][y[tr] == 1].mean(0) - Z[tr][y[tr] == 0].mean(0)
            order = np.argsort(-diff, kind="stable")
            for k in ks:
                top = order[:k]
                a, u = _fit_score(Z[tr][:, top], y[tr], Z[te][:, top], y[te])
                acc[k].append(a)
                auc[k].append(u)
            a, u = _fit_score(X[tr], y[tr], X[te], y[te])
            raw_acc.append(a)
            raw_auc.append(u)
        per_class.append({"class": c, "n_pos": int(len(pos)), "n_neg": int(len(neg)),
                          "acc": {str(k): float(np.mean(acc[k])) for k in ks},
                          "auc": {str(k): float(np.nanmean(auc[k])) for k in ks},
                          "raw_acc": float(np.mean(raw_acc)), "raw_auc": float(np.nanmean(raw_auc))})
    out: dict[str, Any] = {"ks": list(ks), "n_classes": len(per_class), "n_samples": int((y_all != "").sum())}
    for key in ("acc", "auc"):
        out[key] = {str(k): float(np.mean([p[key][str(k)] for p in per_class])) for k in ks}
        out[f"raw_{key}"] = float(np.mean([p[f"raw_{key}"] for p in per_class]))
    out["per_class"] = per_class
    return out


def downstream_preservation(pooled_x: np.ndarray, pooled_xhat: np.ndarray, labels: Sequence[str],
                            seed: int = 0) -> dict[str, Any]:
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
            clf = _probe(binary=False).fit(X[tr], y[tr])
        correct_raw += int((clf.predict(X[te]) == y[te]).sum())
        correct_rec += int((clf.predict(Xh[te]) == y[te]).sum())
    n = len(y)
    acc_raw, acc_rec = correct_raw / n, correct_rec / n
    chance = float(np.max(np.unique(y, return_counts=True)[1]) / n)
    return {"n_samples": int(n), "n_classes": len(classes), "acc_raw": acc_raw, "acc_reconstruction": acc_rec,
            "preserved": acc_rec / acc_raw if acc_raw > 0 else float("nan"), "majority_baseline": chance}
