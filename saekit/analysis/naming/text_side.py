"""The text side of naming: a text space that image features map into (a fitted map or CLIP's own),
or, for text stores, a text encoder applied to the samples' own texts."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from saekit.analysis.alignment.text_space import ClipTextSpace, TextSpace, load_text_space
from saekit.results.alignment import AlignDocument
from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject
from saekit.models.text_encoder import embed_texts, resolve_text_encoder

if TYPE_CHECKING:
    from saekit.inputs import Inputs
    from saekit.models.text_encoder import TextEncoder


@dataclasses.dataclass
class TextSide:
    """Exactly one of ``space`` (image features meet texts there) and ``encoder`` (texts only) is set."""

    space: TextSpace | None
    encoder: "TextEncoder | None"
    encoder_spec: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings [n, D] of ``texts`` in the space names are scored in."""
        if self.space is not None:
            return self.space.encode_texts(list(texts))
        return embed_texts(list(texts), self.encoder)

    def describe(self) -> JSONObject:
        if self.space is not None:
            return self.space.describe()
        return {"kind": "text-encoder", "text_encoder": self.encoder_spec}


def default_text_space(inputs: "Inputs", modality: str) -> TextSpace | None:
    """CLIP models bring their own text space (the store's model, loaded once by ``inputs``); anything else
    needs `saekit align` (images) or uses the text encoder on the samples' texts (text stores: None here)."""
    if modality == "text":
        return None
    store = inputs.store
    model_id = str(store.attrs.get("model_id", ""))
    if store.attrs.get("modality") == "image-text" and model_id:
        return ClipTextSpace(inputs.load_model(model_id), model_id)
    raise SaekitError("naming an image SAE needs a text space: run `saekit align --store ... --out DIR` and pass "
                      "--text-space DIR (or a CLIP model spec)")


def given_text_space(inputs: "Inputs", text_space: "TextSpace | str | os.PathLike") -> TextSpace:
    """A TextSpace itself, a `saekit align` directory, or a CLIP model spec; a CLIP model through
    ``inputs.load_model``, so a run loads it once."""
    if isinstance(text_space, TextSpace):
        return text_space
    clip_spec = str(text_space)
    if Path(text_space).is_dir():
        meta = AlignDocument.load(Path(text_space))
        if meta.method != "clip":
            return load_text_space(text_space)
        clip_spec = str(meta.text_space.model)
    elif ":" not in clip_spec:
        return load_text_space(text_space)  # its one-line error
    return ClipTextSpace(inputs.load_model(clip_spec), clip_spec)


def resolve_text_side(inputs: "Inputs", modality: str, text_space: "TextSpace | str | os.PathLike | None",
                      text_encoder: "TextEncoder | str") -> TextSide:
    """``text_space``: a TextSpace, an align output directory or a CLIP spec; None picks CLIP's own
    for CLIP stores and the text encoder on sample texts for text stores."""
    space = default_text_space(inputs, modality) if text_space is None else given_text_space(inputs, text_space)
    encoder = resolve_text_encoder(text_encoder) if space is None else None
    return TextSide(space=space, encoder=encoder, encoder_spec=str(text_encoder))
