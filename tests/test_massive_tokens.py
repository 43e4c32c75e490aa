"""Massive-activation tokens: the capture rule, its record in store and checkpoint, splicing, the
dominating-rows warning and the row-normalised headline FVE."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from saekit.capture import CaptureConfig, capture
from saekit.capture.massive import MassiveTokenRule, resolve_rule, rule_from_record
from saekit.cli.main import main as cli
from saekit.common.errors import SaekitError
from saekit.eval.downstream import _splice
from saekit.eval.reconstruction import evaluate
from saekit.models import load_model
from saekit.sae import load_sae, SAE, SAEConfig
from saekit.train.config import TrainConfig
from saekit.train.data import ArraySource
from saekit.train.trainer import train
from stores import ActivationStore
from stores.dominance import dominance_of, dominance_warning, row_dominance

HOOK = "blocks.1.hook_resid_post"


def test_rule_drops_first_position_and_rows_far_above_the_median():
    acts = torch.ones(2, 5, 4)            # every row has norm 2
    acts[0, 0] *= 1000                    # a sink at the first position
    acts[1, 3] *= 50                      # an outlier in the middle: norm 100 > 10 x 2
    acts[1, 2] *= 9                       # norm 18 < 20: kept
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[1, 4] = False                    # padding stays out
    keep = MassiveTokenRule().keep_mask(acts, mask)
    expected = torch.tensor([[0, 1, 1, 1, 1], [0, 1, 1, 0, 0]], dtype=torch.bool)
    assert torch.equal(keep, expected)
    assert torch.equal(MassiveTokenRule(first_position=False, norm_ratio=None).keep_mask(acts, mask), mask)


def test_policy_resolution_and_records():
    assert resolve_rule("auto", "text") == MassiveTokenRule()
    assert resolve_rule("auto", "image") is None and resolve_rule("keep", "text") is None
    assert resolve_rule("drop", "image", 5.0) == MassiveTokenRule(norm_ratio=5.0)
    with pytest.raises(SaekitError, match="--massive-tokens 'nope'"):
        resolve_rule("nope", "text")
    with pytest.raises(SaekitError, match="--massive-norm-ratio must be above 1"):
        CaptureConfig(model="random:gpt2", data="x", hooks=(HOOK,), out="o.h5", massive_norm_ratio=0.5)
    assert rule_from_record({"policy": "keep"}) is None and rule_from_record(None) is None
    assert rule_from_record({"policy": "drop", "first_position": True, "norm_ratio": 7}) == MassiveTokenRule(True, 7.0)


@pytest.fixture(scope="module")
def gpt2():
    return load_model("random:gpt2")


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    path = tmp_path_factory.mktemp("txt") / "lines.txt"
    path.write_text("\n".join(f"the cat number {i} sat on the mat and looked around" for i in range(12)) + "\n")
    return path


def _capture(gpt2, texts, out, **kw):
    capture(CaptureConfig(model="random:gpt2", data=str(texts), hooks=(HOOK,), out=str(out), batch_size=4,
                          tokens="all", progress=False, **kw), model=gpt2)
    with ActivationStore.open(out) as s:
        return s.read_index(HOOK, 0, s.n_rows(HOOK))[1], dict(s.attrs)


def test_capture_default_leaves_out_the_first_position_and_records_the_rule(gpt2, texts, tmp_path):
    pos_default, attrs = _capture(gpt2, texts, tmp_path / "default.h5")
    pos_keep, attrs_keep = _capture(gpt2, texts, tmp_path / "keep.h5", massive_tokens="keep")
    assert 0 not in set(pos_default.tolist()) and 0 in set(pos_keep.tolist())
    assert len(pos_keep) - len(pos_default) == 12            # one first position per sample (random model: no outliers)
    assert attrs["massive_tokens"] == {"policy": "drop", "requested": "auto", "first_position": True, "norm_ratio": 10.0}
    assert attrs_keep["massive_tokens"] == {"policy": "keep", "requested": "keep"}

    sae = train(TrainConfig(hook=HOOK, arch="topk", k=4, expansion=2, tokens=512, batch_size=64,
                            out=str(tmp_path / "sae"), store=str(tmp_path / "default.h5"), progress=False, device="cpu"))
    assert sae.cfg.skip_first_position is True and sae.cfg.massive_norm_ratio == 10.0
    assert load_sae(tmp_path / "sae").cfg.skip_first_position is True       # recorded in the checkpoint


def _tiny_sae(**kw) -> SAE:
    return SAE.create(SAEConfig(arch="topk", d_in=4, d_sae=8, k=2, **kw), seed=0)


def test_splice_leaves_massive_tokens_clean():
    acts = torch.ones(1, 4, 4)
    acts[0, 2] *= 100
    spliced = _splice(_tiny_sae(skip_first_position=True, massive_norm_ratio=10.0), None, "zero")(acts)
    assert torch.equal(spliced[0, 0], acts[0, 0]) and torch.equal(spliced[0, 2], acts[0, 2])
    assert float(spliced[0, 1].abs().sum()) == 0 and float(spliced[0, 3].abs().sum()) == 0
    assert float(_splice(_tiny_sae(), None, "zero")(acts).abs().sum()) == 0     # old checkpoints: every token


def test_dominance_names_the_rows_that_carry_the_squared_norm():
    norms = np.full(1000, 2.0)
    norms[::100] = 300.0                                        # 1% of rows
    pos = np.arange(1000) % 100
    rep = dominance_of(norms, np.arange(1000) // 100, pos)
    assert rep["n_dominant"] == 10 and rep["positions"] == {0: 10}
    assert rep["share_sq_norm"] == pytest.approx(10 * 300**2 / (10 * 300**2 + 990 * 4))
    assert rep["dominated"] and rep["examples"][0]["position"] == 0
    msg = dominance_warning("h", rep)
    assert "10 rows (1% of 1000 read)" in msg and "position 0: 10 rows" in msg
    flat = dominance_of(np.full(100, 2.0), np.arange(100), np.arange(100))
    assert not flat["dominated"] and dominance_warning("h", flat) is None


def test_row_dominance_norms_stay_finite_for_rows_whose_float32_square_overflows():
    a = np.ones((300, 4), np.float32)
    a[7] = 3e20  # finite in float32; its squared norm is not
    rep = row_dominance(ArraySource({"h": a}), "h")
    assert rep["n_rows_read"] == 300 and rep["n_dominant"] == 1
    assert rep["examples"][0]["norm"] == pytest.approx(6e20, rel=1e-6)
    assert rep["median_norm"] == pytest.approx(2.0)


def _sink_source(n: int = 400, d: int = 8) -> tuple[ArraySource, np.ndarray]:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n, d)).astype(np.float32)
    a[::50] *= 500
    return ArraySource({"h": a}), a


def test_train_warns_about_a_dominated_store(tmp_path, caplog):
    src, _ = _sink_source()
    assert row_dominance(src, "h")["dominated"]
    with caplog.at_level(logging.WARNING, logger="saekit.train.member"):
        train(TrainConfig(hook="h", arch="topk", k=2, expansion=2, tokens=256, batch_size=64, out=str(tmp_path / "s"),
                          progress=False, device="cpu"), source=src)
    assert any("above 10x the median norm" in r.getMessage() for r in caplog.records)


def test_store_info_prints_the_warning(gpt2, texts, tmp_path, capsys):
    out = tmp_path / "w.h5"
    with ActivationStore.create(out, {"h": 4}, dtype="float32") as w:
        a = np.ones((100, 4), np.float32)
        a[::20] *= 1000
        w.add_samples(np.arange(5), [{"text": str(i)} for i in range(5)])
        w.append("h", a, np.repeat(np.arange(5), 20), np.tile(np.arange(20, dtype=np.int32), 5))
        w.commit()
    assert cli(["store", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "WARNING hook 'h': 5 rows" in text and "position 0: 5 rows" in text


def test_fve_rownorm_is_not_dominated_by_a_few_rows():
    """A zero SAE (x_hat = 0) explains nothing: on unit rows FVE is 1 - n / sum_i ||u_i - mean u||^2
    exactly, whatever the rows' norms, while the pooled FVE moves when one row is scaled up."""
    rng = np.random.default_rng(1)
    a = (rng.normal(size=(200, 4)) + 0.5).astype(np.float32)
    sae = _tiny_sae()
    with torch.no_grad():
        for p in sae.parameters():
            p.zero_()
    a64 = a.astype(np.float64)
    u = a64 / np.linalg.norm(a64, axis=1, keepdims=True)
    expected = 1 - len(u) / ((u - u.mean(0)) ** 2).sum()
    res = evaluate(sae, ArraySource({"h": a}), hook="h")
    scaled = a.copy()
    scaled[0] *= 1000
    res_scaled = evaluate(sae, ArraySource({"h": scaled}), hook="h")
    assert res["fve_rownorm"] == pytest.approx(expected, rel=1e-9)
    assert res_scaled["fve_rownorm"] == pytest.approx(expected, rel=1e-6)
    assert abs(res_scaled["fve"] - res["fve"]) > 0.1
