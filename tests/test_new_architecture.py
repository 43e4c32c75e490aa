"""Adding an architecture takes one module: a made-up SAE subclass, defined here and registered by
its class statement alone, trains through the ordinary TrainConfig/trainer path, saves, reloads with
load_sae, and is listed in ARCHS and in `saekit train --help`."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from saekit.sae import ARCHS, SAE, StepOutput, TrainContext, load_sae
from saekit.sae.options import L1Options
from saekit.sae.registry import ARCH_CLASSES
from saekit.train import ArraySource, TrainConfig, train

ARCH = "squared_relu"


@pytest.fixture
def squared_relu():
    """z = ReLU(pre)^2 with an L1 penalty (weighted by --l1), registered only while the test runs."""

    class SquaredReLUSAE(SAE, arch=ARCH, options=L1Options):
        def _encode_n(self, xn_BD: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.pre_acts(xn_BD)).square()

        def training_step(self, xn_BD: torch.Tensor, ctx: TrainContext) -> StepOutput:
            z = self._encode_n(xn_BD)
            target = xn_BD if ctx.target is None else ctx.target
            sse_rows = (target - self.reconstruct_n(z, xn_BD)).pow(2).sum(-1)
            loss = sse_rows.mean() + self.cfg.l1_coeff * z.sum(-1).mean()
            fired = (z.detach() > 0).sum(0)
            return StepOutput(loss, sse_rows.detach().sum(), int(fired.sum()), fired)

    yield SquaredReLUSAE
    del ARCH_CLASSES[ARCH]


def test_a_new_architecture_is_one_subclass_that_trains_saves_reloads_and_is_listed(squared_relu, tmp_path, capsys):
    from saekit.cli.main import main

    assert ARCH in ARCHS
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert f"| {ARCH}" in " ".join(capsys.readouterr().out.split())   # --arch's help lists it

    rng = np.random.default_rng(0)
    atoms = rng.normal(size=(24, 12)).astype(np.float32)
    codes = rng.random((3000, 24)) * (rng.random((3000, 24)) < 0.1)
    acts = (codes @ atoms).astype(np.float32)
    source = ArraySource({"h": acts})
    out = tmp_path / "sae"
    sae = train(TrainConfig(hook="h", arch=ARCH, tokens=30_000, batch_size=200, expansion=4, l1=1e-3, holdout=0.0,
                            lr=3e-3, out=str(out), device="cpu", progress=False), source=source)
    assert isinstance(sae, squared_relu) and sae.cfg.l1_coeff == 1e-3

    x = torch.from_numpy(acts[:500])
    fve = 1 - (sae(x) - x).pow(2).sum() / (x - x.mean(0)).pow(2).sum()
    assert fve > 0.8, fve                                          # it learnt the data

    again = load_sae(out)
    assert type(again) is squared_relu and again.cfg == sae.cfg
    torch.testing.assert_close(again.encode(x), sae.encode(x))


def test_an_architecture_cannot_take_a_built_in_name():
    from saekit.common.errors import SaekitError

    with pytest.raises(SaekitError, match="'topk' is the module saekit.sae.archs.topk"):
        class Impostor(SAE, arch="topk"):
            pass
    assert ARCH_CLASSES.get("topk") is None or ARCH_CLASSES["topk"].__name__ == "TopKSAE"
