"""The training loop: recipe init, one optimiser step per global batch, metrics, checkpoints, resume.

Single process or one rank of `torchrun -m saekit.train` (gradients averaged by all-reduce;
dead-latent counts and the batchtopk threshold are reduced so every rank holds the same state).
Everything that varies between steps derives from (seed, step) or lives in the trainer state, so
a run resumed after SIGKILL finishes with the same weights as an uninterrupted one.
"""
from __future__ import annotations

import json
import logging
import math
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from saekit.device import resolve_device
from saekit.errors import SaekitError
from saekit.sae import SAE, SAEConfig, TrainContext
from saekit.sae.checkpoint import CONFIG_NAME, WEIGHTS_NAME, load_sae, save_sae
from saekit.sae.config import TOPK_STYLE
from saekit.sae.normalization import normalize, scale_from_mean_sq_norm
from saekit.train import distributed as D
from saekit.train.config import RESUME_KEYS, TrainConfig, auto_lr
from saekit.train.data import BatchSource, BatchStream, check_finite, check_hook, open_source
from saekit.train.dead import DeadLatentTracker
from saekit.train.geometric_median import geometric_median
from saekit.train.resample import resample_dead
from saekit.train.schedule import default_warmup, lr_at
from stores.split import SplitView
from saekit.train.state import METRICS_NAME, has_state, load_state, remove_stale_tmp, save_state, truncate_metrics

log = logging.getLogger(__name__)

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 6.25e-10  # Gao et al. 2024


def build_sae_config(cfg: TrainConfig, source: BatchSource) -> SAEConfig:
    d_in = source.d(cfg.hook)
    d_sae = cfg.d_sae if cfg.d_sae is not None else int(round(cfg.expansion * d_in))
    norm_scale = 1.0
    if cfg.normalization == "scale":
        norm_scale = scale_from_mean_sq_norm(float(source.stats(cfg.hook)["mean_sq_norm"]))
    attrs = getattr(source, "attrs", {}) or {}
    extra: dict[str, Any] = {}
    for name, value in (("l1_coeff", cfg.l1), ("l0_coeff", cfg.l0_coeff), ("bandwidth", cfg.bandwidth),
                        ("init_threshold", cfg.init_threshold)):
        if value is not None:
            extra[name] = value
    return SAEConfig(
        arch=cfg.arch, d_in=d_in, d_sae=d_sae, k=cfg.k, hook=cfg.hook, normalization=cfg.normalization,
        norm_scale=norm_scale, l1_decoder_norm=cfg.l1_decoder_norm, matryoshka_prefixes=cfg.matryoshka_prefixes,
        model_id=str(attrs.get("model_id", "")), tokens=str(attrs.get("tokens", "all")),
        holdout=cfg.holdout, holdout_salt=cfg.holdout_salt if cfg.holdout > 0 else "", **extra,
    )


@torch.no_grad()
def init_b_dec(sae: SAE, source: BatchSource, cfg: TrainConfig) -> None:
    """b_dec = geometric median of a seeded sample (identical on every rank: it ignores the rank)."""
    n = min(cfg.gm_sample, source.n_rows(cfg.hook))
    batch = next(iter(source.iter_batches(cfg.hook, n, shuffle=True, seed=cfg.seed + 7919, with_index=True)))
    acts, sid, pos = batch
    check_finite(acts, sid, pos, f"store sample for the b_dec init (hook {cfg.hook})")
    xn, _ = normalize(sae.cfg, torch.from_numpy(acts).to(sae.device))
    sae.b_dec.copy_(geometric_median(xn))


@torch.no_grad()
def project_out_parallel_grad(W_dec: torch.nn.Parameter) -> None:
    """Remove the gradient component along each (unit-norm) decoder row: Adam then moves rows on the sphere."""
    if W_dec.grad is not None:
        W_dec.grad -= (W_dec.grad * W_dec).sum(dim=1, keepdim=True) * W_dec


@torch.no_grad()
def renormalize_decoder(W_dec: torch.nn.Parameter) -> None:
    W_dec /= W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)


class _Window:
    """Metric sums between two log lines."""

    def __init__(self, device: torch.device):
        self.device = device
        self.reset()

    def reset(self) -> None:
        self.sums = torch.zeros(6, dtype=torch.float64, device=self.device)  # sse, sstot, nnz, rows, loss*rows, aux*rows

    def add(self, sse, sstot, nnz: int, rows: int, loss, aux) -> None:
        aux_v = aux.detach() if aux is not None else torch.zeros((), device=self.device)
        vals = torch.stack([sse.double(), sstot.double(), torch.tensor(float(nnz), device=self.device, dtype=torch.float64),
                            torch.tensor(float(rows), device=self.device, dtype=torch.float64),
                            loss.detach().double() * rows, aux_v.double() * rows])
        self.sums += vals


