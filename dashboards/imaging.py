"""Sample images as PNG bytes, optionally with a latent's patch activations overlaid as a heatmap.

Pure rendering: token activations come in, pixels go out. Images are always decoded with PIL and
re-encoded, so whatever a sample record points at is never streamed back as raw bytes.
"""
from __future__ import annotations

from math import isqrt
from typing import TYPE_CHECKING, Mapping

import numpy as np
from PIL import Image

from saekit.common.imaging import place_on_grid, to_png  # noqa: F401  (part of this module's interface)
from saekit.common.imaging import heat_overlay, store_view

if TYPE_CHECKING:
    from saekit.common.jsontypes import JSONValue


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


def overlay(image: Image.Image, grid_gg: np.ndarray | None, scale: float, size: int,
            preprocessing: Mapping[str, JSONValue] | None, image_size: int | None = None, alpha: float = 0.55) -> Image.Image:
    """The image as the store's model saw it (``saekit.common.imaging.store_view`` of the store's
    preprocessing attributes) at ``size`` pixels, with the heatmap of ``grid_gg / scale`` blended
    over it (``saekit.common.imaging.heat_overlay``)."""
    return heat_overlay(store_view(image, preprocessing, image_size, shown=size), grid_gg, scale, alpha)


def nearest_size(size: int | None) -> int:
    """Clamp a requested thumbnail size to the few sizes served (bounded cache, no huge renders)."""
    if not size:
        return THUMB_SIZES[1]
    return min(THUMB_SIZES, key=lambda s: abs(s - int(size)))
