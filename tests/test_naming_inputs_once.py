"""One `saekit name` run opens its store once and loads each dataset and each model once (per spec), for
an image store (CLIP's own text space, CLIP's image tower on the reloaded images, another image encoder
for the Monosemanticity Score) and a text store (the store's model for the token strings, the text
encoder for names and the Monosemanticity Score)."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

import saekit.data
import saekit.models
import saekit.models.text_encoder
from saekit.capture import CaptureConfig, capture
from saekit.cli.main import main
from saekit.sae import SAE, SAEConfig
from stores import ActivationStore

HOOK = "blocks.1.hook_resid_post"
WORDS = ["cat", "dog", "car", "tree", "boat", "house"]


@pytest.fixture
def counted(monkeypatch):
    """Counts of store opens, dataset loads, model loads and text-encoder loads, by path / spec."""
    calls: Counter = Counter()
    open_store, load_dataset, load_model = ActivationStore.open.__func__, saekit.data.load_dataset, saekit.models.load_model
    load_text_encoder = saekit.models.text_encoder.load_text_encoder

    def counting_open(cls, path, *args, **kwargs):
        calls[("store", str(path))] += 1
        return open_store(cls, path, *args, **kwargs)

    def counting_dataset(spec, *args, **kwargs):
        calls[("dataset", str(spec))] += 1
        return load_dataset(spec, *args, **kwargs)

    def counting_model(spec, *args, **kwargs):
        calls[("model", str(spec))] += 1
        return load_model(spec, *args, **kwargs)

    def counting_text_encoder(spec, *args, **kwargs):
        calls[("text encoder", str(spec))] += 1
        return load_text_encoder(spec, *args, **kwargs)

    monkeypatch.setattr(ActivationStore, "open", classmethod(counting_open))
    monkeypatch.setattr(saekit.models.text_encoder, "load_text_encoder", counting_text_encoder)
    monkeypatch.setattr(saekit.data, "load_dataset", counting_dataset)
    monkeypatch.setattr(saekit.models, "load_model", counting_model)
    return calls


def _sae(tmp_path, d_in: int) -> str:
    torch.manual_seed(0)
    sae = SAE.create(SAEConfig(arch="relu", d_in=d_in, d_sae=16, hook=HOOK, normalization="none"))
    with torch.no_grad():
        sae.b_enc.fill_(1.0)  # every latent fires: all are named
    sae.save(tmp_path / "sae")
    return str(tmp_path / "sae")


def _name(tmp_path, store, counted: Counter, *extra: str) -> None:
    (tmp_path / "words.txt").write_text("\n".join(WORDS) + "\n")
    with ActivationStore.open(store) as s:
        d_in = s.d(HOOK)
    sae = _sae(tmp_path, d_in)
    counted.clear()
    rc = main(["name", "--sae", sae, "--store", str(store), "--out", str(tmp_path / "names"), "--vocab",
               str(tmp_path / "words.txt"), "--top-n", "3", "--device", "cpu", "--no-progress", *extra])
    assert rc == 0 and (tmp_path / "names" / "names.json").is_file()


@pytest.mark.parametrize("mono_encoder", ["random:vit", "random:clip"])
def test_an_image_name_run_opens_the_store_and_loads_the_dataset_and_each_model_once(tmp_path, counted, mono_encoder):
    """random:vit: another encoder for the Monosemanticity Score, loaded once beside CLIP; random:clip: the
    store's own model serves the text space, its image tower and the Monosemanticity Score, loaded once."""
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    for lab in ("cat", "dog"):
        (root / lab).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, size=(40, 40, 3), dtype=np.uint8)).save(root / lab / f"{i}.png")
    store = tmp_path / "clip.h5"
    capture(CaptureConfig(model="random:clip", data=str(root), hooks=(HOOK,), out=str(store), tokens="all",
                          dtype="float32", device="cpu", progress=False))
    _name(tmp_path, store, counted, "--mono-encoder", mono_encoder)
    assert counted[("store", str(store))] == 1, counted
    assert counted[("dataset", str(root))] == 1, counted  # heatmaps, CLIP's image tower and the MS embedding
    assert counted[("model", "random:clip")] == 1, counted  # the text space and its image tower
    assert counted[("model", mono_encoder)] == 1, counted   # the Monosemanticity Score's image encoder
    assert all(n == 1 for n in counted.values()), counted


def test_a_text_name_run_opens_the_store_and_loads_the_model_once(tmp_path, counted):
    texts = tmp_path / "texts.txt"
    rng = np.random.default_rng(0)
    texts.write_text("\n".join(" ".join(rng.choice(WORDS, size=6)) for _ in range(12)) + "\n")
    store = tmp_path / "text.h5"
    capture(CaptureConfig(model="random:gpt2", data=str(texts), hooks=(HOOK,), out=str(store), dtype="float32",
                          device="cpu", progress=False))
    _name(tmp_path, store, counted)
    assert counted[("store", str(store))] == 1, counted
    assert counted[("model", "random:gpt2")] == 1, counted  # the token strings
    assert counted[("text encoder", "offline:minilm")] == 1, counted  # names and the Monosemanticity Score
    assert all(n == 1 for n in counted.values()), counted
