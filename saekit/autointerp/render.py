"""How a sample is shown to the model: text windows with the activating tokens marked <<like this>>,
or images (as PNG data URLs) with the activating patches shaded red, plus the caption when the
dataset has one. Images and tokens come from the same code the `name` command uses."""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from saekit.autointerp.evidence import Example
from saekit.errors import SaekitError
from saekit.imaging import to_png

if TYPE_CHECKING:
    from saekit.data import Dataset
    from stores import ActivationStore

OPEN, CLOSE = "<<", ">>"


@dataclass(frozen=True)
class Shown:
    """What the model sees of one sample: text (a window, or a caption for images) and an image."""

    text: str
    image_url: str | None = None


def _is_special(tok: str) -> bool:
    return tok.startswith("<|") and tok.endswith("|>")


def join_marked(tokens: list[str], marked: set[int], start: int, stop: int) -> str:
    """tokens[start:stop] joined, runs of marked indices wrapped in << >>, special tokens dropped."""
    out: list[str] = []
    inside = False
    for i in range(start, stop):
        tok = tokens[i]
        if _is_special(tok):
            continue
        if i in marked and not inside:
            out.append(OPEN)
            inside = True
        elif i not in marked and inside:
            out.append(CLOSE)
            inside = False
        out.append(tok)
    if inside:
        out.append(CLOSE)
    return " ".join("".join(out).split())


def tokenizer_only(model_id: str) -> Any:
    """The tokenizer of a model spec when it can be had without loading the model (None otherwise)."""
    if model_id == "random:gpt2":
        from saekit.models.tiny_tokenizer import byte_tokenizer

        return byte_tokenizer(model_max_length=128)
    if model_id.startswith("hf:"):
        try:
            from transformers import AutoTokenizer

            return AutoTokenizer.from_pretrained(model_id[3:])
        except (OSError, ValueError):
            return None
    return None


class TextRenderer:
    modality = "text"

    def __init__(self, store: ActivationStore, tokenizer: Any = None, context_tokens: int = 16):
        from saekit.analysis.naming import TokenSource

        self.source = TokenSource(store, tokenizer or tokenizer_only(str(store.attrs.get("model_id", ""))))
        if self.source.tokenizer is None:
            raise SaekitError(f"cannot mark tokens of this text store: {self.source.problem}")
        self.context = context_tokens
        self._cache: dict[int, list[str]] = {}

    def tokens(self, sample_id: int) -> list[str]:
        if sample_id not in self._cache:
            self._cache[sample_id] = self.source.tokens(sample_id) or []
        return self._cache[sample_id]

    def _acts(self, ex: Example, n: int) -> np.ndarray:
        acts = np.zeros(n, np.float32)
        if ex.token_acts is not None and ex.positions is not None:
            ok = (ex.positions >= 0) & (ex.positions < n)
            acts[ex.positions[ok]] = ex.token_acts[ok]
        return acts

    def _window(self, n: int, centre: int) -> tuple[int, int]:
        return max(0, centre - self.context), min(n, centre + self.context + 1)

    def explain_view(self, ex: Example, max_act: float) -> Shown:
        toks = self.tokens(ex.sample_id)
        acts = self._acts(ex, len(toks))
        start, stop = self._window(len(toks), int(acts.argmax()))
        return Shown(join_marked(toks, set(np.nonzero(acts > 0)[0].tolist()), start, stop))

    def plain_view(self, ex: Example, rng: np.random.Generator) -> Shown:
        toks = self.tokens(ex.sample_id)
        acts = self._acts(ex, len(toks))
        centre = int(acts.argmax()) if acts.max() > 0 else int(rng.integers(max(1, len(toks))))
        start, stop = self._window(len(toks), centre)
        return Shown(join_marked(toks, set(), start, stop))

    def fuzz_view(self, ex: Example, correct: bool, rng: np.random.Generator) -> Shown | None:
        """The window around the peak with the true activating tokens marked, or (correct=False) as many
        other, non-activating tokens of the window marked instead; None when there are none to mark."""
        toks = self.tokens(ex.sample_id)
        acts = self._acts(ex, len(toks))
        start, stop = self._window(len(toks), int(acts.argmax()))
        true = [i for i in range(start, stop) if acts[i] > 0 and not _is_special(toks[i])]
        if not true:
            return None
        if correct:
            return Shown(join_marked(toks, set(true), start, stop))
        other = [i for i in range(start, stop) if acts[i] <= 0 and not _is_special(toks[i]) and toks[i].strip()]
        if not other:
            return None
        picked = rng.choice(other, size=min(len(true), len(other)), replace=False)
        return Shown(join_marked(toks, set(int(i) for i in picked), start, stop))


class ImageRenderer:
    modality = "image"

    def __init__(self, store: ActivationStore, dataset: Dataset | None = None, px: int = 224):
        from saekit.analysis.naming import ImageSource

        self.images = ImageSource(store, dataset)
        if not self.images.available:
            raise SaekitError(f"cannot show this image store's samples: {self.images.problem}")
        self.samples = store.samples
        self.px = px

    def caption(self, sample_id: int) -> str:
        rec = self.samples[sample_id] if sample_id in self.samples else {}
        return " ".join(str(rec.get("text") or "").split())[:200]

    def explain_view(self, ex: Example, max_act: float) -> Shown:
        acts = ex.token_acts if ex.token_acts is not None else np.zeros(0, np.float32)
        pos = ex.positions if ex.positions is not None else np.zeros(0, np.int64)
        image = self.images.heatmap_image(ex.sample_id, acts, pos, max_act, self.px)
        return Shown(self.caption(ex.sample_id), data_url(to_png(image)))

    def plain_view(self, ex: Example, rng: np.random.Generator) -> Shown:
        from PIL import Image

        image = self.images.model_view(ex.sample_id).resize((self.px, self.px), Image.BICUBIC)
        return Shown(self.caption(ex.sample_id), data_url(to_png(image)))

    def fuzz_view(self, ex: Example, correct: bool, rng: np.random.Generator) -> Shown | None:
        return None  # fuzzing is defined for text


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
