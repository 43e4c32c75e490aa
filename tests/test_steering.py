"""Steering with a PLANTED SAE feature whose decoder direction drives a known output.

Vision: random:vit (10-class head). At ln_final.hook_normalized the head is linear in the CLS
activation, so a latent whose decoder row is the class-c weight (made orthogonal to the test
images' CLS activations, so the latent is silent on them) moves logit c by exactly
strength * value * (W_c . d). LLM: random:gpt2, the latent's decoder row is the unembedding
direction of one byte token.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from saekit.analysis import steering as st
from saekit.common.errors import SaekitError
from saekit.sae import SAE, SAEConfig

HOOK = "ln_final.hook_normalized"
CLASS = 3


def planted_sae(direction: torch.Tensor, hook: str = HOOK, d_sae: int = 8, normalization: str = "none",
                norm_scale: float = 1.0) -> SAE:
    d = direction.numel()
    sae = SAE.create(SAEConfig(arch="relu", d_in=d, d_sae=d_sae, hook=hook, normalization=normalization,
                               norm_scale=norm_scale), seed=0)
    with torch.no_grad():
        u = direction / direction.norm()
        sae.W_dec[0] = u
        sae.W_encT[0] = u
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae.eval()


@pytest.fixture(scope="module")
def vision():
    from PIL import Image

    from saekit.data import Sample
    from saekit.models import load_model

    torch.manual_seed(0)
    m = load_model("random:vit", device="cpu")
    rng = np.random.default_rng(0)
    samples = [Sample(id=i, source=f"img{i}", image=Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)))
               for i in range(4)]
    inputs = m.prepare(samples)
    x_cls = m.capture(inputs, [HOOK])[HOOK][:, 0].float()                 # [B, d]
    w = m.module.classifier.weight[CLASS].detach().float()
    q, _ = torch.linalg.qr(x_cls.T)                                      # span of the CLS activations
    direction = w - q @ (q.T @ w)                                        # orthogonal to it: latent silent
    sae = planted_sae(direction)
    gain = float(w @ (direction / direction.norm()))                     # d logit_c / d (latent value)
    return m, inputs, sae, gain, m.module.classifier.weight.detach().float() @ (direction / direction.norm())


def test_add_moves_the_class_logit_linearly_and_monotonically(vision):
    m, inputs, sae, gain, _ = vision
    res = st.dose_response(m, HOOK, sae, 0, inputs, strengths=[0, 1, 2, 4], mode="add", value=1.5,
                           readout=st.class_logit_readout(CLASS))
    assert gain > 0.05
    assert res.monotonic() and res.rows[-1].delta > res.rows[1].delta > 0
    for row in res.rows:
        assert row.delta == pytest.approx(row.strength * 1.5 * gain, rel=1e-3, abs=1e-4)


def test_a_given_baseline_replaces_the_unsteered_run(vision):
    m, inputs, sae, _, _ = vision
    readout = st.class_logit_readout(CLASS)
    runs = []
    with m.hooks({HOOK: lambda a: runs.append(1) or a}):
        fresh = st.dose_response(m, HOOK, sae, 0, inputs, strengths=[0, 2], mode="add", value=1.5, readout=readout)
        n_fresh = len(runs)
        given = st.dose_response(m, HOOK, sae, 0, inputs, strengths=[0, 2], mode="add", value=1.5, readout=readout,
                                 baseline=readout(m.forward(inputs)))
    assert n_fresh == 3 and len(runs) - n_fresh == 1 + 2  # the caller's own run, then one per strength
    assert given.rows == fresh.rows and (given.hook, given.value, given.baseline) == (fresh.hook, fresh.value, fresh.baseline)


def test_clamp_keeps_the_error_term(vision):
    m, inputs, sae, gain, gains_all = vision
    base = m.forward(inputs)
    with st.steer(m, HOOK, sae, {0: 2.0}, strength=1.5):                 # default mode: clamp
        out = m.forward(inputs)
    # the latent is silent on these images, so clamping to 3.0 adds exactly 3.0 * d: every class
    # logit moves by 3.0 * (W_k . d) and nothing else changes (the SAE's reconstruction error is kept)
    assert torch.allclose(out - base, (3.0 * gains_all)[None].expand_as(out), atol=1e-4)
    res = st.dose_response(m, HOOK, sae, 0, inputs, strengths=[0, 1, 2, 4], value=2.0,
                           readout=st.class_logit_readout(CLASS))
    assert res.monotonic() and res.effects[0] == pytest.approx(res.baseline, abs=1e-5)
    assert [round(d / (2.0 * gain), 3) for d in (r.delta for r in res.rows)] == [0.0, 1.0, 2.0, 4.0]


def test_ablate_removes_the_feature_effect(vision):
    m, inputs, sae, gain, _ = vision
    base = m.forward(inputs)[:, CLASS]
    with st.steer(m, HOOK, sae, {0: 1.0}, mode="add", strength=3.0):
        present = m.forward(inputs)[:, CLASS]
        with st.steer(m, HOOK, sae, [0], mode="ablate"):
            ablated = m.forward(inputs)[:, CLASS]
    assert torch.all(present - base > 2.9 * gain)
    assert torch.allclose(ablated, base, atol=1e-4)
    with st.steer(m, HOOK, sae, [0], mode="ablate"):                    # absent feature: nothing to remove
        assert torch.allclose(m.forward(inputs)[:, CLASS], base, atol=1e-5)


def test_positions_restrict_the_edit(vision):
    m, inputs, sae, gain, _ = vision
    base = m.forward(inputs)
    with st.steer(m, HOOK, sae, {0: 5.0}, mode="add", positions=[1, 2, -1]):   # patches only: head reads CLS
        assert torch.allclose(m.forward(inputs), base, atol=1e-5)
    for pos in ([0], slice(0, 1)):
        with st.steer(m, HOOK, sae, {0: 5.0}, mode="add", positions=pos):
            assert float((m.forward(inputs) - base)[:, CLASS].mean()) == pytest.approx(5.0 * gain, rel=1e-3)


def test_edit_matches_the_formula_for_every_normalisation():
    torch.manual_seed(0)
    x = torch.randn(3, 5, 16) * 4
    for norm, scale in (("none", 1.0), ("scale", 0.25), ("layernorm", 1.0)):
        sae = planted_sae(torch.randn(16), hook="h", normalization=norm, norm_scale=scale)
        # clamping a latent to its own value changes nothing (error term kept)
        one = x[:1, :1]
        z = sae.encode(one.reshape(1, 16))[0, 0].item()
        same = st.steer_activations(one, sae, st.SteerSpec("h", ((0, z),), "clamp"))
        assert torch.allclose(same, one, atol=1e-4)
        ablated = st.steer_activations(x, sae, st.SteerSpec("h", ((0, 0.0),), "ablate"))
        before = sae.encode(x.reshape(-1, 16))[:, 0].detach()
        after = sae.encode(ablated.reshape(-1, 16))[:, 0].detach()
        assert before.max() > 0.5
        if norm == "layernorm":
            # removing the direction changes the row's own std, so re-encoding is not exactly 0
            assert float(after.max()) < 0.1 * float(before.max())
        else:
            assert torch.allclose(after, torch.zeros(15), atol=1e-4)
    sae = planted_sae(torch.randn(16), hook="h", normalization="scale", norm_scale=0.25)
    added = st.steer_activations(x, sae, st.SteerSpec("h", ((0, 2.0),), "add", strength=3.0))
    assert torch.allclose(added - x, (6.0 * sae.W_dec[0] / 0.25).detach().expand_as(x), atol=1e-4)


def test_bad_input_one_line_errors(vision):
    m, inputs, sae, _, _ = vision
    with pytest.raises(SaekitError, match=r"latent index 8 is out of range .*d_sae=8"):
        with st.steer(m, HOOK, sae, {8: 1.0}):
            pass
    other = planted_sae(torch.randn(64), hook="blocks.0.hook_resid_post")
    with pytest.raises(SaekitError, match="trained on hook 'blocks.0.hook_resid_post'"):
        with st.steer(m, HOOK, other, {0: 1.0}):
            pass
    narrow = planted_sae(torch.randn(32))
    with pytest.raises(SaekitError, match="width 64 but the SAE expects d_in=32"):
        with st.steer(m, HOOK, narrow, {0: 1.0}):
            m.forward(inputs)
    with pytest.raises(SaekitError, match="mode 'boost'"):
        with st.steer(m, HOOK, sae, {0: 1.0}, mode="boost"):
            pass


# ----------------------------------------------------------------------------- language model


@pytest.fixture(scope="module")
def lm():
    from saekit.models import load_model

    torch.manual_seed(0)
    m = load_model("random:gpt2", device="cpu")
    W_U = m.bridge.W_U.detach().float()                                  # [d, vocab]
    z_id = m.tokenizer("z", add_special_tokens=False)["input_ids"][-1]
    direction = W_U[:, z_id] - W_U.mean(1)
    return m, planted_sae(direction), z_id


def test_llm_generation_and_concept_logprob_follow_the_feature(lm, tmp_path):
    m, sae, z_id = lm
    prompts = ["the cat sat on", "once upon a time"]
    base = st.concept_logprob(m, prompts, "zz", leading_space=False)
    inputs = m.prepare([__import__("saekit.data", fromlist=["Sample"]).Sample(0, "p", text=prompts[0])])
    res = st.dose_response(m, HOOK, sae, 0, inputs, strengths=[0, 4, 8, 16], mode="add", value=1.0,
                           effect_fn=lambda: st.concept_logprob(m, prompts, "zz", leading_space=False),
                           effect_name="log p(zz)")
    assert res.rows[0].effect == pytest.approx(float(base.mean()), abs=1e-4)
    assert res.monotonic() and res.rows[-1].delta > res.rows[1].delta > 1.0
    plain = st.greedy_generate(m, prompts[0], max_new_tokens=8)
    with st.steer(m, HOOK, sae, {0: 1.0}, mode="add", strength=16.0):
        steered = st.greedy_generate(m, prompts[0], max_new_tokens=8)
    assert steered == "z" * 8 and plain != steered
    paths = res.save(tmp_path)
    assert (tmp_path / paths.html).stat().st_size > 0 and (tmp_path / paths.png).read_bytes()[:4] == b"\x89PNG"


def test_cli_steer_llm_and_bad_input(lm, tmp_path, capsys):
    from saekit.cli.main import main

    _, sae, _ = lm
    sae_dir = tmp_path / "sae"
    sae.save(sae_dir)
    out = tmp_path / "out"
    rc = main(["steer", "--model", "random:gpt2", "--sae", str(sae_dir), "--latent", "0", "--mode", "add",
               "--value", "1", "--strengths", "0,8,16", "--prompt", "the cat sat on", "--concept", "z",
               "--max-new-tokens", "4", "--out", str(out), "--device", "cpu"])
    assert rc == 0
    doc = json.loads((out / "steer.json").read_text())
    assert doc["kind"] == "steer" and [r["strength"] for r in doc["rows"]] == [0.0, 8.0, 16.0]
    assert doc["rows"][-1]["generation"] == "zzzz" and doc["rows"][-1]["delta"] > doc["rows"][1]["delta"] > 0
    assert (out / "dose_response.png").is_file() and (out / "dose_response.html").is_file() and (out / "index.html").is_file()
    capsys.readouterr()
    for extra, needle in ((["--latent", "99"], "out of range"),
                          (["--latent", "0", "--hook", "blocks.0.hook_resid_post"], "differs from the hook the SAE was trained on")):
        rc = main(["steer", "--model", "random:gpt2", "--sae", str(sae_dir), *extra, "--prompt", "hi",
                   "--out", str(tmp_path / "bad"), "--device", "cpu"])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and needle in err and "\n" not in err
    narrow = planted_sae(torch.randn(32))
    narrow.save(tmp_path / "narrow")
    rc = main(["steer", "--model", "random:gpt2", "--sae", str(tmp_path / "narrow"), "--latent", "0", "--prompt", "hi",
               "--out", str(tmp_path / "bad"), "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "width 64 but the SAE expects d_in=32" in err
    assert not (tmp_path / "bad" / "steer.json").exists()
