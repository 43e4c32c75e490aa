"""`bundled:<name>`: small real datasets that ship inside the saekit package.

    bundled:clipart   OpenClipArt drawings (public domain), 128x128 RGB on white, label = category,
                      text = title and keywords; modality image-text (images with captions)
    bundled:austen    Jane Austen's six novels (public domain), one sample per paragraph,
                      label = novel; modality text

Built from Debian packages by experiments/data/build_clipart.py and build_austen.py. The files
are read once per process (about 10 MB and 1 MB); images are decoded when a sample is read.
"""
from __future__ import annotations

import functools
import io
import json
import lzma
import zipfile
from pathlib import Path

from saekit.data.sample import Dataset, Sample
from saekit.common.errors import SaekitError

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
BUNDLED_FILES = {"clipart": "clipart.zip", "austen": "austen.json.xz"}
FORMAT_VERSION = 1


def bundled_names() -> list[str]:
    return sorted(BUNDLED_FILES)


def bundled_path(name: str) -> Path:
    if name not in BUNDLED_FILES:
        raise SaekitError(f"unknown bundled dataset 'bundled:{name}'; expected one of "
                          f"{', '.join('bundled:' + n for n in bundled_names())}")
    path = BUNDLED_DIR / BUNDLED_FILES[name]
    if not path.is_file():
        raise SaekitError(f"bundled:{name}: {path} is missing from this installation "
                          f"(rebuild it with experiments/data/build_{name}.py or reinstall saekit)")
    return path


@functools.lru_cache(maxsize=None)
def load_bundled(name: str) -> Dataset:
    """The bundled dataset `name` (clipart or austen) as a Dataset of Samples."""
    path = bundled_path(name)
    try:
        loader = {"clipart": _clipart, "austen": _austen}[name]
        return loader(path)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, lzma.LZMAError) as exc:
        _read_clipart.cache_clear()
        why = (str(exc).splitlines() or [""])[0][:200]
        raise SaekitError(f"bundled:{name}: {path} is damaged ({type(exc).__name__}: {why}); "
                          f"reinstall saekit or rebuild it with experiments/data/build_{name}.py") from None


def _check_version(meta: dict) -> None:
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"format version {meta.get('format_version')!r}, expected {FORMAT_VERSION}")


@functools.lru_cache(maxsize=None)
def _read_clipart(path: Path) -> tuple[dict, list[bytes]]:
    # All encoded PNGs go to memory up front (~10 MB): a ZipFile handle shared with forked
    # DataLoader workers would share one file offset.
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("metadata.json"))
        _check_version(meta)
        return meta, [zf.read(it["file"]) for it in meta["items"]]


def clipart_metadata() -> list[dict]:
    """Per drawing (in sample-id order): label, title, keywords (list), text (the caption), source."""
    load_bundled("clipart")  # validates the file (one-line SaekitError when damaged) and caches it
    meta, _ = _read_clipart(bundled_path("clipart"))
    return [{k: it[k] for k in ("label", "title", "keywords", "text", "source")} for it in meta["items"]]


def _clipart(path: Path) -> Dataset:
    meta, pngs = _read_clipart(path)
    items = meta["items"]

    def get(i: int) -> Sample:
        from PIL import Image

        it = items[i]
        with Image.open(io.BytesIO(pngs[i])) as im:
            image = im.convert("RGB")
        return Sample(id=i, source=it["source"], label=it["label"], text=it["text"], image=image)

    return Dataset("bundled:clipart", "image-text", len(items), get, labels=sorted(meta["labels"]))


def _austen(path: Path) -> Dataset:
    meta = json.loads(lzma.decompress(path.read_bytes()).decode("utf-8"))
    _check_version(meta)
    samples = [Sample(id=i, source=it["source"], label=it["label"], text=it["text"])
               for i, it in enumerate(meta["items"])]
    return Dataset("bundled:austen", "text", len(samples), samples.__getitem__, labels=sorted(meta["labels"]))
