"""Examples are windows, as in delphi: fixed runs of `ctx` token positions cut from each document
(positions [w*ctx, (w+1)*ctx) of a sample; a document's last window may be shorter), or, for images,
the whole image. A window is activating for a latent when the latent fires on any of its rows.

Two streaming passes over the store hook, both over whole samples in the store's order (so window
numbers are the same in both): `scan_windows` counts, for every latent, the windows it fires in
(the firing frequency that picks latents and flags dense ones); `collect_windows` keeps, for the
chosen latents only, every nonzero activation with its window and position."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import numpy as np

if TYPE_CHECKING:
    import torch

    from saekit.sae import SAE
    from stores import ActivationStore


@dataclass(frozen=True)
class WindowTable:
    """Every window of the store, in scan order, and how many windows each latent fires in."""

    sample_id: np.ndarray   # [W] int64
    index: np.ndarray       # [W] int64: window number within its sample (start position = index * ctx)
    ctx: int | None         # tokens per window; None: a window is a whole sample (images)
    fire_count: np.ndarray  # [d_sae] int64: windows where the latent fires

    @property
    def n_windows(self) -> int:
        return int(len(self.sample_id))

    @property
    def window_freq(self) -> np.ndarray:
        return self.fire_count / max(1, self.n_windows)

    def span(self, w: int) -> tuple[int, int | None]:
        """[start, stop) positions of window w (stop None: to the end of the sample)."""
        if self.ctx is None:
            return 0, None
        start = int(self.index[w]) * self.ctx
        return start, start + self.ctx


@dataclass(frozen=True)
class LatentWindows:
    """One latent's activating windows: window numbers and maxima, and its nonzero token activations."""

    windows: np.ndarray    # [n] int64 window numbers (into the WindowTable)
    max_act: np.ndarray    # [n] float32 the latent's max activation in each window
    entry_window: np.ndarray  # [m] int64 window number of each nonzero activation
    entry_pos: np.ndarray  # [m] int32 store position of each nonzero activation
    entry_act: np.ndarray  # [m] float32 the activation

    def tokens_of(self, w: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions, activations) of the latent's nonzero activations in window w."""
        lo, hi = np.searchsorted(self.entry_window, [w, w + 1])
        return self.entry_pos[lo:hi], self.entry_act[lo:hi]


def _window_keys(sid: np.ndarray, pos: np.ndarray, ctx: int | None) -> np.ndarray:
    win = np.zeros_like(pos, dtype=np.int64) if ctx is None else np.maximum(pos.astype(np.int64), 0) // ctx
    return np.stack([sid, win], axis=1)


def _batches(sae: SAE, store: ActivationStore, hook: str, ctx: int | None, progress: bool, desc: str
             ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, "torch.Tensor", "torch.Tensor", np.ndarray]]:
    """Yield (window sample ids [w], window indices [w], positions [B], local window of each row [B] (tensor),
    latents z [B, d_sae] (tensor), the rows' local window as numpy) per batch of whole samples."""
    import torch
    from tqdm.auto import tqdm

    from saekit.analysis.summaries import iter_whole_samples
    from saekit.analysis.summaries.streaming import default_batch_size

    device = sae.W_dec.device
    bar = tqdm(total=int(store.n_rows(hook)), desc=desc, unit="row", disable=not progress, leave=False)
    with torch.no_grad():
        for acts, sid, pos in iter_whole_samples(store, hook, default_batch_size(int(sae.W_dec.shape[0]))):
            keys, inv = np.unique(_window_keys(sid, pos, ctx), axis=0, return_inverse=True)
            inv = inv.reshape(-1)
            z = sae.encode(torch.from_numpy(acts).to(device=device, dtype=sae.W_dec.dtype)).float()
            bar.update(len(sid))
            yield keys[:, 0], keys[:, 1], pos, torch.from_numpy(inv).to(device), z, inv
    bar.close()


def scan_windows(sae: SAE, store: ActivationStore, hook: str, ctx: int | None, progress: bool = False) -> WindowTable:
    """Pass 1: the window table and every latent's count of activating windows."""
    import torch

    d_sae = int(sae.W_dec.shape[0])
    counts = torch.zeros(d_sae, dtype=torch.int64, device=sae.W_dec.device)
    sids, idxs = [], []
    for wsid, widx, _, inv_t, z, _ in _batches(sae, store, hook, ctx, progress, f"windows {hook}"):
        fired = torch.zeros(len(wsid), d_sae, device=z.device).index_add_(0, inv_t, (z > 0).float())
        counts += (fired > 0).sum(0)
        sids.append(wsid)
        idxs.append(widx)
    cat = (lambda xs: np.concatenate(xs).astype(np.int64)) if sids else (lambda xs: np.zeros(0, np.int64))
    return WindowTable(sample_id=cat(sids), index=cat(idxs), ctx=ctx, fire_count=counts.cpu().numpy())


def collect_windows(sae: SAE, store: ActivationStore, hook: str, ctx: int | None, latents: list[int],
                    progress: bool = False) -> dict[int, LatentWindows]:
    """Pass 2: the activating windows and nonzero activations of `latents`."""
    import torch

    cols = torch.as_tensor(latents, dtype=torch.long, device=sae.W_dec.device)
    parts: dict[str, list[np.ndarray]] = {"win": [], "lat": [], "pos": [], "act": []}
    offset = 0
    for wsid, _, pos, _, z, inv in _batches(sae, store, hook, ctx, progress, f"latents {hook}"):
        zc = z.index_select(1, cols)
        rows, lat = torch.nonzero(zc > 0, as_tuple=True)
        rows_np = rows.cpu().numpy()
        parts["win"].append(offset + inv[rows_np])
        parts["lat"].append(lat.cpu().numpy())
        parts["pos"].append(pos[rows_np].astype(np.int32))
        parts["act"].append(zc[rows, lat].cpu().numpy().astype(np.float32))
        offset += len(wsid)
    if not parts["win"]:
        parts = {k: [np.zeros(0, t)] for k, t in (("win", np.int64), ("lat", np.int64), ("pos", np.int32),
                                                    ("act", np.float32))}
    win, lat, pos_all, act = (np.concatenate(parts[k]) for k in ("win", "lat", "pos", "act"))
    out: dict[int, LatentWindows] = {}
    for c, latent in enumerate(latents):
        m = lat == c
        w, p, a = win[m], pos_all[m], act[m]
        order = np.lexsort((p, w))
        w, p, a = w[order], p[order], a[order]
        uniq, start = np.unique(w, return_index=True)
        wmax = np.maximum.reduceat(a, start) if len(a) else np.zeros(0, np.float32)
        out[int(latent)] = LatentWindows(windows=uniq.astype(np.int64), max_act=wmax.astype(np.float32),
                                         entry_window=w.astype(np.int64), entry_pos=p, entry_act=a)
    return out
