"""Whole samples out of a store: rows of one sample are contiguous in sequential order, so the last
sample of each batch is held back and joined to the next batch."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import numpy as np

from saekit.inputs.checks import check_sae_matches_store, sae_dims

if TYPE_CHECKING:
    import torch

    from saekit.sae import SAE
    from stores import ActivationStore


def default_batch_size(d_sae: int) -> int:
    """Rows per read that keep a dense [B, d_sae] block near 16 M floats (256 to 8192)."""
    return int(min(8192, max(256, 2 ** 24 // max(d_sae, 1))))


def iter_whole_samples(store: "ActivationStore", hook: str, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
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


def sample_max_batches(sae: "SAE", store: "ActivationStore", hook: str, batch_size: int | None = None,
                       progress: bool = False) -> Iterator[tuple[np.ndarray, "torch.Tensor"]]:
    """Yield (sample_ids [n_b], smax [n_b, d_sae] tensor): each sample's max activation per latent."""
    import torch
    from tqdm.auto import tqdm

    check_sae_matches_store(sae, store, hook)
    _, L = sae_dims(sae)
    device = sae.W_dec.device
    if batch_size is None:
        batch_size = default_batch_size(L)
    bar = tqdm(total=int(store.n_rows(hook)), desc=f"encode {hook}", unit="row", disable=not progress, leave=False)
    with torch.no_grad():
        for acts, sid, _ in iter_whole_samples(store, hook, batch_size):
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
