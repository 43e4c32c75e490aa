"""AuxK's fast paths (dense products over few dead latents, masked when k_aux chooses among them; the sparse
kernels beyond) give the loss and gradients of AuxK's definition (Gao et al. 2024), written out plainly here
with full autograd, for an SAE, a transcoder and a skip transcoder with many dead latents."""
from __future__ import annotations

import pytest
import torch

from saekit.sae import SAE, SAEConfig, TrainContext
from saekit.sae import topk_training as T

D_IN, D_OUT, D_SAE, K, K_AUX, B = 24, 20, 192, 4, 16, 96


def _sae(kind: str) -> SAE:
    extra = {} if kind == "sae" else {"target_hooks": ("o",), "d_out": D_OUT, "skip": kind == "skip"}
    sae = SAE.create(SAEConfig(arch="topk", d_in=D_IN, d_sae=D_SAE, k=K, **extra), seed=0)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # away from the symmetric init, so every term of the gradient is exercised
        sae.b_dec.normal_(0, 0.3, generator=g)
        sae.b_enc.normal_(0, 0.2, generator=g)
        sae.W_dec.add_(0.2 * torch.randn(sae.W_dec.shape, generator=g))
        if sae.W_skip is not None:
            sae.W_skip.normal_(0, 0.1, generator=g)
    return sae


def _reference_auxk(sae: SAE, x: torch.Tensor, target: torch.Tensor | None, dead: torch.Tensor,
                    residual: torch.Tensor | None = None) -> torch.Tensor:
    """AuxK by its definition: each row's k_aux largest pre-activations among the dead latents, ReLU'd and
    decoded, model the detached residual of the TopK reconstruction; squared error over its variance."""
    pre = (x - sae.b_dec if target is None else x) @ sae.W_encT.t() + sae.b_enc
    if residual is None:
        with torch.no_grad():
            top = pre.topk(K, dim=1)
            z = torch.zeros_like(pre).scatter(1, top.indices, torch.relu(top.values))
            x_hat = z @ sae.W_dec + sae.b_dec + (0 if sae.W_skip is None else x @ sae.W_skip.t())
            residual = (x if target is None else target) - x_hat
    pre_dead = pre[:, dead]
    kk = min(K_AUX, dead.numel())
    chosen = torch.zeros_like(pre_dead).scatter(1, pre_dead.detach().topk(kk, dim=1).indices, 1.0)
    e_hat = (torch.relu(pre_dead) * chosen) @ sae.W_dec[dead]
    e = residual.detach()
    return (1 / 32) * (e - e_hat).pow(2).sum() / (e - e.mean(0)).pow(2).sum()


def _grads(sae: SAE, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    sae.zero_grad(set_to_none=True)
    loss.backward()
    return {n: p.grad.clone() for n, p in sae.named_parameters() if p.grad is not None}


def _fast_auxk(sae: SAE, x: torch.Tensor, target: torch.Tensor | None, dead: torch.Tensor,
               autocast: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    ctx = TrainContext(dead_idx=dead, k_aux=K_AUX, target=target, autocast_dtype=autocast)
    code, pre, x_c = T.encode_for_training(sae, x, ctx, T.select_topk(K))
    _, residual = T.reconstruction_sse(sae, x, x_c, code, ctx)
    return T.auxk_loss(sae, pre, x_c, residual, ctx), residual


# n_dead <= k_aux: every dead latent, dense; k_aux < n_dead <= 4 k_aux: dense, masked; beyond: sparse kernels
@pytest.mark.parametrize("n_dead,dense", [(12, True), (29, True), (90, False)])
@pytest.mark.parametrize("kind", ["sae", "transcoder", "skip"])
def test_auxk_equals_its_definition_with_many_dead_latents(kind, n_dead, dense):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(B, D_IN, generator=g)
    target = None if kind == "sae" else torch.randn(B, D_OUT, generator=g)
    dead = torch.randperm(D_SAE, generator=g)[:n_dead].sort().values
    assert T.dense_auxk(n_dead, min(K_AUX, n_dead)) is dense
    sae = _sae(kind)
    got, _ = _fast_auxk(sae, x, target, dead)
    got_grads = _grads(sae, got)
    ref = _reference_auxk(sae, x, target, dead)
    ref_grads = _grads(sae, ref)
    assert got.item() == pytest.approx(ref.item(), rel=1e-5)
    expected = {"W_encT", "b_enc", "W_dec"} | ({"b_dec"} if kind == "sae" else set())
    assert set(got_grads) == set(ref_grads) == expected
    for name in expected:
        torch.testing.assert_close(got_grads[name], ref_grads[name], atol=1e-7, rtol=1e-4, msg=name)


def test_dense_auxk_under_autocast_takes_exact_fp32_values():
    """Under autocast the encoder GEMM only chooses: the dense path recomputes the dead latents' values in fp32."""
    g = torch.Generator().manual_seed(3)
    x, dead = torch.randn(B, D_IN, generator=g), torch.randperm(D_SAE, generator=g)[:12].sort().values
    sae = _sae("sae")
    got, residual = _fast_auxk(sae, x, None, dead, autocast=torch.bfloat16)
    got_grads = _grads(sae, got)
    ref = _reference_auxk(sae, x, None, dead, residual)  # every dead latent chosen: no bf16 choice involved
    ref_grads = _grads(sae, ref)
    assert got.item() == pytest.approx(ref.item(), rel=1e-5)
    for name in ref_grads:
        torch.testing.assert_close(got_grads[name], ref_grads[name], atol=1e-7, rtol=1e-4, msg=name)


def test_auxk_without_dead_latents_or_weight_is_off():
    sae, x = _sae("sae"), torch.randn(8, D_IN)
    for ctx in (TrainContext(dead_idx=torch.zeros(0, dtype=torch.int64)),
                TrainContext(dead_idx=torch.arange(5), aux_coeff=0.0)):
        code, pre, x_c = T.encode_for_training(sae, x, ctx, T.select_topk(K))
        assert T.auxk_loss(sae, pre, x_c, T.reconstruction_sse(sae, x, x_c, code, ctx)[1], ctx) is None
