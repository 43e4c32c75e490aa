"""Rows of several hooks side by side: what transcoders and crosscoders train on.

A transcoder (input hook -> target hook) and a crosscoder (several hooks read and reconstructed
together) need row i of every hook to be the same token, which one `saekit capture --hook A --hook B`
gives (checked here from the stores' row index). A paired source shows those rows as one hook of
width d_in + d_out (input hooks first, then the target hooks) behind the store's batch API, under the
name of the run's `--hook`, so the trainer's feeds, shuffling, held-out split, resume and DDP handle
them exactly as they handle one hook; each training step splits the row again
(`saekit.sae.paired.split_rows`).

`StreamedPairs` (training on a store whose hooks are chunked alike, as one capture writes hooks of
one width) reads them as the store reads one hook: each hook through the store's own shuffled
windows, with the same arguments. The store's order depends only on the hook's chunks, the shuffle
window's rows and the arguments, so equal chunks and one window size give every hook the same row
numbers in the same order, and a batch is the hooks' batches side by side. `PairedRows` holds them
in host memory instead (float32; 4.6 GB for 1M rows of a 576-wide model): for hooks chunked
differently (different widths) and for evaluation, which loads its rows anyway.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import numpy as np

from saekit.common.errors import SaekitError
from saekit.sae.config import SAEFields
from saekit.sae.normalization import scale_from_mean_sq_norm
from saekit.train.data import ArraySource, Batch, BatchOption, BatchSource, HookStats, close_if_closable

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from stores.samples import SampleTable

INDEX_BLOCK = 1 << 20  # rows of the row index compared at a time


def split_hooks(hook: str) -> tuple[str, ...]:
    """`--hook` names one hook, or several joined by commas (a crosscoder's)."""
    hooks = tuple(h.strip() for h in hook.split(",") if h.strip())
    if not hooks:
        raise SaekitError("--hook is empty")
    if len(set(hooks)) != len(hooks):
        raise SaekitError(f"--hook names a hook twice: {hook!r}")
    return hooks


@dataclass(frozen=True)
class PairedLayout:
    """Which hooks a paired row holds, in order, and their widths and scales."""

    in_hooks: tuple[str, ...]
    target_hooks: tuple[str, ...]
    widths: tuple[int, ...]  # per hook, inputs first
    scales: tuple[float, ...]  # per hook: 1 / sqrt(E||x||^2) over the store's rows

    @property
    def d_in(self) -> int:
        return sum(self.widths[: len(self.in_hooks)])

    @property
    def d_out(self) -> int:
        return sum(self.widths[len(self.in_hooks):]) or self.d_in

    def joint_scale(self, hooks: tuple[str, ...]) -> float:
        """Scale of rows made of ``hooks`` side by side: 1 / sqrt(sum of their E||x||^2)."""
        names = self.in_hooks + self.target_hooks
        return scale_from_mean_sq_norm(sum(self.scales[names.index(h)] ** -2 for h in hooks))

    def sae_fields(self) -> SAEFields:
        """SAEConfig fields (besides d_in) of an SAE trained on these rows."""
        fields: SAEFields = {}
        if len(self.in_hooks) > 1:
            fields["in_hooks"] = self.in_hooks
        if self.target_hooks:
            fields.update(target_hooks=self.target_hooks, d_out=self.d_out)
        return fields


def check_aligned(store: BatchSource, hooks: tuple[str, ...]) -> int:
    """The common row count of ``hooks``; SaekitError unless row i of each is the same (sample, position)."""
    for h in hooks:
        if h not in store.hooks:
            raise SaekitError(f"--hook / --target-hook {h!r} is not in the store; it has: {', '.join(store.hooks)}")
    counts = {h: store.n_rows(h) for h in hooks}
    if len(set(counts.values())) != 1:
        raise SaekitError(f"hooks {', '.join(hooks)} have different row counts ({counts}): capture them together, "
                          f"in one `saekit capture --hook ... --hook ...`, so that their rows are the same tokens")
    n = counts[hooks[0]]
    for a in range(0, n, INDEX_BLOCK):
        b = min(n, a + INDEX_BLOCK)
        sid0, pos0 = store.read_index(hooks[0], a, b)
        for h in hooks[1:]:
            sid, pos = store.read_index(h, a, b)
            if not (np.array_equal(sid, sid0) and np.array_equal(pos, pos0)):
                raise SaekitError(f"rows of {h!r} and {hooks[0]!r} are not the same tokens (rows {a}..{b - 1}); "
                                  f"capture them together in one `saekit capture`")
    return n


def paired_layout(store: BatchSource, in_hooks: tuple[str, ...], target_hooks: tuple[str, ...], n: int,
                  how: str) -> PairedLayout:
    """The layout of ``store``'s rows of ``in_hooks`` then ``target_hooks`` (logged with ``how`` they are read)."""
    hooks = in_hooks + target_hooks
    widths = tuple(store.d(h) for h in hooks)
    scales = tuple(scale_from_mean_sq_norm(float(store.stats(h)["mean_sq_norm"])) for h in hooks)
    layout = PairedLayout(in_hooks, target_hooks, widths, scales)
    log.info("paired rows %s -> %s, %s: %d rows, d_in %d, d_out %d", ",".join(in_hooks),
             ",".join(target_hooks) or "(same)", how, n, layout.d_in, layout.d_out)
    return layout


class PairedRows(ArraySource):
    """The rows of ``in_hooks`` then ``target_hooks`` side by side, as one hook named ``name``."""

    def __init__(self, store: BatchSource, name: str, in_hooks: tuple[str, ...], target_hooks: tuple[str, ...]):
        hooks = in_hooks + target_hooks
        n = check_aligned(store, hooks)
        parts = [store.read_rows(h, 0, n) if hasattr(store, "read_rows") else store.read_raw(h, 0, n) for h in hooks]
        super().__init__({name: np.concatenate(parts, axis=1)}, attrs=getattr(store, "attrs", {}))
        self.store, self.first = store, hooks[0]
        self.layout = paired_layout(store, in_hooks, target_hooks, n, "held in memory")

    @property
    def samples(self) -> SampleTable | None:
        """The store's sample table (labels, texts), None for an in-memory source."""
        return getattr(self.store, "samples", None)

    def read_index(self, hook: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        self._get(hook)
        return self.store.read_index(self.first, start, stop)


class StreamedPairs:
    """The rows of ``in_hooks`` then ``target_hooks`` side by side as one hook ``name``, read batch by batch
    through the store's windows (see the module docstring for why the hooks' batches hold the same rows)."""

    filters_rows = True  # iter_batches / row_order take keep_rows, passed on to the store

    def __init__(self, store: BatchSource, name: str, in_hooks: tuple[str, ...], target_hooks: tuple[str, ...]):
        hooks = in_hooks + target_hooks
        self.n = check_aligned(store, hooks)
        self.store, self.name, self.parts, self.first = store, name, hooks, hooks[0]
        self.hooks = [name]
        self.dtype = store.dtype  # type: ignore[attr-defined] - streams only from a store (see streams_alike)
        self.attrs = getattr(store, "attrs", {})
        self.layout = paired_layout(store, in_hooks, target_hooks, self.n, "streamed")

    def _check(self, hook: str) -> None:
        if hook != self.name:
            raise SaekitError(f"hook {hook!r} is not in this source; it has: {self.name}")

    @property
    def samples(self) -> SampleTable | None:
        """The store's sample table (labels, texts)."""
        return getattr(self.store, "samples", None)

    def d(self, hook: str) -> int:
        self._check(hook)
        return sum(self.layout.widths)

    def n_rows(self, hook: str) -> int:
        self._check(hook)
        return self.n

    def stats(self, hook: str) -> HookStats:
        """n, mean, var and mean_sq_norm of the joined rows, from the hooks' own statistics."""
        self._check(hook)
        per = [self.store.stats(h) for h in self.parts]
        return {"n": self.n, "mean": np.concatenate([np.asarray(s["mean"]) for s in per]),
                "var": np.concatenate([np.asarray(s["var"]) for s in per]),
                "mean_sq_norm": float(sum(float(s["mean_sq_norm"]) for s in per))}

    def _window(self, buffer_rows: int | None) -> int:
        """One shuffle window size for every hook (a store's default depends on the hook's width)."""
        return self.store.default_buffer_rows(self.first) if buffer_rows is None else buffer_rows  # type: ignore[attr-defined]

    def iter_batches(self, hook: str, batch_size: int, with_index: bool = False, buffer_rows: int | None = None,
                     cut: object = None, **kw: BatchOption) -> Iterator[Batch]:
        """The hooks' batches of the same arguments side by side (``cut`` is not honoured: the parts are
        joined anyway); with ``with_index``, every hook's index is read and checked to be the same."""
        self._check(hook)
        its = [iter(self.store.iter_batches(h, batch_size, with_index=with_index, buffer_rows=self._window(buffer_rows),
                                            **kw)) for h in self.parts]
        try:
            for parts in zip(*its):
                if not with_index:
                    yield np.concatenate(parts, axis=1)
                    continue
                sid, pos = parts[0][1], parts[0][2]
                if any(not (np.array_equal(p[1], sid) and np.array_equal(p[2], pos)) for p in parts[1:]):
                    raise SaekitError(f"the store's batches of {', '.join(self.parts)} are not the same tokens")
                yield np.concatenate([p[0] for p in parts], axis=1), sid, pos
        finally:
            for it in its:
                close_if_closable(it)

    def row_order(self, hook: str, batch_size: int, buffer_rows: int | None = None,
                  **kw: BatchOption) -> Iterator[np.ndarray]:
        self._check(hook)
        return self.store.row_order(self.first, batch_size, buffer_rows=self._window(buffer_rows), **kw)

    def read_raw(self, hook: str, start: int, stop: int) -> np.ndarray:
        self._check(hook)
        return np.concatenate([self.store.read_raw(h, start, stop) for h in self.parts], axis=1)

    def read_rows(self, hook: str, start: int, stop: int) -> np.ndarray:
        self._check(hook)
        return np.concatenate([self.store.read_rows(h, start, stop) for h in self.parts], axis=1)  # type: ignore[attr-defined]

    def read_index(self, hook: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        self._check(hook)
        return self.store.read_index(self.first, start, stop)


def streams_alike(source: BatchSource, hooks: tuple[str, ...]) -> bool:
    """Whether ``source`` is a store whose ``hooks`` are chunked alike, so that its batches of each hook with
    the same arguments (and one window size) hold the same rows."""
    if not all(hasattr(source, a) for a in ("segments", "default_buffer_rows", "read_rows", "dtype")):
        return False
    if any(h not in source.hooks for h in hooks):
        return False  # PairedRows names the missing hook
    first = source.segments(hooks[0])  # type: ignore[attr-defined]
    return all(source.segments(h) == first for h in hooks[1:])  # type: ignore[attr-defined]


def paired_source(source: BatchSource, hook: str, target_hooks: tuple[str, ...]) -> BatchSource:
    """``source`` itself for an SAE on one hook; the paired rows of a transcoder or crosscoder."""
    in_hooks = split_hooks(hook)
    if len(in_hooks) == 1 and not target_hooks:
        return source
    overlap = set(in_hooks) & set(target_hooks)
    if overlap:
        raise SaekitError(f"--target-hook {sorted(overlap)[0]!r} is also an input hook")
    if isinstance(source, (PairedRows, StreamedPairs)):
        return source
    hooks = in_hooks + tuple(target_hooks)
    paired = StreamedPairs if streams_alike(source, hooks) else PairedRows
    return paired(source, hook, in_hooks, tuple(target_hooks))


def layout_of(source: BatchSource) -> PairedLayout | None:
    """The paired layout behind ``source`` (through a held-out split view), or None for one hook."""
    inner = getattr(source, "source", source)
    return getattr(inner, "layout", None)
