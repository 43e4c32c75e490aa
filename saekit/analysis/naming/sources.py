"""The samples behind a store, reloaded for display: images as the model saw them (with a latent's
patch activations shaded on them) and the token strings of text samples. The dataset and the model
come from the command's ``Inputs`` (``ImageSource.of`` / ``TokenSource.of``), so they are loaded once."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Protocol, Sequence

import numpy as np

from saekit.common.errors import SaekitError
from saekit.common.imaging import heat_overlay, place_on_grid, save_png, store_view
from saekit.inputs import Inputs

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from saekit.data import Dataset
    from saekit.models.base import HookedModel
    from stores import ActivationStore


class Tokenizer(Protocol):
    """What token strings need of a Hugging Face tokenizer."""

    def __call__(self, texts: list[str], return_tensors: str | None = None) -> Mapping[str, "torch.Tensor"]: ...

    def decode(self, ids: Sequence[int]) -> str: ...


def _dataset_of(inputs: Inputs) -> tuple["Dataset | None", str | None]:
    """(the inputs' dataset, None), or (None, why it cannot be had)."""
    spec = inputs.data_spec
    try:
        return inputs.dataset, None
    except Exception as exc:  # noqa: BLE001 - any failure means: no images, say why
        if not spec:
            return None, "the store does not record its dataset (attribute 'data'); pass --data"
        return None, f"dataset {spec!r} recorded in the store cannot be reloaded: {exc}"


class ImageSource:
    """The images of a store's samples, from the given dataset (by default the one the store recorded at
    capture, attribute ``data``), as the model saw them (resize short side, centre crop to its input size)."""

    def __init__(self, store: "ActivationStore", dataset: "Dataset | None" = None, problem: str | None = None):
        self.attrs = dict(store.attrs)
        self.ds, self.problem = dataset, problem
        if self.ds is None and self.problem is None:  # a caller without a command's Inputs: the store's own
            self.ds, self.problem = _dataset_of(Inputs(store=store))
        if self.ds is not None and getattr(self.ds, "modality", "image") == "text":
            self.problem, self.ds = "the store's dataset has no images", None
        grid = self.attrs.get("patch_grid")
        self.grid = (int(grid[0]), int(grid[1])) if grid else None
        self.n_prefix = int(self.attrs.get("n_prefix_tokens", 1 if grid else 0))
        self._cache: dict[int, "Image.Image"] = {}

    @classmethod
    def of(cls, inputs: Inputs) -> "ImageSource":
        """The images of ``inputs.store``'s samples from ``inputs.dataset`` (a note instead when it cannot be had)."""
        dataset, problem = _dataset_of(inputs)
        return cls(inputs.store, dataset, problem)

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
    """Token strings of a text store's samples, by re-tokenising /samples text with the store's model's
    tokenizer (positions in the store are token indices in that sequence), or with ``tokenizer``."""

    def __init__(self, store: "ActivationStore", tokenizer: Tokenizer | None = None, *,
                 model: "HookedModel | None" = None, problem: str | None = None):
        self.tokenizer, self.problem, self.samples = tokenizer, problem, store.samples
        if self.tokenizer is None and model is None and problem is None:  # a caller without a command's Inputs
            model, self.problem = _model_of(Inputs(store=store))
        if model is not None:
            self._tokenize = model.tokenize
            self.tokenizer = model.tokenizer
        elif self.tokenizer is not None:
            self._tokenize = lambda texts: {"input_ids": self.tokenizer(list(texts), return_tensors="pt")["input_ids"]}

    @classmethod
    def of(cls, inputs: Inputs, tokenizer: Tokenizer | None = None) -> "TokenSource":
        """Token strings by ``tokenizer``, else by ``inputs.model``'s (a note instead when it cannot be loaded)."""
        if tokenizer is not None:
            return cls(inputs.store, tokenizer)
        model, problem = _model_of(inputs)
        return cls(inputs.store, model=model, problem=problem)

    def tokens(self, sample_id: int) -> list[str] | None:
        if self.tokenizer is None:
            return None
        text = str(self.samples[int(sample_id)].get("text") or "")
        ids = self._tokenize([text])["input_ids"][0].tolist()
        return [self.tokenizer.decode([i]) for i in ids]


def _model_of(inputs: Inputs) -> tuple["HookedModel | None", str | None]:
    """(the inputs' model, None), or (None, why its tokenizer cannot be had)."""
    try:
        return inputs.model, None
    except Exception as exc:  # noqa: BLE001 - any failure means: tokens shown by position, say why
        return None, f"the tokenizer of {inputs.model_spec!r} could not be loaded ({exc}); tokens shown by position"
