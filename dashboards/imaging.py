"""Sample images as PNG bytes, optionally with a latent's patch activations overlaid as a heatmap.

Pure rendering: token activations come in, pixels go out. Images are always decoded with PIL and
re-encoded, so whatever a sample record points at is never streamed back as raw bytes.
"""
from __future__ import annotations

from math import isqrt

import numpy as np
from PIL import Image

from saekit.imaging import colormap, model_view, to_png  # noqa: F401  (to_png: part of this module's interface)

THUMB_SIZES: tuple[int, ...] = (96, 160, 224, 320)


def patch_grid(acts_T: np.ndarray, positions_T: np.ndarray) -> np.ndarray | None:
    """Per-token activations -> a square [g, g] patch grid, or None when the tokens form no grid.

    Positions are the store's token indices (-1 = padding). Leading special tokens (CLS,
    registers) are dropped until what is left is a perfect square, which covers patch-only
    stores (0..P-1), all-token stores (CLS at 0) and models with a few registers.
    """
    acts_T = np.asarray(acts_T, dtype=np.float32)
    positions_T = np.asarray(positions_T)
    valid = positions_T >= 0
    acts, pos = acts_T[valid], positions_T[valid]
    order = np.argsort(pos, kind="stable")
    acts = acts[order]
    for drop in range(0, min(9, len(acts))):
        n = len(acts) - drop
        g = isqrt(n)
        if n > 0 and g * g == n and (g > 1 or len(acts) == 1):
            return acts[drop:].reshape(g, g)
    return None


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


def square_crop(image: Image.Image, size: int, resize: int | None = None) -> Image.Image:
    """The image as the model saw it (saekit.imaging.model_view: short side to ``resize``, centre crop),
    shown at ``size`` pixels. ``resize`` is in units of ``size`` (the store's preprocessing resize /
    size ratio times ``size``); None frames the largest centred square."""
    return model_view(image, size, resize)


def overlay(image: Image.Image, grid_gg: np.ndarray | None, scale: float, size: int,
            alpha: float = 0.55) -> Image.Image:
    """Blend a heatmap of `grid_gg / scale` over the square-cropped image; dark where inactive."""
    base = square_crop(image, size)
    if grid_gg is None:
        return base
    heat = np.clip(np.asarray(grid_gg, dtype=np.float32) / max(float(scale), 1e-12), 0.0, 1.0)
    heat_img = Image.fromarray((heat * 255).astype(np.uint8), mode="L").resize((size, size), Image.BILINEAR)
    heat = np.asarray(heat_img, dtype=np.float32) / 255.0
    rgb = np.asarray(base, dtype=np.float32)
    colour = colormap(heat).astype(np.float32)
    # Strong activations show the heat colour; weak ones dim the photo so the eye goes to the hot patches.
    a = (alpha * heat)[..., None]
    dimmed = rgb * (0.6 + 0.4 * heat[..., None])
    out = dimmed * (1 - a) + colour * a
    return Image.fromarray(out.clip(0, 255).astype(np.uint8))


def placeholder(size: int, text: str = "") -> Image.Image:
    """A neutral tile for samples without a renderable image."""
    from PIL import ImageDraw

    img = Image.new("RGB", (size, size), (236, 239, 243))
    if text:
        ImageDraw.Draw(img).text((6, size // 2 - 6), text[:24], fill=(90, 98, 110))
    return img


def nearest_size(size: int | None) -> int:
    """Clamp a requested thumbnail size to the few sizes served (bounded cache, no huge renders)."""
    if not size:
        return THUMB_SIZES[1]
    return min(THUMB_SIZES, key=lambda s: abs(s - int(size)))
