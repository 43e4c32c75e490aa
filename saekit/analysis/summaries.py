"""Latent summaries: one streaming pass over a store hook, encoded with an SAE.

For every latent we keep, in memory bounded by ``d_sae`` (never by the number of samples):

- firing frequency per token row and per sample, mean of positive activations, max activation;
- a histogram of positive activations in units of the latent's max activation;
- the top-K samples by per-sample max activation, with the per-token activations and store
  positions of those samples (for patch heatmaps and text highlights);
- samples spread over the quantiles of the latent's per-sample activation distribution;
- the nearest latents by decoder-direction cosine.

Streaming rule: rows of one sample are contiguous in the store's sequential order, so the rows of
the last sample of each batch are held back and joined to the next batch; every sample is then
seen whole exactly once. Top-K and the quantile reservoir are merged per batch with one
``torch.topk`` over ``[d_sae, K + samples_in_batch]``; per-token activations are copied only for
the (latent, slot) pairs whose occupant changed, so the big ``[d_sae, K, T]`` arrays are never
reordered during the pass.

The histogram is exact in a per-latent dyadic frame: each latent's bins span ``[0, s]`` with
``s`` a power of two at or above its running max; when the max outgrows ``s``, ``s`` doubles and
neighbouring bins merge pairwise (no information is invented). At the end the counts are
re-binned onto shared edges over ``[0, 1]`` (activation / max_act) by linear interpolation of the
cumulative counts within internal bins (the only approximation).

Quantile samples come from a per-latent reservoir of uniformly random firing samples (random keys
merged with the same top-k routine, seeded), sorted by activation and cut into equal-count bands,
lowest band first.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from saekit.errors import SaekitError
from saekit.results.fingerprint import sae_fingerprint, store_fingerprint
from saekit.results.summaries import LatentSummaries

__all__ = ["LatentSummaries", "compute_summaries", "default_summaries_dir", "load_or_compute", "sae_fingerprint",
           "store_fingerprint"]

log = logging.getLogger(__name__)

def default_summaries_dir(sae_dir: str | os.PathLike, store: Any, hook: str) -> Path:
    """Where summaries of ``store``/``hook`` live next to an SAE checkpoint: SAE_DIR/summaries/<store-fp>/."""
    return Path(sae_dir) / "summaries" / store_fingerprint(store, hook)


def load_or_compute(sae: Any, sae_dir: str | os.PathLike, store: Any, hook: str | None = None,
                    **kwargs: Any) -> LatentSummaries:
    """Load fresh summaries from SAE_DIR/summaries/<store-fp>/ or compute and save them there."""
    store = _open_store(store)
    hook = _resolve_hook(sae, store, hook)
    target = default_summaries_dir(sae_dir, store, hook)
    if (target / "summaries.json").is_file():
        try:
            s = LatentSummaries.load(target)
            s.check_matches(sae=sae, hook=hook)
            wanted_k = kwargs.get("top_k")
            if wanted_k is None or wanted_k <= s.top_k:
                log.info("reusing latent summaries in %s", target)
                return s
        except SaekitError as exc:
            log.info("recomputing latent summaries: %s", exc)
    s = compute_summaries(sae, store, hook, **kwargs)
    s.save(target)
    return s


# ---------------------------------------------------------------------------- the pass
def _open_store(store: Any) -> Any:
    if isinstance(store, (str, os.PathLike)):
        from stores import ActivationStore

        return ActivationStore.open(store)
    return store


def _resolve_hook(sae: Any, store: Any, hook: str | None) -> str:
    if hook is None:
        hook = getattr(getattr(sae, "cfg", None), "hook", None)
        if not hook or hook not in store.hooks:
            if len(store.hooks) == 1:
                hook = list(store.hooks)[0]
            else:
                raise SaekitError(f"say which hook to use (--hook); the store has {sorted(store.hooks)}")
    if hook not in store.hooks:
        raise SaekitError(f"hook {hook!r} is not in the store (it has {sorted(store.hooks)})")
    return hook


def sae_dims(sae: Any) -> tuple[int, int]:
    """(d_in, d_sae) of an SAE, read from its decoder [d_sae, d_in]."""
    d_sae, d_in = (int(x) for x in sae.W_dec.shape)
    return d_in, d_sae


def check_sae_matches_store(sae: Any, store: Any, hook: str) -> None:
    d_in, _ = sae_dims(sae)
    d = int(store.d(hook))
    if d != d_in:
        raise SaekitError(
            f"the SAE expects inputs of dimension {d_in} but store hook {hook!r} has dimension {d}; "
            "use the SAE trained on this hook")


def _iter_whole_samples(store: Any, hook: str, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (acts [B, d], sample_id [B], position [B]) holding only whole samples."""
    carry: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    for acts, sid, pos in store.iter_batches(hook, batch_size, shuffle=False, with_index=True):
        acts = np.asarray(acts, dtype=np.float32)
        sid = np.asarray(sid, dtype=np.int64)
        pos = np.asarray(pos, dtype=np.int32)
        if carry is not None:
            acts = np.concatenate([carry[0], acts])
            sid = np.concatenate([carry[1], sid])
            pos = np.concatenate([carry[2], pos])
        if len(sid) == 0:
            continue
        last = sid[-1]
        cut = len(sid)
        while cut > 0 and sid[cut - 1] == last:
            cut -= 1
        carry = (acts[cut:], sid[cut:], pos[cut:])
        if cut:
            yield acts[:cut], sid[:cut], pos[:cut]
    if carry is not None and len(carry[1]):
        yield carry


