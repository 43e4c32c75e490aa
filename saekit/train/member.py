"""One SAE being trained: its recipe init, optimiser, dead-latent tracker, metrics and state.

The trainer drives one Member per SAE over a shared input feed, so a sweep (several k or width
variants) reads and checks each batch once. A member does nothing random with torch's global
generator after its init, so a sweep member ends with the same weights as a separate run of its
configuration.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import TextIO, TypedDict

import torch

from saekit.capture.massive import rule_from_record
from saekit.common.errors import SaekitError
from saekit.sae import SAE, SAEConfig, TrainContext
from saekit.common.jsontypes import JSONObject
from saekit.results.metrics_log import MetricsRecord
from saekit.sae.config import SAEFields
from saekit.sae.registry import arch_class
from saekit.sae.checkpoint import save_sae
from saekit.sae.normalization import scale_from_mean_sq_norm
from saekit.sae.paired import split_rows
from saekit.train import distributed as D
from saekit.train.config import TrainConfig, auto_lr
from saekit.train.data import BatchSource
from saekit.train.dead import DeadLatentTracker
from saekit.train.paired import layout_of
from saekit.train.resample import resample_dead
from saekit.train.schedule import default_warmup, l1_scale_at, lr_at
from saekit.train.shard_latents import LatentSharding, sharded_data_info
from saekit.train.shared_init import SharedInit
from saekit.train.state import METRICS_NAME, truncate_metrics

log = logging.getLogger(__name__)

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 6.25e-10  # Gao et al. 2024
DOMINANCE_ROWS = 1 << 18  # leading rows read for the dominating-rows warning


def build_sae_config(cfg: TrainConfig, source: BatchSource) -> SAEConfig:
    layout = layout_of(source)  # transcoder / crosscoder rows (saekit.train.paired); --expansion counts one hook's width
    d_in = source.d(cfg.hook) if layout is None else layout.d_in
    d_sae = cfg.d_sae if cfg.d_sae is not None else int(round(cfg.expansion * (d_in if layout is None else layout.widths[0])))
    norm_scale = 1.0
    if cfg.normalization == "scale":
        norm_scale = (scale_from_mean_sq_norm(float(source.stats(cfg.hook)["mean_sq_norm"])) if layout is None
                      else layout.joint_scale(layout.in_hooks))
    attrs = getattr(source, "attrs", {}) or {}
    extra: SAEFields = cfg.sae_fields()  # every architecture's options (k, l1_coeff, ...), as the checkpoint records them
    massive = rule_from_record(attrs.get("massive_tokens"))  # what the store left out, for splicing
    if massive is not None:
        extra["skip_first_position"] = massive.first_position
        extra["massive_norm_ratio"] = massive.norm_ratio
    if layout is not None:
        extra.update(layout.sae_fields(), skip=cfg.skip)
        if layout.target_hooks and cfg.normalization == "scale":
            extra["target_scale"] = layout.joint_scale(layout.target_hooks)
    elif cfg.skip:
        raise SaekitError("--skip adds a transcoder's linear skip path: it needs --target-hook")
    return SAEConfig(
        arch=cfg.arch, d_in=d_in, d_sae=d_sae, hook=cfg.hook, normalization=cfg.normalization, norm_scale=norm_scale,
        model_id=str(attrs.get("model_id", "")), tokens=str(attrs.get("tokens", "all")),
        holdout=cfg.holdout, holdout_salt=cfg.holdout_salt if cfg.holdout > 0 else "", **extra,
    )


def warn_if_dominated(source: BatchSource, hook: str) -> None:
    """Log a warning naming the rows when a few rows carry most of the hook's squared norm."""
    from stores.dominance import dominance_warning, row_dominance

    msg = dominance_warning(hook, row_dominance(source, hook, max_rows=DOMINANCE_ROWS))
    if msg:
        log.warning("%s", msg)


@torch.no_grad()
def project_out_parallel_grad(W_dec: torch.nn.Parameter) -> None:
    """Remove the gradient component along each (unit-norm) decoder row: Adam then moves rows on the sphere."""
    if W_dec.grad is not None:
        W_dec.grad -= (W_dec.grad * W_dec).sum(dim=1, keepdim=True) * W_dec


@torch.no_grad()
def renormalize_decoder(W_dec: torch.nn.Parameter) -> None:
    W_dec /= W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)


class TrainerState(TypedDict):
    """One member's trainer state (saekit.train.state writes it next to the checkpoint for --resume)."""

    version: int
    train_cfg: JSONObject
    sae_cfg: JSONObject
    sae: dict[str, torch.Tensor]  # the whole dictionary's tensors (a latent-sharded run gathers them)
    optimizer: dict[str, object]  # torch.optim.Optimizer.state_dict()
    step: int
    epoch: int
    position: int
    since_fired: torch.Tensor
    metric_lines: int
    done: bool
    torch_rng: torch.Tensor


#: one metrics.jsonl line: step, tokens, lr, loss, mse, fve, l0, dead_frac, aux_loss, tokens_per_s


