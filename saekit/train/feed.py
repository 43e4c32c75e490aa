"""Training feeds: batches in the store's dtype, on the device when the step asks, and never trained on
unchecked for NaN/Inf.

Both feeds hand the step rows as stored (float16, bfloat16 or float32); the step's normalisation
widens them to float32 in the pass it makes anyway (saekit.sae.normalization.normalize_float32), so
no separate float32 copy of a batch is ever written.

- HostFeed (CPU): the batch is cut out of the store's shuffle window straight into a reused
  tensor by torch's threaded gather, in the caller's thread. On the CPU "the device" is the host:
  a feed thread would only take cores from the step, and on few cores its hand-offs cost more than
  the work. The store's own prefetch thread still reads the next window meanwhile. The rows are
  checked through the step's loss instead of by a pass of their own: a NaN or Inf in any row makes
  the loss NaN or Inf (the reconstruction error sums over every element of the batch, and
  ``x_hat - x`` is not finite where ``x`` is not), so the step tests that one number before it
  touches the weights and only a non-finite loss pays for the row check (``DeviceBatch.verify``),
  which names the bad rows. A separate pass over every byte cost 15-20% of a first epoch's input
  rate on two cores (docs/performance.md) and bought nothing this test misses.
- DeviceFeed (CUDA): background threads cut batches and ship them through pinned host memory with
  non-blocking copies on a side stream, and check them there, ``depth`` batches ahead, so disk,
  host copy, host->device transfer and the step all overlap; the step never synchronises on its loss.

Resume: each batch carries the (epoch, position) its consumption leaves the stream at, and the
trainer checkpoints those of the last batch it consumed, not of the batches prepared ahead.
"""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Generic, Iterator, Protocol, TypeVar

import numpy as np
import torch

from saekit.train.data import N_NAMED, BatchStream, RawBatch, close_if_closable, nonfinite_error_named

_DONE = object()
Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class DeviceBatch:
    """Rows on the device, in the store's dtype, and the stream position once they are consumed.

    ``verify`` is None when the rows were checked for NaN/Inf on the way in; otherwise the step must
    call it, before the weights move, whenever its loss is not finite: it raises the one-line error
    naming the bad rows (and returns when every row is finite)."""

    x: torch.Tensor
    epoch: int
    position: int
    verify: Callable[[], None] | None = None


class BatchFeed(Protocol):
    """What the trainer pulls batches from (HostFeed, DeviceFeed, or the device-resident ResidentFeed)."""

    def __next__(self) -> DeviceBatch: ...
    def close(self) -> None: ...


def host_tensor(raw: np.ndarray, store_dtype: str) -> torch.Tensor:
    """Rows in the store's dtype as a torch tensor sharing their memory (bf16 bits viewed as bf16)."""
    t = torch.from_numpy(raw)
    if store_dtype == "bfloat16":
        t = t.view(torch.int16).view(torch.bfloat16)
    return t


def all_finite(x: torch.Tensor) -> bool:
    """Whether ``x`` holds no NaN or Inf, by one min/max pass: NaN propagates into both and an Inf is
    the min or the max, while finite values can never overflow it (a float32 sum can, for large bf16
    values)."""
    if x.numel() == 0:
        return True
    lo, hi = torch.aminmax(x)
    return bool(torch.isfinite(lo) & torch.isfinite(hi))


def check_rows(x: torch.Tensor, batch: RawBatch | None, where: str) -> None:
    """Raise the one-line NaN/Inf error naming the first bad rows of ``x`` (on any device); only a
    batch that fails all_finite pays for the per-row check."""
    if all_finite(x):
        return
    bad = torch.nonzero(~torch.isfinite(x).all(dim=1)).flatten().cpu().numpy()
    first = bad[:N_NAMED]
    raise nonfinite_error_named(len(bad), first, batch.index_of(first) if batch is not None else None, where)


def _storage_users(t: torch.Tensor) -> int:
    return torch._C._storage_Use_Count(t.untyped_storage()._cdata)


class HostBuffers:
    """Reused host tensors for batches.

    A fresh 4096 x 768 tensor per batch costs an allocation and its page faults, about as much as
    the gather that fills it; a buffer is handed out again only once nothing else uses its storage
    (the step dropped the batch and every view of it), so holding batches is always safe."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.bufs: list[tuple[torch.Tensor, int]] = []

    def get(self, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """A tensor of ``shape`` and ``dtype`` that nothing else uses. It is a view of the kept buffer:
        the storage's use count then says whether the batch (or any view of it) is still alive."""
        for buf, idle in self.bufs:
            if tuple(buf.shape) == shape and buf.dtype == dtype and _storage_users(buf) <= idle:
                return buf.view(shape)
        buf = torch.empty(shape, dtype=dtype)
        if len(self.bufs) < self.keep:
            self.bufs.append((buf, _storage_users(buf)))
        return buf.view(shape)


