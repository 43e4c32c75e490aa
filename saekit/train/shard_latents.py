"""Latent-sharded training (`saekit train --shard-latents N`): one dictionary split by latent over N ranks.

Rank j of a latent group holds latents [j*m/N, (j+1)*m/N): its rows of W_enc^T, b_enc and W_dec (b_dec
and a BatchTopK threshold are replicated). A step runs the group's ranks on the same batch:

- each rank computes its slice of the pre-activations; TopK takes every row's k best of the group's
  all-gathered local top-k candidates (BatchTopK: the batch's B*k best of the local top-B*k), which
  are exactly the k best over all latents; AuxK chooses among the dead latents the same way;
- each rank decodes its chosen latents; the partial reconstructions are summed over the group
  (an all-reduce whose backward passes the gradient through unchanged, since every rank computes the
  same loss), and the encoder's input gradient is summed over the group on the way back to b_dec;
- dead-latent counts stay per slice (each latent lives on one rank), so they are exact.

With world W and N ranks per dictionary, W/N groups train on different data (data parallel): the
ranks holding the same slice average their gradients. Checkpoints gather the slices on the group's
first rank (the one that writes), so they are ordinary saekit checkpoints and the trainer state
resumes at any N; the other ranks never hold the whole dictionary (``train`` returns their slice). The step is one process's:
the [B, m/N] pre-activations without gradient (in bf16 under autocast, the chosen values then
recomputed in fp32), and the sparse kernels for everything with a gradient.
"""
from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from saekit.common.errors import SaekitError
from saekit.sae import SAE, SAEConfig, TrainContext
from saekit.sae.base import StepOutput
from saekit.sae.registry import ARCHS, arch_class
from saekit.sae.construct import skip_random_init
from saekit.sae.sparse_ops import SparseCode, column_index, gather_pre, sampled_rows_dot, sparse_decode
from saekit.sae.topk_training import auxk_of, dead_pre, dense_auxk, dense_dead_decode
from saekit.train import distributed as D
from saekit.train.dead import DeadLatentTracker

log = logging.getLogger(__name__)

def _check_shardable(arch: str) -> None:
    if arch_class(arch).shard_selection is None:
        shardable = sorted(a for a in ARCHS if arch_class(a).shard_selection is not None)
        raise SaekitError(f"--shard-latents supports {', '.join(shardable)}, not --arch {arch}")
SLICED = ("W_encT", "b_enc", "W_dec")  # the tensors split by latent (dim 0)


def group_size(shard_latents: int, world_size: int) -> int:
    """Ranks per dictionary: 1 = off, 0 = every rank of the run."""
    n = world_size if shard_latents == 0 else shard_latents
    if n < 1 or world_size % n:
        raise SaekitError(f"--shard-latents {shard_latents} must divide the number of processes ({world_size}); "
                          f"0 shards over all of them")
    return n


