"""Naming: a planted latent that fires exactly on the 'cat' images, whose decoder direction maps to
the text embedding of 'cat', is named 'cat' (by decoder and by top images), its top samples are the
cat images, its heatmap PNGs shade the planted patch, its Monosemanticity Score is high; text
stores get token highlights; bad input gives one clear error."""
from __future__ import annotations

import json
from html import unescape

import numpy as np
import pytest
import torch
from PIL import Image

from saekit.analysis.alignment import LinearTextSpace
from saekit.analysis.naming import NamingOptions, run_naming
from saekit.common.errors import SaekitError
from saekit.common.imaging import colormap
from saekit.inputs import Inputs
from stores import ActivationStore
from test_summaries_fakes import LinearReluSAE

WORDS = ["cat", "dog", "car", "tree", "boat", "house"]
LABELS = ["cat", "dog", "car"]
HOOK = "blocks.1.hook_resid_post"
FINAL = "ln_final.hook_normalized"  # the independent embedding of the Monosemanticity Score
D = 8


class OneHotEncoder:
    """Each vocabulary word is its own axis; a text is the unit sum of its known words."""

    name = "onehot-test"
    dim = len(WORDS)

    def encode(self, texts):
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for w in t.split():
                if w in WORDS:
                    out[i, WORDS.index(w)] += 1
        out[out.sum(1) == 0, -1] = 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _image_store(tmp_path, n_per=8):
    """Images in label folders; features: CLS + 2x2 patches; label j puts feature axis j on patch 2."""
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    labels, files = [], []
    for lab in LABELS:
        (root / lab).mkdir(parents=True)
        for i in range(n_per):
            arr = (rng.uniform(0, 255, size=(20, 24, 3))).astype(np.uint8)
            Image.fromarray(arr).save(root / lab / f"{i:02d}.png")
    from saekit.data import load_dataset

    ds = load_dataset(str(root))
    path = tmp_path / "store.h5"
    w = ActivationStore.create(path, hooks={HOOK: D, FINAL: 4}, dtype="float32", attrs={
        "model_id": "test-vit", "modality": "image", "dataset_modality": "image", "data": str(root),
        "patch_grid": [2, 2], "n_prefix_tokens": 1, "image_size": 16,
        "preprocessing": {"size": 16, "resize": 16}, "tokens": "all"})
    recs = []
    for i in range(len(ds)):
        s = ds[i]
        acts = rng.normal(size=(5, D)).astype(np.float32) * 0.05
        acts[:, 3:] += rng.normal(size=(5, D - 3)) * 0.5  # unrelated variation on other axes
        j = LABELS.index(s.label)
        acts[3, j] += 2.0 + 0.1 * (i % 5)  # patch 2 (position 3 = CLS + 2)
        w.append(HOOK, acts, np.full(5, i), np.arange(5))
        final = rng.normal(size=(5, 4)).astype(np.float32) * 0.05   # the model's output: its CLS knows the label
        final[0, j] += 1.0
        w.append(FINAL, final, np.full(5, i), np.arange(5))
        recs.append({"source": s.source, "label": s.label, "text": f"a {s.label}"})
        labels.append(s.label)
    w.add_samples(np.arange(len(ds)), recs)
    w.close()
    return path, labels


def _sae_and_space():
    # latents 0..2 read axes 0..2 (threshold 1.0); decoder rows are those axes
    W_enc = torch.zeros(D, 4)
    W_dec = torch.zeros(4, D)
    for j in range(3):
        W_enc[j, j] = 1.0
        W_dec[j, j] = 1.0
    W_dec[3, 5] = 1.0  # latent 3 never fires (dead): not named
    sae = LinearReluSAE(W_enc, W_dec, b_enc=torch.tensor([-1.0, -1.0, -1.0, -100.0]), hook=HOOK)
    W = np.zeros((D, len(WORDS)), np.float32)
    for j in range(3):
        W[j, j] = 1.0  # feature axis j <-> word j
    space = LinearTextSpace(W, np.zeros(D), np.full(len(WORDS), 0.1), OneHotEncoder(), HOOK, "mean")
    return sae, space


