"""The text side of naming: a text space that image features map into (a fitted map or CLIP's own),
or, for text stores, a text encoder applied to the samples' own texts."""
from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from saekit.analysis.alignment import TextSpace, load_text_space
from saekit.models.text_encoder import embed_texts, resolve_text_encoder
from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    from saekit.models.text_encoder import TextEncoder
    from stores import ActivationStore


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

    def describe(self) -> dict[str, Any]:
        if self.space is not None:
            return self.space.describe()
        return {"kind": "text-encoder", "text_encoder": self.encoder_spec}


def default_text_space(store: "ActivationStore", modality: str, device: str) -> TextSpace | None:
    """CLIP models bring their own text space; anything else needs `saekit align` (images) or uses
    the text encoder on the samples' texts (text stores, returned as None here)."""
    if modality == "text":
        return None
    model_id = str(store.attrs.get("model_id", ""))
    if store.attrs.get("modality") == "image-text" and model_id:
        return load_text_space(model_id, device=device)
    raise SaekitError("naming an image SAE needs a text space: run `saekit align --store ... --out DIR` and pass "
                      "--text-space DIR (or a CLIP model spec)")


def resolve_text_side(store: "ActivationStore", modality: str, text_space: "TextSpace | str | os.PathLike | None",
                      text_encoder: "TextEncoder | str", device: str) -> TextSide:
    """``text_space``: a TextSpace, an align output directory or a CLIP spec; None picks CLIP's own
    for CLIP stores and the text encoder on sample texts for text stores."""
    if text_space is None:
        space = default_text_space(store, modality, device)
    else:
        space = load_text_space(text_space, device=device)
    encoder = resolve_text_encoder(text_encoder) if space is None else None
    return TextSide(space=space, encoder=encoder, encoder_spec=str(text_encoder))