class MetricWindow:
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


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AVX512-BF16 / AMX, through oneDNN)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast_dtype(cfg: TrainConfig, device: torch.device, topk_style: bool) -> torch.dtype | None:
    """bf16 when asked; under ``auto``, on CUDA, and on a CPU with native bf16 for the top-k style
    SAEs, where it only picks the k latents (their values are recomputed in fp32): the selection
    GEMM is the step's main cost and runs 3.4x faster in bf16 on this project's EPYC CPU, with the
    same held-out FVE on the quickstart's DINOv2 store (docs/performance.md)."""
    if cfg.autocast == "bf16":
        return torch.bfloat16
    if cfg.autocast == "auto" and (device.type == "cuda" or (device.type == "cpu" and topk_style
                                                              and cpu_has_native_bf16())):
        return torch.bfloat16
    return None


class Member:
    """One SAE of a run (a single run has one; a sweep one per variant)."""

    def __init__(self, cfg: TrainConfig, source: BatchSource, device: torch.device, info: D.DistInfo,
                 state: TrainerState | None, init: SharedInit | None = None) -> None:
        self.cfg, self.info, self.device = cfg, info, device
        self.out = Path(cfg.out)
        sae_cfg = SAEConfig.from_dict(state["sae_cfg"]) if state is not None else build_sae_config(cfg, source)
        torch.manual_seed(cfg.seed)
        self.sharding = LatentSharding.create(info, cfg.shard_latents, sae_cfg.arch)  # --shard-latents
        self.sae = sae = (SAE.create(sae_cfg, seed=cfg.seed).to(device) if self.sharding is None
                          else self.sharding.create_sae(sae_cfg, cfg.seed, device))
        self.sync = sharded_data_info(self.sharding, info)  # the ranks that average gradients and firing counts
        sae.train()
        self.lr = cfg.lr if cfg.lr is not None else auto_lr(sae_cfg.d_sae)
        # fused: one kernel per parameter instead of ~8 elementwise passes (4x faster on this CPU)
        self.opt = torch.optim.Adam(sae.parameters(), lr=self.lr, betas=ADAM_BETAS, eps=ADAM_EPS,
                                    fused=device.type in ("cpu", "cuda") or None)
        self.n_steps = cfg.n_steps
        self.warmup = cfg.warmup_steps if cfg.warmup_steps is not None else default_warmup(self.n_steps)
        dead_tokens = cfg.dead_tokens if cfg.dead_tokens is not None else max(cfg.batch_size, min(10_000_000, cfg.tokens // 10))
        self.tracker = DeadLatentTracker(sae.W_dec.shape[0], dead_tokens, device)
        self.metric_lines = 0
        if state is not None:
            tensors, opt_state, since = (self.sharding.local_state(sae, state) if self.sharding is not None
                                         else (state["sae"], state["optimizer"], state["since_fired"]))
            sae.load_state_dict(tensors)
            self.opt.load_state_dict(opt_state)
            self.tracker.since_fired.copy_(since.to(device))
            self.metric_lines = state["metric_lines"]
            if info.is_main:
                truncate_metrics(self.out, self.metric_lines)
        else:  # b_dec = geometric median of a seeded sample (identical on every rank: it ignores the rank)
            init = init if init is not None else SharedInit(source, cfg.hook, cfg.seed, cfg.gm_sample)
            with torch.no_grad():
                sae.b_dec.copy_(init.b_dec(sae_cfg, device))
        # the architecture's training behaviour, from its class (a latent-sharded run's module is a slice of it)
        self.arch = arch = arch_class(sae_cfg.arch)
        self.selects_top_k = arch.selects_top_k
        ac_dtype = autocast_dtype(cfg, device, self.selects_top_k)
        plan = arch.training_plan(sae_cfg, cfg, self.n_steps)
        self.ctx = TrainContext(
            k_aux=plan.k_aux, aux_coeff=plan.aux_coeff,
            sparse_kernels=cfg.sparse_kernels, autocast_dtype=ac_dtype if self.selects_top_k else None,
        )
        self.dense_autocast = (ac_dtype is not None and not self.selects_top_k, ac_dtype)
        self.constrain = arch.constrain_decoder(sae_cfg)
        self.resample_every = plan.resample_every
        self.l1_warmup_steps = plan.penalty_warmup_steps
        self.params = list(sae.parameters())
        self.window = MetricWindow(device)
        self.lr_now = self.lr
        self.metrics_f: TextIO | None = open(self.out / METRICS_NAME, "a") if info.is_main else None

    def step(self, x: torch.Tensor, step: int, verify: Callable[[], None] | None = None) -> None:
        """One optimiser step on the batch ``x`` (rows in the store's dtype, widened to float32 by the
        normalisation); ``step`` counts the steps done before it. ``verify``, for rows not yet checked
        for NaN/Inf (the CPU feed's DeviceBatch.verify), is called when the loss is not finite, before
        the gradients are shared or the weights move: it raises naming the bad rows."""
        sae, cfg, info, tracker = self.sae, self.cfg, self.info, self.tracker
        xn, self.ctx.target = split_rows(sae.cfg, x)  # a transcoder's row holds its input, then its target
        self.ctx.dead_idx = tracker.dead_idx() if self.selects_top_k else None
        self.ctx.l1_scale = l1_scale_at(step, self.l1_warmup_steps)
        self.lr_now = lr_at(step, self.n_steps, self.lr, self.warmup, cfg.decay_frac)
        for g in self.opt.param_groups:
            g["lr"] = self.lr_now
        self.opt.zero_grad(set_to_none=True)
        use_ac, ac_dtype = self.dense_autocast
        with torch.autocast(device_type=self.device.type, dtype=ac_dtype) if use_ac else nullcontext():
            res = sae.training_step(xn, self.ctx)
        if verify is not None and not bool(torch.isfinite(res.loss.detach())):
            verify()
        res.loss.backward()
        D.average_gradients(self.params, self.sync)
        if self.constrain:
            project_out_parallel_grad(sae.W_dec)
        if cfg.grad_clip > 0 and self.sharding is not None:
            self.sharding.clip_grad_norm_(sae, cfg.grad_clip)
        elif cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
        self.opt.step()
        if self.constrain:
            renormalize_decoder(sae.W_dec)
        if info.enabled and self.arch.shares_min_active:
            m = res.min_active if res.min_active is not None else torch.tensor(math.inf, device=self.device)
            m = D.all_reduce_(m.detach().float().reshape(()).clone(), info, "min")
            res.min_active = m if math.isfinite(float(m)) else None
        sae.after_step(res)
        tracker.update(D.all_reduce_(res.fired, self.sync), cfg.batch_size)
        with torch.no_grad():
            out = xn if self.ctx.target is None else self.ctx.target
            sstot = (out - out.mean(0)).pow(2).sum()
        self.window.add(res.sse, sstot, res.nnz, xn.shape[0], res.loss, res.aux_loss)
        done = step + 1
        if self.resample_every > 0 and done % self.resample_every == 0 and done <= self.n_steps // 2:
            self._resample(xn, done)

    def _resample(self, xn: torch.Tensor, done: int) -> None:
        dead = self.tracker.dead_idx(window=self.resample_every * self.cfg.batch_size)
        if dead.numel():
            gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + done)
            if self.info.is_main:
                resample_dead(self.sae, self.opt, xn, dead, gen, self.ctx.target)
            for p in (self.sae.W_dec, self.sae.W_encT, self.sae.b_enc):
                D.broadcast_(p.data, self.info)
            self.tracker.since_fired[dead] = 0

    def log(self, step: int, rows_per_s: float) -> MetricsRecord:
        """Reduce the metric window into one metrics.jsonl line (every rank must call this)."""
        sums = D.all_reduce_(self.window.sums.clone(), self.info)
        sse, sstot, nnz, rows, loss_sum, aux_sum = sums.tolist()
        rec = MetricsRecord(
            step=step, tokens=step * self.cfg.batch_size, lr=self.lr_now, loss=loss_sum / rows,
            mse=sse / rows / self.sae.cfg.d_out, fve=1 - sse / max(sstot, 1e-30), l0=nnz / rows,
            dead_frac=self.sharding.dead_frac(self.tracker) if self.sharding else self.tracker.dead_frac(),
            aux_loss=aux_sum / rows, tokens_per_s=rows_per_s)
        self.window.reset()
        if self.metrics_f is not None:
            self.metrics_f.write(rec.dumps() + "\n")
            self.metric_lines += 1
        return rec

    def state(self, step: int, epoch: int, position: int, done: bool) -> TrainerState:
        if self.metrics_f is not None and not self.metrics_f.closed:
            self.metrics_f.flush()
        return {
            "version": 1, "train_cfg": self.cfg.to_dict(), "sae_cfg": self.sae.cfg.to_dict(),
            "sae": {k: v.detach().cpu() for k, v in (self.sae.full_tensors() if self.sharding else self.sae.state_dict()).items()},
            "optimizer": self.sharding.full_optimizer_state(self.sae, self.opt) if self.sharding else self.opt.state_dict(),
            "step": step, "epoch": epoch, "position": position,
            "since_fired": (self.sharding.full_since_fired(self.tracker) if self.sharding else self.tracker.since_fired).cpu(), "metric_lines": self.metric_lines, "done": done,
            "torch_rng": torch.get_rng_state(),
        }

    def finish(self) -> SAE:
        # latent-sharded: every rank gathers the whole dictionary for the checkpoint
        sae = self.sae.gather_sae() if self.sharding is not None else self.sae  # (the others keep their slice)
        if isinstance(sae, SAE):  # (the other ranks of a latent-sharded run keep their slice and save nothing)
            sae.before_save()
        sae.eval()
        if self.info.is_main:
            save_sae(sae, self.out)  # type: ignore[arg-type] - rank 0 holds the gathered SAE
        return sae  # type: ignore[return-value]

    def close(self) -> None:
        if self.metrics_f is not None:
            self.metrics_f.close()
