"""Core metrics from one encoding pass (conventions as in SAEBench's core evaluation).

  l0             mean_i #{j : z_ij != 0}
  fve_rownorm    the headline: pooled FVE over rows scaled to unit norm, u_i = x_i / ||x_i||,
                 û_i = x̂_i / ||x_i||: 1 - sum_i ||u_i - û_i||^2 / sum_i ||u_i - mu_u||^2 (mu_u = mean u_i).
                 Every row weighs the same, so a few massive rows (a language model's attention
                 sinks) cannot dominate it, and no row near the mean blows it up (unlike fve_per_token)
  fve            pooled: 1 - sum_i ||x_i - x̂_i||^2 / sum_i ||x_i - mu||^2, mu = mean of the evaluated rows
  fve_per_token  mean_i (1 - ||x_i - x̂_i||^2 / ||x_i - mu||^2)
  mse            sum_i ||x_i - x̂_i||^2 / (n * d_in)        (raw activation space)
  cosine         mean_i cos(x_i, x̂_i);   l2_ratio  mean_i ||x̂_i|| / ||x_i||
  dead_frac      latents that never fire on the evaluated rows
  dense_frac     latents that fire on more than DENSE_FREQ of the rows
  density_hist   counts of latents per log10(firing frequency) bin, dead latents counted apart
"""
from __future__ import annotations


import numpy as np

from saekit.common.jsontypes import JSONObject
from saekit.eval.encode import Encoded

DENSE_FREQ = 0.1
HIST_EDGES = tuple(np.round(np.arange(-7.0, 0.01, 0.5), 2).tolist())
_EPS = 1e-12


def density_histogram(fire_count: np.ndarray, n_rows: int) -> JSONObject:
    freq = fire_count / max(n_rows, 1)
    alive = freq > 0
    logf = np.log10(np.clip(freq[alive], 10 ** HIST_EDGES[0], 1.0))
    counts, _ = np.histogram(logf, bins=np.asarray(HIST_EDGES))
    return {"log10_edges": list(HIST_EDGES), "counts": counts.tolist(), "dead": int((~alive).sum())}


def core_metrics(enc: Encoded, n_rows: int, d_in: int) -> JSONObject:
    s, n = enc.sums, max(n_rows, 1)
    freq = enc.fire_count / n
    return {
        "n_rows": int(n_rows), "n_samples": int(len(enc.sample_ids)),
        "l0": s["nnz"] / n, "fve_rownorm": 1 - s["sse_u"] / max(s["sstot_u"], _EPS),
        "fve": 1 - s["sse"] / max(s["sstot"], _EPS), "fve_per_token": s["fve_tok"] / n,
        "mse": s["sse"] / (n * d_in), "cosine": s["cos"] / n, "l2_ratio": s["ratio"] / n,
        "dead_frac": float((enc.fire_count == 0).mean()), "dense_frac": float((freq > DENSE_FREQ).mean()),
        "dense_threshold": DENSE_FREQ, "density_hist": density_histogram(enc.fire_count, n_rows),
    }
