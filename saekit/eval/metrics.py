"""Reconstruction metrics of an SAE over rows of an activation store, streamed in float64.

Conventions (both FVE variants are reported, named):
  fve            pooled: 1 - sum_i ||x_i - x̂_i||^2 / sum_i ||x_i - mu||^2, mu = mean of the evaluated rows
  fve_per_token  mean_i (1 - ||x_i - x̂_i||^2 / ||x_i - mu||^2)
  mse            sum_i ||x_i - x̂_i||^2 / (n * d_in)        (raw activation space)
  cosine         mean_i cos(x_i, x̂_i)
  l2_ratio       mean_i ||x̂_i|| / ||x_i||
  l0             mean_i #{j : z_ij != 0}
  dead_frac      fraction of latents that never fire on the evaluated rows
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from saekit.errors import SaekitError
from saekit.sae import SAE
from saekit.train.data import BatchSource, check_finite, check_hook

_EPS = 1e-12


def _batches(source: BatchSource, hook: str, batch_size: int, max_rows: int | None):
    seen = 0
    for acts, sid, pos in source.iter_batches(hook, batch_size, shuffle=False, with_index=True):
        if max_rows is not None and seen >= max_rows:
            return
        if max_rows is not None:
            take = max_rows - seen
            acts, sid, pos = acts[:take], sid[:take], pos[:take]
        check_finite(acts, sid, pos, f"store rows {seen}..{seen + len(acts) - 1} of {hook!r}")
        seen += len(acts)
        yield acts


@torch.no_grad()
def evaluate(sae: SAE, source: BatchSource | str, hook: str | None = None, max_rows: int | None = None,
             batch_size: int = 4096) -> dict[str, Any]:
    """Metrics of `sae` on the first max_rows rows (all by default) of `hook` (default: the SAE's hook)."""
    if isinstance(source, str):
        from saekit.train.data import open_source

        source = open_source(source)
    hook = hook or sae.cfg.hook
    check_hook(source, hook)
    if source.d(hook) != sae.cfg.d_in:
        raise SaekitError(f"hook {hook!r} has d={source.d(hook)} but the SAE expects d_in={sae.cfg.d_in}")
    was_training = sae.training
    sae.eval()
    d = sae.cfg.d_in
    total = np.zeros(d)
    n = 0
    for acts in _batches(source, hook, batch_size, max_rows):
        total += acts.sum(0, dtype=np.float64)
        n += len(acts)
    if n == 0:
        raise SaekitError(f"the store has no rows of {hook!r} to evaluate")
    mu = torch.from_numpy(total / n).to(sae.device)

    sse = sstot = fve_tok = cos = ratio = l0 = 0.0
    fired = torch.zeros(sae.cfg.d_sae, dtype=torch.bool, device=sae.device)
    for acts in _batches(source, hook, batch_size, max_rows):
        x = torch.from_numpy(acts).to(sae.device)
        z = sae.encode(x)
        x_hat = sae.decode(z, x=x).double()
        xd = x.double()
        err = (xd - x_hat).pow(2).sum(-1)
        dev = (xd - mu).pow(2).sum(-1)
        sse += float(err.sum())
        sstot += float(dev.sum())
        fve_tok += float((1 - err / dev.clamp_min(_EPS)).sum())
        xn, hn = xd.norm(dim=-1), x_hat.norm(dim=-1)
        cos += float(((xd * x_hat).sum(-1) / (xn * hn).clamp_min(_EPS)).sum())
        ratio += float((hn / xn.clamp_min(_EPS)).sum())
        active = z != 0
        l0 += float(active.sum())
        fired |= active.any(0)
    sae.train(was_training)
    return {
        "hook": hook, "arch": sae.cfg.arch, "d_in": d, "d_sae": sae.cfg.d_sae, "n_rows": n,
        "l0": l0 / n, "fve": 1 - sse / max(sstot, _EPS), "fve_per_token": fve_tok / n, "mse": sse / (n * d),
        "cosine": cos / n, "l2_ratio": ratio / n, "dead_frac": 1 - float(fired.float().mean()),
    }
