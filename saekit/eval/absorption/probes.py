"""One-vs-rest logistic probes trained by gradient descent, with SAEBench's absorption recipe.

Every class gets its own logit; the loss is the mean binary cross-entropy of each logit against
its class's indicator, positives weighted by (negatives / positives) per class. Adam with weight
decay, the learning rate decaying exponentially from `lr` to `end_lr` over the epochs, shuffled
minibatches. `l1` adds l1 * mean over classes of sum |w| (SAEBench's k-sparse probe on latents).
Training runs under its own seeded torch RNG (initialisation and shuffling), so a seed fixes it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


@dataclass(frozen=True)
class ProbeRecipe:
    epochs: int
    lr: float
    weight_decay: float
    batch_size: int
    end_lr: float = 1e-5
    l1: float = 0.0


LETTER_PROBE = ProbeRecipe(epochs=50, lr=1e-2, weight_decay=1e-4, batch_size=64)
"""The first-letter probe on the model's activations."""
SPARSE_L1_PROBE = ProbeRecipe(epochs=50, lr=1e-2, weight_decay=1e-6, batch_size=4096, l1=0.01)
"""The L1 probe on SAE latents whose largest weights choose the k-sparse probes' latents."""


def train_probe(x: torch.Tensor, y_onehot: torch.Tensor, recipe: ProbeRecipe, seed: int,
                features: Callable[[torch.Tensor], torch.Tensor] | None = None,
                n_features: int | None = None) -> nn.Linear:
    """A linear probe [n_classes, n_features] for y_onehot [n, n_classes] (integer 0/1) from x [n, d];
    `features` maps each minibatch first (e.g. the SAE encoder), giving n_features inputs."""
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(seed)
        pos = y_onehot.sum(dim=0)
        pos_weight = (len(y_onehot) - pos) / pos
        loader = DataLoader(TensorDataset(x, y_onehot.to(dtype=x.dtype)), batch_size=recipe.batch_size, shuffle=True)
        probe = nn.Linear(n_features or x.shape[-1], y_onehot.shape[-1]).to(dtype=x.dtype)
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        opt = torch.optim.Adam(probe.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        gamma = math.exp(math.log(recipe.end_lr / recipe.lr) / recipe.epochs)
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=gamma)
        probe.train()
        for _ in range(recipe.epochs):
            for xb, yb in loader:
                if features is not None:
                    with torch.no_grad():
                        xb = features(xb)
                opt.zero_grad()
                loss = loss_fn(probe(xb), yb)
                if recipe.l1:
                    loss = loss + recipe.l1 * probe.weight.abs().sum(dim=-1).mean()
                loss.backward()
                opt.step()
            sched.step()
        probe.eval()
    return probe
