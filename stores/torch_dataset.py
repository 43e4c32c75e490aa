"""Optional torch adapter: an IterableDataset over ActivationStore.iter_batches.

The only module of ``stores`` that imports torch. Each item is already a batch (float32
tensor [B, d]), so use it with ``DataLoader(ds, batch_size=None)``. Multi-worker loading
splits the rank's chunks further by worker id. Batches are read in the on-disk dtype and
widened by torch (vectorised half->float, several times numpy's speed); ``device=`` moves
the half-size batch first and widens it there.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from stores.store import ActivationStore


class StoreBatches(IterableDataset):
    """Batches of one hook; call ``set_epoch(e)`` between epochs for a fresh shuffle."""

    def __init__(self, path: str | os.PathLike, hook: str, batch_size: int, shuffle: bool = True, seed: int = 0,
                 rank: int = 0, world_size: int = 1, buffer_rows: int | None = None, drop_last: bool = False,
                 with_index: bool = False, device: str | torch.device = "cpu") -> None:
        super().__init__()
        self.path, self.hook, self.batch_size = path, hook, batch_size
        self.shuffle, self.seed, self.rank, self.world_size = shuffle, seed, rank, world_size
        self.buffer_rows, self.drop_last, self.with_index = buffer_rows, drop_last, with_index
        self.epoch = 0
        self.device = torch.device(device)
        with ActivationStore.open(path) as s:
            self.d = s.d(hook)
            self.n_rows = s.n_rows(hook)
            self.store_dtype = s.dtype

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        info = get_worker_info()
        workers, wid = (info.num_workers, info.id) if info is not None else (1, 0)
        store = ActivationStore.open(self.path)  # one HDF5 handle per worker process
        try:
            for batch in store.iter_batches(
                self.hook, self.batch_size, shuffle=self.shuffle, seed=self.seed, epoch=self.epoch,
                rank=self.rank * workers + wid, world_size=self.world_size * workers,
                buffer_rows=self.buffer_rows, drop_last=self.drop_last, with_index=self.with_index, raw=True,
            ):
                if self.with_index:
                    acts, sid, pos = batch
                    yield self._widen(acts), torch.from_numpy(sid), torch.from_numpy(pos)
                else:
                    yield self._widen(batch)
        finally:
            store.close()

    def _widen(self, raw: np.ndarray) -> torch.Tensor:

        t = torch.from_numpy(raw)
        if self.store_dtype == "bfloat16":
            t = t.view(torch.int16).view(torch.bfloat16)  # uint16 bit patterns -> bf16
        return t.to(self.device, non_blocking=True).float()
