"""`hfds:<dir>`: a `datasets` dataset saved with save_to_disk; image / text / label columns autodetected.

A DatasetDict uses its "train" split, else its first. Image column: the first `Image` feature
(or a column named image / img / picture). Text column: a string column named text, caption,
sentence, content, prompt or title, else the first string column. Label: a ClassLabel (its
names are used) or a column named label / labels / class / category. Source: a column named
path, file_name, filename, source or id, else "<dir>#<row>".
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from saekit.data.sample import Dataset, Sample
from saekit.common.errors import SaekitError

_IMAGE_NAMES = ("image", "img", "picture", "pixel_values")
_TEXT_NAMES = ("text", "caption", "sentence", "content", "prompt", "title")
_LABEL_NAMES = ("label", "labels", "class", "category", "fine_label", "coarse_label")
_SOURCE_NAMES = ("path", "file_name", "filename", "source", "id")


def _pick(names: list[str], preferred: tuple[str, ...], ok) -> str | None:
    for want in preferred:
        if want in names and ok(want):
            return want
    return None


def hf_saved_dataset(path: Path) -> Dataset:
    try:
        import datasets
    except ImportError:
        raise SaekitError("hfds: datasets needs the `datasets` package (pip install datasets)") from None
    if not path.is_dir():
        raise SaekitError(f"hfds:{path}: not a directory saved with datasets' save_to_disk")
    try:
        ds: Any = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise SaekitError(f"hfds:{path}: cannot load it with datasets.load_from_disk ({str(exc).splitlines()[0][:200]})") from None
    if isinstance(ds, datasets.DatasetDict):
        if not ds:
            raise SaekitError(f"hfds:{path}: the DatasetDict has no splits")
        ds = ds["train"] if "train" in ds else ds[next(iter(ds))]
    features = ds.features
    names = list(features)

    def is_string(c: str) -> bool:
        return isinstance(features[c], datasets.Value) and features[c].dtype in ("string", "large_string")

    image_col = next((c for c in names if isinstance(features[c], datasets.Image)), None) or \
        _pick(names, _IMAGE_NAMES, lambda c: True)
    text_col = _pick(names, _TEXT_NAMES, is_string) or next((c for c in names if is_string(c) and c not in _SOURCE_NAMES), None)
    label_col = next((c for c in names if isinstance(features[c], datasets.ClassLabel)), None) or \
        _pick(names, _LABEL_NAMES, lambda c: True)
    source_col = _pick(names, _SOURCE_NAMES, lambda c: True)
    if image_col is None and text_col is None:
        raise SaekitError(f"hfds:{path}: found neither an image nor a text column among {', '.join(names)}")
    if len(ds) == 0:
        raise SaekitError(f"hfds:{path} is empty: it has no rows")
    label_names = features[label_col].names if label_col and isinstance(features[label_col], datasets.ClassLabel) else None

    def label_of(value: Any) -> str | None:
        if value is None:
            return None
        if label_names is not None and isinstance(value, int):
            return label_names[value]
        return str(value)

    def get(i: int) -> Sample:
        row = ds[i]
        image = row[image_col] if image_col else None
        if image is not None and not hasattr(image, "convert"):
            from PIL import Image
            import numpy as np

            image = Image.fromarray(np.asarray(image).astype("uint8"))
        if image is not None:
            image = image.convert("RGB")
        source = str(row[source_col]) if source_col else f"{path.name}#{i}"
        return Sample(id=i, source=source, label=label_of(row[label_col]) if label_col else None,
                      text=row[text_col] if text_col else None, image=image)

    modality = "image-text" if image_col and text_col else "image" if image_col else "text"
    labels = list(label_names) if label_names is not None else None
    return Dataset(f"hfds:{path}", modality, len(ds), get, labels=labels)