@pytest.mark.parametrize("method", ["decoder", "top-images", "auto"])
def test_planted_cat_latent_is_named_cat(tmp_path, method):
    store, labels = _image_store(tmp_path)
    sae, space = _sae_and_space()
    out = tmp_path / f"names-{method}"
    doc = run_naming(Inputs(sae=sae, store=store), out, vocab=WORDS, text_space=space,
                     options=NamingOptions(method=method, top_n=8, n_candidates=3)).to_json()
    by = {l["latent"]: l for l in doc["latents"]}
    assert sorted(by) == [0, 1, 2]  # the dead latent is not named
    for j, lab in enumerate(LABELS):
        lat = by[j]
        assert lat["name"] == lab, (method, lat["candidates"])
        assert lat["score"] > 0.5
        assert [t["label"] for t in lat["top"]] == [lab] * 8
        assert lat["mono_score"] is not None and lat["mono_score"] > 0.9
        assert lat["mono_score_centred"] is not None and lat["mono_score_centred"] > 0.9
        assert lat["freq"] == pytest.approx(1 / 15, abs=1e-6)  # one token in 5, one label in 3
    assert doc["mono_embedding"].startswith(f"test-vit {FINAL} (from the store); ")
    _check_both_monosemanticity_scores(store, sae, doc)
    on_disk = json.loads((out / "names.json").read_text())
    assert on_disk["kind"] == "names" and on_disk["format_version"] == 2
    assert on_disk["sae"]["hook"] == HOOK and on_disk["store"]["fingerprint"]
    # heatmaps: relative paths that exist; the planted patch (patch 2 of the 2x2 grid = bottom-left)
    # shows the hot end of saekit.common.imaging.colormap, the others are not shaded
    hm = by[0]["top"][0]["heatmap"]
    assert hm is not None and (out / hm).is_file()
    px = np.asarray(Image.open(out / hm).convert("RGB")).astype(int)
    hot = np.abs(px - colormap(np.array(1.0)).astype(int)).sum(-1)  # distance to the hottest colour
    h = px.shape[0]
    bottom_left = hot[h // 2 + 4:, : h // 2 - 4].mean()
    others = np.mean([hot[: h // 2 - 4, : h // 2 - 4].mean(), hot[: h // 2 - 4, h // 2 + 4:].mean(),
                      hot[h // 2 + 4:, h // 2 + 4:].mean()])
    assert bottom_left < others - 60
    html = (out / "index.html").read_text()
    assert 'src="heatmaps/' in html and "cat" in html
    assert f"MS (Pach et al.) {by[0]['mono_score']:.3f} · centred {by[0]['mono_score_centred']:.3f}" in html
    assert f"scores {doc['mono_mean_pair_cosine']:.3f} (the samples' mean pair cosine)" in unescape(html)


def _check_both_monosemanticity_scores(store, sae, doc):
    """mono_score is Pach et al.'s score (raw cosines of the model's final CLS, the O(N^2) definition), mono_score_centred
    the same on embeddings centred over the scored samples, with their mean pair cosine; each sample's activation
    is its latents' mean over its rows."""
    from saekit.analysis.monosemanticity.score import centred_embeddings, monosemanticity_score_pairwise

    with ActivationStore.open(store) as s:
        ids = np.asarray(s.sample_ids)
        emb = np.stack([s.rows_for_sample(FINAL, int(i))[0][0] for i in ids])  # the CLS row
        with torch.no_grad():
            acts = np.stack([sae.encode(torch.as_tensor(np.asarray(s.rows_for_sample(HOOK, int(i))[0]))).mean(0).numpy()
                             for i in ids])
    raw = monosemanticity_score_pairwise(acts, emb)
    centred = monosemanticity_score_pairwise(acts, centred_embeddings(emb))
    for lat in doc["latents"]:
        assert lat["mono_score"] == pytest.approx(raw[lat["latent"]], abs=1e-5)
        assert lat["mono_score_centred"] == pytest.approx(centred[lat["latent"]], abs=1e-5)
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    assert doc["mono_mean_pair_cosine"] == pytest.approx((e @ e.T)[np.triu_indices(len(e), 1)].mean(), abs=1e-6)


def test_text_store_gets_token_highlights_and_names(tmp_path):
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=2, replace=False)) for _ in range(60)]
    path = tmp_path / "text.h5"
    w = ActivationStore.create(path, hooks={HOOK: D}, dtype="float32",
                               attrs={"model_id": "test-lm", "modality": "text", "dataset_modality": "text"})
    for i, t in enumerate(texts):
        toks = t.split()
        acts = rng.normal(size=(len(toks), D)).astype(np.float32) * 0.05
        for p, tok in enumerate(toks):
            if tok in ("cat", "dog", "tree"):
                acts[p, ["cat", "dog", "tree"].index(tok)] += 2.0
        w.append(HOOK, acts, np.full(len(toks), i), np.arange(len(toks)))
    w.add_samples(np.arange(60), [{"source": f"t{i}", "label": "", "text": t} for i, t in enumerate(texts)])
    w.close()

    class WS:
        def __call__(self, texts, return_tensors=None):
            return {"input_ids": torch.tensor([[WORDS.index(x) for x in texts[0].split()]])}

        def decode(self, ids):
            return WORDS[ids[0]]

    sae, _ = _sae_and_space()
    doc = run_naming(Inputs(sae=sae, store=path), tmp_path / "tn", vocab=WORDS, text_encoder=OneHotEncoder(),
                     tokenizer=WS(), options=NamingOptions(top_n=5)).to_json()
    by = {l["latent"]: l for l in doc["latents"]}
    # latent 2 reads axis 2 = "tree" tokens in this store
    assert by[2]["name"] == "tree" and by[0]["name"] == "cat"
    toks = by[0]["top"][0]["tokens"]
    assert all(a > 1 for t, a in toks if t == "cat") and all(a == 0 for t, a in toks if t != "cat")
    assert doc["method"] == "top-images" and doc["latents"][0]["mono_score"] is not None
    assert doc["latents"][0]["mono_score_centred"] is not None and doc["mono_mean_pair_cosine"] is not None


def test_bad_inputs(tmp_path):
    store, _ = _image_store(tmp_path, n_per=2)
    sae, space = _sae_and_space()
    wrong = LinearReluSAE(torch.eye(4), torch.eye(4), hook=HOOK)
    with pytest.raises(SaekitError, match="dimension 4 .* dimension 8"):
        run_naming(Inputs(sae=wrong, store=store), tmp_path / "x", vocab=WORDS, text_space=space)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(SaekitError, match="holds no words"):
        run_naming(Inputs(sae=sae, store=store), tmp_path / "x", vocab=empty, text_space=space)
    with pytest.raises(SaekitError, match="needs a text space"):
        run_naming(Inputs(sae=sae, store=store), tmp_path / "x", vocab=WORDS)
    assert not (tmp_path / "x").exists()


def test_cli_dimension_mismatch_exits_2(tmp_path, capsys):
    from saekit.cli.main import main
    from saekit.sae import SAE, SAEConfig

    store, _ = _image_store(tmp_path, n_per=2)
    SAE.create(SAEConfig(arch="topk", d_in=6, d_sae=12, k=2, hook=HOOK)).save(tmp_path / "sae")
    rc = main(["name", "--sae", str(tmp_path / "sae"), "--store", str(store), "--out", str(tmp_path / "o"),
               "--device", "cpu", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "dimension 6" in err and "dimension 8" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_clip_store_names_with_its_own_text_tower(tmp_path):
    """random:clip: an SAE on image_embeds whose decoder row is CLIP's text embedding of 'cat' is
    named 'cat' by decoder direction; an SAE on a vision residual is named from its top images,
    embedded by CLIP's image tower after reloading them from the recorded dataset; its Monosemanticity
    Score embeds them with offline DINOv2, as Pach et al. do for CLIP SAEs."""
    from saekit.analysis.alignment import load_text_space
    from saekit.capture import CaptureConfig, capture
    from saekit.sae import SAE, SAEConfig

    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    for lab in LABELS:
        (root / lab).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, size=(40, 40, 3), dtype=np.uint8)).save(root / lab / f"{i}.png")
    store = tmp_path / "clip.h5"
    capture(CaptureConfig(model="random:clip", data=str(root), hooks=("blocks.1.hook_resid_post", "image_embeds"),
                          out=str(store), tokens="all", dtype="float32", device="cpu", progress=False))
    space = load_text_space("random:clip")
    t = space.encode_texts(WORDS)
    sae = SAE.create(SAEConfig(arch="relu", d_in=t.shape[1], d_sae=len(WORDS), hook="image_embeds",
                               normalization="none"))
    with torch.no_grad():
        sae.W_dec.copy_(torch.from_numpy(t))
        sae.W_encT.copy_(torch.from_numpy(t))
        sae.b_enc.fill_(100.0)  # every latent fires on every image: all are live
    doc = run_naming(Inputs(sae=sae, store=store), tmp_path / "n1", vocab=WORDS,
                     options=NamingOptions(method="decoder", top_n=3)).to_json()
    assert doc["text_space"]["kind"] == "clip"
    assert [l["name"] for l in doc["latents"]] == WORDS

    sae2 = SAE.create(SAEConfig(arch="topk", d_in=48, d_sae=16, k=4, hook="blocks.1.hook_resid_post"))
    doc2 = run_naming(Inputs(sae=sae2, store=store), tmp_path / "n2", vocab=WORDS,
                      options=NamingOptions(top_n=3)).to_json()
    assert doc2["method"] == "top-images" and doc2["n_named"] > 0
    assert all(l["name"] in WORDS for l in doc2["latents"])
    assert doc2["mono_embedding"].startswith("offline:dinov2-small CLS token of ln_final.hook_normalized on the images")
    first = doc2["latents"][0]["top"][0]
    assert first["heatmap"] and (tmp_path / "n2" / first["heatmap"]).is_file()
