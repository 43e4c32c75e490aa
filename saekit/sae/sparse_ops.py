"""Sparse codes and the autograd functions that train top-k style SAEs without dense B x d_sae work.

A code is CSR-like: row b owns entries crow[b]:crow[b+1] of (col, val). Decoding gathers the chosen
decoder rows with embedding_bag; the backward passes use a CSR transpose-matmul for the weight
gradients and sampled_addmm for the value gradients, so after the one encoder GEMM every step costs
O(nnz * d_in) instead of O(B * d_sae * d_in).
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

import torch
import torch.nn.functional as F


class SparseCode(NamedTuple):
    crow: torch.Tensor  # [B+1] int64 row offsets
    col: torch.Tensor  # [nnz] int64 latent ids
    val: torch.Tensor  # [nnz] activations (float32)

    @property
    def batch_size(self) -> int:
        return self.crow.numel() - 1


def fixed_k_crow(batch: int, k: int, device: torch.device) -> torch.Tensor:
    return torch.arange(0, batch * k + 1, k, device=device, dtype=torch.int64)


def _csr(crow: torch.Tensor, col: torch.Tensor, val: torch.Tensor, n_cols: int) -> torch.Tensor:
    with warnings.catch_warnings():  # torch's "CSR support is in beta" notice; these kernels are tested here
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, val, (crow.numel() - 1, n_cols), check_invariants=False)


def _csr_t_matmul(crow, col, val, n_cols: int, dense_BD: torch.Tensor) -> torch.Tensor:
    """(CSR[B, n_cols])^T @ dense[B, D] -> [n_cols, D].

    Built as a COO [n_cols, B] matrix: torch's CSR-transpose product degrades badly when its
    threads compete for cores (10x slower on a loaded 2-core machine), the COO product does not."""
    B = crow.numel() - 1
    rows = torch.repeat_interleave(torch.arange(B, device=col.device), crow.diff(), output_size=col.numel())
    coo = torch.sparse_coo_tensor(torch.stack([col, rows]), val, (n_cols, B), check_invariants=False)
    return torch.sparse.mm(coo, dense_BD)


def sampled_rows_dot(crow, col, a_BD: torch.Tensor, W_ND: torch.Tensor) -> torch.Tensor:
    """For every code entry (b, j): <a[b], W[j]>, as a [nnz] vector."""
    if a_BD.device.type == "cpu" or a_BD.dtype == torch.float32:
        mask = _csr(crow, col, torch.zeros(col.numel(), dtype=a_BD.dtype, device=a_BD.device), W_ND.shape[0])
        return torch.sparse.sampled_addmm(mask, a_BD, W_ND.t(), beta=0.0).values()
    rows = torch.repeat_interleave(torch.arange(a_BD.shape[0], device=a_BD.device), crow.diff())
    return (a_BD[rows] * W_ND[col]).sum(-1)


class _SparseDecode(torch.autograd.Function):
    @staticmethod
    def forward(ctx, crow, col, val, W_dec):  # type: ignore[override]
        ctx.save_for_backward(crow, col, val, W_dec)
        return F.embedding_bag(col, W_dec, crow, mode="sum", per_sample_weights=val, include_last_offset=True)

    @staticmethod
    def backward(ctx, grad_BD):  # type: ignore[override]
        crow, col, val, W_dec = ctx.saved_tensors
        grad_BD = grad_BD.contiguous()
        grad_val = sampled_rows_dot(crow, col, grad_BD, W_dec) if ctx.needs_input_grad[2] else None
        grad_W = _csr_t_matmul(crow, col, val, W_dec.shape[0], grad_BD) if ctx.needs_input_grad[3] else None
        return None, None, grad_val, grad_W


def sparse_decode(code: SparseCode, W_dec_MD: torch.Tensor) -> torch.Tensor:
    """sum_j val_bj * W_dec[j] for each row b (no bias)."""
    return _SparseDecode.apply(code.crow, code.col, code.val, W_dec_MD)


class _GatherPre(torch.autograd.Function):
    """The selected encoder pre-activations pre[b, j] = <x_c[b], W_encT[j]> + b_enc[j], with sparse grads.

    The values were already computed by the dense (no-grad) encoder GEMM; only the backward is new:
    grad W_encT = CSR(g)^T @ x_c, grad b_enc = scatter-add of g, grad x_c = embedding_bag(W_encT, g).
    """

    @staticmethod
    def forward(ctx, crow, col, pre_val, x_c, W_encT, b_enc):  # type: ignore[override]
        ctx.save_for_backward(crow, col, x_c, W_encT)
        ctx.n_latents = W_encT.shape[0]
        return pre_val.clone()

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        crow, col, x_c, W_encT = ctx.saved_tensors
        g = g.contiguous()
        grad_x = grad_W = grad_b = None
        if ctx.needs_input_grad[3]:
            grad_x = F.embedding_bag(col, W_encT, crow, mode="sum", per_sample_weights=g, include_last_offset=True)
        if ctx.needs_input_grad[4]:
            grad_W = _csr_t_matmul(crow, col, g, ctx.n_latents, x_c)
        if ctx.needs_input_grad[5]:
            grad_b = torch.zeros(ctx.n_latents, dtype=g.dtype, device=g.device).index_add_(0, col, g)
        return None, None, None, grad_x, grad_W, grad_b


def gather_pre(crow, col, pre_val, x_c, W_encT, b_enc) -> torch.Tensor:
    return _GatherPre.apply(crow, col, pre_val, x_c, W_encT, b_enc)
