"""Training pieces shared by the top-k style SAEs (topk, batchtopk, matryoshka): encode-select, AuxK.

One dense encoder GEMM runs without autograd; the selected pre-activations re-enter the graph
through gather_pre, so the backward never materialises a B x d_sae gradient. With
ctx.sparse_kernels=False the same maths runs densely (reference path, also used by tests).
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Callable

import torch

from saekit.sae.base import SAE, TrainContext
from saekit.sae.sparse_ops import (SparseCode, column_index, fixed_k_crow, gather_pre, sampled_rows_dot,
                                   sparse_decode)

# pre -> (crow, col, pre[rows, col]): a selector hands back the values it chose, so they are not gathered again
Selector = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def _autocast(sae: SAE, ctx: TrainContext):
    if ctx.autocast_dtype is None:
        return nullcontext()
    return torch.autocast(device_type=sae.device.type, dtype=ctx.autocast_dtype)


@torch.no_grad()
def _selected_values(sae: SAE, ctx: TrainContext, chosen: torch.Tensor, crow: torch.Tensor,
                     col: torch.Tensor, x_c: torch.Tensor) -> torch.Tensor:
    """The selected pre-activations: as chosen, or, under autocast, where the low-precision GEMM only
    chose the latents, recomputed exactly in fp32 (O(nnz * d_in))."""
    if ctx.autocast_dtype is None:
        return chosen
    return sampled_rows_dot(crow, col, x_c, sae.W_encT) + sae.b_enc[col]


def _pre_buffer(ctx: TrainContext, x_c: torch.Tensor, d_sae: int) -> torch.Tensor:
    """ctx's reused [B, d_sae] pre-activation tensor (made anew when the shape, dtype or device changes).
    Only the step that wrote it reads it: it is detached and not part of StepOutput."""
    shape = (x_c.shape[0], d_sae)
    buf = ctx.pre_buffer
    if buf is None or tuple(buf.shape) != shape or buf.dtype != x_c.dtype or buf.device != x_c.device:
        buf = ctx.pre_buffer = torch.empty(shape, dtype=x_c.dtype, device=x_c.device)
    return buf


def _b_dec_beside(sae: SAE, x_c: torch.Tensor) -> torch.Tensor | None:
    """b_dec when x_c = xn - b_dec came detached (encode_for_training's sparse path), else None (also for
    transcoders, whose encoder input is not centred by b_dec)."""
    return None if x_c.requires_grad or not sae.centres_input else sae.b_dec


def encode_for_training(
    sae: SAE, xn_BD: torch.Tensor, ctx: TrainContext, select: Selector
) -> tuple[SparseCode, torch.Tensor, torch.Tensor]:
    """(code with graph-connected values, detached pre-activations [B, d_sae], x_c = xn - b_dec).

    On the sparse path x_c is detached when xn needs no gradient: gather_pre then hands b_dec its
    gradient directly, and auxk_loss does the same with it."""
    x_c = sae.centre(xn_BD)
    if ctx.sparse_kernels:
        with torch.no_grad(), _autocast(sae, ctx):
            if ctx.autocast_dtype is None:
                pre = torch.addmm(sae.b_enc, x_c, sae.W_encT.t(), out=_pre_buffer(ctx, x_c, sae.cfg.d_sae))
            else:  # an out= op would not be autocast
                pre = torch.addmm(sae.b_enc, x_c, sae.W_encT.t()).float()
        crow, col, chosen = select(pre)
        by_col = column_index(crow, col, sae.cfg.d_sae)
        pre_val = _selected_values(sae, ctx, chosen, crow, col, x_c)
        if not xn_BD.requires_grad:  # b_dec then takes its gradient straight from gather_pre's backward
            x_c = x_c.detach()
        val = torch.relu(gather_pre(crow, col, pre_val, x_c, sae.W_encT, sae.b_enc, by_col, _b_dec_beside(sae, x_c)))
        return SparseCode(crow, col, val, by_col), pre, x_c
    pre_g = torch.addmm(sae.b_enc, x_c, sae.W_encT.t())
    pre = pre_g.detach()
    crow, col, _ = select(pre)
    rows = torch.repeat_interleave(torch.arange(pre.shape[0], device=pre.device), crow.diff())
    return SparseCode(crow, col, torch.relu(pre_g[rows, col])), pre, x_c


def decode_code(sae: SAE, code: SparseCode, ctx: TrainContext, bias: bool = True) -> torch.Tensor:
    if ctx.sparse_kernels:
        out = sparse_decode(code, sae.W_dec)
    else:
        B = code.batch_size
        rows = torch.repeat_interleave(torch.arange(B, device=code.col.device), code.crow.diff())
        z = torch.zeros(B, sae.cfg.d_sae, dtype=code.val.dtype, device=code.val.device)
        z = z.index_put((rows, code.col), code.val)
        out = z @ sae.W_dec
    return out + sae.b_dec if bias else out


class _ResidualSSE(torch.autograd.Function):
    """sse[b] = ||x_c[b] - dec[b]||^2 for a detached x_c = xn - b_dec, with the gradients of dec and
    b_dec (both enter with a minus sign, so b_dec's is the batch sum of dec's). Four passes over
    [B, d_in] where the autograd chain of +b_dec, -, pow, sum makes about eight."""

    @staticmethod
    def forward(ctx, x_c, dec, b_dec):  # type: ignore[override]
        residual = torch.sub(x_c, dec)
        ctx.save_for_backward(residual)
        ctx.mark_non_differentiable(residual)
        return torch.linalg.vector_norm(residual, dim=1).square(), residual

    @staticmethod
    def backward(ctx, g, _unused):  # type: ignore[override]
        (residual,) = ctx.saved_tensors
        grad_dec = residual * (-2 * g).unsqueeze(1)
        grad_b_dec = grad_dec.sum(0) if ctx.needs_input_grad[2] else None
        return None, grad_dec, grad_b_dec


def reconstruction_sse(sae: SAE, xn_BD: torch.Tensor, x_c: torch.Tensor, code: SparseCode,
                       ctx: TrainContext) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-row squared error [B] with its graph, detached residual target - x_hat [B, d_out]); the target is
    the input, or ctx.target for a transcoder (whose skip path, when it has one, joins the decoded rows)."""
    if ctx.target is not None:
        dec = decode_code(sae, code, ctx, bias=False)
        skip = sae.skip_out(xn_BD)
        dec = dec if skip is None else dec + skip
        if ctx.sparse_kernels:
            return _ResidualSSE.apply((ctx.target - sae.b_dec).detach(), dec, sae.b_dec)
        residual = ctx.target - dec - sae.b_dec
        return residual.pow(2).sum(-1), residual.detach()
    if ctx.sparse_kernels and not x_c.requires_grad:  # encode_for_training detached it: b_dec rides beside
        return _ResidualSSE.apply(x_c, decode_code(sae, code, ctx, bias=False), sae.b_dec)
    residual = xn_BD - decode_code(sae, code, ctx)
    return residual.pow(2).sum(-1), residual.detach()


