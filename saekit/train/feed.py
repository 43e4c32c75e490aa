"""DeviceFeed: training batches made ready on the device ahead of the step that needs them.

A background thread takes RawBatches (rows in the store's dtype: float16, bf16 bits or float32)
from a BatchStream, puts them in pinned host memory when the device is CUDA, copies them with
non_blocking=True on a side stream, widens them to float32 and checks finiteness there, and
hands the finished tensor over through a bounded queue. The store's own prefetch thread and
parallel readers fill the next window meanwhile, so disk, host copy, host->device transfer and
the training step all overlap; the step waits only when storage cannot keep up. The same code
runs on CPU, where "the device" is the host and the pinned copy and side stream are skipped.

Resume: each item carries the (epoch, position) its consumption leaves the stream at, and the
trainer checkpoints those of the last batch it consumed, not of the batches prepared ahead.
"""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol

import numpy as np
import torch

from saekit.train.data import RawBatch, nonfinite_error

_DONE = object()


@dataclass(frozen=True)
class DeviceBatch:
    """float32 rows on the device and the stream position once they are consumed."""

    x: torch.Tensor
    epoch: int
    position: int


class BatchFeed(Protocol):
    """What the trainer pulls batches from (DeviceFeed, or the device-resident ResidentFeed)."""

    def __next__(self) -> DeviceBatch: ...
    def close(self) -> None: ...


def host_tensor(raw: np.ndarray, store_dtype: str) -> torch.Tensor:
    """Rows in the store's dtype as a torch tensor sharing their memory (bf16 bits viewed as bf16)."""
    t = torch.from_numpy(raw)
    if store_dtype == "bfloat16":
        t = t.view(torch.int16).view(torch.bfloat16)
    return t


WIDEN_ROWS = 1024  # rows widened per slice: the slice's float32 rows are summed while still in cache


def widen_and_check(t: torch.Tensor, batch: RawBatch | None, where: str, out: torch.Tensor | None = None) -> torch.Tensor:
    """float32 copy of ``t`` (on its device; into ``out`` when given), raising the one-line NaN/Inf error
    naming the first bad rows.

    One float32 sum decides (a NaN or Inf anywhere makes it non-finite): a single read of the batch,
    several times cheaper than an elementwise isfinite, taken slice by slice right after each slice
    is widened. Only a non-finite sum (a bad row, or finite values so large the sum overflows) pays
    for the exact per-row check."""
    if out is None:
        x = t.float()
        total = x.sum()
    else:
        x = out
        sums = []
        for a in range(0, t.shape[0], WIDEN_ROWS):
            sums.append(x[a : a + WIDEN_ROWS].copy_(t[a : a + WIDEN_ROWS]).sum())
        total = torch.stack(sums).sum() if sums else x.sum()
    if bool(torch.isfinite(total)):
        return x
    finite = torch.isfinite(x).all(dim=1)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten().cpu().numpy()
        raise nonfinite_error(bad, batch.sample_id if batch else None, batch.position if batch else None, where)
    return x


def _storage_users(t: torch.Tensor) -> int:
    return torch._C._storage_Use_Count(t.untyped_storage()._cdata)


class HostBuffers:
    """Reused float32 batch tensors for the CPU feed.

    A fresh 4096 x 768 float32 tensor per batch costs an allocation and its page faults, about as
    much as the widening itself; a buffer is handed out again only once nothing else uses its
    storage (the step dropped the batch and every view of it), so holding batches is always safe."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.bufs: list[tuple[torch.Tensor, int]] = []

    def get(self, shape: tuple[int, ...]) -> torch.Tensor:
        """A float32 tensor of ``shape`` that nothing else uses. It is a view of the kept buffer: the
        storage's use count then says whether the batch (or any view of it) is still alive."""
        for buf, idle in self.bufs:
            if tuple(buf.shape) == shape and _storage_users(buf) <= idle:
                return buf.view(shape)
        buf = torch.empty(shape, dtype=torch.float32)
        if len(self.bufs) < self.keep:
            self.bufs.append((buf, _storage_users(buf)))
        return buf.view(shape)


