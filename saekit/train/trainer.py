"""The training loop: one optimiser step per global batch for each SAE of the run, metrics, checkpoints, resume.

Single process or one rank of `torchrun -m saekit.train` (gradients averaged by all-reduce;
dead-latent counts and the batchtopk threshold are reduced so every rank holds the same state).
Everything that varies between steps derives from (seed, step) or lives in the trainer state, so
a run resumed after SIGKILL finishes with the same weights as an uninterrupted one.

Batches come from a feed (saekit.train.feed: streamed from the store, on CUDA checked ahead of the
step, on the CPU through the step's loss; or saekit.train.resident: held on the device and checked
as it was loaded), in the store's dtype; each step's normalisation widens them to float32. A sweep
(`train_sweep`) runs several SAEs, each with its own output directory, from the one feed.
"""
from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
import time
from pathlib import Path

import torch
from tqdm import tqdm

from saekit.common.device import resolve_device
from saekit.common.errors import SaekitError
from saekit.sae import SAE
from saekit.sae.checkpoint import CONFIG_NAME, WEIGHTS_NAME, load_checkpoint
from saekit.train import distributed as D
from saekit.train.config import RESUME_KEYS, TrainConfig
from saekit.train.data import BatchSource, BatchStream, check_hook, open_source
from saekit.train.feed import BatchFeed, stream_feed
from saekit.train.group_feed import group_feed
from saekit.train.host_memory import keep_freed_host_memory
from saekit.train.paired import paired_source
from saekit.train.member import Member, TrainerState, warn_if_dominated
from saekit.train.resident import ResidentFeed, choose_resident, default_budget, load_rows, resident_bytes
from saekit.train.shard_latents import data_view
from saekit.train.shared_init import SharedInit
from saekit.train.state import has_state, load_state, remove_stale_tmp, save_states
from saekit.train.sweep import sweep_configs, sweep_document
from stores.split import SplitView, numbering_source

log = logging.getLogger(__name__)


def train(cfg: TrainConfig, source: BatchSource | None = None) -> SAE:
    """Train an SAE on cfg.store (or an in-memory source) and write it to cfg.out."""
    if cfg.sweep:
        raise SaekitError("this configuration is a sweep; train it with train_sweep (saekit train --sweep ...)")
    return _run([cfg], source)[0]


def train_sweep(cfg: TrainConfig, source: BatchSource | None = None) -> list[SAE]:
    """Train every variant of cfg.sweep from one pass over the data, each into cfg.out/<name>."""
    members = sweep_configs(cfg)
    if int(os.environ.get("RANK", "0")) == 0:
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        sweep_document(cfg, members).save(cfg.out)
    return _run(members, source)


def _start_optimizer_import() -> None:
    """Import torch._dynamo in a thread now: a process's first torch optimizer imports it (about
    3 s on a 2-core CPU), and the setup's reads (dominance check, b_dec sample, resident rows),
    which mostly wait on the disk or on numpy, run meanwhile. Python's import locks make the
    optimizer's own import wait for this one rather than run twice."""
    if "torch._dynamo" not in sys.modules:
        threading.Thread(target=importlib.import_module, args=("torch._dynamo",), daemon=True,
                         name="saekit-import-dynamo").start()


def _run(cfgs: list[TrainConfig], source: BatchSource | None) -> list[SAE]:
    _start_optimizer_import()
    device = resolve_device(cfgs[0].device)
    info = D.init_from_env(device.type)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    if device.type == "cpu":
        keep_freed_host_memory()
    try:
        return _train(cfgs, source, device, info)
    finally:
        D.shutdown(info)


def _check_resume(saved: JSONObject, cfg: TrainConfig) -> None:
    now = cfg.to_dict()
    for key in RESUME_KEYS:
        if saved.get(key) != now.get(key):
            raise SaekitError(
                f"--resume: {key} was {saved.get(key)!r} in the interrupted run but is {now.get(key)!r} now; "
                "use the same arguments"
            )


def _load_states(cfgs: list[TrainConfig], info: D.DistInfo) -> list[TrainerState | None]:
    states: list[TrainerState | None] = []
    for cfg in cfgs:
        out = Path(cfg.out)
        if not cfg.resume and (has_state(out) or (out / CONFIG_NAME).exists()):
            raise SaekitError(f"--out {out} already holds a training run; pass --resume to continue it or pick a new --out")
        if info.is_main:
            out.mkdir(parents=True, exist_ok=True)
            remove_stale_tmp(out)
        state = load_state(out) if cfg.resume and has_state(out) else None
        if state is not None:
            _check_resume(state["train_cfg"], cfg)
        states.append(state)
    D.barrier(info)
    found = {(s["step"], s["epoch"], s["position"]) for s in states if s is not None}
    if len(found) > 1 or (found and None in states):
        raise SaekitError("--resume: the sweep's members were checkpointed at different steps; start the sweep over")
    return states


