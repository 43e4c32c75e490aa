"""Keeping the K largest keys per latent, merged batch by batch without reordering big arrays: the
top-K samples by activation, and the reservoir of random firing samples (keys from ``hash_uniform``)."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def merge_slots(keys_LK: "torch.Tensor", cand_LS: "torch.Tensor"
                ) -> tuple["torch.Tensor", "torch.Tensor", "torch.Tensor"]:
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


def merge_sparse(keys_LK: "torch.Tensor", lat_M: "torch.Tensor", key_M: "torch.Tensor"
                 ) -> tuple["torch.Tensor", "torch.Tensor", "torch.Tensor"]:
    """Like ``merge_slots`` for candidates given as a list: latent ``lat_M`` with key ``key_M``.

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
    u, slot, c = merge_slots(keys_LK[uniq], cand)
    return uniq[u], slot, cidx[u, c]


def hash_uniform(sample_ids: "torch.Tensor", latents: "torch.Tensor", seed: int) -> "torch.Tensor":
    """Deterministic pseudo-random floats in [0, 1) per (seed, sample_id, latent) pair.

    A 32-bit integer mix kept below 2**63 in int64 arithmetic (constants < 2**31)."""

    m32 = 0xFFFFFFFF
    h = (sample_ids.long() * 0x2545F491 + latents.long() * 0x9E3779B + int(seed) * 0x3C6EF35F + 0x1B873593) & m32
    for _ in range(3):
        h = ((h ^ (h >> 16)) * 0x45D9F3B) & m32
    h = h ^ (h >> 16)
    return h.double() / 2.0 ** 32
