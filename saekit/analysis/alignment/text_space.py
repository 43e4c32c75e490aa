"""Where image features and texts meet: the ``TextSpace`` interface, a fitted linear map
(``LinearTextSpace``, written by `saekit align`: map.npz beside align.json) and a CLIP model's own towers (``ClipTextSpace``);
texts are embedded by ``saekit.models.text_encoder``.

``TextSpace``:
    image_to_text(feats [N, d_feat]) -> unit-norm text-space vectors [N, D]
    encode_texts(texts) -> unit-norm [n, D]
    direction_to_text(dirs [L, d_feat]) -> [L, D]   the linear part, for decoder directions
    feature_hook, pooling                            which image features it expects
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Sequence, Union

import numpy as np

from saekit.common.atomic import atomic_file
from saekit.common.errors import SaekitError
from saekit.models.text_encoder import TextEncoder, encode_batched, embed_texts, unit_rows as _unit
from saekit.results.alignment import AlignDocument

if TYPE_CHECKING:
    from PIL import Image

    from saekit.models.hf_vision import HFVisionModel

#: a text space's description (align.json's text_space: saekit.results.alignment.TextSpaceInfo)
TextSpaceDescription = dict[str, Union[str, int, float, None]]


# ----------------------------------------------------------------------------- the interface
class TextSpace(ABC):
    """Where image features and texts meet (see the module docstring)."""

    kind: str = ""
    feature_hook: str | None = None
    pooling: str = "mean"

    @property
    @abstractmethod
    def dim(self) -> int: ...

    @abstractmethod
    def image_to_text(self, feats_ND: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...

    def direction_to_text(self, dirs_LD: np.ndarray) -> np.ndarray:
        """Map feature-space directions (e.g. SAE decoder rows) with the linear part of the map."""
        raise SaekitError(f"the {self.kind} text space cannot map feature directions")

    def describe(self) -> TextSpaceDescription:
        return {"kind": self.kind, "feature_hook": self.feature_hook, "pooling": self.pooling, "dim": self.dim}


class LinearTextSpace(TextSpace):
    """text(x) = unit((x - x_mean) @ W + t_mean): a fitted ridge map into a text encoder's space."""

    kind = "linear"

    def __init__(self, W: np.ndarray, x_mean: np.ndarray, t_mean: np.ndarray, text_encoder: str | TextEncoder,
                 feature_hook: str | None, pooling: str = "mean", alpha: float = 0.0):
        self.W = np.asarray(W, dtype=np.float32)
        self.x_mean = np.asarray(x_mean, dtype=np.float32)
        self.t_mean = np.asarray(t_mean, dtype=np.float32)
        self.text_encoder_spec = text_encoder if isinstance(text_encoder, str) else getattr(
            text_encoder, "name", type(text_encoder).__name__)
        self._encoder = None if isinstance(text_encoder, str) else text_encoder
        self.feature_hook = feature_hook
        self.pooling = pooling
        self.alpha = float(alpha)

    @property
    def dim(self) -> int:
        return int(self.W.shape[1])

    @property
    def d_feat(self) -> int:
        return int(self.W.shape[0])

    def _check_feats(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.d_feat:
            raise SaekitError(f"the text map expects features [N, {self.d_feat}] (hook {self.feature_hook!r}), "
                              f"got {list(x.shape)}")
        return x

    def image_to_text(self, feats_ND: np.ndarray) -> np.ndarray:
        x = self._check_feats(feats_ND)
        return _unit((x - self.x_mean) @ self.W + self.t_mean)

    def direction_to_text(self, dirs_LD: np.ndarray) -> np.ndarray:
        return self._check_feats(dirs_LD) @ self.W

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return embed_texts(texts, self._encoder or self.text_encoder_spec)

    def describe(self) -> TextSpaceDescription:
        return {**super().describe(), "text_encoder": self.text_encoder_spec, "alpha": self.alpha,
                "d_feat": self.d_feat}

    def save(self, directory: str | os.PathLike) -> Path:
        """map.npz (W, x_mean, t_mean), written atomically; align.json beside it is the command's AlignDocument."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_file(directory / "map.npz") as tmp:
            np.savez(tmp, W=self.W, x_mean=self.x_mean, t_mean=self.t_mean)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike, text_encoder: TextEncoder | None = None) -> "LinearTextSpace":
        directory = Path(directory)
        doc = AlignDocument.load(directory)
        if doc.method != "ridge" or not (directory / "map.npz").is_file():
            raise SaekitError(f"{directory} holds no fitted text map (expected align.json with method 'ridge' and map.npz)")
        ts = doc.text_space
        if ts.text_encoder is None:
            raise SaekitError(f"{directory / 'align.json'}: text_space names no text_encoder (rerun `saekit align`)")
        with np.load(directory / "map.npz") as z:
            return cls(z["W"], z["x_mean"], z["t_mean"], text_encoder or ts.text_encoder,
                       ts.feature_hook, ts.pooling, ts.alpha or 0.0)


class ClipTextSpace(TextSpace):
    """A CLIP-style model's own joint space: image features at ``image_embeds`` are already in it
    (only normalised), texts go through its text tower."""

    kind = "clip"

    def __init__(self, model: HFVisionModel, spec: str = ""):
        if getattr(model, "modality", None) != "image-text" or not hasattr(model, "embed_texts"):
            raise SaekitError(f"{spec or model!r} has no text tower; fit a text map with `saekit align` instead")
        self.model = model
        self.spec = spec or getattr(model, "model_id", "clip")
        self.feature_hook = "image_embeds"
        self.pooling = "first"
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.encode_texts(["a"]).shape[1])
        return self._dim

    def image_to_text(self, feats_ND: np.ndarray) -> np.ndarray:
        return _unit(np.asarray(feats_ND, dtype=np.float32))

    def direction_to_text(self, dirs_LD: np.ndarray) -> np.ndarray:
        return np.asarray(dirs_LD, dtype=np.float32)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return encode_batched(self.model.embed_texts, texts)

    def embed_images(self, images: Sequence["Image.Image"]) -> np.ndarray:
        return _unit(self.model.embed_images(list(images)).detach().float().cpu().numpy())

    def describe(self) -> TextSpaceDescription:
        return {**super().describe(), "model": self.spec}


def load_text_space(spec: str | os.PathLike | TextSpace, device: str = "cpu") -> TextSpace:
    """A directory written by `saekit align` (fitted map), or a CLIP model spec (random:clip, hf:...)."""
    if isinstance(spec, TextSpace):
        return spec
    p = Path(spec)
    if p.is_dir():
        doc = AlignDocument.load(p)
        if doc.method == "clip":
            if doc.text_space.model is None:
                raise SaekitError(f"{p / 'align.json'}: a clip text space names no model (rerun `saekit align`)")
            return load_text_space(doc.text_space.model, device)
        return LinearTextSpace.load(p)
    spec = str(spec)
    if ":" not in spec:
        raise SaekitError(f"text space {spec!r} is neither an align output directory nor a CLIP model spec "
                          "(random:clip, hf:<clip model>)")
    from saekit.models import load_model

    return ClipTextSpace(load_model(spec, device=device), spec)
