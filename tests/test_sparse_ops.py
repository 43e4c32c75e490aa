"""The sparse kernels of top-k training against dense references."""
import torch

from saekit.sae.sparse_ops import SparseCode, column_index, sparse_decode, transpose_matmul
from saekit.sae.topk_training import select_topk


def _code(B: int, n_cols: int, k: int, seed: int = 0) -> tuple[SparseCode, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    pre = torch.randn(B, n_cols, generator=g)
    pre[:, n_cols // 2:] -= 100  # the upper half of the latents is never chosen: empty groups
    crow, col, chosen = select_topk(k)(pre)
    dense = torch.zeros(B, n_cols).scatter_(1, col.view(B, k), chosen.view(B, k))
    return SparseCode(crow, col, chosen), dense


def test_topk_selector_hands_back_the_chosen_values():
    g = torch.Generator().manual_seed(1)
    pre = torch.randn(7, 30, generator=g)
    crow, col, chosen = select_topk(4)(pre)
    rows = torch.repeat_interleave(torch.arange(7), crow.diff())
    assert torch.equal(chosen, pre[rows, col])
    assert torch.equal(chosen.view(7, 4).sort(1).values, pre.topk(4, dim=1).values.sort(1).values)


def test_column_index_groups_entries_by_latent_in_batch_order():
    code, _ = _code(9, 12, 3)
    by_col = column_index(code.crow, code.col, 12)
    assert by_col.offsets[0] == 0 and by_col.offsets[-1] == code.col.numel()
    rows = torch.repeat_interleave(torch.arange(9), code.crow.diff())
    for j in range(12):
        ent = by_col.order[by_col.offsets[j]:by_col.offsets[j + 1]]
        assert (code.col[ent] == j).all()
        assert torch.equal(by_col.rows[by_col.offsets[j]:by_col.offsets[j + 1]], rows[ent])
        assert (rows[ent].diff() > 0).all()  # stable: batch order within a latent
    assert (by_col.offsets[7:].diff() == 0).all()  # latents 6..11 never chosen


def test_transpose_matmul_is_the_dense_transpose_product():
    code, dense = _code(64, 40, 5, seed=2)
    other = torch.randn(64, 8, dtype=torch.float32)
    got = transpose_matmul(column_index(code.crow, code.col, 40), code.val, other)
    torch.testing.assert_close(got, dense.t() @ other)
    assert (got[20:] == 0).all()


def test_sparse_decode_gradients_with_and_without_a_shared_column_index():
    code, dense = _code(32, 24, 4, seed=3)
    W = torch.randn(24, 6, requires_grad=True)
    grads = []
    for by_col in (None, column_index(code.crow, code.col, 24)):
        W.grad = None
        val = code.val.clone().requires_grad_(True)
        out = sparse_decode(SparseCode(code.crow, code.col, val, by_col), W)
        torch.testing.assert_close(out, dense @ W)
        out.pow(2).sum().backward()
        grads.append((W.grad.clone(), val.grad.clone()))
    Wd = W.detach().clone().requires_grad_(True)
    (dense @ Wd).pow(2).sum().backward()
    for gW, _ in grads:
        torch.testing.assert_close(gW, Wd.grad)
    assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])


def test_b_dec_gradient_is_the_same_whether_it_flows_through_x_c_or_beside_it():
    """Training inputs need no gradient, so b_dec takes -grad_b_enc @ W_encT; an input that does need one
    keeps the x_c path. Both give the dense reference's gradients."""
    from saekit.sae import SAE, SAEConfig, TrainContext

    g = torch.Generator().manual_seed(4)
    x = torch.randn(48, 16, generator=g)
    grads = []
    for sparse, x_grad in ((True, False), (True, True), (False, True)):
        torch.manual_seed(0)
        sae = SAE.create(SAEConfig(arch="topk", d_in=16, d_sae=64, k=4, hook="h"), seed=0)
        with torch.no_grad():
            sae.b_dec.copy_(0.1 * torch.randn(16, generator=torch.Generator().manual_seed(5)))
        xi = x.clone().requires_grad_(x_grad)
        ctx = TrainContext(dead_idx=torch.arange(0, 64, 3), k_aux=5, sparse_kernels=sparse)
        sae.training_step(xi, ctx).loss.backward()
        grads.append((sae.b_dec.grad.clone(), sae.W_encT.grad.clone(), xi.grad))
    for got in grads[:2]:
        torch.testing.assert_close(got[0], grads[2][0], rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(got[1], grads[2][1], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(grads[1][2], grads[2][2], rtol=1e-4, atol=1e-6)
