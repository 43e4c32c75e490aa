"""bundled:clipart and bundled:austen: contents, loading errors, and use as DATA in `saekit capture`."""
from __future__ import annotations

import shutil
from collections import Counter

import numpy as np
import pytest

from saekit.data import load_dataset
from saekit.data import bundled
from saekit.data.bundled import BUNDLED_DIR, bundled_names, load_bundled
from saekit.common.errors import SaekitError


def test_bundled_files_are_small_enough_for_git():
    assert bundled_names() == ["austen", "clipart"]
    assert (BUNDLED_DIR / "clipart.zip").stat().st_size <= 25 * 2**20
    assert (BUNDLED_DIR / "austen.json.xz").stat().st_size <= 5 * 2**20


def test_clipart_has_labelled_captioned_128px_drawings():
    ds = load_dataset("bundled:clipart")
    assert ds is load_bundled("clipart")  # parsed once per process
    assert ds.name == "bundled:clipart" and ds.modality == "image-text"
    assert len(ds) >= 3000 and len(ds.labels) >= 15
    metas = bundled.clipart_metadata()
    assert len(metas) == len(ds) and all(isinstance(m["keywords"], list) for m in metas)
    counts = Counter(m["label"] for m in metas)
    assert set(counts) == set(ds.labels)
    assert min(counts.values()) >= 40 and max(counts.values()) <= 6 * min(counts.values())
    assert all(m["text"].strip() for m in metas)
    # captions are real OpenClipArt metadata: most flags are called flags, most animals name an animal
    flags = [m["text"].lower() for m in metas if m["label"] == "flag"]
    assert sum("flag" in t for t in flags) > 0.5 * len(flags)
    cards = [m["text"].lower() for m in metas if m["label"] == "playing_card"]
    assert sum("card" in t for t in cards) > 0.8 * len(cards)

    rng = np.random.default_rng(0)
    for i in rng.choice(len(ds), 40, replace=False):
        s = ds[int(i)]
        assert s.id == int(i) and s.source.startswith("openclipart/") and s.source.endswith(".svg")
        assert s.image.mode == "RGB" and s.image.size == (128, 128)
        px = np.asarray(s.image)
        assert px.min() < 200  # something is drawn
    # white background (palette quantisation may turn 255 into 254): most corners are white
    corners = np.array([np.asarray(ds[int(i)].image)[[0, 0, -1, -1], [0, -1, 0, -1]] for i in range(0, len(ds), 25)])
    assert np.mean(corners.min(axis=2) >= 250) > 0.7


def test_austen_is_one_sample_per_paragraph_labelled_by_novel():
    ds = load_dataset("bundled:austen")
    assert ds.name == "bundled:austen" and ds.modality == "text"
    assert ds.labels == sorted(["Sense and Sensibility", "Pride and Prejudice", "Mansfield Park", "Emma",
                                "Northanger Abbey", "Persuasion"])
    assert len(ds) > 9000
    first = ds[0]
    assert first.label == "Sense and Sensibility"
    assert first.text.startswith("The family of Dashwood had long been settled in Sussex.")
    pp = next(s for s in ds if s.label == "Pride and Prejudice")
    assert pp.text == ("It is a truth universally acknowledged, that a single man in possession of a good "
                       "fortune, must be in want of a wife.")
    assert pp.source == "austen/prideprejudice/chapter-1/paragraph-0"
    texts = [s.text for s in ds]
    assert not any(t.upper().startswith(("CHAPTER", "VOLUME")) for t in texts)  # headings dropped
    assert not any("Signet Classic" in t for t in texts)  # the editor's afterword is not Austen
    assert 650_000 < sum(len(t.split()) for t in texts) < 750_000


def test_unknown_and_damaged_bundled_data_raise_one_line_errors(tmp_path, monkeypatch):
    with pytest.raises(SaekitError, match="unknown bundled dataset 'bundled:nope'; expected one of bundled:austen, bundled:clipart"):
        load_dataset("bundled:nope")
    (tmp_path / "clipart.zip").write_bytes(b"not a zip file")
    monkeypatch.setattr(bundled, "BUNDLED_DIR", tmp_path)
    load_bundled.cache_clear()
    try:
        with pytest.raises(SaekitError, match=r"bundled:clipart: .*clipart.zip is damaged"):
            load_bundled("clipart")
        with pytest.raises(SaekitError, match=r"bundled:austen: .*austen.json.xz is missing"):
            load_bundled("austen")
    finally:
        load_bundled.cache_clear()


def test_clipart_and_austen_work_as_capture_data(tmp_path, capsys):
    from saekit.cli.main import main
    from stores import ActivationStore

    out = tmp_path / "clip.h5"
    code = main(["capture", "--model", "random:vit", "--data", "bundled:clipart", "--hook", "blocks.1.hook_resid_post",
                 "--tokens", "cls", "--limit", "6", "--batch-size", "3", "--out", str(out), "--device", "cpu",
                 "--no-progress"])
    assert code == 0, capsys.readouterr().err
    ds = load_bundled("clipart")
    with ActivationStore.open(out) as s:
        assert s.n_samples == 6 and s.n_rows("blocks.1.hook_resid_post") == 6
        for sid in range(6):
            rec = s.samples[sid]
            assert (rec["label"], rec["text"], rec["source"]) == (ds[sid].label, ds[sid].text, ds[sid].source)

    out = tmp_path / "austen.h5"
    code = main(["capture", "--model", "random:gpt2", "--data", "bundled:austen", "--hook", "blocks.0.hook_resid_post",
                 "--limit", "4", "--out", str(out), "--device", "cpu", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    austen = load_bundled("austen")
    with ActivationStore.open(out) as s:
        assert s.n_samples == 4
        assert [s.samples[i]["label"] for i in range(4)] == ["Sense and Sensibility"] * 4
        assert s.samples[0]["text"] == austen[0].text
        assert s.n_rows("blocks.0.hook_resid_post") > 4 * 20  # token rows of four paragraphs
