"""Transcoders and crosscoders on held-out rows: how well the decoder writes its target.

A transcoder reads its input hook and writes its target hook; a crosscoder reads and writes several
hooks at once. Both are evaluated on the paired rows of the store (row i of every hook is the same
token, `saekit.train.paired`), on the split the SAE records (held-out samples by default):

  fve            pooled over rows, of the target: 1 - sum_i ||y_i - ŷ_i||^2 / sum_i ||y_i - mu||^2
                 (mu = mean target of the evaluated rows; the convention of sparsify's transcoder FVU
                 and of the SAE core metric `fve`)
  fve_per_hook   the same per written hook (a crosscoder's per-layer FVE)
  fve_skip_only  skip transcoders: the FVE of the linear skip path and b_dec alone (every latent off)
  l0, dead_frac, dense_frac, mse (raw target space, per coordinate), cosine mean_i cos(y_i, ŷ_i)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from saekit.common.jsontypes import JSONObject
from saekit.eval.core import DENSE_FREQ
from saekit.eval.rows import EvalRows, SplitInfo, load_rows
from saekit.sae import SAE
from saekit.train.paired import PairedRows

if TYPE_CHECKING:
    from stores import ActivationStore

_EPS = 1e-12


def is_paired(sae: SAE) -> bool:
    """Whether ``sae`` reads or writes more than its one hook (a transcoder or a crosscoder)."""
    return bool(sae.cfg.target_hooks or sae.cfg.in_hooks)


def paired_rows(sae: SAE, store: ActivationStore, split: SplitInfo, max_rows: int | None = None,
                max_samples: int | None = None) -> EvalRows:
    """The split's rows of the SAE's input hooks then its target hooks, side by side."""
    source = PairedRows(store, sae.cfg.hook, sae.cfg.input_hooks, tuple(sae.cfg.target_hooks))
    return load_rows(source, sae.cfg.hook, split, max_rows, max_samples)


def _blocks(sae: SAE, store_widths: list[int]) -> list[tuple[str, int, int]]:
    hooks, out, start = sae.cfg.output_hooks, [], 0
    for h, w in zip(hooks, store_widths):
        out.append((h, start, start + w))
        start += w
    return out


@torch.no_grad()
def transcoder_metrics(sae: SAE, rows: EvalRows, widths: list[int], batch_size: int = 4096) -> JSONObject:
    """The metrics above for ``rows`` (input columns, then target columns; a crosscoder's are its input)."""
    sae.eval()
    c = sae.cfg
    x_all = rows.acts[:, : c.d_in]
    y_all = rows.acts[:, c.d_in:] if c.target_hooks else x_all
    mu = torch.from_numpy(y_all.mean(0, dtype=np.float64))
    blocks = _blocks(sae, widths)
    sse_hook, sst_hook = np.zeros(len(blocks)), np.zeros(len(blocks))
    sse = sst = cos = nnz = sse_skip = 0.0
    fire = torch.zeros(c.d_sae, dtype=torch.int64)
    for s in range(0, rows.n_rows, batch_size):
        x = torch.from_numpy(np.ascontiguousarray(x_all[s : s + batch_size])).to(sae.device)
        y = torch.from_numpy(np.ascontiguousarray(y_all[s : s + batch_size])).double().cpu()
        z = sae.encode(x)
        y_hat = sae.decode(z, x).double().cpu()
        err, dev = (y - y_hat).pow(2), (y - mu).pow(2)
        sse += float(err.sum())
        sst += float(dev.sum())
        for j, (_, a, b) in enumerate(blocks):
            sse_hook[j] += float(err[:, a:b].sum())
            sst_hook[j] += float(dev[:, a:b].sum())
        cos += float(torch.nn.functional.cosine_similarity(y, y_hat, dim=1, eps=_EPS).sum())
        active = (z != 0).cpu()
        nnz += float(active.sum())
        fire += active.sum(0)
        if sae.W_skip is not None:
            y_skip = sae.decode(torch.zeros_like(z), x).double().cpu()  # b_dec + the linear path
            sse_skip += float((y - y_skip).pow(2).sum())
    n = max(rows.n_rows, 1)
    freq = fire.numpy() / n
    out: dict[str, Any] = {
        "kind": "transcoder" if c.target_hooks else "crosscoder", "input_hooks": list(c.input_hooks),
        "output_hooks": list(c.output_hooks), "n_rows": int(rows.n_rows), "l0": nnz / n,
        "fve": 1 - sse / max(sst, _EPS), "mse": sse / (n * c.d_out), "cosine": cos / n,
        "dead_frac": float((freq == 0).mean()), "dense_frac": float((freq > DENSE_FREQ).mean()),
        "fve_per_hook": {h: 1 - float(sse_hook[j]) / max(float(sst_hook[j]), _EPS) for j, (h, _, _) in enumerate(blocks)},
    }
    if sae.W_skip is not None:
        out["fve_skip_only"] = 1 - sse_skip / max(sst, _EPS)
    return out


def evaluate_paired(sae: SAE, store: ActivationStore, split: SplitInfo, max_rows: int | None = None,
                    max_samples: int | None = None, batch_size: int = 4096) -> tuple[EvalRows, JSONObject]:
    """(the evaluated rows, the metrics) of a transcoder or crosscoder on ``store``'s ``split``."""
    rows = paired_rows(sae, store, split, max_rows, max_samples)
    widths = [store.d(h) for h in sae.cfg.output_hooks]
    return rows, transcoder_metrics(sae, rows, widths, batch_size)
