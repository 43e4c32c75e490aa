"""The samples behind a store, reloaded for display: images as the model saw them (with a latent's
patch activations shaded on them) and the token strings of text samples."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from saekit.errors import SaekitError
from saekit.imaging import model_view

if TYPE_CHECKING:
    from PIL import Image

    from stores import ActivationStore


class ImageSource:
    """Reloads the images of a store's samples from the dataset spec recorded at capture (attrs
    ``data``), as the model saw them (resize short side, centre crop to the model's input size)."""

    def __init__(self, store: "ActivationStore", dataset: Any = None):
        self.attrs = dict(store.attrs)
        self.problem: str | None = None
        self.ds = dataset
        if self.ds is None:
            spec = self.attrs.get("data")
            if not spec:
                self.problem = "the store does not record its dataset (attribute 'data'); pass --data"
            else:
                try:
                    from saekit.data import load_dataset

                    self.ds = load_dataset(str(spec))
                except Exception as exc:  # noqa: BLE001 - any failure means: no images, say why
                    self.problem = f"dataset {spec!r} recorded in the store cannot be reloaded: {exc}"
        if self.ds is not None and getattr(self.ds, "modality", "image") == "text":
            self.problem, self.ds = "the store's dataset has no images", None
        prep = self.attrs.get("preprocessing") or {}
        self.size = int(prep.get("size") or self.attrs.get("image_size") or 224)
        self.resize = int(prep.get("resize") or self.size)
        grid = self.attrs.get("patch_grid")
        self.grid = (int(grid[0]), int(grid[1])) if grid else None
        self.n_prefix = int(self.attrs.get("n_prefix_tokens", 1 if grid else 0))
        self._cache: dict[int, Any] = {}

    @property
    def available(self) -> bool:
        return self.ds is not None

    def model_view(self, sample_id: int) -> "Image.Image":
        """The PIL image of a sample after the model's resize + centre crop (cached)."""
        sid = int(sample_id)
        if sid in self._cache:
            return self._cache[sid]
        img = self.ds[sid].image
        if img is None:
            raise SaekitError(f"sample {sid} of the dataset has no image")
        img = model_view(img, self.size, self.resize)
        if len(self._cache) > 2048:
            self._cache.clear()
        self._cache[sid] = img
        return img

    def heatmap_png(self, sample_id: int, token_acts: np.ndarray, positions: np.ndarray, vmax: float,
                    path: Path, px: int = 128) -> bool:
        """Write the image with the patch grid and per-patch activation shading; False if no grid."""
        from PIL import Image, ImageDraw

        img = self.model_view(sample_id).resize((px, px), Image.BICUBIC).convert("RGBA")
        if self.grid is not None:
            gh, gw = self.grid
            heat = np.zeros(gh * gw, dtype=np.float32)
            p = np.asarray(positions) - self.n_prefix
            ok = (p >= 0) & (p < gh * gw)
            heat[p[ok]] = np.asarray(token_acts, dtype=np.float32)[ok]
            heat = np.clip(heat / max(vmax, 1e-12), 0, 1).reshape(gh, gw)
            alpha = Image.fromarray((heat * 170).astype(np.uint8), "L").resize((px, px), Image.NEAREST)
            red = Image.new("RGBA", (px, px), (255, 40, 0, 0))
            red.putalpha(alpha)
            img = Image.alpha_composite(img, red)
            draw = ImageDraw.Draw(img)
            for i in range(1, gh):
                y = round(i * px / gh)
                draw.line([(0, y), (px, y)], fill=(255, 255, 255, 60))
            for j in range(1, gw):
                x = round(j * px / gw)
                draw.line([(x, 0), (x, px)], fill=(255, 255, 255, 60))
        img.convert("RGB").save(path, format="PNG", optimize=False)
        return self.grid is not None



class TokenSource:
    """Token strings of a text store's samples, by re-tokenising /samples text with the model's
    tokenizer (positions in the store are token indices in that sequence)."""

    def __init__(self, store: "ActivationStore", tokenizer: Any = None):
        self.tokenizer = tokenizer
        self.problem: str | None = None
        self.samples = store.samples
        if self.tokenizer is None:
            model_id = store.attrs.get("model_id")
            try:
                from saekit.models import load_model

                m = load_model(str(model_id))
                self._tokenize = m.tokenize
                self.tokenizer = m.tokenizer
            except Exception as exc:  # noqa: BLE001
                self.problem = f"the tokenizer of {model_id!r} could not be loaded ({exc}); tokens shown by position"
        else:
            self._tokenize = lambda texts: {"input_ids": self.tokenizer(list(texts), return_tensors="pt")["input_ids"]}

    def tokens(self, sample_id: int) -> list[str] | None:
        if self.tokenizer is None:
            return None
        text = str(self.samples[int(sample_id)].get("text") or "")
        ids = self._tokenize([text])["input_ids"][0].tolist()
        return [self.tokenizer.decode([i]) for i in ids]
