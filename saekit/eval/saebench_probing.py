"""SAEBench's sparse probing, run on the user's own labels (after Gurnee et al. 2023).

The labelled samples of each class are split (seeded) into TRAIN_FRACTION training and test samples;
their mean-pooled latents (or raw activations) form one set per class, as SAEBench's datasets do.
For each class, SAEBench's one-vs-rest task: all its samples are positives; the negatives are
ceil(n_pos / (classes - 1)) random samples of every other class, cut to n_pos at random; the
task is shuffled (the same for the test samples). `top_k` keeps the k dimensions with the largest
absolute difference between the positives' and negatives' training means, then scikit-learn's
logistic regression (L2, C = 1, max_iter 1000, no feature scaling) gives the test accuracy.
The full-width baseline on raw activations is SAEBench's gradient-trained probe (AdamW, lr 1e-2,
batch 250, up to 100 epochs, stopping after 10 epochs without a better test accuracy, the best
kept). Each call draws its random choices from torch's generator seeded with `seed`.
"""
from __future__ import annotations

import math
from collections.abc import Sized
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from saekit.common.errors import SaekitError

TRAIN_FRACTION = 0.8
FULL_PROBE = dict(batch_size=250, epochs=100, lr=1e-2, patience=10)


def split_classes(labels: np.ndarray, classes: list[str], seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{class: (training rows, test rows)}: each class's samples split TRAIN_FRACTION / rest, seeded."""
    rng = np.random.default_rng(seed)
    out = {}
    for c in classes:
        idx = rng.permutation(np.flatnonzero(labels == c))
        cut = min(max(1, int(len(idx) * TRAIN_FRACTION)), len(idx) - 1)
        out[c] = (idx[:cut], idx[cut:])
    return out


def class_sets(features: np.ndarray, split: dict[str, tuple[np.ndarray, np.ndarray]]
               ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """({class: training rows' features}, {class: test rows' features}) as float32 tensors."""
    def rows(i: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(features[i], dtype=np.float32))

    return {c: rows(tr) for c, (tr, _) in split.items()}, {c: rows(te) for c, (_, te) in split.items()}


def balanceable(*sets: dict[str, Sized]) -> list[str]:
    """The classes whose one-vs-rest task the other classes can fill with negatives in every set
    (SAEBench's datasets are balanced; a user's labels may not be)."""
    classes = list(sets[0])
    while len(classes) > 1:
        short = [c for c in classes for s in sets if
                 sum(min(len(s[o]), math.ceil(len(s[c]) / (len(classes) - 1))) for o in classes if o != c) < len(s[c])]
        if not short:
            return classes
        classes = [c for c in classes if c not in short]
    return classes


def one_vs_rest(sets: dict[str, torch.Tensor], cls: str) -> tuple[torch.Tensor, torch.Tensor]:
    """SAEBench's balanced task for `cls` (draws from torch's global generator)."""
    pos = sets[cls]
    others = [c for c in sets if c != cls]
    per_class = math.ceil(len(pos) / len(others))
    neg = torch.cat([sets[c][torch.randperm(len(sets[c]))[:per_class]] for c in others])
    neg = neg[torch.randperm(len(neg))[: len(pos)]]
    if neg.shape != pos.shape:
        raise SaekitError(f"sparse probing: the other classes give {len(neg)} negatives for the {len(pos)} "
                          f"samples of {cls!r}")
    acts = torch.cat([pos, neg])
    labels = torch.cat([torch.ones(len(pos), dtype=torch.int), torch.zeros(len(neg), dtype=torch.int)])
    order = torch.randperm(len(acts))
    return acts[order], labels[order]


def top_k_columns(acts: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """The k columns with the largest |mean(positives) - mean(negatives)|, in column order."""
    diff = (acts[labels == 1].mean(dim=0) - acts[labels == 0].mean(dim=0)).abs()
    keep = torch.zeros(acts.shape[1], dtype=torch.bool)
    keep[torch.argsort(diff, descending=True)[:k]] = True
    return keep.nonzero().squeeze(1)


def sklearn_accuracy(xtr: torch.Tensor, ytr: torch.Tensor, xte: torch.Tensor, yte: torch.Tensor) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = LogisticRegression(C=1.0, max_iter=1000).fit(xtr.float().numpy(), ytr.numpy())
    return float((clf.predict(xte.float().numpy()) == yte.numpy()).mean())


def _accuracy(probe: torch.nn.Linear, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    with torch.no_grad():
        right = [((probe(x[i : i + batch_size]).squeeze(-1) > 0).long() == y[i : i + batch_size]).float()
                 for i in range(0, len(y), batch_size)]
    return torch.cat(right).mean().item()


def gradient_probe_accuracy(xtr: torch.Tensor, ytr: torch.Tensor, xte: torch.Tensor, yte: torch.Tensor,
                            batch_size: int, epochs: int, lr: float, patience: int) -> float:
    """The best test accuracy of a logistic probe trained by AdamW (SAEBench's full-width probe)."""
    probe = torch.nn.Linear(xtr.shape[1], 1, dtype=xtr.dtype)
    opt = torch.optim.AdamW(probe.parameters(), lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    best, since = 0.0, 0
    for _ in range(epochs):
        order = torch.randperm(len(xtr))
        for i in range(0, len(xtr), batch_size):
            b = order[i : i + batch_size]
            with torch.enable_grad():
                loss = loss_fn(probe(xtr[b]).squeeze(-1), ytr[b].to(dtype=xtr.dtype))
                opt.zero_grad()
                loss.backward()
            opt.step()
        acc = _accuracy(probe, xte, yte, batch_size)
        if acc > best:
            best, since = acc, 0
        else:
            since += 1
        if since >= patience:
            break
    return best


def class_accuracies(train: dict[str, torch.Tensor], test: dict[str, torch.Tensor], k: int | None, seed: int,
                     full_probe: bool = False) -> dict[str, float]:
    """{class: test accuracy} of the one-vs-rest probes on the top-k columns (all columns when k is None;
    the gradient-trained probe when full_probe)."""
    out = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for cls in train:
            xtr, ytr = one_vs_rest(train, cls)
            xte, yte = one_vs_rest(test, cls)
            if k is not None:
                cols = top_k_columns(xtr, ytr, k)
                xtr, xte = xtr[:, cols], xte[:, cols]
            out[cls] = (gradient_probe_accuracy(xtr, ytr, xte, yte, **FULL_PROBE) if full_probe
                        else sklearn_accuracy(xtr, ytr, xte, yte))
    return out
