"""capture(CaptureConfig): model + dataset -> activation store, resumable, one shard per rank.

Three stages overlap: a loader thread decodes and preprocesses batch k+1 (when there are CPU cores
torch does not use, or the model is on a GPU), the main thread runs
the model on batch k (stopping after the deepest hook) and selects tokens, and a writer thread
appends batch k-1 to the store and commits it. One commit per batch is what makes `--resume`
exact: the store's committed sample count is always a whole number of batches, so a resumed run
continues with the same batch boundaries (and the same padding) an uninterrupted run uses.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Mapping, Sequence, TypeVar

import numpy as np
import torch

from saekit.capture.config import CaptureConfig
from saekit.capture.massive import MassiveTokenRule, record_of, resolve_rule
from saekit.capture.ranks import finish_shards, output_path, rank_and_world
from saekit.capture.remote_out import check_remote_out, publish_shard, staging_dir
from stores.remote import is_remote
from stores.shards import shard_path
from saekit.common.errors import SaekitError
from saekit.results.store_meta import StoreMetadata

if TYPE_CHECKING:
    from saekit.data import Dataset
    from saekit.models.base import HookedModel
    from stores import StoreWriter

log = logging.getLogger(__name__)

# filter(inputs, acts {hook: Tensor}, mask_BT, hook) -> mask_BT: drops tokens (e.g. artifact tokens)
T = TypeVar("T")
TokenFilter = Callable
[[Mapping[str, torch.Tensor], Mapping[str, torch.Tensor], torch.Tensor, str], torch.Tensor]

_TORCH_DTYPE_NAMES = {torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float32: "float32"}
_DONE = object()
_ABORT = object()


@dataclass(frozen=True)
class CaptureResult:
    path: Path              # what to open: the .h5 file or the shard directory
    shard: Path             # the file this process wrote
    n_samples: int          # samples in that file
    rows: dict[str, int]    # rows per hook in that file
    resumed_from: int       # samples already committed when this run started
    seconds: float
    manifest_written: bool


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def _background(produce: Callable[[], Iterator[T]], maxsize: int, stop: threading.Event) -> Iterator[T]:
    """Run a generator in a thread, handing items over through a bounded queue."""
    q: queue.Queue = queue.Queue(maxsize=maxsize)

    def run() -> None:
        try:
            for item in produce():
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put(_Failure(exc))

    thread = threading.Thread(target=run, name="saekit-capture-loader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()


class _Writer:
    """Owns the store file: creates it on the first batch (when the widths are known), appends,
    commits once per batch, closes (stats + complete flag) at the end, all on its own thread."""

    def __init__(self, path: Path, dtype: str, attrs: dict, overwrite: bool, existing: StoreWriter | None = None):
        self.path, self.dtype, self.attrs, self.overwrite = path, dtype, attrs, overwrite
        self.w = existing
        self._checked = False
        self.q: queue.Queue = queue.Queue(maxsize=3)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name="saekit-capture-writer", daemon=True)
        self.thread.start()

    def _open(self, widths: dict[str, int]) -> None:
        from stores import ActivationStore

        if self.w is None:
            self.w = ActivationStore.create(self.path, widths, dtype=self.dtype, attrs=self.attrs, overwrite=self.overwrite)
            return
        for hook, d in widths.items():
            if self.w.d(hook) != d:
                raise SaekitError(f"cannot resume {self.path}: hook {hook!r} has d={self.w.d(hook)} in the store but the "
                                  f"model now gives d={d}; capture into a new --out or pass --overwrite")

    def _loop(self) -> None:
        try:
            while True:
                item = self.q.get()
                if item is _ABORT:
                    if self.w is not None:
                        self.w.abandon()
                    return
                if item is _DONE:
                    break
                ids, records, payload = item
                if not self._checked:
                    self._open({h: rows.shape[1] for h, (rows, _, _) in payload.items()})
                    self._checked = True
                self.w.add_samples(ids, records)
                for hook, (rows, sid, pos) in payload.items():
                    self.w.append(hook, rows, sid, pos)
                self.w.commit()
            if self.w is not None:
                self.w.close()
        except BaseException as exc:  # noqa: BLE001 - re-raised on the main thread
            self.error = exc
            if self.w is not None:
                self.w.abandon()

    def put(self, item: object) -> None:
        while True:
            if self.error is not None:
                raise self.error
            try:
                self.q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        if self.error is None:
            self.put(_DONE)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def abort(self) -> None:
        """Stop without closing: everything committed stays, the file stays incomplete and resumable."""
        while self.thread.is_alive():
            try:
                self.q.put(_ABORT, timeout=0.1)
                break
            except queue.Full:
                continue
        self.thread.join()


def _to_numpy(rows: torch.Tensor, dtype: str) -> np.ndarray:
    if dtype == "float16":
        return rows.to(torch.float16).cpu().numpy()
    if dtype == "bfloat16":  # the store keeps bf16 as uint16 bit patterns; hand it those directly
        return rows.to(torch.bfloat16).cpu().view(torch.int16).numpy().view(np.uint16)
    return rows.to(torch.float32).cpu().numpy()


def _check_existing(path: Path, cfg: CaptureConfig) -> bool:
    """True when an existing store should be resumed; removes it for --overwrite; refuses otherwise."""
    from stores import ActivationStore, StoreError

    if not path.exists():
        if cfg.resume:
            log.info("%s does not exist yet; --resume starts a new capture", path)
        return False
    if cfg.overwrite:
        path.unlink()
        return False
    if cfg.resume:
        return True
    try:
        with ActivationStore.open(path) as s:
            complete = s.complete
    except StoreError:
        complete = False
    if complete:
        raise SaekitError(f"{path} already holds a complete store; pass --overwrite to replace it "
                          f"(or --resume, which finds nothing left to do)")
    raise SaekitError(f"{path} holds an unfinished capture; pass --resume to continue it or --overwrite to start over")


def _token_filter(cfg: CaptureConfig, model: HookedModel, given: TokenFilter | None) -> TokenFilter | None:
    if given is not None or not cfg.exclude_artifacts:
        return given
    try:
        from saekit.capture.artifact_tokens import make_token_filter
    except ImportError:
        raise SaekitError("--exclude-artifacts needs saekit.capture.artifact_tokens, which this build lacks") from None
    return make_token_filter(model, cfg)


def _select(model: HookedModel, hook: str, acts: torch.Tensor, inputs: Mapping[str, torch.Tensor], tokens: str,
            all_acts: Mapping[str, torch.Tensor], token_filter: TokenFilter | None, ids_B: np.ndarray,
            dtype: str, massive_keep: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows [n, d] of the selected tokens with their sample ids and positions (-1 for pooled hooks)."""
    if hook.endswith("hook_pattern") and acts.dim() == 4:  # [B, H, Tq, Tk] -> a row per query token [B, Tq, H*Tk]
        acts = acts.permute(0, 2, 1, 3).reshape(acts.shape[0], acts.shape[2], -1)
    elif acts.dim() > 3:  # per-head hooks (e.g. hook_z [B, T, H, d_head]) -> [B, T, H*d_head]
        acts = acts.reshape(acts.shape[0], acts.shape[1], -1)
    elif acts.dim() == 2:  # a module: hook with one vector per sample
        acts = acts.unsqueeze(1)
    B, T, d = acts.shape
    if model.is_pooled(hook):
        return _to_numpy(acts.reshape(B, d), dtype), ids_B.copy(), np.full(B, -1, np.int32)
    mask = model.token_mask(inputs, tokens, hook)
    if mask.shape != (B, T):
        raise SaekitError(f"hook {hook!r} gives {T} tokens per sample but the token mask has {mask.shape[1]}; "
                          f"use --tokens all for module: hooks with other shapes")
    if token_filter is not None:
        mask = token_filter(inputs, all_acts, mask, hook)
    if massive_keep is not None and massive_keep.shape == mask.shape:
        mask = mask & massive_keep
    if bool(mask.all()):
        rows = acts.reshape(B * T, d)
        b = np.repeat(np.arange(B), T)
        t = np.tile(np.arange(T, dtype=np.int32), B)
    else:
        bt = mask.nonzero(as_tuple=True)
        rows = acts[bt]
        b, t = bt[0].cpu().numpy(), bt[1].cpu().numpy().astype(np.int32)
    return _to_numpy(rows, dtype), ids_B[b], t