class HostFeed:
    """CPU feed: batches gathered from the store's windows into reused tensors in the caller's thread,
    checked through the step's loss (see the module docstring for why no thread and no pass of its own)."""

    def __init__(self, stream: BatchStream, store_dtype: str, hook: str, keep: int = 4) -> None:
        self.stream, self.store_dtype, self.hook = stream, store_dtype, hook
        self.buffers = HostBuffers(keep)
        stream.cut_with(self._cut, self._join)

    def _cut(self, rows: np.ndarray, take: np.ndarray) -> torch.Tensor:
        src = host_tensor(rows, self.store_dtype)
        out = self.buffers.get((len(take), src.shape[1]), src.dtype)
        return torch.index_select(src, 0, torch.from_numpy(take.astype(np.int64, copy=False)), out=out)

    def _join(self, parts: list[Any]) -> Any:
        if not isinstance(parts[0], torch.Tensor):  # a source that did not cut (see __next__)
            return np.concatenate(parts)
        shape = (sum(p.shape[0] for p in parts), parts[0].shape[1])
        return torch.cat(parts, out=self.buffers.get(shape, parts[0].dtype))

    def __iter__(self) -> "HostFeed":
        return self

    def __next__(self) -> DeviceBatch:
        b = next(self.stream)
        # a source that batches without windows (a held-out view, a user's own source) hands over
        # fresh arrays of its own instead of cutting: they are used in place
        x = b.acts if isinstance(b.acts, torch.Tensor) else host_tensor(np.ascontiguousarray(b.acts), self.store_dtype)
        return DeviceBatch(x, b.epoch, b.batch_position, verify=partial(self._verify, x, b))

    def _verify(self, x: torch.Tensor, b: RawBatch) -> None:
        """check_rows for a step whose loss was not finite; the message is built only then."""
        check_rows(x, b, f"{b.where} (hook {self.hook})")

    def close(self) -> None:
        self.stream.close()


class Prefetcher(Generic[Item, Result]):
    """Runs ``fn`` over ``items`` in a background thread, up to ``depth`` results ahead of ``get``."""

    def __init__(self, items: Iterator[Item], fn: Callable[[Item], Result], depth: int, name: str,
                 setup: Callable[[], None] | None = None) -> None:
        """``setup`` runs first in the thread."""
        self.items, self.fn, self.setup = items, fn, setup
        self.q: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            if self.setup is not None:
                self.setup()
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
        self.q.put(_DONE)

    def get(self) -> Result:
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
    """CUDA feed: DeviceBatches ``depth`` batches ahead of the step.

    Two threads: one cuts batches out of the store's windows (the shuffled gather), the other
    ships and checks them, so the two overlap each other as well as the step."""

    def __init__(self, stream: Iterator[RawBatch], store_dtype: str, device: torch.device, hook: str,
                 depth: int = 3) -> None:
        if device.type != "cuda":
            raise ValueError(f"DeviceFeed ships batches to a CUDA device, not {device}; use HostFeed")
        self.store_dtype, self.device, self.hook, self.stream = store_dtype, device, hook, stream
        self.side = torch.cuda.Stream(device)
        self.cut = Prefetcher(stream, lambda b: b, depth, "saekit-batch-cut")
        self.ahead = Prefetcher(self._cut_batches(), self._prepare, depth, "saekit-device-feed",
                                lambda: torch.cuda.set_device(device))

    def _cut_batches(self) -> Iterator[RawBatch]:
        while True:
            yield self.cut.get()

    def _prepare(self, b: RawBatch) -> tuple[DeviceBatch, Any]:
        assert b.acts is not None
        t = host_tensor(np.asarray(b.acts), self.store_dtype)
        with torch.cuda.stream(self.side):
            # pinned staging: the caching host allocator keeps the block until the copy has finished
            x = t.pin_memory().to(self.device, non_blocking=True)
            check_rows(x, b, f"{b.where} (hook {self.hook})")  # waits on the side stream only, in this thread
            ready = torch.cuda.Event()
            ready.record(self.side)
        return DeviceBatch(x, b.epoch, b.batch_position), ready

    def __iter__(self) -> "DeviceFeed":
        return self

    def __next__(self) -> DeviceBatch:
        batch, ready = self.ahead.get()
        cur = torch.cuda.current_stream(self.device)
        cur.wait_event(ready)
        batch.x.record_stream(cur)  # allocated on the side stream, used on this one
        return batch

    def close(self) -> None:
        self.ahead.close()
        self.cut.close()
        close_if_closable(self.stream)  # after the threads that read it have stopped


def stream_feed(stream: BatchStream, store_dtype: str, device: torch.device, hook: str) -> BatchFeed:
    """The streaming feed for ``device``: HostFeed on the CPU, DeviceFeed on CUDA."""
    if device.type == "cuda":
        return DeviceFeed(stream, store_dtype, device, hook)
    return HostFeed(stream, store_dtype, hook)
