"""One encoding pass of an SAE over evaluation rows: sparse codes, per-sample pools, core sums.

Everything the metrics need comes out of this pass, so each SAE encodes the rows once:
  codes         the active latents of every row as (index int64 [N, K], value float32 [N, K]),
                K = the largest number of active latents in any row (rows with fewer pad with 0)
  pooled_z      per-sample mean of the latents [S, L] (SAEBench mean-pools over tokens)
  pooled_x      per-sample mean of the raw activations [S, d]
  pooled_xhat   per-sample mean of the reconstructions [S, d]
  fire_count    rows each latent fired on [L]
  sums          float64 sums for the reconstruction metrics (see core.py)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from saekit.common.errors import SaekitError
from saekit.eval.rows import EvalRows
from saekit.sae import SAE

_EPS = 1e-12


@dataclass
class Encoded:
    idx: np.ndarray
    val: np.ndarray
    sample_ids: np.ndarray  # [S] distinct sample ids in first-seen order
    row_sample: np.ndarray  # [N] row -> index into sample_ids
    pooled_z: np.ndarray
    pooled_x: np.ndarray
    pooled_xhat: np.ndarray
    fire_count: np.ndarray
    sums: dict[str, float]
    d_sae: int


@torch.no_grad()
def encode_rows(sae: SAE, rows: EvalRows, batch_size: int = 4096) -> Encoded:
    if rows.acts.shape[1] != sae.cfg.d_in:
        raise SaekitError(f"hook {rows.hook!r} has d={rows.acts.shape[1]} but the SAE expects d_in={sae.cfg.d_in}")
    was_training = sae.training
    sae.eval()
    L, d = sae.cfg.d_sae, sae.cfg.d_in
    sample_ids, row_sample = rows.samples()
    S = len(sample_ids)
    counts = np.bincount(row_sample, minlength=S).astype(np.float64)
    mu = torch.from_numpy(rows.acts.mean(0, dtype=np.float64))
    a64 = rows.acts.astype(np.float64)
    mu_u = torch.from_numpy((a64 / np.maximum(np.linalg.norm(a64, axis=1, keepdims=True), _EPS)).mean(0))
    del a64
    pooled_z = torch.zeros(S, L, dtype=torch.float32)
    pooled_x = torch.zeros(S, d, dtype=torch.float64)
    pooled_xhat = torch.zeros(S, d, dtype=torch.float64)
    fire = torch.zeros(L, dtype=torch.int64)
    idx_parts, val_parts = [], []
    sums = dict(sse=0.0, sstot=0.0, fve_tok=0.0, cos=0.0, ratio=0.0, nnz=0.0, sse_u=0.0, sstot_u=0.0)
    for s in range(0, rows.n_rows, batch_size):
        x = torch.from_numpy(rows.acts[s : s + batch_size]).to(sae.device)
        z = sae.encode(x)
        x_hat = sae.decode(z, x=x).double().cpu()
        z = z.float().cpu()
        xd = x.double().cpu()
        err = (xd - x_hat).pow(2).sum(-1)
        dev = (xd - mu).pow(2).sum(-1)
        xn, hn = xd.norm(dim=-1), x_hat.norm(dim=-1)
        active = z != 0
        sums["sse"] += float(err.sum())
        sums["sstot"] += float(dev.sum())
        sums["fve_tok"] += float((1 - err / dev.clamp_min(_EPS)).sum())
        inv = 1 / xn.clamp_min(_EPS)  # unit rows u = x / ||x||, û = x̂ / ||x||
        sums["sse_u"] += float((err * inv * inv).sum())
        sums["sstot_u"] += float((xd * inv[:, None] - mu_u).pow(2).sum())
        sums["cos"] += float(((xd * x_hat).sum(-1) / (xn * hn).clamp_min(_EPS)).sum())
        sums["ratio"] += float((hn / xn.clamp_min(_EPS)).sum())
        sums["nnz"] += float(active.sum())
        fire += active.sum(0)
        k = max(1, int(active.sum(1).max()))
        v, i = z.abs().topk(min(k, L), dim=1)
        idx_parts.append(i.numpy())
        val_parts.append(torch.gather(z, 1, i).numpy())
        rs = torch.from_numpy(row_sample[s : s + batch_size])
        pooled_z.index_add_(0, rs, z)
        pooled_x.index_add_(0, rs, xd)
        pooled_xhat.index_add_(0, rs, x_hat)
    sae.train(was_training)
    K = max(p.shape[1] for p in idx_parts)
    idx = np.concatenate([np.pad(p, ((0, 0), (0, K - p.shape[1]))) for p in idx_parts])
    val = np.concatenate([np.pad(p, ((0, 0), (0, K - p.shape[1]))) for p in val_parts])
    c = torch.from_numpy(counts)[:, None]
    return Encoded(idx=idx.astype(np.int64), val=val.astype(np.float32), sample_ids=sample_ids, row_sample=row_sample,
                   pooled_z=(pooled_z / c.float()).numpy(), pooled_x=(pooled_x / c).float().numpy(),
                   pooled_xhat=(pooled_xhat / c).float().numpy(), fire_count=fire.numpy(), sums=sums, d_sae=L)
