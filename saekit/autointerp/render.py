"""How a window is shown to the model: text windows with tokens marked <<like this>>, or images (as
PNG data URLs) with the activating patches shaded red, plus the caption when the dataset has one.
Images and tokens come from the same code the `name` command uses.

Marks: explaining windows mark every token where the latent fires. Fuzzing (text) marks, as delphi
does, the tokens at or above `FUZZ_THRESHOLD` of the window's max activation ("true" marks), or
`n` randomly chosen tokens at or below it ("wrong" marks)."""
from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

import numpy as np

from saekit.autointerp.evidence import Example
from saekit.autointerp.tokenizer import tokenizer_only
from saekit.common.errors import SaekitError
from saekit.common.imaging import to_png

if TYPE_CHECKING:
    from saekit.autointerp.tokenizer import Tokenizer
    from saekit.data import Dataset
    from stores import ActivationStore

OPEN, CLOSE = "<<", ">>"
FUZZ_THRESHOLD = 0.3  # delphi's fuzzing threshold, relative to the window's max activation


@dataclass(frozen=True)
class Shown:
    """What the model sees of one window: text (a window, or a caption for images) and an image."""

    text: str
    image_url: str | None = None


class Renderer(Protocol):
    """How a store's windows are shown: TextRenderer or ImageRenderer."""

    modality: str

    def explain_view(self, ex: Example, max_act: float) -> Shown: ...

    def plain_view(self, ex: Example, rng: np.random.Generator) -> Shown: ...

    def n_active(self, ex: Example) -> int: ...

    def fuzz_view(self, ex: Example, correct: bool, n_wrong: int, rng: np.random.Generator) -> Shown | None: ...


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


class TextRenderer:
    modality = "text"

    def __init__(self, store: ActivationStore, tokenizer: Tokenizer | None = None):
        from saekit.analysis.naming import TokenSource

        self.source = TokenSource(store, tokenizer or tokenizer_only(str(store.attrs.get("model_id", ""))))
        if self.source.tokenizer is None:
            raise SaekitError(f"cannot show this text store's windows: {self.source.problem}")
        self.tokens = lru_cache(maxsize=4096)(self._tokens)

    def _tokens(self, sample_id: int) -> list[str]:
        return self.source.tokens(sample_id) or []

    def _window(self, ex: Example) -> tuple[list[str], int, int, np.ndarray]:
        """(sample tokens, start, stop, activation of each window token)."""
        toks = self.tokens(ex.sample_id)
        start = min(ex.start, len(toks))
        stop = len(toks) if ex.stop is None else min(ex.stop, len(toks))
        acts = np.zeros(stop - start, np.float32)
        if ex.token_acts is not None and ex.positions is not None:
            ok = (ex.positions >= start) & (ex.positions < stop)
            acts[ex.positions[ok] - start] = ex.token_acts[ok]
        return toks, start, stop, acts

    def _visible(self, toks: list[str], start: int, stop: int) -> list[int]:
        return [i for i in range(start, stop) if not _is_special(toks[i]) and toks[i].strip()]

    def explain_view(self, ex: Example, max_act: float) -> Shown:
        toks, start, stop, acts = self._window(ex)
        return Shown(join_marked(toks, {start + int(i) for i in np.nonzero(acts > 0)[0]}, start, stop))

    def plain_view(self, ex: Example, rng: np.random.Generator) -> Shown:
        toks, start, stop, _ = self._window(ex)
        return Shown(join_marked(toks, set(), start, stop))

    def n_active(self, ex: Example) -> int:
        """Tokens of the window where the latent fires."""
        return int((self._window(ex)[3] > 0).sum())

    def fuzz_view(self, ex: Example, correct: bool, n_wrong: int, rng: np.random.Generator) -> Shown | None:
        """The window with its true marks (tokens >= FUZZ_THRESHOLD x its max activation) or, when not
        `correct`, `n_wrong` random tokens at or below that level marked; None when nothing can be marked."""
        toks, start, stop, acts = self._window(ex)
        level = FUZZ_THRESHOLD * float(acts.max(initial=0.0))
        visible = self._visible(toks, start, stop)
        if correct:
            true = {start + int(i) for i in np.nonzero((acts > 0) & (acts >= level))[0]}
            return Shown(join_marked(toks, true, start, stop)) if true else None
        other = [i for i in visible if acts[i - start] <= level]
        if not other or n_wrong < 1:
            return None
        picked = rng.choice(other, size=min(n_wrong, len(other)), replace=False)
        return Shown(join_marked(toks, {int(i) for i in picked}, start, stop))


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

    def n_active(self, ex: Example) -> int:
        return 0

    def fuzz_view(self, ex: Example, correct: bool, n_wrong: int, rng: np.random.Generator) -> Shown | None:
        return None  # fuzzing marks tokens: text only


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
