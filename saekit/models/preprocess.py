"""Image preprocessing shared by every vision adapter: resize, centre-crop, scale, normalise."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence, Union

import numpy as np
import torch

from saekit.common.errors import SaekitError
from saekit.common.imaging import RESAMPLE, model_view

if TYPE_CHECKING:
    from PIL import Image

#: an image the preprocessor takes: a PIL image, or an array PIL can read (H x W x 3 uint8)
ImageInput = Union["Image.Image", np.ndarray]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
HALF = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class ImagePreprocessor:
    """Resize the short side to `resize` (default `size`), centre-crop `size` x `size`, scale to
    [0, 1] and normalise with `mean` / `std`. Calling it on N images gives pixel_values [N, 3, size, size]."""

    size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resize: int | None = None
    resample: str = "bicubic"

    def __post_init__(self) -> None:
        if self.size <= 0:
            raise SaekitError(f"image size must be positive, got {self.size}")
        if self.resample not in RESAMPLE:
            raise SaekitError(f"resample must be bicubic, bilinear or nearest, got {self.resample!r}")

    @classmethod
    def coerce(cls, obj: object) -> "ImagePreprocessor":
        """Accept an ImagePreprocessor, a dict, or any object with size/mean/std attributes (duck-typed)."""
        if isinstance(obj, cls):
            return obj
        if isinstance(obj, dict):
            get = obj.get
        else:
            def get(key, default=None):
                return getattr(obj, key, default)
        size = get("size")
        if size is None:
            raise SaekitError("image preprocessing needs a `size`")
        return cls(size=int(size), mean=tuple(get("mean", IMAGENET_MEAN)), std=tuple(get("std", IMAGENET_STD)),
                   resize=get("resize"), resample=get("resample", "bicubic") or "bicubic")

    def as_dict(self) -> dict:
        return {"size": self.size, "resize": self.resize or self.size, "crop": "center", "mean": list(self.mean),
                "std": list(self.std), "resample": self.resample}

    def __call__(self, images: Sequence[ImageInput]) -> torch.Tensor:

        from PIL import Image

        out_N3HW = np.empty((len(images), 3, self.size, self.size), np.float32)
        for i, img in enumerate(images):
            if not isinstance(img, Image.Image):
                img = Image.fromarray(np.asarray(img))
            img = model_view(img, self.size, self.resize, self.resample)
            out_N3HW[i] = np.asarray(img, np.float32).transpose(2, 0, 1)
        # One vectorised normalisation for the whole batch instead of per image.
        scale_3 = (1.0 / (255.0 * np.asarray(self.std, np.float32)))[None, :, None, None]
        shift_3 = (np.asarray(self.mean, np.float32) / np.asarray(self.std, np.float32))[None, :, None, None]
        out_N3HW *= scale_3
        out_N3HW -= shift_3
        return torch.from_numpy(out_N3HW)
