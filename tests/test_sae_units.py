"""SAE module: raw-space encode/decode, sparse kernels == dense maths, arch-specific pieces, checkpoints."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from saekit.common.errors import SaekitError
from saekit.sae import load_sae, SAE, SAEConfig, TrainContext
from saekit.sae.archs.jumprelu import _JumpReLU, _Step
from saekit.sae.topk_training import select_batch_topk


# Small-matrix tests run faster and reproduce bit for bit on one thread.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _sae(arch="topk", d_in=16, d_sae=64, k=4, seed=0, **kw) -> SAE:
    sae = SAE.create(SAEConfig(arch=arch, d_in=d_in, d_sae=d_sae, k=k, hook="h", **kw), seed=seed)
    with torch.no_grad():  # break the W_enc = W_dec^T symmetry and give biases a value
        g = torch.Generator().manual_seed(seed + 1)
        sae.W_encT.add_(0.1 * torch.randn(sae.W_encT.shape, generator=g))
        sae.b_enc.copy_(0.05 * torch.randn(d_sae, generator=g))
        sae.b_dec.copy_(0.1 * torch.randn(d_in, generator=g))
    return sae


@pytest.mark.parametrize("arch", ["topk", "batchtopk", "matryoshka"])
def test_sparse_kernels_match_dense_autograd(arch):
    x = torch.randn(64, 16)
    grads, losses = [], []
    for sparse in (True, False):
        sae = _sae(arch, matryoshka_prefixes=(8, 32, 64) if arch == "matryoshka" else ())
        ctx = TrainContext(dead_idx=torch.arange(0, 64, 3), k_aux=5, sparse_kernels=sparse)
        out = sae.training_step(x, ctx)
        out.loss.backward()
        assert out.aux_loss is not None and out.aux_loss > 0
        losses.append(out.loss.item())
        grads.append({n: p.grad.clone() for n, p in sae.named_parameters()})
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-5, msg=name)


def test_encode_decode_in_raw_space_with_scale_normalisation():
    sae = _sae("topk", normalization="scale", norm_scale=0.25)
    x = torch.randn(10, 16) * 4
    z = sae.encode(x)
    assert z.shape == (10, 64) and ((z != 0).sum(1) <= 4).all()
    # by hand: normalise, encode, decode, undo
    xn = x * 0.25
    pre = (xn - sae.b_dec) @ sae.W_enc + sae.b_enc
    vals, idx = pre.topk(4, dim=1)
    z_ref = torch.zeros_like(pre).scatter(1, idx, vals.relu())
    torch.testing.assert_close(z, z_ref)
    x_hat_ref = (z_ref @ sae.W_dec + sae.b_dec) / 0.25
    torch.testing.assert_close(sae.decode(z), x_hat_ref)
    torch.testing.assert_close(sae(x), x_hat_ref)
    idx_s, val_s = sae.encode_sparse(x)
    assert idx_s.shape == (10, 4)
    torch.testing.assert_close(torch.zeros_like(z).scatter(1, idx_s, val_s), z)
    # leading dimensions are kept
    assert sae(x.reshape(2, 5, 16)).shape == (2, 5, 16)


def test_layernorm_normalisation_needs_the_input_to_undo():
    sae = _sae("relu", normalization="layernorm")
    x = torch.randn(6, 16) * 3 + 2
    z = sae.encode(x)
    with pytest.raises(SaekitError, match="decode\\(z, x=x\\)"):
        sae.decode(z)
    mu, sd = x.mean(-1, keepdim=True), ((x - x.mean(-1, keepdim=True)).pow(2).mean(-1, keepdim=True) + 1e-5).sqrt()
    ref = (z @ sae.W_dec + sae.b_dec) * sd + mu
    torch.testing.assert_close(sae.decode(z, x=x), ref)
    torch.testing.assert_close(sae(x), ref)


def test_variable_l0_encode_sparse_pads_with_zeros():
    sae = _sae("relu")
    x = torch.randn(5, 16)
    z = sae.encode(x)
    idx, val = sae.encode_sparse(x)
    assert idx.shape[1] == int((z != 0).sum(1).max())
    torch.testing.assert_close(torch.zeros_like(z).scatter_add(1, idx, val), z)


def test_batch_topk_selection_is_exact_including_the_fallback():
    g = torch.Generator().manual_seed(0)
    pre = torch.randn(32, 200, generator=g)
    pre[3] += 10  # row 3 owns far more than 4k of the batch's top B*k entries: forces the exact fallback
    for p in (pre, torch.randn(32, 200, generator=g)):
        crow, col, chosen = select_batch_topk(5)(p)
        rows = torch.repeat_interleave(torch.arange(32), crow.diff())
        assert torch.equal(chosen, p[rows, col])
        got = set(zip(rows.tolist(), col.tolist()))
        flat = p.reshape(-1).topk(32 * 5).indices
        want = {(int(i) // 200, int(i) % 200) for i in flat if p.reshape(-1)[i] > 0}
        assert got == want


def test_batchtopk_threshold_is_an_ema_of_min_active_and_used_at_inference():
    sae = _sae("batchtopk")
    x = torch.randn(128, 16)
    out = sae.training_step(x, TrainContext())
    m1 = float(out.min_active)
    assert m1 == pytest.approx(float(out_min(sae, x)))
    sae.after_step(out)
    assert float(sae.threshold) == pytest.approx(m1)
    out.min_active = torch.tensor(m1 + 1.0)
    sae.after_step(out)
    assert float(sae.threshold) == pytest.approx(m1 + 0.01)         # theta <- 0.99 theta + 0.01 m
    pre = sae.pre_acts(x)
    z = sae.encode(x)
    torch.testing.assert_close(z, torch.where(pre > sae.threshold, pre, torch.zeros_like(pre)))


def out_min(sae, x):
    pre = sae.pre_acts(x).detach()
    top = pre.reshape(-1).topk(128 * sae.cfg.k).values
    return top[top > 0].min()


def test_matryoshka_loss_is_the_mean_of_nested_prefix_losses():
    sae = _sae("matryoshka", matryoshka_prefixes=(8, 32, 64))
    x = torch.randn(32, 16)
    out = sae.training_step(x, TrainContext(aux_coeff=0.0))
    pre = sae.pre_acts(x).detach()
    flat = pre.reshape(-1)
    top = flat.topk(32 * 4).indices
    z = torch.zeros_like(flat)
    z[top] = flat[top].relu()
    z = z.view(32, 64)
    losses = [((x - (z[:, :e] @ sae.W_dec[:e] + sae.b_dec)) ** 2).sum(-1).mean() for e in (8, 32, 64)]
    assert out.loss.item() == pytest.approx(torch.stack(losses).mean().item(), rel=1e-5)


def test_jumprelu_straight_through_gradients_follow_the_rectangle_kernel():
    theta = torch.tensor([1.0, 1.0, 1.0], requires_grad=True)
    pre = torch.tensor([[0.98, 1.2, 1.03]], requires_grad=True)
    eps = 0.1
    out = _JumpReLU.apply(pre, theta, eps)
    assert out.tolist() == [[0.0, pytest.approx(1.2), pytest.approx(1.03)]]
    out.sum().backward()
    # d/dtheta = -(theta/eps) * 1[|pre - theta| < eps/2]: the first and third are inside the window
    torch.testing.assert_close(theta.grad, torch.tensor([-10.0, 0.0, -10.0]))
    torch.testing.assert_close(pre.grad, torch.tensor([[0.0, 1.0, 1.0]]))
    theta.grad = None
    _Step.apply(pre, theta, eps).sum().backward()
    torch.testing.assert_close(theta.grad, torch.tensor([-10.0, 0.0, -10.0]))


def test_relu_decoder_norm_folding_keeps_the_function():
    sae = _sae("relu", l1_decoder_norm=True)
    with torch.no_grad():
        sae.W_dec.mul_(torch.linspace(0.5, 2.0, 64)[:, None])
    x = torch.randn(8, 16)
    before = sae(x)
    sae.fold_decoder_norms()
    torch.testing.assert_close(sae(x), before, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(64))


@pytest.mark.parametrize("arch", ["relu", "topk", "batchtopk", "jumprelu", "matryoshka"])
def test_checkpoint_round_trip(arch, tmp_path):
    sae = _sae(arch)
    if arch == "batchtopk":
        sae.threshold.fill_(0.3)
    sae.save(tmp_path)
    loaded = load_sae(tmp_path)
    assert type(loaded) is type(sae) and loaded.cfg == sae.cfg
    x = torch.randn(7, 16)
    torch.testing.assert_close(loaded(x), sae(x))
    assert load_file(str(tmp_path / "weights.safetensors"))["W_enc"].shape == (16, 64)


def test_bad_checkpoints_and_configs_are_one_line_errors(tmp_path):
    sae = _sae("topk")
    sae.save(tmp_path / "ok")
    w = load_file(str(tmp_path / "ok" / "weights.safetensors"))
    cfg = json.loads((tmp_path / "ok" / "config.json").read_text())

    def variant(name, tensors=None, config=None):
        d = tmp_path / name
        d.mkdir()
        save_file(tensors if tensors is not None else w, str(d / "weights.safetensors"))
        (d / "config.json").write_text(json.dumps(config if config is not None else cfg))
        return d

    cases = {
        "missing": (variant("missing", tensors={k: v for k, v in w.items() if k != "b_dec"}), "missing tensors \\['b_dec'\\]"),
        "shape": (variant("shape", tensors={**w, "W_dec": torch.zeros(64, 15)}), "W_dec has shape \\[64, 15\\]"),
        "arch": (variant("arch", config={**cfg, "arch": "sparse9"}), "unknown SAE architecture 'sparse9'"),
        "extra": (variant("extra", tensors={**w, "junk": torch.zeros(1)}), "unexpected tensors \\['junk'\\]"),
    }
    for name, (path, pattern) in cases.items():
        with pytest.raises(SaekitError, match=pattern) as info:
            load_sae(path)
        assert "\n" not in str(info.value), name
    with pytest.raises(SaekitError, match="nowhere does not exist"):
        load_sae(tmp_path / "nowhere")
    (tmp_path / "nowts").mkdir()
    (tmp_path / "nowts" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(SaekitError, match="weights.safetensors not found"):
        load_sae(tmp_path / "nowts")


def test_config_validation():
    with pytest.raises(SaekitError, match="k=64 must be smaller than the SAE width d_sae=64"):
        SAEConfig(arch="topk", d_in=16, d_sae=64, k=64)
    with pytest.raises(SaekitError, match="unknown SAE architecture 'foo'"):
        SAEConfig(arch="foo", d_in=16, d_sae=64)
    with pytest.raises(SaekitError, match="positive integer"):
        SAEConfig(arch="batchtopk", d_in=16, d_sae=64)
    assert SAEConfig(arch="matryoshka", d_in=8, d_sae=256, k=4).matryoshka_prefixes == (16, 32, 64, 128, 256)
    assert np.isfinite(SAEConfig(arch="relu", d_in=8, d_sae=16).l1_coeff)


@pytest.mark.parametrize("arch", ["relu", "topk", "batchtopk", "jumprelu", "matryoshka", "gated"])
def test_load_skips_the_random_init_and_gives_the_saved_tensors_bit_for_bit(tmp_path, arch, monkeypatch):
    cfg = SAEConfig(arch=arch, d_in=12, d_sae=48, k=4)
    sae = SAE.create(cfg, seed=3)
    with torch.no_grad():  # every state tensor away from its init, so a missed copy would show
        for t in sae.state_dict().values():
            t.add_(torch.rand(t.shape, generator=torch.Generator().manual_seed(t.numel())) + 0.25)
    sae.save(tmp_path / "sae")

    def no_init(self, gen):
        raise AssertionError("SAE.load ran the random init")

    monkeypatch.setattr(type(sae), "reset_parameters", no_init)
    back = load_sae(tmp_path / "sae")
    assert type(back) is type(sae)
    before, after = sae.state_dict(), back.state_dict()
    assert before.keys() == after.keys()
    for name, t in before.items():
        assert after[name].device.type == "cpu" and torch.equal(after[name], t), name