def sample_max_batches(sae: Any, store: Any, hook: str, batch_size: int | None = None,
                       progress: bool = False) -> Iterator[tuple[np.ndarray, Any]]:
    """Yield (sample_ids [n_b], smax [n_b, d_sae] tensor): each sample's max activation per latent."""
    import torch
    from tqdm.auto import tqdm

    check_sae_matches_store(sae, store, hook)
    _, L = sae_dims(sae)
    device = sae.W_dec.device
    if batch_size is None:
        batch_size = int(min(8192, max(256, 2 ** 24 // max(L, 1))))
    bar = tqdm(total=int(store.n_rows(hook)), desc=f"encode {hook}", unit="row", disable=not progress, leave=False)
    with torch.no_grad():
        for acts, sid, _ in _iter_whole_samples(store, hook, batch_size):
            z = sae.encode(torch.from_numpy(acts).to(device=device, dtype=sae.W_dec.dtype)).float()
            change = np.ones(len(sid), dtype=bool)
            change[1:] = sid[1:] != sid[:-1]
            starts = np.nonzero(change)[0]
            local = torch.from_numpy(np.cumsum(change) - 1).to(device)
            smax = torch.zeros(len(starts), L, device=device)
            smax.index_reduce_(0, local, z, "amax", include_self=True)
            bar.update(len(sid))
            yield sid[starts], smax
    bar.close()


def _merge_slots(keys_LK, cand_LS):
    """Which (latent, slot) pairs a candidate takes over when keeping the K largest keys.

    keys_LK: current keys ( -inf = empty ), cand_LS: candidate keys ( -inf = not a candidate ).
    Returns (latent, slot, candidate) index tensors. Per latent the freed slots and the entering
    candidates are equal in number, and ``nonzero`` lists both row-major, so they pair up directly.
    """
    import torch

    L, K = keys_LK.shape
    cand_map = None
    if cand_LS.shape[1] > K:  # only a latent's K best candidates can enter: merge [L, 2K], not [L, K+S]
        cand_vals, cand_map = cand_LS.topk(K, dim=1)
    else:
        cand_vals = cand_LS
    comb = torch.cat([keys_LK, cand_vals], dim=1)
    chosen = comb.topk(K, dim=1).indices
    sel = torch.zeros_like(comb, dtype=torch.bool)
    sel.scatter_(1, chosen, True)
    freed = (~sel[:, :K]).nonzero()
    entering = sel[:, K:].nonzero()
    lat, slot, cand = freed[:, 0], freed[:, 1], entering[:, 1]
    ok = cand_vals[lat, cand] > float("-inf")
    lat, slot, cand = lat[ok], slot[ok], cand[ok]
    if cand_map is not None:
        cand = cand_map[lat, cand]
    return lat, slot, cand


def _merge_sparse(keys_LK, lat_M, key_M):
    """Like ``_merge_slots`` for candidates given as a list: latent ``lat_M`` with key ``key_M``.

    Returns (latent, slot, m) with m indexing the candidate list. Work is O(M log M + U·K) for U
    distinct latents among the M candidates, never O(L · samples).
    """
    import torch

    dev = keys_LK.device
    L, K = keys_LK.shape
    M = int(lat_M.numel())
    if M == 0:
        e = torch.zeros(0, dtype=torch.int64, device=dev)
        return e, e, e
    # sort by latent, best key first inside a latent
    o1 = key_M.argsort(descending=True, stable=True)
    o2 = lat_M[o1].argsort(stable=True)
    order = o1[o2]
    lat_s = lat_M[order]
    uniq, counts = torch.unique_consecutive(lat_s, return_counts=True)
    group = torch.repeat_interleave(torch.arange(len(uniq), device=dev), counts)
    first = torch.cumsum(counts, 0) - counts
    rank = torch.arange(M, device=dev) - first[group]
    C = int(min(K, int(counts.max())))
    ok = rank < C
    cand = torch.full((len(uniq), C), float("-inf"), device=dev, dtype=keys_LK.dtype)
    cidx = torch.zeros((len(uniq), C), dtype=torch.int64, device=dev)
    cand[group[ok], rank[ok]] = key_M[order[ok]].to(keys_LK.dtype)
    cidx[group[ok], rank[ok]] = order[ok]
    u, slot, c = _merge_slots(keys_LK[uniq], cand)
    return uniq[u], slot, cidx[u, c]


def _hash_uniform(sample_ids, latents, seed: int):
    """Deterministic pseudo-random floats in [0, 1) per (seed, sample_id, latent) pair.

    A 32-bit integer mix kept below 2**63 in int64 arithmetic (constants < 2**31)."""

    m32 = 0xFFFFFFFF
    h = (sample_ids.long() * 0x2545F491 + latents.long() * 0x9E3779B + int(seed) * 0x3C6EF35F + 0x1B873593) & m32
    for _ in range(3):
        h = ((h ^ (h >> 16)) * 0x45D9F3B) & m32
    h = h ^ (h >> 16)
    return h.double() / 2.0 ** 32


def compute_summaries(
    sae: Any,
    store: Any,
    hook: str | None = None,
    top_k: int = 16,
    n_quantiles: int = 5,
    per_quantile: int = 4,
    batch_size: int | None = None,
    device: Any = None,
    n_bins: int = 40,
    n_neighbours: int = 10,
    max_tokens: int = 1024,
    seed: int = 0,
    progress: bool = True,
    on_samples: Callable[[np.ndarray, Any], None] | None = None,
) -> LatentSummaries:
    """One streaming pass of ``store``/``hook`` through ``sae.encode`` (see the module docstring).

    ``batch_size`` rows per read (default keeps a dense [B, d_sae] block near 16 M floats);
    ``max_tokens`` caps T, the per-token activations kept for each top sample (the per-sample max
    still uses every token). ``on_samples(sample_ids [n_b], smax [n_b, d_sae] tensor)`` is called
    for every batch of whole samples with their per-sample max activations, so other per-sample
    statistics (e.g. the Monosemanticity Score) ride on the same pass. Same seed => same result.
    """
    import torch
    from tqdm.auto import tqdm

    store = _open_store(store)
    hook = _resolve_hook(sae, store, hook)
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
        batch_size = int(min(8192, max(256, 2 ** 24 // max(L, 1))))
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
        for acts, sid, pos in _iter_whole_samples(store, hook, batch_size):
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
            _hist_update(hist, scale, lat_p, vals_p, bmax, n_int)
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
            lat, slot, c = _merge_sparse(top_keys, l_f[keep], v_f[keep])
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
            r_f = _hash_uniform(run_ids[s_f], l_f, seed)
            keep = r_f > res_keys.amin(1)[l_f]
            lat, slot, c = _merge_sparse(res_keys, l_f[keep], r_f[keep])
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

    hist_edges, hist_counts = _hist_finalise(hist, scale, max_act, n_bins)
    q_ids, q_vals = _quantile_picks(res_vals, res_ids, Q, S)
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


# ---------------------------------------------------------------------------- histogram helpers
def _hist_update(hist, scale, lat, vals, bmax, n_int: int) -> None:
    """Add this batch's positive activations (latent ``lat``, value ``vals``) to the dyadic per-latent
    histograms, in place."""
    import torch

    fired = bmax > 0
    if not bool(fired.any()):
        return
    fresh = fired & (scale == 0)
    if bool(fresh.any()):
        scale[fresh] = torch.exp2(torch.ceil(torch.log2(bmax[fresh])))
    # double the frame of latents whose max outgrew it, merging bins pairwise each time
    while True:
        grow = bmax > scale
        if not bool(grow.any()):
            break
        idx = grow.nonzero().squeeze(1)
        h = hist[idx]
        merged = h.view(len(idx), n_int // 2, 2).sum(-1)
        hist[idx] = torch.cat([merged, torch.zeros_like(merged)], dim=1)
        scale[idx] = scale[idx] * 2
    b = (vals / scale[lat] * n_int).long().clamp_(0, n_int - 1)
    hist.view(-1).index_add_(0, lat * n_int + b, torch.ones_like(b))


def _hist_finalise(hist, scale, max_act, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Re-bin the dyadic histograms onto shared edges over [0, 1] in units of max_act."""
    import torch

    L, n_int = hist.shape
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64, device=hist.device)
    cum = torch.zeros(L, n_int + 1, dtype=torch.float64, device=hist.device)
    cum[:, 1:] = hist.double().cumsum(1)
    ratio = torch.where(scale > 0, max_act.double() / scale.double().clamp_min(1e-30), 0.0)
    t = edges[None, :] * ratio[:, None] * n_int  # position of each shared edge in internal bins
    j0 = t.floor().long().clamp(0, n_int - 1)
    frac = (t - j0).clamp(0, 1)
    c_at = cum.gather(1, j0) + frac * (cum.gather(1, j0 + 1) - cum.gather(1, j0))
    c_at[:, -1] = cum[:, -1]  # nothing lies above max_act
    c_at = c_at.round().long()
    counts = c_at.diff(dim=1).clamp_min(0)
    return edges.float().cpu().numpy(), counts.cpu().numpy()


def _quantile_picks(res_vals, res_ids, Q: int, S: int) -> tuple[np.ndarray, np.ndarray]:
    """S samples from each of Q equal-count bands of each latent's reservoir, lowest band first."""
    import torch

    L, R = res_vals.shape
    valid = res_ids >= 0
    n_valid = valid.sum(1)  # [L]
    v = torch.where(valid, res_vals, float("inf"))
    order = v.argsort(dim=1)  # valid entries ascending, invalid at the end
    vals_sorted = res_vals.gather(1, order)
    ids_sorted = res_ids.gather(1, order)
    qs = torch.arange(Q, device=res_vals.device, dtype=torch.float64)
    ss = torch.arange(S, device=res_vals.device, dtype=torch.float64)
    frac = ((qs[:, None] + (ss[None, :] + 0.5) / S) / Q).reshape(-1)  # [Q*S] in (0, 1)
    idx = (frac[None, :] * n_valid[:, None].double()).floor().long()
    idx = torch.minimum(idx, (n_valid[:, None] - 1).clamp_min(0))
    ids = ids_sorted.gather(1, idx)
    vals = vals_sorted.gather(1, idx)
    dup = torch.zeros_like(idx, dtype=torch.bool)
    dup[:, 1:] = idx[:, 1:] == idx[:, :-1]
    empty = (n_valid == 0)[:, None] | dup
    ids = torch.where(empty, -1, ids)
    vals = torch.where(empty, 0.0, vals)
    return ids.reshape(L, Q, S).cpu().numpy(), vals.reshape(L, Q, S).float().cpu().numpy()


def decoder_neighbours(W_dec, n: int = 10, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Nearest latents by cosine of decoder rows W_dec [L, d], in row chunks (never an L x L matrix).

    Returns (indices [L, n] int64, cosines [L, n] float32), best first; n is capped at L - 1.
    """
    import torch

    with torch.no_grad():
        W = W_dec.detach().float()
        W = W / W.norm(dim=1, keepdim=True).clamp_min(1e-12)
        L = W.shape[0]
        n_eff = max(0, min(n, L - 1))
        idx_out = np.full((L, n), -1, dtype=np.int64)
        cos_out = np.zeros((L, n), dtype=np.float32)
        if n_eff == 0:
            return idx_out, cos_out
        for start in range(0, L, chunk):
            stop = min(L, start + chunk)
            sims = W[start:stop] @ W.T  # [chunk, L]
            ar = torch.arange(stop - start, device=sims.device)
            sims[ar, ar + start] = float("-inf")
            top = sims.topk(n_eff, dim=1)
            idx_out[start:stop, :n_eff] = top.indices.cpu().numpy()
            cos_out[start:stop, :n_eff] = top.values.cpu().numpy()
    return idx_out, cos_out
