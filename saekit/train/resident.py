"""Device-resident training data: the hook's rows loaded once into device memory, batched there.

`--data-on-device auto` keeps the rows on the device when they fit the memory budget (default:
half the free memory of a CUDA device; a quarter of the available RAM on CPU), `on` insists (a
one-line error when they do not fit), `off` always streams from the store.

The rows stay in the store's dtype on the device (half the bytes of float32 for fp16/bf16) and
are checked for NaN/Inf once, as they are loaded. Each step gathers its batch on the device by
row number (the step's normalisation widens it to float32). The row numbers come from an index-only BatchStream:
the store's own shuffle (chunk permutation from (seed, epoch), windows, in-window permutation,
partitions) run over row numbers instead of rows, computed on the host ahead of time (8 bytes per
row per epoch). So a device-resident run sees exactly the batches a streaming run sees, in the
same order, with the same DDP partitioning, and resumes bitwise like it.
"""
from __future__ import annotations

import logging
import os
from typing import Iterator

import numpy as np
import torch

from saekit.common.errors import SaekitError
from saekit.train.data import BatchSource, RawBatch, close_if_closable, nonfinite_error
from saekit.train.feed import DeviceBatch, HostBuffers, Prefetcher, all_finite, host_tensor

log = logging.getLogger(__name__)

MODES = ("auto", "on", "off")
LOAD_BLOCK_BYTES = 64 << 20
_STORAGE_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4}


def resident_bytes(source: BatchSource, hook: str) -> int:
    """Device bytes the hook's rows take in the store's dtype."""
    return source.n_rows(hook) * source.d(hook) * _STORAGE_BYTES[getattr(source, "dtype", "float32")]


def available_ram() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def default_budget(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 2
    return available_ram() // 4


def choose_resident(mode: str, need: int, budget: int) -> bool:
    """Whether to keep the rows on the device under --data-on-device ``mode``."""
    if mode not in MODES:
        raise SaekitError(f"--data-on-device must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "off":
        return False
    fits = need <= budget
    if mode == "on" and not fits:
        raise SaekitError(
            f"--data-on-device on: the rows take {need / 2**30:.2f} GiB but the device budget is "
            f"{budget / 2**30:.2f} GiB; raise --device-memory-budget or use --data-on-device auto"
        )
    return fits


def load_rows(source: BatchSource, hook: str, device: torch.device, used: np.ndarray | None = None) -> torch.Tensor:
    """All rows of ``hook`` on ``device`` in the store's dtype, NaN/Inf rows refused as they arrive
    (only rows with ``used[row]`` when given: held-out rows are never trained on, so never checked)."""
    n, d = source.n_rows(hook), source.d(hook)
    store_dtype = getattr(source, "dtype", "float32")
    first = host_tensor(np.empty((0, d), source.read_raw(hook, 0, 0).dtype), store_dtype)
    data = torch.empty((n, d), dtype=first.dtype, device=device)
    block = max(1, LOAD_BLOCK_BYTES // max(1, d * first.element_size()))
    for a in range(0, n, block):
        b = min(n, a + block)
        t = host_tensor(source.read_raw(hook, a, b), store_dtype)
        if device.type == "cuda":
            t = t.pin_memory()
        dst = data[a:b]
        dst.copy_(t, non_blocking=True)
        if all_finite(dst):  # only a failing block is checked row by row
            continue
        finite = torch.isfinite(dst).all(dim=1)
        if used is not None:
            finite |= torch.from_numpy(~used[a:b]).to(device)
        if not bool(finite.all()):
            bad = torch.nonzero(~finite).flatten().cpu().numpy()
            sid, pos = source.read_index(hook, a, b)
            raise nonfinite_error(bad, sid, pos, f"store rows {a}..{b - 1} (hook {hook}, loading onto the device)")
    log.info("%d rows of %s (%s, %.2f GiB) held on %s", n, hook, store_dtype, data.numel() * data.element_size() / 2**30,
             device)
    return data


class ResidentFeed:
    """DeviceBatches gathered on the device from resident rows, in an index-only BatchStream's order,
    in the store's dtype (the step widens them; they were checked as they were loaded).

    On CUDA a thread keeps a few batches' row numbers ready (the store's shuffle over row numbers is
    host work) and the step's stream gathers asynchronously. On the CPU the gather is host work like
    the rest of the step: it runs in the caller's thread on torch's threads, into reused buffers, as
    HostFeed does."""

    def __init__(self, data: torch.Tensor, order: Iterator[RawBatch], device: torch.device, depth: int = 4) -> None:
        self.data, self.device, self.order = data, device, order
        self.buffers = HostBuffers(4) if device.type == "cpu" else None
        self.ahead = None if self.buffers is not None else Prefetcher(order, lambda b: b, depth, "saekit-resident-order")

    def __iter__(self) -> "ResidentFeed":
        return self

    def __next__(self) -> DeviceBatch:
        if self.buffers is not None:
            b = next(self.order)
            assert b.rows is not None
            out = self.buffers.get((len(b.rows), self.data.shape[1]), self.data.dtype)
            x = torch.index_select(self.data, 0, torch.from_numpy(b.rows), out=out)
            return DeviceBatch(x, b.epoch, b.batch_position)
        assert self.ahead is not None
        b = self.ahead.get()
        idx = torch.from_numpy(b.rows).to(self.device, non_blocking=True)
        return DeviceBatch(self.data.index_select(0, idx), b.epoch, b.batch_position)

    def close(self) -> None:
        if self.ahead is not None:
            self.ahead.close()
        close_if_closable(self.order)  # after the thread that read it has stopped
