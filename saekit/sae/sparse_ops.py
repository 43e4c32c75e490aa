"""Sparse codes and the autograd functions that train top-k style SAEs without dense B x d_sae work.

A code is CSR-like: row b owns entries crow[b]:crow[b+1] of (col, val). Decoding gathers the chosen
decoder rows with embedding_bag; the weight gradients are the transpose product, also an
embedding_bag over the entries sorted by latent (ColumnIndex, sorted once per code and shared by
the encoder's and the decoder's backward), and the value gradients use sampled_addmm. After the one
encoder GEMM every step costs O(nnz * d_in) instead of O(B * d_sae * d_in).
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

import torch
import torch.nn.functional as F


class ColumnIndex(NamedTuple):
    """A code's entries grouped by latent: entry order[i] belongs to latent j for
    offsets[j] <= i < offsets[j+1], and rows[i] is its batch row."""

    order: torch.Tensor  # [nnz] int64
    offsets: torch.Tensor  # [n_cols + 1] int64
    rows: torch.Tensor  # [nnz] int64


def column_index(crow: torch.Tensor, col: torch.Tensor, n_cols: int) -> ColumnIndex:
    # stable, so every latent sums its rows in batch order: the same result on every run
    order = torch.argsort(col, stable=True)
    offsets = torch.zeros(n_cols + 1, dtype=torch.int64, device=col.device)
    torch.cumsum(torch.bincount(col, minlength=n_cols), 0, out=offsets[1:])
    B = crow.numel() - 1
    rows = torch.repeat_interleave(torch.arange(B, device=col.device), crow.diff(), output_size=col.numel())
    return ColumnIndex(order, offsets, rows[order])


class SparseCode(NamedTuple):
    crow: torch.Tensor  # [B+1] int64 row offsets
    col: torch.Tensor  # [nnz] int64 latent ids
    val: torch.Tensor  # [nnz] activations (float32)
    by_col: ColumnIndex | None = None  # shared by the backward passes; made on demand when None

    @property
    def batch_size(self) -> int:
        return self.crow.numel() - 1


def fixed_k_crow(batch: int, k: int, device: torch.device) -> torch.Tensor:
    return torch.arange(0, batch * k + 1, k, device=device, dtype=torch.int64)


def _csr(crow: torch.Tensor, col: torch.Tensor, val: torch.Tensor, n_cols: int) -> torch.Tensor:
    with warnings.catch_warnings():  # torch's "CSR support is in beta" notice; these kernels are tested here
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, val, (crow.numel() - 1, n_cols), check_invariants=False)


def transpose_matmul(by_col: ColumnIndex, val: torch.Tensor, dense_BD: torch.Tensor) -> torch.Tensor:
    """(CSR[B, n_cols] with values val)^T @ dense[B, D] -> [n_cols, D]: for each latent j the sum of
    val_e * dense[row_e] over its entries e, as one embedding_bag over the entries sorted by latent.

    Three times faster on the CPU than torch's COO product (and the CSR-transpose product slows
    down tenfold when its threads compete for cores), and on every device it sums in a fixed order."""
    return F.embedding_bag(by_col.rows, dense_BD, by_col.offsets, mode="sum",
                           per_sample_weights=val[by_col.order], include_last_offset=True)


def sampled_rows_dot(crow, col, a_BD: torch.Tensor, W_ND: torch.Tensor) -> torch.Tensor:
    """For every code entry (b, j): <a[b], W[j]>, as a [nnz] vector."""
    if a_BD.device.type == "cpu" or a_BD.dtype == torch.float32:
        mask = _csr(crow, col, torch.zeros(col.numel(), dtype=a_BD.dtype, device=a_BD.device), W_ND.shape[0])
        return torch.sparse.sampled_addmm(mask, a_BD, W_ND.t(), beta=0.0).values()
    rows = torch.repeat_interleave(torch.arange(a_BD.shape[0], device=a_BD.device), crow.diff())
    return (a_BD[rows] * W_ND[col]).sum(-1)


class _SparseDecode(torch.autograd.Function):
    @staticmethod
    def forward(ctx, crow, col, val, W_dec, by_col):  # type: ignore[override]
        ctx.save_for_backward(crow, col, val, W_dec)
        ctx.by_col = by_col
        return F.embedding_bag(col, W_dec, crow, mode="sum", per_sample_weights=val, include_last_offset=True)

    @staticmethod
    def backward(ctx, grad_BD):  # type: ignore[override]
        crow, col, val, W_dec = ctx.saved_tensors
        grad_BD = grad_BD.contiguous()
        grad_val = sampled_rows_dot(crow, col, grad_BD, W_dec) if ctx.needs_input_grad[2] else None
        grad_W = None
        if ctx.needs_input_grad[3]:
            by_col = ctx.by_col if ctx.by_col is not None else column_index(crow, col, W_dec.shape[0])
            grad_W = transpose_matmul(by_col, val, grad_BD)
        return None, None, grad_val, grad_W, None


def sparse_decode(code: SparseCode, W_dec_MD: torch.Tensor) -> torch.Tensor:
    """sum_j val_bj * W_dec[j] for each row b (no bias)."""
    return _SparseDecode.apply(code.crow, code.col, code.val, W_dec_MD, code.by_col)


class _GatherPre(torch.autograd.Function):
    """The selected encoder pre-activations pre[b, j] = <x_c[b], W_encT[j]> + b_enc[j], with sparse grads.

    The values were already computed by the dense (no-grad) encoder GEMM; only the backward is new:
    grad W_encT = CSR(g)^T @ x_c, grad b_enc = scatter-add of g, grad x_c = embedding_bag(W_encT, g).
    When x_c = xn - b_dec comes in detached with b_dec beside it (xn needs no gradient, as in
    training), b_dec's gradient is -grad b_enc @ W_encT: a [d_sae] x [d_sae, d_in] product instead
    of a [B, d_in] embedding_bag summed over the batch.
    """

    @staticmethod
    def forward(ctx, crow, col, pre_val, x_c, W_encT, b_enc, by_col, b_dec):  # type: ignore[override]
        ctx.save_for_backward(crow, col, x_c, W_encT)
        ctx.n_latents = W_encT.shape[0]
        ctx.by_col = by_col
        return pre_val.clone()

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        crow, col, x_c, W_encT = ctx.saved_tensors
        g = g.contiguous()
        grad_x = grad_W = grad_b = grad_b_dec = None
        if ctx.needs_input_grad[3]:
            grad_x = F.embedding_bag(col, W_encT, crow, mode="sum", per_sample_weights=g, include_last_offset=True)
        if ctx.needs_input_grad[4]:
            by_col = ctx.by_col if ctx.by_col is not None else column_index(crow, col, ctx.n_latents)
            grad_W = transpose_matmul(by_col, g, x_c)
        if ctx.needs_input_grad[5] or ctx.needs_input_grad[7]:
            per_latent = torch.zeros(ctx.n_latents, dtype=g.dtype, device=g.device).index_add_(0, col, g)
            grad_b = per_latent if ctx.needs_input_grad[5] else None
            if ctx.needs_input_grad[7]:
                grad_b_dec = -(per_latent @ W_encT)
        return None, None, None, grad_x, grad_W, grad_b, None, grad_b_dec


def gather_pre(crow, col, pre_val, x_c, W_encT, b_enc, by_col: ColumnIndex | None = None,
               b_dec: torch.Tensor | None = None) -> torch.Tensor:
    """pre_val as a function of the encoder's weights (and of x_c, or of b_dec when x_c = xn - b_dec
    is passed detached)."""
    if b_dec is not None and x_c.requires_grad:
        raise ValueError("gather_pre: pass x_c detached when b_dec carries its gradient")
    return _GatherPre.apply(crow, col, pre_val, x_c, W_encT, b_enc, by_col, b_dec)