def data_view(info: D.DistInfo, shard_latents: int) -> D.DistInfo:
    """The run as the data sees it: the ranks of one latent group share a batch, so they are one data rank."""
    n = group_size(shard_latents, info.world_size)
    return D.DistInfo(info.rank // n, info.world_size // n, info.local_rank)


class _SumOverGroup(torch.autograd.Function):
    """Sum of the group's tensors; the gradient passes back unchanged (each rank has the same loss)."""

    @staticmethod
    def forward(ctx, t, group):  # type: ignore[override]
        out = t.clone()
        dist.all_reduce(out, group=group)
        return out

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        return g, None


class _SharedInput(torch.autograd.Function):
    """Identity forward; the backward sums the group's gradients (each rank's slice saw the input)."""

    @staticmethod
    def forward(ctx, t, group):  # type: ignore[override]
        ctx.group = group
        return t.view_as(t)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        g = g.clone()
        dist.all_reduce(g, group=ctx.group)
        return g, None


@dataclass
class LatentGroups:
    n: int                 # ranks per dictionary
    index: int             # this rank's slice
    latent_group: Any      # the ranks sharing this rank's batch (the slices of one dictionary)
    data_info: D.DistInfo  # the ranks holding this rank's slice (gradients averaged among them)


def make_groups(info: D.DistInfo, shard_latents: int) -> LatentGroups:
    """Every rank creates every group in the same order (torch.distributed requires it)."""
    n = group_size(shard_latents, info.world_size)
    latent = data = None
    for g in range(info.world_size // n):
        ranks = list(range(g * n, (g + 1) * n))
        grp = dist.new_group(ranks)
        if info.rank in ranks:
            latent = grp
    for j in range(n):
        ranks = list(range(j, info.world_size, n))
        grp = dist.new_group(ranks)
        if info.rank in ranks:
            data = grp
    dp = info.world_size // n
    return LatentGroups(n, info.rank % n, latent, D.DistInfo(info.rank // n, dp, info.local_rank, group=data))


def _gather(t: torch.Tensor, group: Any, n: int) -> torch.Tensor:
    parts = [torch.empty_like(t) for _ in range(n)]
    dist.all_gather(parts, t.contiguous(), group=group)
    return torch.cat(parts, 0)


def _gather_to_first(t: torch.Tensor, groups: "LatentGroups") -> torch.Tensor:
    """The slices of ``t`` concatenated on the group's first rank (the one that writes checkpoints);
    the other ranks get their own slice back and never hold the whole."""
    first = dist.get_global_rank(groups.latent_group, 0)
    parts = [torch.empty_like(t) for _ in range(groups.n)] if groups.index == 0 else None
    dist.gather(t.contiguous(), parts, dst=first, group=groups.latent_group)
    return torch.cat(parts, 0) if parts is not None else t


INIT_CHUNK_ROWS = 8192  # a multiple of 16: torch's CPU randn then draws the same numbers chunk by chunk


def recipe_init_rows(cfg: SAEConfig, seed: int, lo: int, hi: int) -> torch.Tensor:
    """Rows [lo, hi) of SAE.create(cfg, seed)'s unit-norm W_dec (= W_enc^T), drawn chunk by chunk so a
    rank never holds the whole dictionary: the same generator stream, only this slice kept."""
    gen = torch.Generator().manual_seed(seed)
    out = torch.empty(hi - lo, cfg.d_in)
    for start in range(0, hi, INIT_CHUNK_ROWS):
        stop = min(cfg.d_sae, start + INIT_CHUNK_ROWS)
        W = torch.randn(stop - start, cfg.d_in, generator=gen)
        a, b = max(lo, start), min(hi, stop)
        if a < b:
            out[a - lo : b - lo] = W[a - start : b - start]
    return out / out.norm(dim=1, keepdim=True)


class ShardedSAE(nn.Module):
    """One rank's slice of a top-k style SAE (see the module docstring)."""

    def __init__(self, cfg: SAEConfig, groups: LatentGroups, seed: int, device: torch.device) -> None:
        super().__init__()
        _check_shardable(cfg.arch)
        if cfg.d_sae % groups.n:
            raise SaekitError(f"--shard-latents {groups.n}: the {cfg.d_sae} latents must split evenly over the ranks")
        self.cfg, self.groups, self.full_cls = cfg, groups, arch_class(cfg.arch)
        m = cfg.d_sae // groups.n
        self.lo, self.m = groups.index * m, m
        W = recipe_init_rows(cfg, seed, self.lo, self.lo + m).to(device)
        self.W_encT = nn.Parameter(W.clone())
        self.b_enc = nn.Parameter(torch.zeros(m, device=device))
        self.W_dec = nn.Parameter(W)
        self.b_dec = nn.Parameter(torch.zeros(cfg.d_in, device=device))
        if self.full_cls.shard_selection == "batch":  # BatchTopK's inference threshold, "not estimated yet"
            self.register_buffer("threshold", torch.tensor(-1.0, device=device))
        log.info("latent shard %d of %d: latents [%d, %d), %d bytes of parameters", groups.index, groups.n,
                 self.lo, self.lo + m, self.param_bytes())

    def param_bytes(self) -> int:
        return sum(p.numel() * p.element_size() for p in self.parameters())

    # ---- selection: the global choice from the group's local candidates -----------------------------
    def _choose_per_row(self, pre: torch.Tensor, k: int, cols: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(rows, local cols) of this slice's latents among each row's k best of the group (over ``cols``
        of this slice only, when given: AuxK's dead latents). Ranks with fewer candidates pad with -inf."""
        B, grp, n = pre.shape[0], self.groups.latent_group, self.groups.n
        pool = pre if cols is None else pre.index_select(1, cols)
        ids = torch.arange(self.m, device=pre.device) if cols is None else cols
        val = torch.full((B, k), -torch.inf, dtype=pre.dtype, device=pre.device)
        gid = torch.full((B, k), -1, dtype=torch.int64, device=pre.device)
        kl = min(k, pool.shape[1])
        if kl:
            v, loc = pool.topk(kl, dim=1)
            val[:, :kl], gid[:, :kl] = v, ids[loc] + self.lo
        all_val = _gather(val.t(), grp, n).t()  # [B, n*k]
        all_gid = _gather(gid.t(), grp, n).t()
        pos = all_val.topk(k, dim=1).indices
        chosen = all_gid.gather(1, pos)
        mine = (chosen >= self.lo) & (chosen < self.lo + self.m)
        rows = torch.arange(B, device=pre.device).unsqueeze(1).expand_as(chosen)[mine]
        return rows, chosen[mine] - self.lo

    def _choose_batch(self, pre: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """BatchTopK: (rows, local cols) of this slice among the batch's B*k best positive pre-activations
        of the group (each rank's local top-B*k holds every one of them that lives on it)."""
        B, grp, n = pre.shape[0], self.groups.latent_group, self.groups.n
        want = B * k
        flat = pre.reshape(-1)
        nl = min(want, flat.numel())
        v, at = flat.topk(nl)
        top_v, pos = _gather(v, grp, n).topk(want)
        at = at[pos[(pos // nl == self.groups.index) & (top_v > 0)] % nl]
        return at // self.m, at % self.m

    # ---- the step -----------------------------------------------------------------------------------
    def _decode(self, pre: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, x_c: torch.Tensor,
                b_dec_enc: torch.Tensor, ctx: TrainContext) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(the group's summed reconstruction of the chosen latents [B, d_in] without b_dec, their values
        [nnz] with the graph, their latents in that order), through one process's sparse kernels: no
        dense [B, m] gradient."""
        order = torch.argsort(rows * self.m + cols)
        rows, cols = rows[order], cols[order]
        crow = torch.zeros(pre.shape[0] + 1, dtype=torch.int64, device=pre.device)
        crow[1:] = torch.cumsum(torch.bincount(rows, minlength=pre.shape[0]), 0)
        by_col = column_index(crow, cols, self.m)
        if ctx.autocast_dtype is None:
            chosen = pre[rows, cols]
        else:  # the low-precision GEMM only chose the latents: their values in fp32
            chosen = sampled_rows_dot(crow, cols, x_c, self.W_encT.detach()) + self.b_enc.detach()[cols]
        vals = torch.relu(gather_pre(crow, cols, chosen, x_c, self.W_encT, self.b_enc, by_col, b_dec_enc))
        part = sparse_decode(SparseCode(crow, cols, vals, by_col), self.W_dec)
        return _SumOverGroup.apply(part, self.groups.latent_group), vals, cols

    def training_step(self, xn_BD: torch.Tensor, ctx: TrainContext) -> StepOutput:
        grp = self.groups.latent_group
        x_c = (xn_BD - self.b_dec).detach()
        b_dec_enc = _SharedInput.apply(self.b_dec, grp)  # b_dec as the encoders see it: their gradients summed
        with torch.no_grad(), (torch.autocast(self.b_dec.device.type, ctx.autocast_dtype) if ctx.autocast_dtype
                               else nullcontext()):
            pre = torch.addmm(self.b_enc, x_c, self.W_encT.t()).float()
        if self.full_cls.shard_selection == "batch":
            rows, cols = self._choose_batch(pre, int(self.cfg.k))
        else:
            rows, cols = self._choose_per_row(pre, int(self.cfg.k))
        dec, vals, cols = self._decode(pre, rows, cols, x_c, b_dec_enc, ctx)
        residual = xn_BD - (dec + self.b_dec)
        sse_rows = residual.pow(2).sum(-1)
        loss = sse_rows.mean()
        aux = self._auxk(pre, residual.detach(), x_c, b_dec_enc, ctx)
        if aux is not None:
            loss = loss + aux
        live = vals.detach() > 0
        fired = torch.bincount(cols[live], minlength=self.m)
        nnz = D.all_reduce_(fired.sum().reshape(1).clone(), _group_info(grp))
        min_active = None
        if self.full_cls.shares_min_active:  # the smallest selected activation of the whole group
            m = vals.detach()[live].min() if bool(live.any()) else torch.tensor(torch.inf, device=vals.device)
            m = D.all_reduce_(m.reshape(1).clone(), _group_info(grp), "min")[0]
            min_active = m if bool(torch.isfinite(m)) else None
        return StepOutput(loss, sse_rows.detach().sum(), int(nnz), fired, aux, min_active)

    def _auxk(self, pre: torch.Tensor, e: torch.Tensor, x_c: torch.Tensor, b_dec_enc: torch.Tensor,
              ctx: TrainContext) -> torch.Tensor | None:
        dead = ctx.dead_idx if ctx.dead_idx is not None else torch.zeros(0, dtype=torch.int64, device=pre.device)
        n_dead = int(D.all_reduce_(torch.tensor([dead.numel()], device=pre.device), _group_info(self.groups.latent_group)))
        if n_dead == 0 or ctx.aux_coeff == 0:
            return None
        kk = min(ctx.k_aux, n_dead)
        if dense_auxk(n_dead, kk):  # as one process does: dense products over this slice's dead latents
            chosen = None
            if kk < n_dead:
                rows, cols = self._choose_per_row(pre, kk, dead)
                at = torch.empty(self.m, dtype=torch.int64, device=pre.device)
                at[dead] = torch.arange(dead.numel(), device=pre.device)
                chosen = torch.zeros(pre.shape[0], dead.numel(), dtype=pre.dtype, device=pre.device)
                chosen[rows, at[cols]] = 1.0
            part = dense_dead_decode(dead_pre(pre, dead, x_c, self.W_encT, self.b_enc, ctx), chosen, x_c,
                                     self.W_encT, self.b_enc, self.W_dec, dead, b_dec_enc)
            return auxk_of(_SumOverGroup.apply(part, self.groups.latent_group), e, ctx)
        rows, cols = self._choose_per_row(pre, kk, dead)
        e_hat, _, _ = self._decode(pre, rows, cols, x_c, b_dec_enc, ctx)
        return auxk_of(e_hat, e, ctx)

    @torch.no_grad()
    def after_step(self, out: StepOutput) -> None:
        self.full_cls.after_step(self, out)  # type: ignore[arg-type] - BatchTopK's threshold EMA reads only .threshold

    # ---- whole-dictionary views (checkpoints) ---------------------------------------------------------
    @torch.no_grad()
    def full_tensors(self) -> dict[str, torch.Tensor]:
        """The dictionary's state_dict on the group's first rank, slices gathered there (every rank of the
        group must call it; the others get their slice's)."""
        out = {k: v.detach() for k, v in super().state_dict().items()}
        for name in SLICED:
            out[name] = _gather_to_first(out[name], self.groups)
        return out

    def gather_sae(self) -> "SAE | ShardedSAE":
        """The whole dictionary as an SAE on the group's first rank; the other ranks keep their slice."""
        tensors = self.full_tensors()
        if self.groups.index != 0:
            return self
        with skip_random_init():
            full = self.full_cls(self.cfg).to(self.b_dec.device)
        full.load_state_dict(tensors)
        return full

    def local_tensors(self, full: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: (v[self.lo : self.lo + self.m] if k in SLICED else v) for k, v in full.items()}


def _group_info(group: Any) -> D.DistInfo:
    return D.DistInfo(0, dist.get_world_size(group), 0, group=group)


class LatentSharding:
    """What a trainer member does differently with --shard-latents: its SAE, optimizer state, dead
    latents and checkpoints."""

    def __init__(self, info: D.DistInfo, shard_latents: int) -> None:
        self.groups = make_groups(info, shard_latents)

    @staticmethod
    def create(info: D.DistInfo, shard_latents: int, arch: str) -> "LatentSharding | None":
        """None when the run is not latent-sharded (--shard-latents 1, or a single process)."""
        if group_size(shard_latents, info.world_size) == 1:
            return None
        _check_shardable(arch)
        return LatentSharding(info, shard_latents)

    def create_sae(self, cfg: SAEConfig, seed: int, device: torch.device) -> ShardedSAE:
        """This rank's slice of SAE.create(cfg, seed) (never materialising the whole dictionary)."""
        return ShardedSAE(cfg, self.groups, seed, device)

    def local_state(self, sae: ShardedSAE, state: dict[str, Any]  # Any: a trainer state (tensors, optimiser state, counters)
                    ) -> tuple[dict, dict, torch.Tensor]:
        """(SAE tensors, optimizer state, since_fired) of this slice from a whole-dictionary trainer state."""
        opt = {"param_groups": state["optimizer"]["param_groups"], "state": {}}
        names = [n for n, _ in sae.named_parameters()]
        for i, entry in state["optimizer"]["state"].items():
            opt["state"][i] = {k: (v[sae.lo : sae.lo + sae.m] if names[int(i)] in SLICED and torch.is_tensor(v)
                                   and v.dim() else v) for k, v in entry.items()}
        return sae.local_tensors(state["sae"]), opt, state["since_fired"][sae.lo : sae.lo + sae.m]

    def full_optimizer_state(self, sae: ShardedSAE, opt: torch.optim.Optimizer
                             ) -> dict[str, Any]:  # Any: torch's optimizer state_dict (tensors and hyper-parameters)
        sd = opt.state_dict()
        names = [n for n, _ in sae.named_parameters()]
        for i, entry in sd["state"].items():
            if names[int(i)] in SLICED:
                sd["state"][i] = {k: (_gather_to_first(v, self.groups) if torch.is_tensor(v) and v.dim() else v)
                                  for k, v in entry.items()}
        return sd

    @torch.no_grad()
    def clip_grad_norm_(self, sae: ShardedSAE, max_norm: float) -> None:
        """clip_grad_norm_ over the whole dictionary: the slices' squares summed over the group, b_dec once."""
        sq = sum(getattr(sae, n).grad.pow(2).sum() for n in SLICED if getattr(sae, n).grad is not None)
        sq = D.all_reduce_(torch.as_tensor(sq, dtype=torch.float32).reshape(1).clone(), _group_info(self.groups.latent_group))
        if sae.b_dec.grad is not None:
            sq = sq + sae.b_dec.grad.pow(2).sum()
        coef = (max_norm / (sq.sqrt() + 1e-6)).clamp(max=1.0)
        for p in sae.parameters():
            if p.grad is not None:
                p.grad.mul_(coef)

    def full_since_fired(self, tracker: DeadLatentTracker) -> torch.Tensor:
        return _gather_to_first(tracker.since_fired, self.groups)

    def dead_frac(self, tracker: DeadLatentTracker) -> float:
        dead = D.all_reduce_(tracker.dead_mask().sum().reshape(1).clone(), _group_info(self.groups.latent_group))
        return float(dead) / (tracker.since_fired.numel() * self.groups.n)


def sharded_data_info(sharding: LatentSharding | None, info: D.DistInfo) -> D.DistInfo:
    """Who averages gradients and firing counts with whom: the ranks holding the same slice, or everyone."""
    return sharding.groups.data_info if sharding is not None else info

