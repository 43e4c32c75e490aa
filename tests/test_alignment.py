"""Text alignment: a planted linear relation is recovered (recall@10 far above the shuffled
baseline), maps save/load, and the CLIP path uses the model's own towers."""
from __future__ import annotations

import json

import numpy as np
import pytest

from saekit.analysis.alignment import (
    AlignConfig,
    ClipTextSpace,
    LinearTextSpace,
    fit_text_space,
    load_text_space,
    pooled_features,
    recall_at_k,
)
from saekit.common.errors import SaekitError
from stores import ActivationStore

WORDS = [f"w{i}" for i in range(40)]
HOOK = "blocks.1.hook_resid_post"


class BagOfWordsEncoder:
    """Unit-norm sum of fixed random word vectors: a deterministic stand-in text encoder."""

    name = "bow-test"

    def __init__(self, dim=24, seed=0):
        rng = np.random.default_rng(seed)
        self.vecs = {w: rng.normal(size=dim) for w in WORDS}
        self.dim = dim

    def encode(self, texts):
        out = np.stack([sum(self.vecs[w] for w in t.split()) for t in texts])
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _captions(n, seed=0):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=3, replace=False)) for _ in range(n)]


def _write_store(path, feats_per_token, captions, hook=HOOK, tokens=4, seed=0):
    """Each sample gets `tokens` rows whose mean is its feature vector."""
    rng = np.random.default_rng(seed)
    n, d = feats_per_token.shape
    w = ActivationStore.create(path, hooks={hook: d}, dtype="float32", attrs={"model_id": "test"})
    for i in range(n):
        noise = rng.normal(size=(tokens, d)) * 0.3
        noise -= noise.mean(0)
        w.append(hook, feats_per_token[i] + noise, np.full(tokens, i), np.arange(tokens))
    w.add_samples(np.arange(n), [{"source": f"img{i}.png", "label": "", "text": c} for i, c in enumerate(captions)])
    w.close()
    return path


def test_ridge_map_recovers_planted_relation(tmp_path):
    enc = BagOfWordsEncoder()
    caps = _captions(300)
    T = enc.encode(caps)
    rng = np.random.default_rng(1)
    A = rng.normal(size=(enc.dim, 32))
    feats = T @ A + rng.normal(size=(300, 32)) * 0.05 + 3.0  # linear in the caption embedding, offset
    store = _write_store(tmp_path / "s.h5", feats, caps)
    ids, pooled = pooled_features(ActivationStore.open(store), HOOK)
    assert ids.tolist() == list(range(300))
    np.testing.assert_allclose(pooled, feats, atol=1e-4)

    space, doc = fit_text_space(store, AlignConfig(hook=HOOK, text_encoder="bow"), out=tmp_path / "align",
                                text_encoder=enc)
    m = doc.metrics
    assert m["recall_at_10"] > 0.9
    assert m["baseline_shuffled_recall_at_10"] < 0.35
    assert m["n_test"] == 60 and m["chance_recall_at_10"] == pytest.approx(10 / 60)
    on_disk = json.loads((tmp_path / "align" / "align.json").read_text())
    assert on_disk["kind"] == "align" and on_disk["method"] == "ridge"
    assert on_disk["metrics"]["recall_at_10"] == m["recall_at_10"]
    assert (tmp_path / "align" / "index.html").is_file() and (tmp_path / "align" / "map.npz").is_file()
    # reload: same predictions; the text encoder is re-attached by the caller here
    loaded = LinearTextSpace.load(tmp_path / "align", text_encoder=enc)
    np.testing.assert_allclose(loaded.image_to_text(feats[:5]), space.image_to_text(feats[:5]), atol=1e-6)
    assert isinstance(load_text_space(tmp_path / "align"), LinearTextSpace)
    # decoder-direction mapping is the linear part: direction of feature change -> text change
    d = loaded.direction_to_text((T[:1] @ A))
    assert d.shape == (1, enc.dim)
    assert float(d[0] @ T[0]) / np.linalg.norm(d) > 0.8


def test_recall_counts_identical_captions_as_hits():
    emb = np.eye(3)
    assert recall_at_k(emb, emb, ["a", "b", "c"], k=1) == 1.0
    pred = np.array([[0, 1, 0], [0, 1, 0], [0, 0, 1.0]])
    # image 0's caption text equals image 1's: retrieving caption 1 counts for image 0
    assert recall_at_k(pred, emb, ["x", "x", "c"], k=1) == 1.0
    assert recall_at_k(pred, emb, ["x", "y", "c"], k=1) == pytest.approx(2 / 3)


