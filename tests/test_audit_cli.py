"""`saekit audit` end to end on tiny random models, the model backend's known answers, and bad input."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import concept_benchmark as cb
from saekit.analysis.conceptscope.backend import ModelBackend
from saekit.analysis.conceptscope.config import ConceptScopeConfig
from saekit.analysis.conceptscope.method import conceptscope
from saekit.cli.main import main
from saekit.common.errors import SaekitError
from saekit.models import load_model
from saekit.sae import load_sae, SAE, SAEConfig

HOOK = "blocks.1.hook_resid_post"


def _folder(root: Path, n_classes: int, per_class: int) -> Path:
    for s in cb.make_dataset(n_classes, per_class, seed=0):
        d = root / s.label
        d.mkdir(parents=True, exist_ok=True)
        s.image.save(d / f"{s.id:04d}.png")
    return root


def _sae(root: Path, d_in: int, hook: str = HOOK, model_id: str = "random:clip", tokens: str = "all") -> Path:
    sae = SAE.create(SAEConfig(arch="relu", d_in=d_in, d_sae=32, hook=hook, model_id=model_id, tokens=tokens), seed=1)
    sae.save(root)
    return root


@pytest.fixture(scope="module")
def clip_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("audit")
    return _folder(root / "data", 3, 10), _sae(root / "sae", 48)


def test_cli_writes_a_complete_report(clip_setup, tmp_path, capsys):
    data, sae = clip_setup
    out = tmp_path / "out"
    rc = main(["audit", "--model", "random:clip", "--data", str(data), "--sae", str(sae), "--out", str(out),
               "--per-class", "4", "--top-k", "6", "--active-threshold", "0", "--classifier", "zero-shot",
               "--examples", "2", "--vocab", "none"])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads((out / "audit.json").read_text())
    assert doc["kind"] == "audit" and doc["format_version"] == 2
    assert doc["sae"]["hook"] == HOOK and doc["sae"]["fingerprint"] and doc["dataset"]["fingerprint"]
    assert doc["params"]["n_per_class"] == 4 and doc["params"]["alpha"] == 1.0 and doc["params"]["sigma"] == 1.0
    assert doc["params"]["bias_rule"] == "lift" and doc["params"]["validity"] == "relative"
    assert doc["params"]["similarity"] == "auto" and doc["masked_copies"]["defined"] >= doc["masked_copies"]["forwarded"]
    assert sorted(doc["classes"]) == cb.class_names(3)
    n_test = doc["test"]["n_images"]
    assert n_test == 6 and doc["dataset"]["n_images"] == 24  # 0.2 of each class of 10 held out
    for cls in doc["classes"].values():
        assert cls["n_sampled"] == 4
        assert cls["similarity"] in ("cosine", "shifted")  # random CLIP: cosines <= 0 fall back per class
        entries = cls["target"] + cls["context"]
        assert 0 < len(entries) <= 6
        for e in entries:
            assert {"latent", "name", "alignment", "z", "class_mean", "sufficiency", "necessity",
                    "lift", "auc", "example_sample_ids"} <= set(e)
            assert e["name"] == f"latent {e['latent']}" and (out / e["examples"]).is_file()
        assert [e["latent"] for e in cls["bias"]] == [e["latent"] for e in cls["context"] if e["bias"]]
    assert sum(doc["subgroups"]["counts"].values()) == n_test
    assert doc["accuracy_by_group"]["all"]["n"] == n_test
    assert "Strongest biases" in (out / "index.html").read_text()
    assert doc["names"] == "latent index"
    assert not list(out.glob("*.tmp"))


def test_audit_opens_each_input_once(clip_setup, tmp_path, monkeypatch):
    """One audit loads its SAE, its dataset, its test split and its model once each, even when the text space
    names the audited CLIP model again; the Python call returns the document it wrote."""
    import saekit.data
    import saekit.models
    import saekit.sae
    from saekit.analysis.conceptscope.config import AuditConfig
    from saekit.analysis.conceptscope.run import audit
    from saekit.results import AuditDocument

    data, sae = clip_setup
    loads: list[str] = []

    def counting(fn, what):
        def load(spec, *a, **k):
            loads.append(f"{what} {spec}")
            return fn(spec, *a, **k)
        return load

    monkeypatch.setattr(saekit.models, "load_model", counting(saekit.models.load_model, "model"))
    monkeypatch.setattr(saekit.data, "load_dataset", counting(saekit.data.load_dataset, "data"))
    monkeypatch.setattr(saekit.sae, "load_sae", counting(saekit.sae.load_sae, "sae"))
    doc = audit(AuditConfig(model="random:clip", data=str(data), sae=str(sae), out=str(tmp_path / "o"), device="cpu",
                            n_per_class=2, top_k=3, active_threshold=0.0, vocab="none", text_space="random:clip",
                            test_data=str(data), classifier="zero-shot"))
    assert sorted(loads) == sorted([f"sae {sae}", f"data {data}", "model random:clip"])
    assert doc == AuditDocument.load(tmp_path / "o") and doc.test.n_images == 30


def test_cli_uses_names_json(clip_setup, tmp_path, capsys):
    data, sae = clip_setup
    from saekit.results.fingerprint import sae_fingerprint

    from saekit.results import NamesDocument, SaeRef, StoreRef
    from saekit.results.names import LatentName

    fp = sae_fingerprint(load_sae(sae))
    names = tmp_path / "names"
    latents = tuple(LatentName(latent=j, name=f"concept-{j}", score=0.5, candidates=((f"concept-{j}", 0.5),),
                               mono_score=None, freq=0.1, sample_freq=0.1, mean_act=1.0, max_act=1.0, top=())
                    for j in range(32))
    names_doc = NamesDocument(sae=SaeRef(fingerprint=fp, d_sae=32), store=StoreRef(), method="top-images", n_live=32,
                        n_named=32, notes=(), latents=latents)
    names_doc.save(names)
    out = tmp_path / "out"
    rc = main(["audit", "--model", "random:clip", "--data", str(data), "--sae", str(sae), "--out", str(out),
               "--per-class", "2", "--active-threshold", "0", "--test-frac", "0", "--names", str(names), "--top-k", "3"])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads((out / "audit.json").read_text())
    e = next(iter(doc["classes"].values()))["target"] + next(iter(doc["classes"].values()))["context"]
    assert all(x["name"] == f"concept-{x['latent']}" for x in e) and doc["subgroups"] is None
    dataclasses.replace(names_doc, sae=SaeRef(fingerprint="other")).save(names)
    rc = main(["audit", "--model", "random:clip", "--data", str(data), "--sae", str(sae), "--out", str(out),
               "--names", str(names)])
    assert rc == 2 and "was made for SAE other" in capsys.readouterr().err


def test_backend_matches_a_manual_forward(clip_setup):
    data, sae_dir = clip_setup
    model = load_model("random:clip")
    sae = load_sae(sae_dir)
    be = ModelBackend(model, sae)
    from saekit.data import load_dataset

    ds = load_dataset(str(data))
    samples = [ds[i] for i in range(3)]
    px = be.pixels([s.image for s in samples])
    assert px.shape == (3, 3, 32, 32) and px.min() >= 0 and px.max() <= 1
    # masks multiply raw [0, 1] pixels; the model still sees exactly its own preprocessing
    ref = model.prepare(samples)
    assert torch.allclose(be._inputs(px)["pixel_values"], ref["pixel_values"], atol=1e-5)
    acts = model.capture(ref, [HOOK])[HOOK]
    z = sae.encode(acts.reshape(-1, acts.shape[-1])).reshape(3, acts.shape[1], -1)
    image, maps = be.encode(px, np.array([5, 7]))
    assert torch.allclose(image, z.mean(dim=1), atol=1e-5)  # tokens "all": mean over every token
    patches = z[:, model.n_prefix_tokens:]  # the 4 x 4 patch grid after CLS
    assert maps.shape == (3, 2, 4, 4)
    assert torch.allclose(maps[:, 1].reshape(3, 16), patches[:, :, 7], atol=1e-5)
    emb = be.embed(px)
    assert torch.allclose(emb.norm(dim=1), torch.ones(3), atol=1e-5)


class _HashEncoder:
    """A deterministic stand-in text encoder: a seeded vector per text."""

    name = "hash"

    def encode(self, texts):
        out = np.stack([np.random.default_rng(abs(hash(t)) % 2**32).normal(size=8) for t in texts]).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_fitted_text_space_path_for_an_encoder_without_text_tower():
    from saekit.analysis.alignment import LinearTextSpace

    model = load_model("random:vit")
    sae = SAE.create(SAEConfig(arch="relu", d_in=64, d_sae=16, hook="blocks.0.hook_resid_post", model_id="random:vit",
                               tokens="patches"), seed=0)
    rng = np.random.default_rng(0)
    space = LinearTextSpace(rng.normal(size=(64, 8)), np.zeros(64), np.zeros(8), _HashEncoder(),
                            feature_hook="blocks.2.hook_resid_post")
    with pytest.raises(SaekitError, match="no text tower"):
        ModelBackend(model, sae)
    be = ModelBackend(model, sae, space)
    train = cb.make_dataset(2, 8, seed=0)
    res = conceptscope(be, train, ConceptScopeConfig(n_per_class=3, top_k=4, active_threshold=0.0))
    assert [c.n_sampled for c in res.classes.values()] == [3, 3]
    assert all(len(c.target) + len(c.context) == 4 for c in res.classes.values())
    assert all(np.isfinite([x.alignment for x in c.target + c.context]).all() for c in res.classes.values())


# ------------------------------------------------------------------------------------- bad input
def _err(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1
    line = [l for l in err if l.startswith("saekit audit: error:")]
    assert len(line) == 1, err
    return line[0]


def test_cli_bad_input_exits_2_with_one_line(clip_setup, tmp_path, capsys):
    data, sae = clip_setup
    base = ["audit", "--model", "random:clip", "--data", str(data), "--sae", str(sae), "--out", str(tmp_path / "o")]
    few = _folder(tmp_path / "few", 2, 4)
    assert main(base[:4] + [str(few)] + base[5:]) == 2
    assert "at least 5" in _err(capsys)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(base[:4] + [str(empty)] + base[5:]) == 2
    assert "empty" in _err(capsys)
    other_hook = _sae(tmp_path / "s1", 48, hook="blocks.7.hook_resid_post")
    assert main(base[:6] + [str(other_hook)] + base[7:]) == 2
    assert "not a hook of random:clip" in _err(capsys)
    wrong_d = _sae(tmp_path / "s2", 32)
    assert main(base[:6] + [str(wrong_d)] + base[7:] + ["--active-threshold", "0"]) == 2
    assert "d_in=32" in _err(capsys)
    assert main(base + ["--hook", "blocks.0.hook_resid_post"]) == 2
    assert "trained on hook" in _err(capsys)
    other_model = _sae(tmp_path / "s3", 48, model_id="hf:something-else")
    assert main(base[:6] + [str(other_model)] + base[7:]) == 2
    assert "trained on activations of" in _err(capsys)
    vit_sae = _sae(tmp_path / "s4", 64, model_id="random:vit")
    assert main(["audit", "--model", "random:vit", "--data", str(data), "--sae", str(vit_sae), "--out",
                 str(tmp_path / "o")]) == 2
    assert "--text-space" in _err(capsys)
    assert main(base + ["--per-class", "0"]) == 2
    assert "--per-class" in _err(capsys)
    assert not (tmp_path / "o" / "audit.json").exists()


def test_cli_vocabulary_names(clip_setup, tmp_path, capsys):
    data, sae = clip_setup
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("red\ngreen\nblue\nsquare\ncircle\n")
    out = tmp_path / "out"
    rc = main(["audit", "--model", "random:clip", "--data", str(data), "--sae", str(sae), "--out", str(out),
               "--per-class", "2", "--top-k", "3", "--active-threshold", "0", "--test-frac", "0", "--vocab", str(vocab)])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads((out / "audit.json").read_text())
    names = {e["name"] for c in doc["classes"].values() for e in c["target"] + c["context"]}
    assert names and names <= {"red", "green", "blue", "square", "circle"}
    assert doc["names"].startswith("vocabulary")


# ------------------------------------------------------------------------------ one pass, reuse
def _same_pass(be, px, latents):
    acts, emb, state = be.encode_pass(px)
    ref_acts, ref_maps = be.encode(px, latents)
    assert torch.allclose(acts, ref_acts, atol=1e-5)
    assert torch.allclose(emb, be.embed(px), atol=1e-5)
    assert torch.allclose(be.maps_from_state(state, latents), ref_maps, atol=1e-5)


def test_one_pass_equals_separate_encode_and_embed(clip_setup):
    """The image-level pass (activations, embedding, cached hook state) gives what the separate calls give,
    for the model's own text tower (full forward with a recording hook) and for a fitted map at another hook."""
    from saekit.analysis.alignment import LinearTextSpace
    from saekit.analysis.conceptscope.alignment import resolve_similarity

    data, sae_dir = clip_setup
    model = load_model("random:clip")
    be = ModelBackend(model, load_sae(sae_dir))
    px = be.pixels([s.image for s in cb.make_dataset(2, 2, seed=3)])
    _same_pass(be, px, np.array([0, 5, 7]))
    assert resolve_similarity("auto", be) == "cosine"  # the paper's raw cosine where the towers allow it

    vit = load_model("random:vit")
    sae = SAE.create(SAEConfig(arch="relu", d_in=64, d_sae=16, hook="blocks.0.hook_resid_post", model_id="random:vit",
                               tokens="patches"), seed=0)
    rng = np.random.default_rng(0)
    space = LinearTextSpace(rng.normal(size=(64, 8)), np.zeros(64), np.zeros(8), _HashEncoder(),
                            feature_hook="blocks.2.hook_resid_post")
    be2 = ModelBackend(vit, sae, space)
    _same_pass(be2, be2.pixels([s.image for s in cb.make_dataset(2, 2, seed=4)]), np.array([1, 2]))
    assert resolve_similarity("auto", be2) == "shifted" and resolve_similarity("cosine", be2) == "cosine"


