"""Sparse probing equals SAEBench's: SAEBench's train_probe_on_activations (one-vs-rest tasks, top-k by
absolute mean difference, scikit-learn probe; the gradient-trained full-width probe for the raw
baseline) runs in the peer venv (tests/peers/saebench_sparse_probing.py) on the class sets saekit's
sparse_probing uses, and gives the same per-class accuracies."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from saekit.eval.probing import sparse_probing
from saekit.eval.saebench_probing import class_sets, split_classes, top_k_columns
from test_absorption_saebench import run_reference


def pooled(seed: int = 0, n: int = 150, d: int = 12, d_sae: int = 48):
    rng = np.random.default_rng(seed)
    names = np.array(["cat", "dog", "emu", "fox"])
    y = names[rng.integers(0, 4, n)]
    X = rng.standard_normal((n, d)).astype(np.float32)
    Z = np.maximum(rng.standard_normal((n, d_sae)) - 0.5, 0).astype(np.float32)
    for i, c in enumerate(names):
        X[:, i] += 1.5 * (y == c)
        Z[:, 3 * i] += 1.2 * (y == c)  # one latent per class fires more on it ...
        Z[:, 3 * i + 1] -= np.minimum(Z[:, 3 * i + 1], 0.8 * (y == c))  # ... and one fires less: |diff| finds it
    return Z, X, y


def test_sparse_probing_equals_saebench(tmp_path, one_torch_thread):
    Z, X, y = pooled()
    mine = sparse_probing(Z, X, list(y), ks=(1, 2, 5), seed=7)
    split = split_classes(y, sorted(str(c) for c in set(y)), 7)
    z_train, z_test = class_sets(Z, split)
    x_train, x_test = class_sets(X, split)
    torch.save({"z_train": z_train, "z_test": z_test, "x_train": x_train, "x_test": x_test, "ks": [1, 2, 5],
                "seed": 7}, tmp_path / "sets.pt")
    run_reference("saebench_sparse_probing.py", tmp_path)
    ref = json.loads((tmp_path / "reference.json").read_text())
    for p in mine["per_class"]:
        c = p["class"]
        for k in ("1", "2", "5"):
            assert p["acc"][k] == pytest.approx(ref["acc"][k][c], abs=1e-9), (c, k)
            assert p["raw_acc_top"][k] == pytest.approx(ref["raw_acc_top"][k][c], abs=1e-9), (c, k)
        assert p["raw_acc"] == pytest.approx(ref["raw_acc"][c], abs=1e-6), c
    assert mine["acc"]["1"] == pytest.approx(np.mean(list(ref["acc"]["1"].values())))
    assert mine["acc"]["5"] > 0.7 and mine["raw_acc"] > 0.7


def test_top_k_uses_the_absolute_mean_difference():
    acts = torch.tensor([[0.0, 5.0, 1.0], [0.0, 5.0, 1.1], [3.0, 0.0, 1.0], [3.0, 0.0, 1.0]])
    labels = torch.tensor([1, 1, 0, 0], dtype=torch.int)
    assert top_k_columns(acts, labels, 1).tolist() == [1]  # +5 beats -3
    assert top_k_columns(acts, labels, 2).tolist() == [0, 1]  # a latent that fires less on the class counts too