def test_clip_path_uses_its_own_towers(tmp_path):
    from saekit.models import load_model

    model = load_model("random:clip")
    caps = [f"a photo of thing {i}" for i in range(40)]
    # a planted perfect image encoder: image features equal the text tower's embedding of the caption
    feats = model.embed_texts(caps).detach().float().numpy()
    store = _write_store(tmp_path / "clip.h5", feats, caps, hook="image_embeds", tokens=1)
    space, doc = fit_text_space(store, AlignConfig(hook="image_embeds", text_encoder="random:clip", pooling="first"),
                                out=tmp_path / "al")
    assert isinstance(space, ClipTextSpace) and doc.method == "clip"
    assert doc.metrics["recall_at_10"] == 1.0
    back = load_text_space(tmp_path / "al")
    assert isinstance(back, ClipTextSpace)
    assert back.encode_texts(["x", "y"]).shape == (2, space.dim)


def test_clip_spec_without_text_tower_and_bad_inputs(tmp_path):
    with pytest.raises(SaekitError, match="no text tower"):
        load_text_space("random:vit")
    with pytest.raises(SaekitError, match="neither"):
        load_text_space("nonexistent-dir")
    caps = [""] * 30
    store = _write_store(tmp_path / "nocap.h5", np.zeros((30, 4)), caps)
    with pytest.raises(SaekitError, match="no captions"):
        fit_text_space(store, AlignConfig(hook=HOOK), text_encoder=BagOfWordsEncoder())
    with pytest.raises(SaekitError, match="not in the store"):
        fit_text_space(store, AlignConfig(hook="nope"), text_encoder=BagOfWordsEncoder())


@pytest.mark.slow
def test_align_cli_with_offline_minilm(tmp_path, capsys):
    """The real offline text encoder through the CLI: features linear in MiniLM caption embeddings."""
    from saekit.cli.main import main
    from saekit.models.text_encoder import load_text_encoder

    rng = np.random.default_rng(0)
    nouns = ["cat", "dog", "car", "tree", "boat", "house", "bird", "flower", "computer", "flag"]
    caps = [f"a drawing of a {a} and a {b}" for a, b in (rng.choice(nouns, 2, replace=False) for _ in range(120))]
    T = load_text_encoder("offline:minilm").encode(caps)
    feats = T @ rng.normal(size=(T.shape[1], 24)) + rng.normal(size=(120, 24)) * 0.01
    store = _write_store(tmp_path / "m.h5", feats, caps)
    rc = main(["align", "--store", str(store), "--hook", HOOK, "--out", str(tmp_path / "al"), "--no-progress"])
    assert rc == 0
    meta = json.loads((tmp_path / "al" / "align.json").read_text())
    m = meta["metrics"]
    assert meta["text_space"]["text_encoder"] == "offline:minilm" and meta["text_space"]["dim"] == 384
    assert m["recall_at_10"] > 0.8 and m["recall_at_10"] > 2 * m["baseline_shuffled_recall_at_10"]
    assert "recall@10" in capsys.readouterr().out
    rc = main(["align", "--store", str(store), "--hook", "nope", "--out", str(tmp_path / "x"), "--no-progress"])
    assert rc == 2 and not (tmp_path / "x").exists()


def test_align_json_written_before_the_document_loads_and_keeps_its_layout(tmp_path):
    """align.json as older saekit wrote it (a plain dict, indent 2): AlignDocument reads it and writes the same keys."""
    from saekit.results import AlignDocument

    old = {"kind": "align", "format_version": 1, "method": "ridge",
           "text_space": {"kind": "linear", "feature_hook": HOOK, "pooling": "mean", "dim": 384,
                          "text_encoder": "offline:minilm", "alpha": 0.118, "d_feat": 384},
           "store": {"path": "runs/quickstart/store.h5", "fingerprint": "632493509543ab2d", "hook": HOOK},
           "params": {"hook": HOOK, "pooling": "mean", "text_encoder": "offline:minilm", "test_frac": 0.2,
                      "val_frac": 0.2, "alphas_rel": [0.0001, 0.001, 0.01, 1.0], "k": 10, "seed": 0},
           "metrics": {"recall_at_10": 0.49, "baseline_shuffled_recall_at_10": 0.05, "chance_recall_at_10": 0.015,
                       "n_train": 2634, "n_test": 658, "alpha": 0.118, "k": 10},
           "created": "2026-12-06T18:02:16"}
    (tmp_path / "align.json").write_text(json.dumps(old, indent=2))
    doc = AlignDocument.load(tmp_path)
    assert doc.method == "ridge" and doc.text_space.model is None and doc.store.path == "runs/quickstart/store.h5"
    assert doc.metrics["n_test"] == 658 and isinstance(doc.metrics["n_test"], int)
    assert json.dumps(doc.to_json(), indent=2) == json.dumps(old, indent=2)
    clip = {**old, "method": "clip", "text_space": {"kind": "clip", "feature_hook": "image_embeds", "pooling": "first",
                                                    "dim": 512, "model": "random:clip"}}
    (tmp_path / "align.json").write_text(json.dumps(clip))
    assert AlignDocument.load(tmp_path).to_json() == clip