def shuffle_buffer_rows(cfg: TrainConfig, source: BatchSource) -> int:
    """--shuffle-buffer-mib in rows of the stored dtype."""
    itemsize = 4 if getattr(source, "dtype", "float32") == "float32" else 2
    return max(1, int(cfg.shuffle_buffer_mib * 2**20) // (source.d(cfg.hook) * itemsize))


def open_feed(cfg: TrainConfig, source: BatchSource, device: torch.device, n_parts: int, info: D.DistInfo,
              epoch: int, position: int) -> BatchFeed:
    """The device-resident feed when --data-on-device allows and the rows fit, else the streaming feed.

    With a held-out split the resident copy holds all of the store's rows (the held-out ones
    included, so the budget counts them) and the order names only training rows."""
    rows_source = numbering_source(source)  # row numbers index its rows
    need = resident_bytes(rows_source, cfg.hook)
    budget = cfg.device_memory_budget if cfg.device_memory_budget is not None else default_budget(device)
    resident = choose_resident(cfg.data_on_device, need, budget)
    log.info("input: %s (%s rows of %.2f GiB, budget %.2f GiB)", "device-resident" if resident else "streaming",
             source.n_rows(cfg.hook), need / 2**30, budget / 2**30)
    stream = BatchStream(source, cfg.hook, cfg.batch_size, cfg.seed, n_parts, info.rank, info.world_size,
                         epoch=epoch, position=position, index_only=resident,
                         buffer_rows=shuffle_buffer_rows(cfg, rows_source))
    if resident:
        used = source.kept_rows(cfg.hook) if isinstance(source, SplitView) else None
        return ResidentFeed(load_rows(rows_source, cfg.hook, device, used), stream, device)
    return stream_feed(stream, getattr(source, "dtype", "float32"), device, cfg.hook)


def _train(cfgs: list[TrainConfig], source: BatchSource | None, device: torch.device, info: D.DistInfo) -> list[SAE]:
    cfg = cfgs[0]
    if source is None:
        if not cfg.store:
            raise SaekitError("--store is required")
        source = open_source(cfg.store)
    source = paired_source(source, cfg.hook, cfg.target_hook)  # transcoders / crosscoders: several hooks' rows as one
    check_hook(source, cfg.hook)
    if cfg.holdout > 0:  # the held-out samples never reach training (nor the b_dec init)
        source = SplitView(source, cfg.holdout, "train", cfg.holdout_salt)
    data_info = data_view(info, cfg.shard_latents)  # a latent-sharded group reads one batch (shard_latents)
    n_parts = cfg.data_partitions or data_info.world_size
    if cfg.batch_size % n_parts:
        raise SaekitError(f"--batch-size {cfg.batch_size} must be divisible by the number of data partitions {n_parts}")

    states = _load_states(cfgs, info)
    if all(s is not None and s.get("done") and (Path(c.out) / WEIGHTS_NAME).exists() for s, c in zip(states, cfgs)):
        log.info("%s already holds the finished run", ", ".join(c.out for c in cfgs))
        return [load_checkpoint(c.out, device=device) for c in cfgs]
    if all(s is None for s in states) and info.is_main:
        warn_if_dominated(source, cfgs[0].hook)
    init = SharedInit(source, cfg.hook, cfg.seed, cfg.gm_sample)  # one b_dec sample and median for all members
    members = [Member(c, source, device, info, s, init) for c, s in zip(cfgs, states)]
    step, epoch, position = 0, 0, 0
    if states[0] is not None:
        step, epoch, position = states[0]["step"], states[0]["epoch"], states[0]["position"]
        torch.set_rng_state(states[0]["torch_rng"])
        log.info("resuming %s at step %d of %d", ", ".join(c.out for c in cfgs), step, cfg.n_steps)

    n_steps = cfg.n_steps
    feed = group_feed(lambda: open_feed(cfg, source, device, n_parts, data_info, epoch, position),
                      members[0].sharding, source.d(cfg.hook), device)  # one read per latent group
    bar = tqdm(total=n_steps, initial=step, unit="step", disable=not (cfg.progress and info.is_main),
               dynamic_ncols=True, desc=f"train {members[0].sae.cfg.arch}" + (f" x{len(members)}" if len(members) > 1 else ""))
    last_ckpt = time.monotonic()
    t_start, step_start = time.monotonic(), step

    def checkpoint(done: bool) -> None:
        states = [(m.out, m.state(step, epoch, position, done)) for m in members]  # every rank: sharded states gather
        if info.is_main:
            save_states(states)
        D.barrier(info)

    try:
        while step < n_steps:
            b = next(feed)
            for m in members:
                m.step(b.x, step, b.verify)
            step, epoch, position = step + 1, b.epoch, b.position

            if step % cfg.log_every == 0 or step == n_steps:
                rate = (step - step_start) * cfg.batch_size / max(time.monotonic() - t_start, 1e-9)
                recs = [m.log(step, rate) for m in members]
                bar.set_postfix(L0=f"{recs[0].l0:.1f}", FVE=f"{recs[0].fve:.3f}", dead=f"{recs[0].dead_frac:.3f}")
            bar.update(1)

            due = cfg.checkpoint_every_steps and step % cfg.checkpoint_every_steps == 0
            if step < n_steps and (due or time.monotonic() - last_ckpt > cfg.checkpoint_every_s):
                checkpoint(done=False)
                last_ckpt = time.monotonic()
    finally:
        feed.close()
        bar.close()
        for m in members:
            m.close()

    saes = [m.finish() for m in members]
    checkpoint(done=True)
    return saes