def select_topk(k: int) -> Selector:
    def select(pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        val, col = pre.topk(k, dim=1, sorted=False)
        return fixed_k_crow(pre.shape[0], k, pre.device), col.reshape(-1), val.reshape(-1)

    return select


def select_batch_topk(k: int) -> Selector:
    """The B*k largest pre-activations of the whole batch (a row may get more or fewer than k)."""

    def select(pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, m = pre.shape
        n = B * k
        k2 = min(m, 4 * k)
        cand_val, cand_col = pre.topk(k2, dim=1, sorted=False)
        top = cand_val.reshape(-1).topk(n, sorted=False).indices
        rows = top // k2
        counts = torch.bincount(rows, minlength=B)
        if k2 < m and bool((counts == k2).any()):
            # a row filled all its candidates, so it may own more: fall back to the exact global top-n
            flat = pre.reshape(-1).topk(n, sorted=False).indices
            rows, cols = flat // m, flat % m
        else:
            cols = cand_col.reshape(-1)[top]
        vals = pre[rows, cols]
        keep = vals > 0
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
        order = torch.argsort(rows * m + cols)
        rows, cols = rows[order], cols[order]
        crow = torch.zeros(B + 1, dtype=torch.int64, device=pre.device)
        crow[1:] = torch.cumsum(torch.bincount(rows, minlength=B), 0)
        return crow, cols, vals[order]

    return select


DENSE_AUXK_FACTOR = 4  # AuxK runs densely over the dead latents while there are at most this many times k_aux


def dense_auxk(n_dead: int, kk: int) -> bool:
    """Whether AuxK runs as dense products over every dead latent (the unchosen ones masked) instead of the
    sparse kernels over the chosen ones. On this project's 2-core CPU (4,096 rows, d_in 576, k_aux 288) a
    whole TopK step took 1.00 s against 1.50 s with 288 dead latents, 1.18 s against 1.45 s with 1,152, and
    1.74 s against 1.60 s with 2,000: dense GEMMs beat embedding_bag and sampled_addmm per entry until the
    masked work is about six times the chosen. The decision depends only on counts of the whole dictionary,
    so a latent-sharded run takes the same path as one process."""
    return n_dead <= DENSE_AUXK_FACTOR * kk


def _onto(full: torch.Tensor, rows: torch.Tensor, part: torch.Tensor) -> torch.Tensor:
    """A zero gradient of ``full``'s shape holding ``part`` at the (distinct) ``rows``: a plain index_put, where
    index_select's own backward goes through scatter_add_, which took 0.2 s for 50 rows of 576 on this CPU."""
    out = torch.zeros_like(full)
    out[rows] = part
    return out


class _DenseDeadDecode(torch.autograd.Function):
    """act @ W_dec[dead] with act = relu(P) (times the 0/1 choice, when given), P[b, i] = <x_c[b], W_encT[dead_i]>
    + b_enc[dead_i] taken from the step's encoder GEMM (not recomputed). The backward is dense products over
    [B, n_dead]: grad act = g W_dec[dead]^T, then through the ReLU and the choice into W_dec, W_encT and b_enc
    (at the dead rows), x_c, or, when x_c = xn - b_dec came detached, b_dec = -(sum_b grad P) W_encT[dead]."""

    @staticmethod
    def forward(ctx, pre_BN, chosen_BN, x_c, W_encT, b_enc, W_dec, dead, b_dec):  # type: ignore[override]
        act = torch.relu(pre_BN)
        if chosen_BN is not None:
            act = act * chosen_BN
        W_e, W_d = W_encT.detach().index_select(0, dead), W_dec.detach().index_select(0, dead)
        ctx.save_for_backward(act, x_c, W_e, W_d, dead)
        ctx.like = (W_encT, b_enc, W_dec)  # the gradients' shapes
        return act @ W_d

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        act, x_c, W_e, W_d, dead = ctx.saved_tensors
        W_encT, b_enc, W_dec = ctx.like
        need = ctx.needs_input_grad
        g_pre = (g @ W_d.t()).mul_(act > 0)  # act > 0: chosen and through the ReLU
        grad_x = g_pre @ W_e if need[2] else None
        grad_W_enc = _onto(W_encT, dead, g_pre.t() @ x_c) if need[3] else None
        per_latent = g_pre.sum(0)
        grad_b_enc = _onto(b_enc, dead, per_latent) if need[4] else None
        grad_W_dec = _onto(W_dec, dead, act.t() @ g) if need[5] else None
        grad_b_dec = -(per_latent @ W_e) if need[7] else None
        return None, None, grad_x, grad_W_enc, grad_b_enc, grad_W_dec, None, grad_b_dec


def dense_dead_decode(pre_BN: torch.Tensor, chosen_BN: torch.Tensor | None, x_c: torch.Tensor, W_encT: torch.Tensor,
                      b_enc: torch.Tensor, W_dec: torch.Tensor, dead: torch.Tensor,
                      b_dec: torch.Tensor | None) -> torch.Tensor:
    """sum over the chosen dead latents of relu(pre) W_dec[dead] per row [B, d_out], no bias, as dense products
    over [B, n_dead] (every dead latent when chosen_BN is None, else those it marks). ``pre_BN`` holds the dead
    latents' exact pre-activations; shared by one process and each rank of a latent-sharded run."""
    if b_dec is not None and x_c.requires_grad:
        raise ValueError("dense_dead_decode: pass x_c detached when b_dec carries its gradient")
    return _DenseDeadDecode.apply(pre_BN, chosen_BN, x_c, W_encT, b_enc, W_dec, dead, b_dec)


@torch.no_grad()
def dead_pre(pre: torch.Tensor, dead: torch.Tensor, x_c: torch.Tensor, W_encT: torch.Tensor, b_enc: torch.Tensor,
             ctx: TrainContext) -> torch.Tensor:
    """The dead latents' columns of the step's pre-activations [B, n_dead]; under autocast, where the GEMM only
    chose latents, recomputed exactly in fp32."""
    if ctx.autocast_dtype is None:
        return pre.index_select(1, dead)
    return torch.addmm(b_enc[dead], x_c.float(), W_encT[dead].t())


def _sum_sq_rows(a_BD: torch.Tensor) -> torch.Tensor:
    """sum of squares of every entry in one pass, row by row (one vector_norm over all B * d entries was 1e-4 off
    at 4,096 x 576; pow(2).sum() makes a [B, d] temporary)."""
    return torch.linalg.vector_norm(a_BD, dim=1).square().sum()


class _ScaledSSE(torch.autograd.Function):
    """scale * ||e - e_hat||^2 for a detached e, with e_hat's gradient in one pass (the autograd chain of sub,
    pow and sum makes three more passes over [B, d_out])."""

    @staticmethod
    def forward(ctx, e, e_hat, scale):  # type: ignore[override]
        diff = torch.sub(e, e_hat)
        ctx.save_for_backward(diff)
        ctx.scale = scale
        return _sum_sq_rows(diff) * scale

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        (diff,) = ctx.saved_tensors
        return None, diff * (-2 * ctx.scale * g), None


def auxk_of(e_hat: torch.Tensor, residual_BD: torch.Tensor, ctx: TrainContext) -> torch.Tensor:
    """AuxK's loss for the dead latents' reconstruction e_hat of the residual, normalised by its variance."""
    e = residual_BD.detach()
    denom = _sum_sq_rows(e - e.mean(0)).clamp_min(1e-12)
    return _ScaledSSE.apply(e, e_hat, ctx.aux_coeff / denom)


def auxk_loss(
    sae: SAE, pre: torch.Tensor, x_c: torch.Tensor, residual_BD: torch.Tensor, ctx: TrainContext
) -> torch.Tensor | None:
    """AuxK (Gao et al. 2024): the top-k_aux dead latents model the residual error, normalised by its variance."""
    if ctx.dead_idx is None or ctx.dead_idx.numel() == 0 or ctx.aux_coeff == 0:
        return None
    dead = ctx.dead_idx
    kk = min(ctx.k_aux, dead.numel())
    if ctx.sparse_kernels and dense_auxk(dead.numel(), kk):
        pre_dead = dead_pre(pre, dead, x_c, sae.W_encT, sae.b_enc, ctx)
        chosen = None
        if kk < dead.numel():  # chosen by the step's GEMM values, as the sparse path and a sharded run do
            loc = pre.index_select(1, dead).topk(kk, dim=1, sorted=False).indices
            chosen = torch.zeros_like(pre_dead).scatter_(1, loc, 1.0)
        e_hat = dense_dead_decode(pre_dead, chosen, x_c, sae.W_encT, sae.b_enc, sae.W_dec, dead,
                                  _b_dec_beside(sae, x_c))
        return auxk_of(e_hat, residual_BD, ctx)
    chosen, loc = pre.index_select(1, dead).topk(kk, dim=1, sorted=False)
    crow, col, chosen = fixed_k_crow(pre.shape[0], kk, pre.device), dead[loc].reshape(-1), chosen.reshape(-1)
    by_col = None
    if ctx.sparse_kernels:
        by_col = column_index(crow, col, sae.cfg.d_sae)
        val = torch.relu(gather_pre(crow, col, _selected_values(sae, ctx, chosen, crow, col, x_c),
                                    x_c, sae.W_encT, sae.b_enc, by_col, _b_dec_beside(sae, x_c)))
    else:
        rows = torch.repeat_interleave(torch.arange(pre.shape[0], device=pre.device), crow.diff())
        pre_g = torch.addmm(sae.b_enc, x_c, sae.W_encT.t())
        val = torch.relu(pre_g[rows, col])
    e_hat = decode_code(sae, SparseCode(crow, col, val, by_col), ctx, bias=False)
    return auxk_of(e_hat, residual_BD, ctx)


def fired_counts(code: SparseCode, d_sae: int) -> torch.Tensor:
    return torch.bincount(code.col[code.val.detach() > 0], minlength=d_sae)