def _autocast_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    if cfg.autocast == "bf16" or (cfg.autocast == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def train(cfg: TrainConfig, source: BatchSource | None = None) -> SAE:
    """Train an SAE on cfg.store (or an in-memory source) and write it to cfg.out."""
    device = resolve_device(cfg.device)
    info = D.init_from_env(device.type)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    try:
        return _train(cfg, source, device, info)
    finally:
        D.shutdown(info)


def _check_resume(saved: dict[str, Any], cfg: TrainConfig) -> None:
    now = cfg.to_dict()
    for key in RESUME_KEYS:
        if saved.get(key) != now.get(key):
            raise SaekitError(
                f"--resume: {key} was {saved.get(key)!r} in the interrupted run but is {now.get(key)!r} now; "
                "use the same arguments"
            )


def _train(cfg: TrainConfig, source: BatchSource | None, device: torch.device, info: D.DistInfo) -> SAE:
    if source is None:
        if not cfg.store:
            raise SaekitError("--store is required")
        source = open_source(cfg.store)
    check_hook(source, cfg.hook)
    if cfg.holdout > 0:  # the held-out samples never reach training (nor the b_dec init)
        source = SplitView(source, cfg.holdout, "train", cfg.holdout_salt)
    out = Path(cfg.out)
    n_parts = cfg.data_partitions or info.world_size
    if cfg.batch_size % n_parts:
        raise SaekitError(f"--batch-size {cfg.batch_size} must be divisible by the number of data partitions {n_parts}")

    resuming = cfg.resume and has_state(out)
    if not cfg.resume and (has_state(out) or (out / CONFIG_NAME).exists()):
        raise SaekitError(f"--out {out} already holds a training run; pass --resume to continue it or pick a new --out")
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_tmp(out)
    D.barrier(info)

    state: dict[str, Any] | None = load_state(out) if resuming else None
    if state is not None:
        _check_resume(state["train_cfg"], cfg)
        sae_cfg = SAEConfig.from_dict(state["sae_cfg"])
        if state.get("done") and (out / WEIGHTS_NAME).exists():
            log.info("%s already holds the finished run", out)
            return load_sae(out, device=device)
    else:
        sae_cfg = build_sae_config(cfg, source)

    torch.manual_seed(cfg.seed)
    sae = SAE.create(sae_cfg, seed=cfg.seed).to(device)
    sae.train()
    lr = cfg.lr if cfg.lr is not None else auto_lr(sae_cfg.d_sae)
    opt = torch.optim.Adam(sae.parameters(), lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS)
    n_steps = cfg.n_steps
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else default_warmup(n_steps)
    dead_tokens = cfg.dead_tokens if cfg.dead_tokens is not None else max(cfg.batch_size, min(10_000_000, cfg.tokens // 10))
    tracker = DeadLatentTracker(sae_cfg.d_sae, dead_tokens, device)
    step, epoch, position, metric_lines = 0, 0, 0, 0
    if state is not None:
        sae.load_state_dict(state["sae"])
        opt.load_state_dict(state["optimizer"])
        tracker.since_fired.copy_(state["since_fired"].to(device))
        step, epoch, position, metric_lines = state["step"], state["epoch"], state["position"], state["metric_lines"]
        torch.set_rng_state(state["torch_rng"])
        if info.is_main:
            truncate_metrics(out, metric_lines)
        log.info("resuming %s at step %d of %d", out, step, n_steps)
    else:
        init_b_dec(sae, source, cfg)

    is_topk_style = sae_cfg.arch in TOPK_STYLE
    ac_dtype = _autocast_dtype(cfg, device)
    ctx = TrainContext(
        k_aux=cfg.k_aux if cfg.k_aux is not None else max(1, sae_cfg.d_in // 2), aux_coeff=cfg.aux_coeff,
        sparse_kernels=cfg.sparse_kernels, autocast_dtype=ac_dtype if is_topk_style else None,
    )
    dense_autocast = (
        torch.autocast(device_type=device.type, dtype=ac_dtype) if (ac_dtype is not None and not is_topk_style)
        else nullcontext()
    )
    constrain = getattr(sae, "constrain_decoder", True)
    resample_every = cfg.resample_every if cfg.resample_every is not None else max(1, n_steps // 8)
    params = list(sae.parameters())
    stream = BatchStream(source, cfg.hook, cfg.batch_size, cfg.seed, n_parts, info.rank, info.world_size,
                         epoch=epoch, position=position)
    window = _Window(device)
    metrics_f = open(out / METRICS_NAME, "a") if info.is_main else None
    bar = tqdm(total=n_steps, initial=step, unit="step", disable=not (cfg.progress and info.is_main),
               dynamic_ncols=True, desc=f"train {sae_cfg.arch}")
    last_ckpt = time.monotonic()
    t_start, step_start = time.monotonic(), step

    def checkpoint(done: bool) -> None:
        nonlocal metric_lines
        if info.is_main:
            if metrics_f is not None and not metrics_f.closed:
                metrics_f.flush()
            save_state(out, {
                "version": 1, "train_cfg": cfg.to_dict(), "sae_cfg": sae.cfg.to_dict(),
                "sae": {k: v.detach().cpu() for k, v in sae.state_dict().items()},
                "optimizer": opt.state_dict(), "step": step, "epoch": stream.epoch, "position": stream.position,
                "since_fired": tracker.since_fired.cpu(), "metric_lines": metric_lines, "done": done,
                "torch_rng": torch.get_rng_state(),
            })
        D.barrier(info)

    try:
        while step < n_steps:
            x = torch.from_numpy(next(stream)).to(device, non_blocking=True)
            xn, _ = normalize(sae.cfg, x)
            ctx.dead_idx = tracker.dead_idx() if is_topk_style else None
            lr_now = lr_at(step, n_steps, lr, warmup, cfg.decay_frac)
            for g in opt.param_groups:
                g["lr"] = lr_now
            opt.zero_grad(set_to_none=True)
            with dense_autocast:
                res = sae.training_step(xn, ctx)
            res.loss.backward()
            D.average_gradients(params, info)
            if constrain:
                project_out_parallel_grad(sae.W_dec)
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            if constrain:
                renormalize_decoder(sae.W_dec)
            if info.enabled and sae_cfg.arch in ("batchtopk", "matryoshka"):
                m = res.min_active if res.min_active is not None else torch.tensor(math.inf, device=device)
                m = D.all_reduce_(m.detach().float().reshape(()).clone(), info, "min")
                res.min_active = m if math.isfinite(float(m)) else None
            sae.after_step(res)
            tracker.update(D.all_reduce_(res.fired, info), cfg.batch_size)
            with torch.no_grad():
                sstot = (xn - xn.mean(0)).pow(2).sum()
            window.add(res.sse, sstot, res.nnz, xn.shape[0], res.loss, res.aux_loss)
            step += 1

            if sae_cfg.arch == "relu" and resample_every > 0 and step % resample_every == 0 and step <= n_steps // 2:
                dead = tracker.dead_idx(window=resample_every * cfg.batch_size)
                if dead.numel():
                    gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
                    if info.is_main:
                        resample_dead(sae, opt, xn, dead, gen)
                    for p in (sae.W_dec, sae.W_encT, sae.b_enc):
                        D.broadcast_(p.data, info)
                    tracker.since_fired[dead] = 0
                    log.debug("step %d: resampled %d dead latents", step, dead.numel())

            if step % cfg.log_every == 0 or step == n_steps:
                sums = D.all_reduce_(window.sums.clone(), info)
                sse, sstot_, nnz, rows, loss_sum, aux_sum = sums.tolist()
                elapsed = time.monotonic() - t_start
                rec = {
                    "step": step, "tokens": step * cfg.batch_size, "lr": lr_now, "loss": loss_sum / rows,
                    "mse": sse / rows / sae_cfg.d_in, "fve": 1 - sse / max(sstot_, 1e-30), "l0": nnz / rows,
                    "dead_frac": tracker.dead_frac(), "aux_loss": aux_sum / rows,
                    "tokens_per_s": (step - step_start) * cfg.batch_size / max(elapsed, 1e-9),
                }
                window.reset()
                if metrics_f is not None:
                    metrics_f.write(json.dumps(rec) + "\n")
                    metric_lines += 1
                bar.set_postfix(L0=f"{rec['l0']:.1f}", FVE=f"{rec['fve']:.3f}", dead=f"{rec['dead_frac']:.3f}")
            bar.update(1)

            due = cfg.checkpoint_every_steps and step % cfg.checkpoint_every_steps == 0
            if step < n_steps and (due or time.monotonic() - last_ckpt > cfg.checkpoint_every_s):
                checkpoint(done=False)
                last_ckpt = time.monotonic()
    finally:
        bar.close()
        if metrics_f is not None:
            metrics_f.close()

    if sae_cfg.arch == "relu" and sae_cfg.l1_decoder_norm:
        sae.fold_decoder_norms()
    sae.eval()
    if info.is_main:
        save_sae(sae, out)
    checkpoint(done=True)
    return sae
