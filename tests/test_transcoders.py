"""Transcoders, skip transcoders and crosscoders: hooks, aligned capture, training, evaluation."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from saekit.common.errors import SaekitError
from saekit.models import load_model
from saekit.models.base import HookedModel
from saekit.sae import load_sae, SAE
from saekit.train import ArraySource, TrainConfig, train
from saekit.train.paired import PairedRows
from interrupted_training import interrupted_then_resumed

NEW_HOOKS = ("ln2.hook_normalized", "hook_mlp_in", "hook_mlp_out", "hook_attn_out")


@pytest.fixture(scope="module")
def gpt2():
    return load_model("random:gpt2")


# ---- hooks ----------------------------------------------------------------------------------------
def test_llm_mlp_hooks_read_plainly_equal_the_bridge(gpt2):
    inputs = gpt2.tokenize(["the cat sat on the mat", "a"])
    hooks = [f"blocks.1.{h}" for h in NEW_HOOKS] + ["blocks.1.hook_resid_mid", "blocks.1.hook_resid_post"]
    assert all(h in gpt2.hook_names() for h in hooks)
    fast = gpt2.capture(inputs, hooks)  # plain transformers modules (saekit/models/hf_layers.py)
    bridge = HookedModel.capture(gpt2, inputs, hooks)  # the TransformerBridge's HookPoints
    for h in hooks:
        torch.testing.assert_close(fast[h], bridge[h], atol=2e-6, rtol=1e-5, msg=h)
    # the block adds what the MLP writes to what it received: resid_post = resid_mid + mlp_out
    torch.testing.assert_close(fast["blocks.1.hook_resid_mid"] + fast["blocks.1.hook_mlp_out"],
                               fast["blocks.1.hook_resid_post"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast["blocks.1.hook_mlp_in"], fast["blocks.1.hook_resid_mid"])


@pytest.fixture(scope="module")
def tiny_llama():
    """A random Llama (RMSNorm with weights away from 1) through the bridge: the norm whose bridge
    hook_normalized is taken before its weight, unlike the MLP's input."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from saekit.models.tiny_tokenizer import BOS_ID, EOS_ID, PAD_ID, VOCAB_SIZE, byte_tokenizer
    from saekit.models.tl_lm import TLModel

    torch.manual_seed(0)
    hf = LlamaForCausalLM(LlamaConfig(vocab_size=VOCAB_SIZE, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                                      bos_token_id=BOS_ID, eos_token_id=EOS_ID, pad_token_id=PAD_ID))
    with torch.no_grad():
        for n, p in hf.named_parameters():
            if "norm" in n:
                p.uniform_(0.5, 2.0)
    hf.config.architectures = ["LlamaForCausalLM"]
    return TLModel.from_hf(hf, byte_tokenizer(model_max_length=128), "test:llama", max_length=128)


def test_an_rmsnorm_model_reads_and_writes_the_mlp_input_alike(tiny_llama):
    inputs = tiny_llama.tokenize(["the cat sat on the mat", "a dog"])
    hooks = [f"blocks.1.{h}" for h in NEW_HOOKS]
    fast, bridge = tiny_llama.capture(inputs, hooks), HookedModel.capture(tiny_llama, inputs, hooks)
    for h in hooks:  # capture reads the transformers modules, replacement hooks the bridge: they must agree
        torch.testing.assert_close(fast[h], bridge[h], msg=h)
    seen = {}
    with tiny_llama.hooks({"blocks.1.ln2.hook_normalized": lambda a: seen.setdefault("x", a)}):
        tiny_llama.forward(inputs)
    torch.testing.assert_close(seen["x"], fast["blocks.1.ln2.hook_normalized"])