def test_skipped_and_reused_copies_give_the_brute_force_scores():
    """Known answer: sufficiency / necessity with silent latents' copies skipped, originals reused from the
    image pass and copies batched across classes equal the paper's computation with every copy forwarded."""
    from saekit.analysis.conceptscope.alignment import Batcher, finish_class, image_pass, queue_class
    from saekit.analysis.conceptscope.masks import concept_only, concept_removed, pixel_masks

    be = cb.PlantedBackend(3)
    samples = cb.make_dataset(3, 6, seed=2)
    rows = np.arange(len(samples))
    ip = image_pass(be, samples, 5, keep_rows=set(rows.tolist()))
    latents = np.arange(be.d_sae)
    text = be.encode_texts(["a"])[0]
    batcher = Batcher(be.embed, 7)
    job = queue_class(be, batcher, [s.image for s in samples], rows, latents, ip, 0.5, 0.001, chunk=4)
    emb_black = be.embed(torch.zeros_like(be.pixels([samples[0].image]))).float()[0]
    got = finish_class(job, batcher.flush(), emb_black, text, "shifted")
    assert job.silent_nK.any() and batcher.n_forwarded < 2 * job.silent_nK.size

    px = be.pixels([s.image for s in samples])
    _, maps = be.encode(px, latents)
    m = pixel_masks(maps, tuple(px.shape[-2:]))
    sim = lambda x: ((1 + be.embed(x).float() @ text.float()) / 2).double().numpy()  # noqa: E731
    s0 = sim(px)
    only = sim(concept_only(px, m, 0.5).flatten(0, 1)).reshape(len(px), -1)
    rem = sim(concept_removed(px, m, 0.001).flatten(0, 1)).reshape(len(px), -1)
    np.testing.assert_allclose(got.sufficiency, (only / s0[:, None]).mean(0), rtol=1e-5)
    np.testing.assert_allclose(got.necessity, (s0[:, None] / rem).mean(0), rtol=1e-5)
