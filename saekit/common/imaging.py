"""Images as saekit shows them: the image as the model saw it, one heatmap colour ramp and
overlay, PNG bytes.

Every picture saekit writes (naming heatmaps, artifact maps, dashboard thumbnails) frames images
with ``model_view`` (``store_view`` when the framing comes from a store's preprocessing
attributes), colours values with ``colormap`` and shades patches with ``heat_overlay``, so the
same sample looks the same everywhere and matches what the model was given.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

    from saekit.common.jsontypes import JSONValue


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


def view_of(preprocessing: Mapping[str, JSONValue] | None, image_size: int | None = None) -> tuple[int, int | None, str]:
    """(size, resize, resample) of ``model_view`` from a store's ``preprocessing`` attribute (size:
    else ``image_size``, else 224)."""
    prep = preprocessing or {}
    size = int(prep.get("size") or image_size or 224)
    resize = prep.get("resize")
    return size, int(resize) if resize else None, str(prep.get("resample") or "bicubic")


def store_view(image: "Image.Image", preprocessing: Mapping[str, JSONValue] | None, image_size: int | None = None,
               shown: int | None = None) -> "Image.Image":
    """The image as the model behind a store saw it (``view_of``: the store's ``preprocessing`` and
    ``image_size`` attributes), scaled to ``shown`` pixels when given."""
    from PIL import Image

    size, resize, resample = view_of(preprocessing, image_size)
    img = model_view(image, size, resize, resample)
    if shown and shown != size:
        img = img.resize((shown, shown), Image.BICUBIC)
    return img


def place_on_grid(acts_T: np.ndarray, positions_T: np.ndarray, grid_hw: tuple[int, int],
                  n_prefix: int) -> np.ndarray | None:
    """Per-token activations -> [gh, gw] when the model's patch grid is known (store attrs
    patch_grid / n_prefix_tokens): token position p is patch p - n_prefix, row-major."""
    gh, gw = int(grid_hw[0]), int(grid_hw[1])
    patch = np.asarray(positions_T, dtype=np.int64) - int(n_prefix)
    ok = (patch >= 0) & (patch < gh * gw)
    if not ok.any():
        return None
    out = np.zeros(gh * gw, dtype=np.float32)
    out[patch[ok]] = np.asarray(acts_T, dtype=np.float32)[ok]
    return out.reshape(gh, gw)


def heat_overlay(base: "Image.Image", grid_gg: np.ndarray | None, scale: float, alpha: float = 0.55) -> "Image.Image":
    """``grid_gg / scale`` (clipped to [0, 1]) in ``colormap`` colours blended over ``base``; weak
    patches dim the photo so the eye goes to the hot ones. None: ``base`` unchanged."""
    from PIL import Image

    if grid_gg is None:
        return base
    w, h = base.size
    heat = np.clip(np.asarray(grid_gg, dtype=np.float32) / max(float(scale), 1e-12), 0.0, 1.0)
    heat_img = Image.fromarray((heat * 255).astype(np.uint8), mode="L").resize((w, h), Image.BILINEAR)
    heat = np.asarray(heat_img, dtype=np.float32) / 255.0
    rgb = np.asarray(base.convert("RGB"), dtype=np.float32)
    colour = colormap(heat).astype(np.float32)
    a = (alpha * heat)[..., None]
    dimmed = rgb * (0.6 + 0.4 * heat[..., None])
    out = dimmed * (1 - a) + colour * a
    return Image.fromarray(out.clip(0, 255).astype(np.uint8))


def to_png(image: "Image.Image") -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=3)
    return buf.getvalue()


def save_png(image: "Image.Image", path: str | os.PathLike) -> None:
    """Write ``image`` as a PNG at ``path`` atomically (a temp file renamed into place)."""
    from saekit.common.atomic import write_bytes_atomic

    write_bytes_atomic(Path(path), to_png(image))
