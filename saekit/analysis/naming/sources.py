"""The samples behind a store, reloaded for display: images as the model saw them (with a latent's
patch activations shaded on them) and the token strings of text samples."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from saekit.common.errors import SaekitError
from saekit.common.imaging import heat_overlay, place_on_grid, save_png, store_view

if TYPE_CHECKING:
    from PIL import Image

    from saekit.data import Dataset
    from stores import ActivationStore


class ImageSource:
    """Reloads the images of a store's samples from the dataset spec recorded at capture (attrs
    ``data``), as the model saw them (resize short side, centre crop to the model's input size)."""

    def __init__(self, store: "ActivationStore", dataset: Dataset | None = None):
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
        img = store_view(img, self.attrs.get("preprocessing"), self.attrs.get("image_size"))
        if len(self._cache) > 2048:
            self._cache.clear()
        self._cache[sid] = img
        return img

    def heatmap_image(self, sample_id: int, token_acts: np.ndarray, positions: np.ndarray, vmax: float,
                      px: int = 128) -> "Image.Image":
        """The image as the model saw it with the per-patch activations shaded on it
        (``heat_overlay``); the plain image if the store has no patch grid."""
        from PIL import Image

        img = self.model_view(sample_id).resize((px, px), Image.BICUBIC)
        grid = place_on_grid(token_acts, positions, self.grid, self.n_prefix) if self.grid is not None else None
        return heat_overlay(img, grid, vmax)

    def heatmap_png(self, sample_id: int, token_acts: np.ndarray, positions: np.ndarray, vmax: float,
                    path: Path, px: int = 128) -> bool:
        """Write ``heatmap_image`` as a PNG at ``path``; False if the store has no patch grid."""
        save_png(self.heatmap_image(sample_id, token_acts, positions, vmax, px), path)
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
