"""Geometric median by Weiszfeld's iteration: the b_dec init of the modern recipe."""
from __future__ import annotations

import torch


def geometric_median(X_ND: torch.Tensor, max_iter: int = 200, tol: float = 1e-7) -> torch.Tensor:
    """argmin_y sum_i ||x_i - y|| for the rows of X (computed in float64, returned in X's dtype)."""
    X = X_ND.double()
    y = X.mean(dim=0)
    for _ in range(max_iter):
        dist = (X - y).norm(dim=1).clamp_min(1e-12)
        w = 1.0 / dist
        y_new = (w[:, None] * X).sum(0) / w.sum()
        if (y_new - y).norm() <= tol * max(1.0, float(y.norm())):
            y = y_new
            break
        y = y_new
    return y.to(X_ND.dtype)
