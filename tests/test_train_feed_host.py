"""The CPU feed's host-side economies: reused batch buffers, the NaN/Inf check through the step's loss
(and the one-pass row check that names the rows), rows widened by the step's own normalisation, one
shared b_dec init."""
from __future__ import annotations

import numpy as np
import torch

from saekit.train import ArraySource, TrainConfig, train_sweep
import pytest

from saekit.common.errors import SaekitError
from saekit.sae import SAE, TrainContext
from saekit.sae.config import ARCH_CLASSES, ARCHS, NORMALIZATIONS, SAEConfig
from saekit.sae.normalization import normalize, normalize_float32
from saekit.train.feed import HostBuffers, check_rows


def test_host_buffers_are_reused_only_when_nothing_holds_the_batch():
    bufs = HostBuffers(keep=4)
    a = bufs.get((4, 3))
    a.fill_(1.0)
    b = bufs.get((4, 3))
    assert a.data_ptr() != b.data_ptr()  # a is alive: never handed out twice
    ptr = a.data_ptr()
    view = a[1:]
    del a
    assert bufs.get((4, 3)).data_ptr() != ptr  # a view of it is still alive
    del view
    assert bufs.get((4, 3)).data_ptr() == ptr  # now free: reused


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_the_row_check_names_nan_and_inf_rows_and_passes_huge_finite_values(dtype):
    t = torch.from_numpy(np.random.default_rng(0).standard_normal((2500, 5)).astype(np.float32)).to(dtype)
    check_rows(t, None, "here")
    if dtype != torch.float16:
        t[7] = 3e38  # finite, but a float32 sum of the batch would overflow
        check_rows(t, None, "here")
    for bad in (float("nan"), float("inf"), -float("inf")):
        u = t.clone()
        u[1700, 2] = bad
        u[2100, 0] = bad
        with pytest.raises(SaekitError, match=r"here holds NaN or Inf activations \(2 bad rows\), first: 1700, 2100"):
            check_rows(u, None, "here")


@pytest.mark.parametrize("arch", ARCHS)
def test_one_nan_or_inf_anywhere_in_a_batch_makes_every_architectures_training_loss_non_finite(arch):
    """What the CPU feed's check relies on: the step tests its loss, not the rows."""
    torch.manual_seed(0)
    for normalization in NORMALIZATIONS:
        cfg = SAEConfig(arch=arch, d_in=16, d_sae=64, k=4 if ARCH_CLASSES[arch].selects_top_k else None, normalization=normalization)
        sae = SAE.create(cfg, seed=0).train()
        for dtype, autocast, sparse in ((torch.float16, None, True), (torch.bfloat16, torch.bfloat16, False),
                                        (torch.float32, None, False)):
            ctx = TrainContext(k_aux=8, sparse_kernels=sparse, autocast_dtype=autocast, dead_idx=torch.arange(10))
            x = torch.randn(32, 16).to(dtype)
            assert torch.isfinite(sae.training_step(normalize_float32(cfg, x), ctx).loss)
            for bad in (float("nan"), float("inf"), -float("inf")):
                for row, col in ((0, 0), (31, 15), (7, 3)):
                    y = x.clone()
                    y[row, col] = bad
                    loss = sae.training_step(normalize_float32(cfg, y), ctx).loss
                    assert not torch.isfinite(loss), (normalization, dtype, bad, row, col)


@pytest.mark.parametrize("normalization", ["scale", "layernorm", "none"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_the_step_widens_fed_rows_to_exactly_the_float32_normalisation(normalization, dtype):
    cfg = SAEConfig(arch="topk", d_in=5, d_sae=10, k=2, normalization=normalization, norm_scale=0.37)
    x = torch.randn(64, 5).to(dtype)
    got = normalize_float32(cfg, x)
    assert got.dtype == torch.float32
    assert torch.equal(got, normalize(cfg, x.float())[0])
    f = x.float()
    before = f.clone()
    normalize_float32(cfg, f)
    assert torch.equal(f, before)  # float32 rows are never scaled in place


def test_a_sweep_reads_one_b_dec_sample_for_all_members(tmp_path):
    X = np.random.default_rng(0).standard_normal((2048, 8)).astype(np.float32)

    class Counting(ArraySource):
        sample_reads = 0

        def iter_batches(self, hook, batch_size, **kw):
            if batch_size == 2048:  # the b_dec sample (gm_sample rows); training batches are 256
                Counting.sample_reads += 1
            return super().iter_batches(hook, batch_size, **kw)

    cfg = TrainConfig(hook="h", arch="topk", k=2, d_sae=24, tokens=512, batch_size=256, progress=False,
                      out=str(tmp_path), gm_sample=2048, holdout=0.0, sweep=("k=2,3,4",))
    assert len(train_sweep(cfg, Counting({"h": X}))) == 3
    assert Counting.sample_reads == 1
