"""Datasets: image folders, text files, hfds, and their bad-input errors."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from saekit.data import load_dataset
from saekit.common.errors import SaekitError


def _save(path, seed: int, size=(12, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)).save(path)


def test_image_folder_labels_order_and_lazy_decoding(tmp_path):
    _save(tmp_path / "dog" / "b.png", 1)
    _save(tmp_path / "cat" / "z.jpg", 2)
    _save(tmp_path / "cat" / "a.png", 3)
    _save(tmp_path / "loose.png", 4)
    (tmp_path / "notes.md").write_text("not an image")
    ds = load_dataset(str(tmp_path))
    assert ds.modality == "image" and len(ds) == 4 and ds.labels == ["cat", "dog"]
    assert [(s.source, s.label) for s in ds] == [("loose.png", None), ("cat/a.png", "cat"), ("cat/z.jpg", "cat"),
                                                  ("dog/b.png", "dog")]
    s = ds[1]
    assert s.id == 1 and s.image.mode == "RGB" and s.image.size == (10, 12)
    assert np.array_equal(np.asarray(s.image), np.asarray(Image.open(tmp_path / "cat" / "a.png").convert("RGB")))


def test_corrupt_image_names_the_file(tmp_path):
    _save(tmp_path / "a" / "ok.png", 0)
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not png data")
    ds = load_dataset(str(tmp_path))
    with pytest.raises(SaekitError, match="broken.png"):
        [ds[i] for i in range(len(ds))]


def test_empty_inputs_are_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SaekitError, match="empty"):
        load_dataset(str(tmp_path / "empty"))
    (tmp_path / "blank.txt").write_text("\n   \n\n")
    with pytest.raises(SaekitError, match="empty"):
        load_dataset(str(tmp_path / "blank.txt"))
    with pytest.raises(SaekitError, match="does not exist"):
        load_dataset(str(tmp_path / "missing"))
    (tmp_path / "x.csv").write_text("a,b")
    with pytest.raises(SaekitError, match=".txt"):
        load_dataset(str(tmp_path / "x.csv"))


def test_text_file_one_sample_per_nonempty_line(tmp_path):
    (tmp_path / "c.txt").write_text("first line\n\n  second line  \nthird\n")
    ds = load_dataset(str(tmp_path / "c.txt"))
    assert ds.modality == "text"
    assert [(s.text, s.source, s.label) for s in ds] == [("first line", "c.txt:1", None), ("second line", "c.txt:3", None),
                                                         ("third", "c.txt:4", None)]


def test_text_folder_labels_by_stem(tmp_path):
    (tmp_path / "sports.txt").write_text("a goal\nthe match\n")
    (tmp_path / "food.txt").write_text("bread\n")
    ds = load_dataset(str(tmp_path))
    assert [(s.text, s.label) for s in ds] == [("bread", "food"), ("a goal", "sports"), ("the match", "sports")]
    assert ds.labels == ["food", "sports"]


def test_hfds_autodetects_columns(tmp_path):
    import datasets

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)) for _ in range(3)]
    feats = datasets.Features({"img": datasets.Image(), "caption": datasets.Value("string"),
                               "label": datasets.ClassLabel(names=["ant", "bee"])})
    datasets.Dataset.from_dict({"img": images, "caption": ["x", "y", "z"], "label": [1, 0, 1]},
                               features=feats).save_to_disk(str(tmp_path / "d"))
    ds = load_dataset(f"hfds:{tmp_path / 'd'}")
    assert ds.modality == "image-text" and len(ds) == 3 and ds.labels == ["ant", "bee"]
    s = ds[2]
    assert (s.label, s.text, s.source) == ("bee", "z", "d#2")
    assert np.array_equal(np.asarray(s.image), np.asarray(images[2]))
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"sentence": ["hi", "yo"], "topic": ["a", "b"]})}) \
        .save_to_disk(str(tmp_path / "t"))
    t = load_dataset(f"hfds:{tmp_path / 't'}")
    assert t.modality == "text" and [x.text for x in t] == ["hi", "yo"]
    with pytest.raises(SaekitError, match="hfds"):
        load_dataset(f"hfds:{tmp_path / 'nope'}")