def one_intraop_thread() -> Callable[[], None]:
    """Make the calling (background) thread run torch's CPU ops on one thread; returns the undo.

    The feed's elementwise work is small and memory-bound: split over torch's intra-op pool it waits
    on whichever core the training step (or anything else) holds, several times slower than on one
    thread. The thread count is per thread for the threads already running torch (the caller makes
    sure the main thread is one of them) but also becomes the default for new threads, which the
    undo restores when the feed thread ends."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    return lambda: torch.set_num_threads(before)


class Prefetcher:
    """Runs ``fn`` over ``items`` in a background thread, up to ``depth`` results ahead of ``get``."""

    def __init__(self, items: Iterator[Any], fn: Callable[[Any], Any], depth: int, name: str,
                 setup: Callable[[], Callable[[], None] | None] | None = None) -> None:
        """``setup`` runs first in the thread and may return a function the thread runs as it ends."""
        self.items, self.fn, self.setup = items, fn, setup
        self.q: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        teardown = None
        try:
            if self.setup is not None:
                teardown = self.setup()
            for item in self.items:
                if self.stop.is_set():
                    return
                out = self.fn(item)
                while not self.stop.is_set():
                    try:
                        self.q.put(out, timeout=0.1)
                        break
                    except queue.Full:
                        continue
            self.error = StopIteration()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            self.error = exc
        finally:
            if teardown is not None:
                teardown()
        self.q.put(_DONE)

    def get(self) -> Any:
        item = self.q.get()
        if item is _DONE:
            self.q.put(_DONE)  # later calls fail the same way
            raise self.error if self.error is not None else StopIteration
        return item

    def close(self) -> None:
        self.stop.set()
        while self.thread.is_alive():
            try:
                self.q.get(timeout=0.1)  # unblock a producer waiting on a full queue
            except queue.Empty:
                pass
        self.thread.join()


class DeviceFeed:
    """Iterator of DeviceBatch over a BatchStream, ``depth`` batches prepared ahead.

    Two threads: one cuts batches out of the store's windows (the shuffled gather), the other
    ships and widens them, so the two overlap each other as well as the step."""

    def __init__(self, stream: Iterator[RawBatch], store_dtype: str, device: torch.device, hook: str,
                 depth: int = 3) -> None:
        self.store_dtype, self.device, self.hook = store_dtype, device, hook
        self.cuda = device.type == "cuda"
        self.side = torch.cuda.Stream(device) if self.cuda else None
        self.buffers = None if self.cuda else HostBuffers(depth + 3)
        torch.get_num_threads()  # fixes this thread's own intra-op thread count before the feed thread sets its own
        setup = (lambda: torch.cuda.set_device(device)) if self.cuda else one_intraop_thread
        self.cut = Prefetcher(stream, lambda b: b, depth, "saekit-batch-cut")
        self.ahead = Prefetcher(self._cut_batches(), self._prepare, depth, "saekit-device-feed", setup)

    def _cut_batches(self) -> Iterator[RawBatch]:
        while True:
            yield self.cut.get()

    def _prepare(self, b: RawBatch) -> tuple[DeviceBatch, Any]:
        assert b.acts is not None
        t = host_tensor(b.acts, self.store_dtype)
        where = f"{b.where} (hook {self.hook})"
        if self.buffers is not None:
            x = widen_and_check(t, b, where, out=self.buffers.get(tuple(t.shape)))
            return DeviceBatch(x, b.epoch, b.batch_position), None
        with torch.cuda.stream(self.side):
            # pinned staging: the caching host allocator keeps the block until the copy has finished
            t = t.pin_memory().to(self.device, non_blocking=True)
            x = widen_and_check(t, b, where)  # the check waits on the side stream only, in this thread
            ready = torch.cuda.Event()
            ready.record(self.side)
        return DeviceBatch(x, b.epoch, b.batch_position), ready

    def __iter__(self) -> "DeviceFeed":
        return self

    def __next__(self) -> DeviceBatch:
        batch, ready = self.ahead.get()
        if ready is not None:
            cur = torch.cuda.current_stream(self.device)
            cur.wait_event(ready)
            batch.x.record_stream(cur)  # allocated on the side stream, used on this one
        return batch

    def close(self) -> None:
        self.ahead.close()
        self.cut.close()