def _massive_keep(model: HookedModel, hooks: Sequence[str], acts: Mapping[str, torch.Tensor], inputs: Mapping[str, torch.Tensor],
                  tokens: str, rule: MassiveTokenRule | None) -> torch.Tensor | None:
    """One keep mask [B, T] for every token-level hook of a batch: a token massive at any of them is left
    out at all of them, so row i of every hook stays the same token (what transcoders train on)."""
    if rule is None:
        return None
    keep = None
    for hook in hooks:
        a = acts[hook]
        if a.dim() != 3 or model.is_pooled(hook) or hook.endswith("hook_pattern"):
            continue
        mask = model.token_mask(inputs, tokens, hook)
        if mask.shape != a.shape[:2] or (keep is not None and keep.shape != mask.shape):
            continue
        k = rule.keep_mask(a, mask) | ~mask
        keep = k if keep is None else keep & k
    return keep


def capture(config: CaptureConfig, *, model: HookedModel | None = None, dataset: Dataset | None = None,

            token_filter: TokenFilter | None = None) -> CaptureResult:
    """Capture `config.hooks` of `config.model` on `config.data` into `config.out`.

    `model` / `dataset` may be passed already loaded (they must match the specs in the config,
    which is what the store records). Returns where the store is and what this process wrote."""
    from saekit.data import load_dataset
    from saekit.models import load_model
    from stores import ActivationStore

    cfg = config
    t0 = time.perf_counter()
    rank, world = rank_and_world()
    remote = is_remote(cfg.out)  # object storage: staged locally, uploaded whole (saekit.capture.remote_out)
    if remote:
        check_remote_out(cfg.out, cfg.resume, cfg.overwrite)
        out_root = staging_dir(cfg.out)
        out_root.mkdir(parents=True, exist_ok=True)
        path = shard_path(out_root, rank)
    else:
        path = output_path(cfg.out, rank, world)
        out_root = Path(cfg.out)
    if world > 1 and cfg.overwrite and not remote:
        (out_root / "manifest.json").unlink(missing_ok=True)
    resuming = _check_existing(path, cfg)
    torch.manual_seed(cfg.seed)
    ds = dataset if dataset is not None else load_dataset(cfg.data)
    m = model if model is not None else load_model(cfg.model, cfg.device)
    m.check_hooks(cfg.hooks)
    for hook in cfg.hooks:
        if hook.endswith("attn.hook_pattern") and (m.modality == "text" or hook.startswith("text.")):
            raise SaekitError(f"hook {hook!r}: attention patterns of text vary in length and cannot be stored as rows; "
                              f"use model.capture() for them")
    dtype = cfg.dtype or _TORCH_DTYPE_NAMES.get(m.dtype, "float32")
    chash = cfg.config_hash(dtype, world)
    tf = _token_filter(cfg, m, token_filter)
    massive = resolve_rule(cfg.massive_tokens, m.modality, cfg.massive_norm_ratio)

    n_total = len(ds) if cfg.limit is None else min(cfg.limit, len(ds))
    my_ids = np.arange(rank, n_total, world, dtype=np.int64)
    existing = None
    start = 0
    if resuming:
        with ActivationStore.open(path) as s:
            stored_hash = str(s.attrs.get("config_hash", ""))
        if stored_hash != chash:
            raise SaekitError(f"cannot resume {path}: it was captured with a different configuration (model, data, hooks, "
                              f"tokens, dtype, limit, seed or world size); use a new --out or --overwrite")
        existing = ActivationStore.resume(path)
        start = existing.n_samples_committed
        done = existing.sample_ids_committed
        if start > len(my_ids) or not np.array_equal(done, my_ids[:start]):
            existing.abandon()
            raise SaekitError(f"cannot resume {path}: its {start} committed samples are not the first samples of this "
                              f"dataset slice; use a new --out or --overwrite")
        log.info("resuming %s after %d committed samples", path, start)

    meta = StoreMetadata.from_attrs({
        **m.describe(), "config_hash": chash, "tokens": cfg.tokens, "data": cfg.data,
        "dataset_modality": ds.modality, "capture_config": cfg.identity(dtype, world),
        "pooled_hooks": [h for h in cfg.hooks if m.is_pooled(h)], "rank": rank, "world_size": world,
        "position_meaning": "token index in the model's sequence (-1: pooled vector)",
        "massive_tokens": record_of(cfg.massive_tokens, massive),
        "labels": list(ds.labels) if getattr(ds, "labels", None) else None}, "capture's store attributes")
    if meta.other:  # every attribute capture writes is a documented StoreMetadata field (docs/formats.md)
        raise TypeError(f"capture writes store attributes StoreMetadata does not declare: {sorted(meta.other)}")
    attrs = meta.to_attrs()
    todo = my_ids[start:]
    batches = [todo[i:i + cfg.batch_size] for i in range(0, len(todo), cfg.batch_size)]

    def load_batches() -> Iterator[tuple[np.ndarray, list[dict], dict[str, torch.Tensor]]]:
        for ids in batches:
            samples = [ds[int(i)] for i in ids]
            yield ids, [s.record() for s in samples], m.prepare(samples)

    writer = _Writer(path, dtype, attrs, overwrite=False, existing=existing)
    stop = threading.Event()
    ok = False
    from tqdm.auto import tqdm

    bar = tqdm(total=len(my_ids), initial=start, unit="sample", desc=f"capture{f'[{rank}]' if world > 1 else ''}",
               disable=not cfg.progress, position=rank if world > 1 else None, leave=True)
    try:
        if not batches and existing is None:
            raise SaekitError(f"nothing to capture: rank {rank} of {world} gets no samples from {cfg.data} ({n_total} samples)")
        # A loader thread only pays when the CPU has cores torch does not use (or the model is on a
        # GPU); on a CPU-bound box it steals cycles from torch's own threads and stalls them.
        overlap = m.device.type != "cpu" or torch.get_num_threads() < (os.cpu_count() or 1)
        source = _background(load_batches, maxsize=2, stop=stop) if overlap else load_batches()
        for ids, records, inputs in source:
            acts = m.capture(inputs, cfg.hooks)
            keep = _massive_keep(m, cfg.hooks, acts, inputs, cfg.tokens, massive)
            payload = {h: _select(m, h, acts[h], inputs, cfg.tokens, acts, tf, ids, dtype, keep) for h in cfg.hooks}
            writer.put((ids, records, payload))
            bar.update(len(ids))
        writer.finish()
        ok = True
    finally:
        stop.set()
        bar.close()
        if not ok:
            writer.abort()
    if remote:
        manifest = publish_shard(cfg.out, path, rank, world, chash)
    else:
        manifest = finish_shards(out_root, world) if world > 1 else False
    with ActivationStore.open(path) as s:
        rows = {h: s.n_rows(h) for h in s.hooks}
        n_samples = s.n_samples
    seconds = time.perf_counter() - t0
    log.info("captured %d samples (%s) into %s in %.1fs", n_samples,
             ", ".join(f"{h}: {r} rows" for h, r in rows.items()), path, seconds)
    return CaptureResult(path=cfg.out if remote else out_root if world > 1 else path, shard=path, n_samples=n_samples, rows=rows,
                         resumed_from=start, seconds=seconds, manifest_written=manifest)
