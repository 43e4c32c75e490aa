"""The summaries pass: one streaming read of a store hook through ``sae.encode``."""
from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Callable

import numpy as np

from saekit.results.summaries import LatentSummaries
from saekit.results.fingerprint import sae_fingerprint, store_fingerprint
from saekit.analysis.summaries.histogram import hist_finalise, hist_update
from saekit.inputs.checks import check_sae_matches_store, open_store, resolve_hook, sae_dims
from saekit.analysis.summaries.neighbours import decoder_neighbours
from saekit.analysis.summaries.quantiles import quantile_picks
from saekit.analysis.summaries.slots import hash_uniform, merge_sparse
from saekit.analysis.summaries.streaming import default_batch_size, iter_whole_samples
from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    import torch

    from saekit.sae import SAE
    from stores import ActivationStore


def compute_summaries(
    sae: "SAE",
    store: "str | os.PathLike | ActivationStore",
    hook: str | None = None,
    top_k: int = 16,
    n_quantiles: int = 5,
    per_quantile: int = 4,
    batch_size: int | None = None,
    device: "str | torch.device | None" = None,
    n_bins: int = 40,
    n_neighbours: int = 10,
    max_tokens: int = 1024,
    seed: int = 0,
    progress: bool = True,
    on_samples: Callable[[np.ndarray, "torch.Tensor"], None] | None = None,
) -> LatentSummaries:
    """One streaming pass of ``store``/``hook`` through ``sae.encode`` (see ``saekit.analysis.summaries``).

    ``batch_size`` rows per read (default keeps a dense [B, d_sae] block near 16 M floats);
    ``max_tokens`` caps T, the per-token activations kept for each top sample (the per-sample max
    still uses every token). ``on_samples(sample_ids [n_b], smax [n_b, d_sae] tensor)`` is called
    for every batch of whole samples with their per-sample max activations, so other per-sample
    statistics (e.g. the Monosemanticity Score) ride on the same pass. Same seed => same result.
    """
    import torch
    from tqdm.auto import tqdm

    store = open_store(store, sae)
    hook = resolve_hook(sae, store, hook)
    check_sae_matches_store(sae, store, hook)
    d_in, L = sae_dims(sae)
    if top_k < 1 or n_quantiles < 1 or per_quantile < 1 or n_bins < 1:
        raise SaekitError("top_k, n_quantiles, per_quantile and n_bins must all be >= 1")
    if device is None:
        device = sae.W_dec.device
    device = torch.device(device)
    param = next(iter(sae.parameters())) if hasattr(sae, "parameters") else sae.W_dec
    sae_dtype = param.dtype
    if batch_size is None:
        batch_size = default_batch_size(L)
    K, Q, S = top_k, n_quantiles, per_quantile
    R = max(Q * S * 4, 32)  # reservoir of random firing samples for the quantile picks
    n_int = 2 * n_bins      # internal dyadic bins
    ninf = float("-inf")

    # running state (on device, except the big per-token arrays which live in host RAM)
    count_pos = torch.zeros(L, dtype=torch.float64, device=device)
    sum_pos = torch.zeros(L, dtype=torch.float64, device=device)
    max_act = torch.zeros(L, dtype=torch.float32, device=device)
    sample_fired = torch.zeros(L, dtype=torch.float64, device=device)
    scale = torch.zeros(L, dtype=torch.float32, device=device)
    hist = torch.zeros(L, n_int, dtype=torch.int64, device=device)
    top_keys = torch.full((L, K), ninf, device=device)
    top_ids = torch.full((L, K), -1, dtype=torch.int64, device=device)
    res_keys = torch.full((L, R), ninf, dtype=torch.float64, device=device)
    res_vals = torch.zeros(L, R, device=device)
    res_ids = torch.full((L, R), -1, dtype=torch.int64, device=device)
    T = 1
    tok_acts = np.zeros((L, K, T), dtype=np.float16)
    tok_pos = np.full((L, K, T), -1, dtype=np.int32)
    n_rows = 0
    n_samples = 0

    total = int(store.n_rows(hook))
    bar = tqdm(total=total, desc=f"summaries {hook}", unit="row", disable=not progress, leave=False)
    with torch.no_grad():
        for acts, sid, pos in iter_whole_samples(store, hook, batch_size):
            B = len(sid)
            x = torch.from_numpy(acts).to(device=device, dtype=sae_dtype)
            z = sae.encode(x).float()  # [B, L]
            # --- token-level statistics, from the positive entries only
            rows, lat_p = (z > 0).nonzero(as_tuple=True)
            vals_p = z[rows, lat_p]
            count_pos += torch.bincount(lat_p, minlength=L)
            sum_pos += torch.bincount(lat_p, weights=vals_p.double(), minlength=L)
            bmax = torch.zeros(L, device=device).scatter_reduce_(0, lat_p, vals_p, "amax")
            max_act = torch.maximum(max_act, bmax)
            hist_update(hist, scale, lat_p, vals_p, bmax, n_int)
            # --- group rows into whole samples: local index and rank inside the sample
            sid_t = torch.from_numpy(sid).to(device)
            change = torch.ones(B, dtype=torch.bool, device=device)
            change[1:] = sid_t[1:] != sid_t[:-1]
            local = change.cumsum(0) - 1
            starts = change.nonzero().squeeze(1)
            n_b = int(starts.numel())
            rank = torch.arange(B, device=device) - starts[local]
            T_b = int(rank.max()) + 1
            if n_b * T_b == B:  # equal-length samples: rows already lie in [sample, token] order
                z_pad = z.view(n_b, T_b, L)
            else:
                z_pad = torch.zeros(n_b, T_b, L, device=device)
                z_pad[local, rank] = z
            pos_pad = torch.full((n_b, T_b), -1, dtype=torch.int32, device=device)
            pos_pad[local, rank] = torch.from_numpy(pos).to(device)
            run_ids = sid_t[starts]
            smax = z_pad[:, 0] if T_b == 1 else z_pad.amax(1)  # [n_b, L]
            # (sample, latent) pairs where the latent fires somewhere in the sample
            s_f, l_f = (smax > 0).nonzero(as_tuple=True)
            v_f = smax[s_f, l_f]
            sample_fired += torch.bincount(l_f, minlength=L)
            if on_samples is not None:
                on_samples(sid[starts.cpu().numpy()], smax)
            # --- top-K by per-sample max: only pairs above the latent's current K-th value compete
            keep = v_f > top_keys.amin(1)[l_f]
            lat, slot, c = merge_sparse(top_keys, l_f[keep], v_f[keep])
            if lat.numel():
                s_c = s_f[keep][c]
                top_keys[lat, slot] = v_f[keep][c]
                top_ids[lat, slot] = run_ids[s_c]
                T_keep = min(T_b, max_tokens)
                if T_keep > T:
                    tok_acts = np.pad(tok_acts, ((0, 0), (0, 0), (0, T_keep - T)))
                    tok_pos = np.pad(tok_pos, ((0, 0), (0, 0), (0, T_keep - T)), constant_values=-1)
                    T = T_keep
                new_acts = z_pad[s_c, :T_keep, lat].to(torch.float16).cpu().numpy()
                new_pos = pos_pad[s_c, :T_keep].cpu().numpy()
                li, si = lat.cpu().numpy(), slot.cpu().numpy()
                tok_acts[li, si, :] = 0
                tok_pos[li, si, :] = -1
                tok_acts[li, si, :T_keep] = new_acts
                tok_pos[li, si, :T_keep] = new_pos
            # --- reservoir of random firing samples: keep the R largest hash keys of (seed, sample, latent),
            # a uniform sample that does not depend on the batch size
            r_f = hash_uniform(run_ids[s_f], l_f, seed)
            keep = r_f > res_keys.amin(1)[l_f]
            lat, slot, c = merge_sparse(res_keys, l_f[keep], r_f[keep])
            if lat.numel():
                res_keys[lat, slot] = r_f[keep][c]
                res_vals[lat, slot] = v_f[keep][c]
                res_ids[lat, slot] = run_ids[s_f[keep][c]]
            n_rows += B
            n_samples += n_b
            bar.update(B)
    bar.close()
    if n_rows == 0:
        raise SaekitError(f"store hook {hook!r} has no committed rows to summarise")

    # --- finalise: order top slots best first
    order = top_keys.argsort(dim=1, descending=True)
    top_vals = top_keys.gather(1, order)
    top_ids = top_ids.gather(1, order)
    top_vals = torch.where(top_ids >= 0, top_vals, 0.0)
    order_np = order.cpu().numpy()
    tok_acts = np.take_along_axis(tok_acts, order_np[:, :, None], axis=1)
    tok_pos = np.take_along_axis(tok_pos, order_np[:, :, None], axis=1)

    hist_edges, hist_counts = hist_finalise(hist, scale, max_act, n_bins)
    q_ids, q_vals = quantile_picks(res_vals, res_ids, Q, S)
    nb, nb_cos = decoder_neighbours(sae.W_dec, n_neighbours)

    mean_act = torch.where(count_pos > 0, sum_pos / count_pos.clamp_min(1), 0.0)
    return LatentSummaries(
        hook=hook,
        d_sae=L,
        n_samples=n_samples,
        n_rows=n_rows,
        tokens_per_sample=T,
        sae_fingerprint=sae_fingerprint(sae),
        store_fingerprint=store_fingerprint(store, hook),
        freq=(count_pos / n_rows).float().cpu().numpy(),
        sample_freq=(sample_fired / n_samples).float().cpu().numpy(),
        mean_act=mean_act.float().cpu().numpy(),
        max_act=max_act.cpu().numpy(),
        hist_edges=hist_edges,
        hist_counts=hist_counts,
        top_sample_ids=top_ids.cpu().numpy(),
        top_values=top_vals.float().cpu().numpy(),
        top_token_acts=tok_acts,
        top_positions=tok_pos,
        quantile_sample_ids=q_ids,
        quantile_values=q_vals,
        neighbours=nb,
        neighbour_cos=nb_cos,
        params={"top_k": K, "n_quantiles": Q, "per_quantile": S, "n_bins": n_bins,
                "n_neighbours": n_neighbours, "max_tokens": max_tokens, "seed": seed,
                "batch_size": batch_size},
        created=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
