"""Hook points on tiny random ViT / CLIP / GPT-2: values, early stop, replacement, masks, loading."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from saekit.data import Sample
from saekit.common.errors import SaekitError
from saekit.models import load_model


def _images(n: int, size=(40, 36), seed: int = 0) -> list[Sample]:
    rng = np.random.default_rng(seed)
    return [Sample(i, f"img{i}", None, f"caption {i}", Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)))
            for i in range(n)]


def _texts(texts: list[str]) -> list[Sample]:
    return [Sample(i, f"t{i}", None, t, None) for i, t in enumerate(texts)]


@pytest.fixture(scope="module")
def vit():
    return load_model("random:vit")


@pytest.fixture(scope="module")
def clip():
    return load_model("random:clip")


@pytest.fixture(scope="module")
def gpt2():
    return load_model("random:gpt2")


def _count_calls(modules):
    calls: list[int] = []
    handles = [m.register_forward_pre_hook(lambda mod, args, i=i: calls.append(i)) for i, m in enumerate(modules)]
    return calls, handles


# ---------------------------------------------------------------------------------------------- ViT
def test_vit_shape_facts_and_hook_names(vit):
    assert (vit.n_layers, vit.d_model, vit.patch_grid, vit.n_prefix_tokens, vit.modality) == (3, 64, (4, 4), 1, "image")
    names = vit.hook_names()
    for i in range(3):
        for h in ("hook_resid_pre", "hook_resid_mid", "hook_resid_post", "mlp.hook_post", "attn.hook_pattern"):
            assert f"blocks.{i}.{h}" in names
    assert "ln_final.hook_normalized" in names


def test_vit_values_match_hidden_states(vit):
    inputs = vit.prepare(_images(3))
    with torch.no_grad():
        hs = vit.module(**inputs, output_hidden_states=True).hidden_states
    out = vit.capture(inputs, ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_post", "blocks.2.hook_resid_post",
                               "ln_final.hook_normalized", "blocks.0.attn.hook_pattern"])
    torch.testing.assert_close(out["blocks.0.hook_resid_pre"], hs[0])
    torch.testing.assert_close(out["blocks.1.hook_resid_post"], hs[2])
    torch.testing.assert_close(out["blocks.2.hook_resid_post"], hs[3])
    torch.testing.assert_close(out["ln_final.hook_normalized"], vit.module.vit.layernorm(hs[3]))
    pattern = out["blocks.0.attn.hook_pattern"]
    assert pattern.shape == (3, 4, 17, 17)
    torch.testing.assert_close(pattern.sum(-1), torch.ones(3, 4, 17))


def test_vit_capture_stops_after_deepest_hook(vit):
    inputs = vit.prepare(_images(2))
    calls, handles = _count_calls(vit.module.vit.layers)
    head_calls, h2 = _count_calls([vit.module.classifier])
    try:
        vit.capture(inputs, ["blocks.0.mlp.hook_post", "blocks.1.hook_resid_mid"])
        assert calls == [0, 1] and head_calls == []
        calls.clear()
        vit.capture(inputs, ["blocks.0.hook_resid_post"])
        assert calls == [0]
        calls.clear()
        vit.forward(inputs)
        assert calls == [0, 1, 2] and head_calls == [0]
    finally:
        for h in handles + h2:
            h.remove()


def _n_torch_hooks(module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())


def test_vit_replacement_hooks(vit):
    inputs = vit.prepare(_images(2))
    n_hooks = _n_torch_hooks(vit.module)
    with vit.hooks({"blocks.1.mlp.hook_post": torch.zeros_like}):
        out = vit.capture(inputs, ["blocks.1.hook_resid_mid", "blocks.1.hook_resid_post"])
    # with the MLP hidden zeroed the MLP adds only fc2's bias
    bias = vit.module.vit.layers[1].mlp.fc2.bias
    torch.testing.assert_close(out["blocks.1.hook_resid_post"], out["blocks.1.hook_resid_mid"] + bias)
    with vit.hooks({"blocks.2.hook_resid_post": torch.zeros_like}):
        logits = vit.forward(inputs)
    expect = vit.module.classifier(vit.module.vit.layernorm(torch.zeros(2, 64)))
    torch.testing.assert_close(logits, expect)
    # resid_pre replacement: doubling the input of layer 1 equals feeding 2 * resid_post of layer 0
    with vit.hooks({"blocks.1.hook_resid_pre": lambda a: 2 * a}):
        doubled = vit.capture(inputs, ["blocks.1.hook_resid_post"])["blocks.1.hook_resid_post"]
    base = vit.capture(inputs, ["blocks.0.hook_resid_post"])["blocks.0.hook_resid_post"]
    with torch.no_grad():
        torch.testing.assert_close(doubled, vit.module.vit.layers[1](2 * base))
    # hooks are gone after the block
    torch.testing.assert_close(vit.forward(inputs), vit.forward(inputs))
    assert _n_torch_hooks(vit.module) == n_hooks


def test_vit_read_only_and_bad_replacement(vit):
    with pytest.raises(SaekitError, match="read-only"):
        with vit.hooks({"blocks.0.hook_resid_mid": lambda a: a}):
            pass
    inputs = vit.prepare(_images(1))
    with pytest.raises(SaekitError, match="shape"):
        with vit.hooks({"blocks.0.hook_resid_post": lambda a: a[:, :3]}):
            vit.forward(inputs)


def test_unknown_hook_lists_valid_names_truncated(vit):
    with pytest.raises(SaekitError) as err:
        vit.capture(vit.prepare(_images(1)), ["blocks.9.hook_resid_post"])
    msg = str(err.value)
    assert "blocks.9.hook_resid_post" in msg and "blocks.0.hook_resid_pre" in msg and "more" in msg
    assert "\n" not in msg
    with pytest.raises(SaekitError, match="no submodule"):
        vit.resolve("module:vit.nope")


def test_module_hook_reaches_any_submodule(vit):
    inputs = vit.prepare(_images(2))
    out = vit.capture(inputs, ["module:vit.layers.1.mlp.fc1"])["module:vit.layers.1.mlp.fc1"]
    assert out.shape == (2, 17, 128)
    mid = vit.capture(inputs, ["blocks.1.hook_resid_mid"])["blocks.1.hook_resid_mid"]
    layer = vit.module.vit.layers[1]
    torch.testing.assert_close(out, layer.mlp.fc1(layer.layernorm_after(mid)))


def test_vit_token_masks(vit):
    inputs = vit.prepare(_images(2))
    assert vit.token_mask(inputs, "all").sum().item() == 34
    cls = vit.token_mask(inputs, "cls")
    assert cls.sum().item() == 2 and cls[:, 0].all()
    patches = vit.token_mask(inputs, "patches")
    assert patches.sum().item() == 32 and not patches[:, 0].any()
    assert torch.equal(vit.token_mask(inputs, "nonspecial"), patches)
    with pytest.raises(SaekitError, match="not one of"):
        vit.token_mask(inputs, "bogus")


# --------------------------------------------------------------------------------------------- CLIP
def test_clip_towers_embeds_and_text_masks(clip):
    assert clip.modality == "image-text"
    names = clip.hook_names()
    assert {"image_embeds", "text_embeds", "text.blocks.1.hook_resid_post", "blocks.1.mlp.hook_post"} <= set(names)
    samples = _images(2)
    inputs = clip.prepare(samples)
    out = clip.capture(inputs, ["image_embeds", "blocks.0.hook_resid_post", "text_embeds", "text.blocks.0.hook_resid_post"])
    with torch.no_grad():
        img = clip.module.get_image_features(pixel_values=inputs["pixel_values"])
        txt = clip.module.get_text_features(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
    img = getattr(img, "pooler_output", img)
    txt = getattr(txt, "pooler_output", txt)
    torch.testing.assert_close(out["image_embeds"][:, 0], img)
    torch.testing.assert_close(out["text_embeds"][:, 0], txt)
    torch.testing.assert_close(clip.embed_texts(["caption 0", "caption 1"]), txt)
    assert out["blocks.0.hook_resid_post"].shape == (2, 17, 48)
    ids = inputs["input_ids"]
    special = clip.token_mask(inputs, "nonspecial", hook="text.blocks.0.hook_resid_post")
    # "caption 0": 9 bytes between BOS and EOS
    assert special.sum(1).tolist() == [9, 9]
    eos = clip.token_mask(inputs, "cls", hook="text.blocks.0.hook_resid_post")
    assert (ids[eos] == clip.tokenizer.eos_token_id).all() and eos.sum().item() == 2
    assert clip.token_mask(inputs, "all", hook="image_embeds").shape == (2, 1)
    assert clip.is_pooled("image_embeds") and not clip.is_pooled("blocks.0.hook_resid_post")


def test_clip_text_only_capture_runs_only_text_tower(clip):
    inputs = clip.prepare(_texts(["a photo", "a cat"]))
    assert "pixel_values" not in inputs
    calls, handles = _count_calls(clip.module.vision_model.encoder.layers)
    try:
        out = clip.capture(inputs, ["text.ln_final.hook_normalized"])
    finally:
        for h in handles:
            h.remove()
    assert calls == [] and out["text.ln_final.hook_normalized"].shape[:2] == inputs["input_ids"].shape


# ---------------------------------------------------------------------------------------------- GPT-2
def _unwrapped(module):
    """The transformers module a TransformerBridge wrapper holds (the module itself if unwrapped)."""
    from saekit.models.hf_layers import WRAPPED

    while module._modules.get(WRAPPED) is not None:
        module = module._modules[WRAPPED]
    return module


def test_gpt2_bridge_values_masks_and_early_stop(gpt2):
    assert (gpt2.n_layers, gpt2.d_model, gpt2.modality) == (3, 64, "text")
    inputs = gpt2.prepare(_texts(["hello world", "hi"]))
    hf = gpt2.bridge.original_model
    with torch.no_grad():
        hs = hf(inputs["input_ids"], attention_mask=inputs["attention_mask"], output_hidden_states=True).hidden_states
    # capture runs the transformers decoder layers themselves (saekit/models/hf_layers.py), so the
    # early stop is counted on those: layer 2 must never run
    calls, handles = _count_calls([_unwrapped(block) for block in hf.transformer.h])
    try:
        out = gpt2.capture(inputs, ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_post"])
        assert calls == [0, 1]
    finally:
        for h in handles:
            h.remove()
    torch.testing.assert_close(out["blocks.0.hook_resid_pre"], hs[0])
    torch.testing.assert_close(out["blocks.1.hook_resid_post"], hs[2])
    assert gpt2.forward(inputs).shape == (2, inputs["input_ids"].shape[1], 260)
    mask = gpt2.token_mask(inputs, "nonspecial")
    assert mask.sum(1).tolist() == [11, 2]  # bytes of the texts; BOS and padding excluded
    assert gpt2.token_mask(inputs, "all").sum(1).tolist() == [12, 3]
    with pytest.raises(SaekitError, match="vision"):
        gpt2.token_mask(inputs, "patches")


def test_gpt2_replacement_and_read_only_mid(gpt2):
    inputs = gpt2.prepare(_texts(["hello world"]))
    base = gpt2.forward(inputs)
    with gpt2.hooks({"blocks.2.mlp.hook_post": torch.zeros_like}):
        out = gpt2.capture(inputs, ["blocks.2.hook_resid_mid", "blocks.2.hook_resid_post"])
        changed = gpt2.forward(inputs)
    bias = gpt2.bridge.original_model.transformer.h[2].mlp.c_proj.bias
    torch.testing.assert_close(out["blocks.2.hook_resid_post"], out["blocks.2.hook_resid_mid"] + bias)
    assert (changed - base).abs().max() > 1e-4
    with gpt2.hooks({"blocks.1.hook_resid_pre": torch.zeros_like}):
        z = gpt2.capture(inputs, ["blocks.0.hook_resid_post", "blocks.1.hook_resid_pre"])
    assert z["blocks.1.hook_resid_pre"].abs().max() == 0 and z["blocks.0.hook_resid_post"].abs().max() > 0
    with pytest.raises(SaekitError, match="read-only"):
        with gpt2.hooks({"blocks.0.hook_resid_mid": lambda a: a}):
            pass
    torch.testing.assert_close(gpt2.forward(inputs), base)


# ------------------------------------------------------------------------------------------ loading
def test_unknown_specs_list_valid_forms():
    with pytest.raises(SaekitError, match="random:vit.*hf:<name or dir>.*tl:"):
        load_model("bogus:thing")
    with pytest.raises(SaekitError, match="random:gpt2"):
        load_model("random:nope")
    with pytest.raises(SaekitError, match="hf:/nonexistent/dir"):
        load_model("hf:/nonexistent/dir")


def test_hf_dir_vit_with_preprocessor_config(vit, tmp_path):
    vit.module.save_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(
        {"do_center_crop": False, "size": {"height": 32, "width": 32}, "image_mean": [0.1, 0.2, 0.3],
         "image_std": [0.5, 0.5, 0.5], "resample": 2}))
    m = load_model(f"hf:{tmp_path}")
    assert m.preprocessing["mean"] == [0.1, 0.2, 0.3] and m.preprocessing["resample"] == "bilinear"
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(m.forward({"pixel_values": x}), vit.forward({"pixel_values": x}))
    assert m.hook_names() == vit.hook_names()


def test_hf_dir_clip_and_causal_lm(clip, gpt2, tmp_path):
    clip.module.save_pretrained(tmp_path / "clip")
    clip.tokenizer.save_pretrained(tmp_path / "clip")
    m = load_model(f"hf:{tmp_path / 'clip'}")
    assert m.modality == "image-text" and m.preprocessing["mean"][0] == pytest.approx(0.48145466)
    torch.testing.assert_close(m.embed_texts(["a cat"]), clip.embed_texts(["a cat"]))
    from saekit.models.random_models import tiny_gpt2_hf

    tiny_gpt2_hf().save_pretrained(tmp_path / "lm")  # same seed, same weights as random:gpt2
    gpt2.tokenizer.save_pretrained(tmp_path / "lm")
    for spec in (f"hf:{tmp_path / 'lm'}", f"tl:{tmp_path / 'lm'}"):
        lm = load_model(spec)
        inputs = lm.prepare(_texts(["hello world"]))
        assert inputs["input_ids"][0, 0].item() == gpt2.tokenizer.bos_token_id
        torch.testing.assert_close(lm.forward(inputs), gpt2.forward(inputs))
        assert "blocks.2.mlp.hook_post" in lm.hook_names()



def test_lm_residual_capture_reads_the_transformers_layers_with_the_bridges_values(monkeypatch):
    import saekit.models.tl_lm as tl
    from saekit.models.base import HookedModel

    m = load_model("random:gpt2", "cpu")
    inp = m.tokenize(["hello world, this is a test", "short"])
    hooks = ["blocks.1.hook_resid_post", "blocks.2.hook_resid_pre", "blocks.0.hook_resid_pre"]
    fast = m.capture(inp, hooks)
    slow = HookedModel.capture(m, inp, hooks)  # through the bridge's HookPoints
    for h in hooks:  # the transformers modules themselves vs the bridge's re-implementation: float rounding apart
        torch.testing.assert_close(fast[h], slow[h], rtol=1e-5, atol=1e-6, msg=h)
    seen = []
    monkeypatch.setattr(tl, "capture_resid", lambda *a: seen.append(1) or {})  # {}: falls back to the bridge
    m.capture(inp, hooks)
    assert seen  # residual hooks take the direct path
    seen.clear()
    m.capture(inp, ["blocks.1.mlp.hook_post"])
    assert not seen  # other hooks go through the bridge
    with m.hooks({"blocks.0.hook_resid_post": lambda a: a * 0}):  # a replacement installed: the bridge path
        zeroed = m.capture(inp, ["blocks.1.hook_resid_pre"])
    assert not seen and torch.count_nonzero(zeroed["blocks.1.hook_resid_pre"]) == 0


def test_random_vit_b_has_the_vit_b16_shape():
    from saekit.models.random_models import vit_b_hf

    cfg = vit_b_hf().config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size,
            cfg.patch_size, cfg.image_size) == (768, 12, 12, 3072, 16, 224)
