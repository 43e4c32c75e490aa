"""Images as saekit shows them: the image as the model saw it, one heatmap colour ramp, PNG bytes.

Every picture saekit writes (naming heatmaps, artifact maps, dashboard thumbnails) frames images
with ``model_view`` and colours values with ``colormap``, so the same sample looks the same
everywhere and matches what the model was given.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

# A perceptual dark-to-bright ramp (roughly matplotlib's "inferno"), sampled at 6 anchors.
_ANCHORS = np.array([
    [0, 0, 4], [66, 10, 104], [147, 38, 103], [221, 81, 58], [252, 165, 10], [252, 255, 164],
], dtype=np.float64)

RESAMPLE = ("bicubic", "bilinear", "nearest")


def colormap(values: np.ndarray) -> np.ndarray:
    """[...] values in [0, 1] -> [..., 3] uint8 colours (values outside are clipped)."""
    x = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0) * (len(_ANCHORS) - 1)
    lo = np.floor(x).astype(int).clip(0, len(_ANCHORS) - 2)
    frac = (x - lo)[..., None]
    return (_ANCHORS[lo] * (1 - frac) + _ANCHORS[lo + 1] * frac).astype(np.uint8)


def model_view(image: "Image.Image", size: int, resize: int | None = None, resample: str = "bicubic") -> "Image.Image":
    """The image as a ViT-style model sees it: RGB, short side resized to ``resize`` (default
    ``size``), centre crop ``size`` x ``size``."""
    from PIL import Image

    method = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST}[resample]
    img = image.convert("RGB")
    short = resize or size
    scale = short / min(img.size)
    w, h = max(size, round(img.width * scale)), max(size, round(img.height * scale))
    if (w, h) != img.size:
        img = img.resize((w, h), method)
    left, top = (w - size) // 2, (h - size) // 2
    if (left, top, w, h) != (0, 0, size, size):
        img = img.crop((left, top, left + size, top + size))
    return img


def to_png(image: "Image.Image") -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=3)
    return buf.getvalue()


def save_png(image: "Image.Image", path: str | os.PathLike) -> None:
    """Write ``image`` as a PNG at ``path`` atomically (a temp file renamed into place)."""
    from saekit.atomic import write_bytes_atomic

    write_bytes_atomic(Path(path), to_png(image))
