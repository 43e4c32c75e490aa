"""k-sparse probing on SAE latents and the letter's main latents (SAEBench's feature-split rule).

An L1-penalised one-vs-rest probe on the latents of the training words ranks the latents of every
letter by weight (signed: a latent must predict the letter, not its absence). For k = 1..max_k the
k highest-weighted latents get a class-balanced logistic regression (scikit-learn, max_iter 500),
scored on the test words by F1 at logit 0. A letter's main latents are the largest k-set reached
while each step raises the F1 by more than `f1_jump` (more than one main latent = feature splitting).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from saekit.eval.absorption.probes import SPARSE_L1_PROBE, train_probe
from saekit.eval.absorption.vocab import LETTERS

MAX_K = 10
F1_JUMP = 0.03


@dataclass(frozen=True)
class SparseProbe:
    latents: torch.Tensor  # [k] int64
    weight: torch.Tensor  # [k] float32
    bias: float

    def score(self, z: torch.Tensor) -> torch.Tensor:
        """Logits for latents z [n, d_sae], one row at a time: SAEBench scores each word alone, and a
        batched product can round differently at a logit of 0, where F1 changes."""
        return torch.stack([row[self.latents] @ self.weight + self.bias for row in z]) if len(z) else z[:, :0].sum(1)


def fit_sparse_probes(x_train: torch.Tensor, y_train: np.ndarray, encode: Callable[[torch.Tensor], torch.Tensor],
                      d_sae: int, seed: int, max_k: int = MAX_K) -> dict[int, dict[int, SparseProbe]]:
    """{k: {letter index: probe}} for every letter among the training words."""
    onehot = torch.nn.functional.one_hot(torch.from_numpy(y_train.astype(np.int64)))
    l1 = train_probe(x_train, onehot, SPARSE_L1_PROBE, seed, features=encode, n_features=d_sae).float().cpu()
    with torch.no_grad():
        z = encode(x_train).float().cpu()
        out: dict[int, dict[int, SparseProbe]] = {}
        for k in range(1, max_k + 1):
            out[k] = {}
            for label in sorted(set(int(v) for v in y_train)):
                latents = l1.weight[label].topk(k).indices
                clf = LogisticRegression(max_iter=500, class_weight="balanced").fit(
                    z[:, latents].numpy(), (y_train == label).astype(np.int64))
                out[k][label] = SparseProbe(latents, torch.tensor(clf.coef_[0]).float(), float(clf.intercept_[0]))
    return out


def letter_f1(y_true: np.ndarray, score: np.ndarray) -> float:
    return float(f1_score(y_true, score > 0.0, zero_division=0.0))


def main_latents(f1_by_k: dict[int, float], probes_by_k: dict[int, SparseProbe], f1_jump: float = F1_JUMP) -> list[int]:
    """The largest k-set reached while the F1 keeps rising by more than f1_jump per added latent."""
    best, chosen = -100.0, []
    for k in sorted(f1_by_k):
        if f1_by_k[k] > best + f1_jump:
            best, chosen = f1_by_k[k], probes_by_k[k].latents.tolist()
        else:
            break
    return chosen


def letter_main_latents(probes: dict[int, dict[int, SparseProbe]], z_test: torch.Tensor, y_test: np.ndarray,
                        f1_jump: float = F1_JUMP) -> dict[int, tuple[list[int], dict[int, float]]]:
    """{letter index: (main latents, {k: test F1})} for every letter with sparse probes."""
    out = {}
    for label in range(len(LETTERS)):
        if label not in probes[1]:
            continue
        truth = y_test == label
        by_k = {k: probes[k][label] for k in probes}
        f1 = {k: letter_f1(truth, p.score(z_test).numpy()) for k, p in by_k.items()}
        out[label] = (main_latents(f1, by_k, f1_jump), f1)
    return out