@pytest.mark.parametrize("name", ["random:vit", "random:clip"])
def test_vision_mlp_and_attention_hooks_decompose_the_block(name):
    from PIL import Image

    m = load_model(name)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)) for _ in range(2)]
    inputs = {"pixel_values": m.preprocess(images)}
    got = m.capture(inputs, ["blocks.0.hook_resid_post"] + [f"blocks.1.{h}" for h in NEW_HOOKS]
                    + ["blocks.1.hook_resid_mid", "blocks.1.hook_resid_post"])
    torch.testing.assert_close(got["blocks.0.hook_resid_post"] + got["blocks.1.hook_attn_out"],
                               got["blocks.1.hook_resid_mid"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got["blocks.1.hook_resid_mid"] + got["blocks.1.hook_mlp_out"],
                               got["blocks.1.hook_resid_post"], atol=1e-5, rtol=1e-5)
    # the MLP's output is writable: zeroing it leaves resid_post = resid_mid
    with m.hooks({"blocks.1.hook_mlp_out": torch.zeros_like}):
        zeroed = m.capture(inputs, ["blocks.1.hook_resid_post"])["blocks.1.hook_resid_post"]
    torch.testing.assert_close(zeroed, got["blocks.1.hook_resid_mid"], atol=1e-5, rtol=1e-5)


def test_capture_of_several_hooks_gives_aligned_rows_under_the_massive_token_rule(gpt2, tmp_path):
    from saekit.capture import CaptureConfig, capture
    from stores import ActivationStore

    lines = tmp_path / "lines.txt"
    lines.write_text("\n".join(f"sample {i} " + "word " * (3 + i % 7) for i in range(24)) + "\n")
    hooks = ("blocks.1.ln2.hook_normalized", "blocks.1.hook_mlp_out", "blocks.2.hook_resid_post")
    res = capture(CaptureConfig(model="random:gpt2", data=str(lines), hooks=hooks, out=str(tmp_path / "s.h5"),
                                massive_tokens="drop", massive_norm_ratio=1.3, batch_size=4, progress=False), model=gpt2)
    with ActivationStore.open(res.path) as s:
        idx = [s.read_index(h, 0, s.n_rows(h)) for h in hooks]
        n_all = sum(len(gpt2.tokenize([t])["input_ids"][0]) for t in lines.read_text().splitlines())
        assert 0 < s.n_rows(hooks[0]) < n_all - 24  # the first positions and some high-norm rows left out
    for sid, pos in idx[1:]:
        assert np.array_equal(sid, idx[0][0]) and np.array_equal(pos, idx[0][1])


def test_paired_rows_refuse_hooks_whose_rows_are_not_the_same_tokens():
    src = ArraySource({"a": np.zeros((10, 4)), "b": np.zeros((9, 4))})
    with pytest.raises(SaekitError, match="different row counts"):
        PairedRows(src, "a", ("a",), ("b",))
    with pytest.raises(SaekitError, match="not in the store"):
        PairedRows(src, "a", ("a",), ("c",))


# ---- training -------------------------------------------------------------------------------------
def _planted(n: int = 4096, d_in: int = 16, d_out: int = 12, m: int = 32, seed: int = 0):
    """x = codes E + noise, y = codes D + x A: a sparse map plus a linear part, as an MLP's in and out."""
    rng = np.random.default_rng(seed)
    E = rng.normal(size=(m, d_in))
    D = rng.normal(size=(m, d_out))
    A = 0.3 * rng.normal(size=(d_in, d_out))
    codes = (rng.random((n, m)) < 0.08) * rng.exponential(1.0, (n, m))
    x = codes @ E + 0.05 * rng.normal(size=(n, d_in))
    return x.astype(np.float32), (codes @ D + x @ A).astype(np.float32)


def _fve(sae: SAE, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        pred = sae(torch.from_numpy(x)).numpy()
    return float(1 - ((pred - y) ** 2).sum() / ((y - y.mean(0)) ** 2).sum())


@pytest.mark.parametrize("arch", ["topk", "batchtopk", "matryoshka", "relu", "jumprelu", "gated"])
def test_every_architecture_trains_as_a_transcoder_and_skip_transcoder(arch, tmp_path):
    x, y = _planted(n=2048)
    src = ArraySource({"in": x, "out": y})
    k = 6 if arch in ("topk", "batchtopk", "matryoshka") else None
    fves = {}
    for skip in (False, True):
        out = tmp_path / f"{arch}-{skip}"
        sae = train(TrainConfig(hook="in", target_hook=("out",), skip=skip, arch=arch, k=k, expansion=4, tokens=16_000,
                                batch_size=256, lr=3e-3, out=str(out), progress=False, device="cpu", holdout=0),
                    source=src)
        loaded = load_sae(out)
        assert loaded.cfg.target_hooks == ("out",) and loaded.cfg.hook == "in" and loaded.cfg.d_out == 12
        assert loaded.W_dec.shape == (64, 12) and loaded.W_enc.shape == (16, 64) and loaded.b_dec.shape == (12,)
        assert (loaded.W_skip is not None) == skip
        torch.testing.assert_close(loaded(torch.from_numpy(x[:8])), sae(torch.from_numpy(x[:8])))
        fves[skip] = _fve(loaded, x, y)
    # measured (seed 0): 0.20 (relu) to 0.68 (jumprelu) without the skip path, 0.60 to 0.75 with it
    assert fves[False] > 0.15, fves
    assert fves[True] > fves[False], fves  # y has a linear part in x: the skip path takes it


def test_skip_needs_a_target_and_transcoders_refuse_layernorm():
    with pytest.raises(SaekitError, match="needs --target-hook"):
        TrainConfig(hook="in", arch="topk", k=4, tokens=10, out="x", skip=True)
    src = ArraySource({"in": np.ones((64, 4)), "out": np.ones((64, 4))})
    with pytest.raises(SaekitError, match="layernorm"):
        train(TrainConfig(hook="in", target_hook=("out",), arch="topk", k=2, tokens=64, batch_size=32, out="/tmp/x-ln",
                          normalization="layernorm", progress=False, device="cpu", holdout=0), source=src)


def test_resumed_transcoder_run_ends_with_the_uninterrupted_weights(tmp_path, monkeypatch):
    x, y = _planted(n=2048)
    src = ArraySource({"in": x, "out": y})
    cfg = TrainConfig(hook="in", target_hook=("out",), skip=True, arch="topk", k=4, expansion=2, tokens=12_800,
                      batch_size=128, lr=3e-3, out=str(tmp_path / "ref"), progress=False, device="cpu",
                      checkpoint_every_steps=20, holdout=0.1)
    ref = train(cfg, source=src)
    resumed = interrupted_then_resumed(cfg.replace(out=str(tmp_path / "cut")), monkeypatch, at_step=50, source=src)
    for name, value in ref.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_crosscoder_reads_and_writes_several_hooks_with_shared_latents(tmp_path):
    x, y = _planted(n=2048, d_out=16)
    src = ArraySource({"a": x, "b": y})
    cc = train(TrainConfig(hook="a,b", arch="topk", k=6, expansion=4, tokens=16_000, batch_size=256, lr=3e-3,
                           out=str(tmp_path / "cc"), progress=False, device="cpu", holdout=0), source=src)
    assert cc.cfg.in_hooks == ("a", "b") and cc.cfg.d_in == 32 and cc.cfg.d_sae == 64 and not cc.cfg.target_hooks
    both = np.concatenate([x, y], axis=1)
    assert _fve(cc, both, both) > 0.6
    from saekit.eval.rows import SplitInfo
    from saekit.eval.transcoder import evaluate_paired

    _, got = evaluate_paired(cc, src, SplitInfo("all", 0.0, ""))
    assert got["kind"] == "crosscoder" and set(got["fve_per_hook"]) == {"a", "b"}
    per = [((cc(torch.from_numpy(both)).detach().numpy()[:, sl] - both[:, sl]) ** 2).sum()
           / ((both[:, sl] - both[:, sl].mean(0)) ** 2).sum() for sl in (slice(0, 16), slice(16, 32))]
    assert [got["fve_per_hook"][h] for h in "ab"] == pytest.approx([1 - p for p in per], abs=1e-4)


def test_a_sweep_trains_several_transcoders_from_one_pass(tmp_path):
    from saekit.train.trainer import train_sweep

    x, y = _planted(n=1024)
    saes = train_sweep(TrainConfig(hook="in", target_hook=("out",), arch="topk", expansion=2, tokens=2048,
                                   batch_size=256, out=str(tmp_path / "sw"), progress=False, device="cpu",
                                   sweep=("k=2,4",)), source=ArraySource({"in": x, "out": y}))
    assert [(s.cfg.k, s.cfg.target_hooks, s.cfg.d_out) for s in saes] == [(2, ("out",), 12), (4, ("out",), 12)]


def test_the_cli_repeats_hook_for_a_crosscoder_and_takes_target_hook():
    from saekit.cli.configcli import parse_config

    cfg = parse_config(TrainConfig, ["--hook", "a", "--hook", "b", "--arch", "topk", "--k", "4", "--tokens", "9",
                                     "--out", "o"])
    assert cfg.hook == "a,b"
    cfg = parse_config(TrainConfig, ["--hook", "a", "--target-hook", "b", "--skip", "--arch", "topk", "--k", "4",
                                     "--tokens", "9", "--out", "o"])
    assert cfg.hook == "a" and cfg.target_hook == ("b",) and cfg.skip


# ---- a transcoder on random:gpt2's MLP, through the commands ---------------------------------------
IN_HOOK, OUT_HOOK = "blocks.1.ln2.hook_normalized", "blocks.1.hook_mlp_out"
CC_HOOKS = f"{OUT_HOOK},blocks.2.hook_resid_post"  # a crosscoder's two hooks


@pytest.fixture(scope="module")
def gpt2_transcoder(gpt2, tmp_path_factory):
    from saekit.capture import CaptureConfig, capture

    root = tmp_path_factory.mktemp("tc")
    lines = root / "lines.txt"
    lines.write_text("\n".join(f"the {i} cats sat on {'the mat ' * (1 + i % 4)}" for i in range(60)) + "\n")
    store = root / "s.h5"
    capture(CaptureConfig(model="random:gpt2", data=str(lines), hooks=(IN_HOOK, OUT_HOOK, "blocks.2.hook_resid_post"),
                          out=str(store), batch_size=8, progress=False), model=gpt2)
    for name, extra in (("tc", {}), ("skip", {"skip": True})):
        train(TrainConfig(hook=IN_HOOK, target_hook=(OUT_HOOK,), arch="topk", k=8, expansion=2, tokens=8192,
                          batch_size=256, lr=3e-3, store=str(store), out=str(root / name), progress=False,
                          device="cpu", **extra))
    train(TrainConfig(hook=CC_HOOKS, arch="topk", k=8, expansion=2, tokens=8192, batch_size=256, lr=3e-3,
                      store=str(store), out=str(root / "cc"), progress=False, device="cpu"))
    return root, lines, store


def test_eval_reports_target_fve_and_the_mlp_replaced_downstream(gpt2_transcoder, capsys):
    from saekit.cli.main import main

    root, lines, store = gpt2_transcoder
    code = main(["eval", "--sae", str(root / "skip"), "--store", str(store), "--json", "--downstream",
                 "--model", "random:gpt2", "--data", str(lines), "--n-samples", "8"])
    assert code == 0
    got = json.loads(capsys.readouterr().out)
    tc = got["metrics"]["transcoder"]
    assert tc["output_hooks"] == [OUT_HOOK] and 0 < tc["fve"] <= 1 and "fve_skip_only" in tc
    assert set(tc["fve_per_hook"]) == {OUT_HOOK} and tc["fve_per_hook"][OUT_HOOK] == pytest.approx(tc["fve"])
    assert "core" not in got["metrics"]  # an SAE metric of its own input would be meaningless here
    down = got["metrics"]["downstream_replacement"]
    assert down["target_hook"] == OUT_HOOK and down["ce_zero_ablation"] != down["ce_clean"]
    assert np.isfinite(down["ce_loss_score"]) and np.isfinite(down["ce_loss_recovered_kept_tokens"])


def test_the_replacement_measures_the_mlp_itself(gpt2_transcoder, gpt2, monkeypatch):
    """A replacement that writes back the MLP's own output recovers all of the CE loss; zeros none."""
    from saekit.data import load_dataset
    from saekit.eval import downstream_replace as dr

    root, lines, _ = gpt2_transcoder
    samples = list(load_dataset(str(lines)))[:6]
    sae = load_sae(root / "tc")
    monkeypatch.setattr(dr._Replacement, "__call__", lambda self, act: self.recorded.pop("x") * 0 + act)
    res = dr.evaluate_replacement(sae, gpt2, samples, batch_size=3)
    assert res["ce_loss_score"] == pytest.approx(1.0, abs=1e-6)
    assert res["ce_loss_recovered_kept_tokens"] == pytest.approx(1.0, abs=1e-6) and res["ce_sae"] == pytest.approx(res["ce_clean"])
    inputs = gpt2.prepare(samples[:3])
    with gpt2.hooks({OUT_HOOK: torch.zeros_like}):
        zeroed = gpt2.forward(inputs)
    assert torch.isfinite(zeroed).all() and not torch.allclose(zeroed, gpt2.forward(inputs))


def test_steering_writes_the_latent_into_the_target(gpt2_transcoder, gpt2):
    import saekit

    root, lines, _ = gpt2_transcoder
    sae = load_sae(root / "tc")
    inputs = gpt2.tokenize(["the cats sat on the mat"])
    clean = gpt2.capture(inputs, [IN_HOOK, OUT_HOOK])
    with saekit.steered(gpt2, IN_HOOK, sae, {3: 5.0}, mode="add"):
        edited = gpt2.capture(inputs, [IN_HOOK, OUT_HOOK])
    torch.testing.assert_close(edited[IN_HOOK], clean[IN_HOOK])  # the input is read, not written
    delta = edited[OUT_HOOK] - clean[OUT_HOOK]
    expected = 5.0 * sae.W_dec[3] / sae.cfg.target_scale
    torch.testing.assert_close(delta, expected.expand_as(delta), atol=1e-4, rtol=1e-4)


def test_summaries_compare_and_export_take_transcoders(gpt2_transcoder, tmp_path):
    from saekit.analysis.summaries import compute_summaries
    from saekit.eval.compare import compare
    from saekit.eval.config import CompareConfig
    from saekit.sae.formats import export_sae

    root, _, store = gpt2_transcoder
    sae = load_sae(root / "tc")
    s = compute_summaries(sae, str(store), IN_HOOK, top_k=4)
    assert s.d_sae == 128 and s.freq.max() > 0
    res = compare(CompareConfig(saes=(str(root / "tc"), str(root / "skip")), store=str(store), out=str(tmp_path / "c"),
                                suite="core"))
    assert [e.metrics["transcoder"]["fve"] > 0 for e in res.saes] == [True, True]
    export_sae(sae, "sparsify", tmp_path / "sp")
    back = load_sae(f"sparsify:{tmp_path / 'sp'}")
    x = torch.randn(5, 64)
    torch.testing.assert_close(back(x), sae(x), atol=1e-5, rtol=1e-4)
    assert back.cfg.target_hooks == (OUT_HOOK,) and back.cfg.hook == IN_HOOK


def test_name_and_the_dashboard_take_a_transcoder(gpt2_transcoder, tmp_path, capsys):
    from saekit.cli.main import main

    root, _, store = gpt2_transcoder
    assert main(["name", "--sae", str(root / "tc"), "--store", str(store), "--out", str(tmp_path / "names"),
                 "--no-progress"]) == 0
    names = json.loads((tmp_path / "names" / "names.json").read_text())
    assert names["sae"]["hook"] == IN_HOOK and len(names["latents"]) > 0
    tc = load_sae(root / "tc").cfg  # names.json's SAE block describes the transcoder, not only its hook
    assert (names["sae"]["d_in"], names["sae"]["arch"], names["sae"]["d_sae"]) == (tc.d_in, tc.arch, tc.d_sae)
    assert main(["dashboard", "--sae", str(root / "tc"), "--store", str(store), "--check"]) == 0
    assert f"{IN_HOOK} → {OUT_HOOK} (transcoder)" in capsys.readouterr().out


@pytest.mark.parametrize("transcoder", [False, True])
def test_auxk_over_every_dead_latent_is_the_dense_sum_with_its_gradients(transcoder):
    """With no more dead latents than k_aux every row takes all of them: auxk_loss's dense product must give
    AuxK's loss and gradients (b_dec's too, for an SAE whose centred input came detached)."""
    from saekit.sae import SAEConfig, TrainContext
    from saekit.sae import topk_training as T

    extra = {"target_hooks": ("o",), "d_out": 32} if transcoder else {}
    sae = SAE.create(SAEConfig(arch="topk", d_in=32, d_sae=128, k=4, **extra), seed=0)
    with torch.no_grad():
        sae.b_dec.normal_(generator=torch.Generator().manual_seed(1))
        sae.b_enc.normal_(0, 0.1, generator=torch.Generator().manual_seed(2))
    x, dead = torch.randn(64, 32, generator=torch.Generator().manual_seed(3)), torch.tensor([3, 7, 50, 90])

    def grads(loss_of):
        sae.zero_grad()
        ctx = TrainContext(k_aux=8, dead_idx=dead)
        code, pre, x_c = T.encode_for_training(sae, x, ctx, T.select_topk(4))
        _, residual = T.reconstruction_sse(sae, x, x_c, code, ctx)
        loss = loss_of(ctx, pre, x_c, residual)
        loss.backward()
        return float(loss), {n: p.grad.clone() for n, p in sae.named_parameters() if p.grad is not None}

    def by_hand(ctx, pre, x_c, residual):
        e = residual.detach()
        e_hat = torch.relu((sae.centre(x) @ sae.W_encT.t() + sae.b_enc)[:, dead]) @ sae.W_dec[dead]
        return ctx.aux_coeff * (e - e_hat).pow(2).sum() / (e - e.mean(0)).pow(2).sum()

    got, ref = grads(lambda ctx, pre, x_c, r: T.auxk_loss(sae, pre, x_c, r, ctx)), grads(by_hand)
    assert got[0] == pytest.approx(ref[0], rel=1e-6)
    assert set(got[1]) == set(ref[1])
    for name in ref[1]:
        torch.testing.assert_close(got[1][name], ref[1][name], atol=1e-7, rtol=1e-5, msg=name)


def test_explain_takes_a_transcoder_through_a_local_server(gpt2_transcoder, tmp_path, capsys):
    """`saekit explain` on a transcoder: its latents read from the input hook's rows, judged end to end."""
    import re

    from autointerp_fixtures import ScriptedClient
    from saekit.analysis.summaries.streaming import iter_whole_samples
    from stores import ActivationStore
    from openai_server import OpenAIServer
    from saekit.cli.main import main

    def said(expl, ex):  # "the span S": yes when S is in the window
        return expl.split(" ", 2)[-1].strip() in ex

    client = ScriptedClient("rule", lambda kind, expl, ex: said(expl, ex),
                            lambda spans: "the span " + max(set(spans), key=spans.count).strip())
    root, _, store = gpt2_transcoder
    out = tmp_path / "ex"
    with OpenAIServer(client.complete) as srv:
        assert main(["explain", "--sae", str(root / "tc"), "--store", str(store), "--client", "openai:rule",
                     "--endpoint", srv.url, "--out", str(out), "--no-progress", "--size", "small",
                     "--latents", "0,1,2"]) == 0
    doc = json.loads((out / "names.json").read_text())
    assert doc["sae"]["hook"] == IN_HOOK and doc["latents"]
    sae = load_sae(root / "tc")
    with ActivationStore.open(store) as st:  # the activations explain showed are the encoder's of the input hook
        acts, sid, pos = next(iter_whole_samples(st, IN_HOOK, 1 << 20))
    with torch.no_grad():
        z = sae.encode(torch.from_numpy(acts)).float().numpy()
    for e in doc["latents"]:
        judged = [j for j in e["explanation"]["detection"]["judged"] if j["truth"]]
        assert judged and e["explanation"]["text"].startswith("the span")
        for j in judged:
            rows = (sid == j["sample_id"]) & (pos >= j["start"]) & (pos < j["stop"])
            assert j["activation"] == pytest.approx(z[rows, e["latent"]].max(), rel=1e-4)
    assert re.search(r"explained \d+ latents", capsys.readouterr().out)


def test_name_explain_and_the_dashboard_take_a_crosscoder(gpt2_transcoder, tmp_path, capsys):
    """A crosscoder's latents are summarised over its hooks' rows side by side (what its encoder reads)."""
    from autointerp_fixtures import ScriptedClient
    from openai_server import OpenAIServer
    from saekit.analysis.summaries import compute_summaries
    from saekit.cli.main import main
    from stores import ActivationStore

    root, _, store = gpt2_transcoder
    sae = load_sae(root / "cc")
    hooks = CC_HOOKS.split(",")
    with ActivationStore.open(store) as st:
        joined = np.concatenate([st.read_rows(h, 0, st.n_rows(h)) for h in hooks], axis=1)
    with torch.no_grad():
        z = sae.encode(torch.from_numpy(joined).float()).float().numpy()
    s = compute_summaries(sae, str(store), top_k=4)
    np.testing.assert_allclose(s.freq, (z > 0).mean(0), atol=1e-6)
    np.testing.assert_allclose(s.max_act, z.max(0), rtol=1e-4, atol=1e-6)
    assert main(["name", "--sae", str(root / "cc"), "--store", str(store), "--out", str(tmp_path / "names"),
                 "--no-progress"]) == 0
    names = json.loads((tmp_path / "names" / "names.json").read_text())
    assert names["sae"]["hook"] == CC_HOOKS and len(names["latents"]) > 0
    client = ScriptedClient("rule", lambda kind, expl, ex: True, lambda spans: "anything")
    with OpenAIServer(client.complete) as srv:
        assert main(["explain", "--sae", str(root / "cc"), "--store", str(store), "--client", "openai:rule",
                     "--endpoint", srv.url, "--out", str(tmp_path / "ex"), "--no-progress", "--size", "small",
                     "--latents", "1,3"]) == 0
    ex = json.loads((tmp_path / "ex" / "names.json").read_text())
    assert ex["sae"]["arch"] == load_sae(root / "cc").cfg.arch and ex["sae"]["d_in"] == names["sae"]["d_in"]
    for e in ex["latents"]:
        assert e["max_act"] == pytest.approx(float(z[:, e["latent"]].max()), rel=1e-4)
    assert main(["dashboard", "--sae", str(root / "cc"), "--store", str(store), "--check"]) == 0
    assert " + ".join(hooks) + " (crosscoder)" in capsys.readouterr().out


def test_steering_a_crosscoder_writes_the_latent_into_each_of_its_hooks(gpt2_transcoder, gpt2):
    import saekit

    root, _, _ = gpt2_transcoder
    sae = load_sae(root / "cc")
    hooks = CC_HOOKS.split(",")
    inputs = gpt2.tokenize(["the cats sat on the mat"])
    clean = gpt2.capture(inputs, hooks)
    with saekit.steered(gpt2, CC_HOOKS, sae, {3: 5.0}, mode="add"):
        edited = gpt2.capture(inputs, hooks)
    direction = 5.0 * sae.W_dec[3].detach() / sae.cfg.norm_scale
    # the MLP's edit reaches blocks.2.hook_resid_post through the residual stream, besides the latent's own write
    d0 = edited[hooks[0]] - clean[hooks[0]]
    torch.testing.assert_close(d0, direction[:64].expand_as(d0), atol=1e-4, rtol=1e-4)
    seen = {}
    with gpt2.hooks({hooks[1]: lambda a: seen.setdefault("before", a.clone())}):
        with saekit.steered(gpt2, CC_HOOKS, sae, {3: 5.0}, mode="add"):
            after = gpt2.capture(inputs, [hooks[1]])[hooks[1]]
    d1 = after - seen["before"]
    torch.testing.assert_close(d1, direction[64:].expand_as(d1), atol=1e-4, rtol=1e-4)
    with pytest.raises(SaekitError, match="--mode add only"):
        with saekit.steered(gpt2, CC_HOOKS, sae, {3: 5.0}, mode="clamp"):
            pass


def test_the_steer_command_takes_a_crosscoder(gpt2_transcoder, tmp_path, capsys):
    from saekit.cli.main import main

    root, _, _ = gpt2_transcoder
    argv = ["steer", "--model", "random:gpt2", "--sae", str(root / "cc"), "--latent", "3", "--prompt", "the cat",
            "--strengths", "0,2", "--max-new-tokens", "2", "--out", str(tmp_path / "st")]
    assert main([*argv, "--mode", "add"]) == 0
    assert main([*argv, "--mode", "clamp"]) == 2
    assert "--mode add only" in capsys.readouterr().err
