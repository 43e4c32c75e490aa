"""The Monosemanticity Score's embedding: never the SAE's own input; the model's final CLS on the
reloaded images (known answer), the text encoder over texts, and one-line refusals."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from saekit.analysis.monosemanticity.embedding import FALLBACK_ENCODER, VIT_FINAL, choose_mono_embedding
from saekit.capture import CaptureConfig, capture
from saekit.data import load_dataset
from saekit.common.errors import SaekitError
from saekit.models import load_model
from stores import ActivationStore

HOOK = "blocks.1.hook_resid_post"


@pytest.fixture(scope="module")
def vit_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("mono")
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / "imgs" / label).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(root / "imgs" / label / f"{i}.png")
    model = load_model("random:vit", "cpu")
    out = root / "s.h5"
    capture(CaptureConfig(model="random:vit", data=str(root / "imgs"), hooks=(HOOK,), out=str(out), batch_size=4,
                          progress=False), model=model)
    return out, load_dataset(str(root / "imgs")), model


def test_image_store_uses_the_models_final_cls_on_the_images(vit_store):
    path, ds, model = vit_store
    with ActivationStore.open(path) as s:
        me = choose_mono_embedding(s, HOOK, modality="image", dataset=ds, max_samples=4, seed=0)
    assert me.source == f"random:vit CLS token of {VIT_FINAL} on the images"
    assert len(me.sample_ids) == 4 and len(set(me.sample_ids.tolist())) == 4
    inputs = model.prepare([ds[int(i)] for i in me.sample_ids])
    cls = model.capture(inputs, [VIT_FINAL])[VIT_FINAL][:, 0].float().numpy()
    cls /= np.linalg.norm(cls, axis=1, keepdims=True)
    np.testing.assert_allclose(me.emb, cls, rtol=1e-4, atol=1e-5)


def test_the_sae_input_is_refused(vit_store):
    path, ds, _ = vit_store
    with ActivationStore.open(path) as s:
        with pytest.raises(SaekitError, match="is the SAE's own input"):
            choose_mono_embedding(s, HOOK, modality="image", mono_hook=HOOK, dataset=ds)
        with pytest.raises(SaekitError, match="images cannot be reloaded"):
            choose_mono_embedding(s, HOOK, modality="image", dataset=None)


def test_sae_on_the_final_embedding_of_the_fallback_encoder_is_refused(tmp_path):
    path = tmp_path / "d.h5"
    with ActivationStore.create(path, {VIT_FINAL: 4}, dtype="float32", attrs={"model_id": FALLBACK_ENCODER}) as w:
        w.add_samples(np.arange(2), [{"text": ""}, {"text": ""}])
        w.append(VIT_FINAL, np.ones((2, 4), np.float32), np.arange(2), np.zeros(2, np.int32))
        w.commit()
    with ActivationStore.open(path) as s:
        with pytest.raises(SaekitError, match="no other image encoder is available"):
            choose_mono_embedding(s, VIT_FINAL, modality="image", dataset=[])


def test_text_store_embeds_each_sample_text(tmp_path):
    path = tmp_path / "t.h5"
    texts = ["cat sat", "dog ran", "cat ran"]
    with ActivationStore.create(path, {"h": 2}, dtype="float32", attrs={"model_id": "x", "modality": "text"}) as w:
        w.add_samples(np.arange(3), [{"text": t} for t in texts])
        w.append("h", np.ones((3, 2), np.float32), np.arange(3), np.zeros(3, np.int32))
        w.commit()
    seen = []

    def embed(ts):
        seen.extend(ts)
        return np.array([[t.count("cat") + 0.1, t.count("dog") + 0.1] for t in ts], np.float32)

    with ActivationStore.open(path) as s:
        me = choose_mono_embedding(s, "h", modality="text", embed_texts=embed, text_encoder_name="enc")
    assert seen == texts and me.source == "enc over each sample's text"
    np.testing.assert_allclose(np.linalg.norm(me.emb, axis=1), 1.0, rtol=1e-6)
    assert me.emb[0, 0] > 0.99 and me.emb[1, 1] > 0.99


def test_clip_style_stores_are_embedded_by_dinov2_as_in_the_paper(vit_store, tmp_path, monkeypatch):
    """Pach et al. embed their CLIP SAEs' images with DINOv2: an image-text store gets offline DINOv2 by default,
    even when it holds CLIP's own image_embeds and the SAE sits elsewhere; --mono-encoder still overrides it.
    (random:vit stands in for the loaded encoder; tests/test_dashboard.py runs the real one through `name`.)"""
    import saekit.models

    _, ds, model = vit_store
    path = tmp_path / "c.h5"
    with ActivationStore.create(path, {HOOK: 4, "image_embeds": 3}, dtype="float32",
                                attrs={"model_id": "random:clip", "modality": "image-text"}) as w:
        w.add_samples(np.arange(2), [{"text": ""}, {"text": ""}])
        for hook, d in ((HOOK, 4), ("image_embeds", 3)):
            w.append(hook, np.ones((2, d), np.float32), np.arange(2), np.zeros(2, np.int32))
        w.commit()
    loaded = []
    monkeypatch.setattr(saekit.models, "load_model", lambda spec, device="cpu": loaded.append(spec) or model)
    with ActivationStore.open(path) as s:
        with pytest.raises(SaekitError, match=f"embeds the images with {FALLBACK_ENCODER}"):
            choose_mono_embedding(s, HOOK, modality="image", dataset=None)
        me = choose_mono_embedding(s, HOOK, modality="image", dataset=ds)
        assert loaded == [FALLBACK_ENCODER] and me.source == f"{FALLBACK_ENCODER} CLS token of {VIT_FINAL} on the images"
        me = choose_mono_embedding(s, HOOK, modality="image", encoder="random:vit", dataset=ds)
        assert loaded[-1] == "random:vit" and me.source.startswith("random:vit ")


def test_eval_and_name_score_ms_alike_with_the_chosen_encoder_and_the_flag_overrides_it(vit_store, tmp_path):
    from saekit.analysis.monosemanticity.score import centred_embeddings, monosemanticity_score
    from saekit.eval import EvalConfig, run_eval
    from saekit.sae import SAE, SAEConfig

    path, ds, _ = vit_store
    with ActivationStore.open(path) as s:
        d = s.d(HOOK)
        ids = np.asarray(s.sample_ids)
        rows = [np.asarray(s.rows_for_sample(HOOK, int(i))[0], np.float32) for i in ids]
        expected_emb = choose_mono_embedding(s, HOOK, modality="image", dataset=ds, max_samples=None)
    torch.manual_seed(0)
    sae = SAE.create(SAEConfig(arch="relu", d_in=d, d_sae=16, hook=HOOK, model_id="random:vit", normalization="none"))
    sae.save(tmp_path / "sae")
    res = run_eval(EvalConfig(sae=str(tmp_path / "sae"), store=str(path), suite="all", split="all", device="cpu"))
    ms = res["metrics"]["monosemanticity"]
    assert ms["embeddings"] == f"random:vit CLS token of {VIT_FINAL} on the images" and ms["n_samples"] == len(ids)
    with torch.no_grad():
        pooled = np.stack([sae.encode(torch.as_tensor(r)).mean(0).numpy() for r in rows])
    order = np.searchsorted(ids, expected_emb.sample_ids)
    centred = monosemanticity_score(pooled[order], centred_embeddings(expected_emb.emb))
    raw = monosemanticity_score(pooled[order], expected_emb.emb)
    assert ms["ms_centred_mean"] == pytest.approx(float(np.nanmean(centred)), abs=1e-5)
    assert ms["ms_mean"] == pytest.approx(float(np.nanmean(raw)), abs=1e-5)
    e = expected_emb.emb / np.linalg.norm(expected_emb.emb, axis=1, keepdims=True)
    n = len(e)
    assert ms["mean_pair_cosine"] == pytest.approx(float(((e @ e.T).sum() - n) / (n * (n - 1))), abs=1e-6)

    # `saekit name` chooses the same embedding and scores with the same function: its per-latent scores
    # summarise to eval's numbers (eval keeps the latents where both scores are defined; so does naming here)
    from types import SimpleNamespace

    from saekit.analysis.naming import NamingOptions
    from saekit.analysis.naming.embeddings import mono_embeddings
    from saekit.analysis.naming.run import summaries_and_mono
    from saekit.analysis.naming.sources import ImageSource
    from saekit.inputs import Inputs

    opts = NamingOptions(mono_max_samples=None)
    with ActivationStore.open(path) as s:
        inputs = Inputs(sae=sae, store=s, hook=HOOK, data=ds)
        emb, note = mono_embeddings(inputs, opts, "image", SimpleNamespace(embed=None, encoder_spec="-"),
                                    ImageSource.of(inputs))
        assert note is None and emb.described.startswith(ms["embeddings"] + "; ")
        _, named = summaries_and_mono(inputs, None, opts, emb, progress=False)
    ok = np.isfinite(named.ms) & np.isfinite(named.ms_centred)
    assert ok.sum() == ms["n_latents"]
    for key, values in (("ms", named.ms[ok]), ("ms_centred", named.ms_centred[ok])):
        assert ms[f"{key}_mean"] == pytest.approx(float(values.mean()), abs=1e-6)
        assert ms[f"{key}_median"] == pytest.approx(float(np.median(values)), abs=1e-6)
    assert named.mean_pair_cosine == pytest.approx(ms["mean_pair_cosine"], abs=1e-9)

    np.save(tmp_path / "e.npy", np.eye(int(ids.max()) + 1, 3) + 0.1)  # indexed by sample id
    res = run_eval(EvalConfig(sae=str(tmp_path / "sae"), store=str(path), suite="all", split="all", device="cpu",
                              ms_embeddings=str(tmp_path / "e.npy")))
    assert res["metrics"]["monosemanticity"]["embeddings"] == str(tmp_path / "e.npy")
