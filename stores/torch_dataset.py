"""Optional torch adapter: an IterableDataset over ActivationStore.iter_batches.

The only module of ``stores`` that imports torch. Each item is already a batch (float32
tensor [B, d]), so use it with ``DataLoader(ds, batch_size=None)``. Multi-worker loading
splits the rank's chunks further by worker id.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import IterableDataset, get_worker_info

from stores.store import ActivationStore


class StoreBatches(IterableDataset):
    """Batches of one hook; call ``set_epoch(e)`` between epochs for a fresh shuffle."""

    def __init__(self, path: str | os.PathLike, hook: str, batch_size: int, shuffle: bool = True, seed: int = 0,
                 rank: int = 0, world_size: int = 1, buffer_rows: int | None = None, drop_last: bool = False,
                 with_index: bool = False) -> None:
        super().__init__()
        self.path, self.hook, self.batch_size = path, hook, batch_size
        self.shuffle, self.seed, self.rank, self.world_size = shuffle, seed, rank, world_size
        self.buffer_rows, self.drop_last, self.with_index = buffer_rows, drop_last, with_index
        self.epoch = 0
        with ActivationStore.open(path) as s:
            self.d = s.d(hook)
            self.n_rows = s.n_rows(hook)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        workers, wid = (info.num_workers, info.id) if info is not None else (1, 0)
        store = ActivationStore.open(self.path)  # one HDF5 handle per worker process
        try:
            for batch in store.iter_batches(
                self.hook, self.batch_size, shuffle=self.shuffle, seed=self.seed, epoch=self.epoch,
                rank=self.rank * workers + wid, world_size=self.world_size * workers,
                buffer_rows=self.buffer_rows, drop_last=self.drop_last, with_index=self.with_index,
            ):
                if self.with_index:
                    yield tuple(torch.from_numpy(x) for x in batch)
                else:
                    yield torch.from_numpy(batch)
        finally:
            store.close()
