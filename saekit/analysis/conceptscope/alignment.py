"""ConceptScope's model passes: the image-level pass over every audited image, and the alignment
scores from the masked copies of each class's sampled images.

Where the time goes (docs/conceptscope.md has measurements): one forward per audited image for the
image-level activations, then 2 x top_k masked copies per sampled image. This module keeps that to
the method's minimum:
- the image-level pass also embeds each image in the text space and keeps, for the rows sampled for
  alignment, what the backend needs to rebuild any latent's patch map (`state`, the SAE hook's patch
  activations), so the originals are never run through the model again;
- a latent that is silent on an image has an all-zero mask: its concept-only copy is a black image
  (embedded once per audit) and its concept-removed copy is the original (already embedded), so
  neither goes through the model;
- the remaining masked copies of all classes share full batches (`Batcher`).

Similarity of an image embedding x to the class text t ("similarity" in ConceptScopeConfig):
"cosine" = x . t (the paper's, for CLIP-style towers), "shifted" = (1 + x . t) / 2 (for fitted
text maps, where cosines can be <= 0 and the ratios flip sign); "auto" = cosine when the backend's
text space is the model's own, else shifted. A class whose cosines reach <= 0 under "cosine" falls
back to "shifted" with a warning (recorded per class).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np
import torch
from tqdm.auto import tqdm

from saekit.analysis.conceptscope.config import SIMILARITIES
from saekit.analysis.conceptscope.masks import concept_only, concept_removed, pixel_masks
from saekit.analysis.conceptscope.samples import Samples
from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    from PIL.Image import Image

    from saekit.analysis.conceptscope.method import AuditBackend

log = logging.getLogger(__name__)
T = TypeVar("T")


def batches(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(n, start + size)


@dataclass
class ImagePass:
    """Image-level activations [N, d_sae] and text-space embeddings [N, e] of every audited image, plus
    the cached per-row state for the rows sampled for alignment (None where it was not cached)."""

    acts_ND: np.ndarray
    emb_Ne: torch.Tensor
    state: dict[int, torch.Tensor] = field(default_factory=dict)


def _encode_pass(backend: AuditBackend, px: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(image-level activations, embeddings, per-image state) from one forward when the backend can,
    else from encode + embed (state = the pixels, maps recomputed from them)."""
    fn = getattr(backend, "encode_pass", None)
    if fn is not None:
        return fn(px)
    acts, _ = backend.encode(px)
    return acts, backend.embed(px), None


def maps_for(backend: AuditBackend, state: torch.Tensor | None, px: torch.Tensor, latents_K: np.ndarray) -> torch.Tensor:
    """Patch maps [B, K, gh, gw] of `latents_K`, from the cached state when there is one."""
    if state is not None:
        return backend.maps_from_state(state, latents_K)  # only a backend with encode_pass caches a state
    maps = backend.encode(px, latents_K)[1]
    assert maps is not None  # encode gives maps whenever latents are asked for
    return maps


@torch.no_grad()
def image_pass(backend: AuditBackend, samples: Samples, batch_size: int, keep_rows: set[int] | None = None,
               cache_bytes: int = 1 << 30, desc: str = "image-level activations",
               progress: Callable[[list[tuple[int, int]]], Iterable[tuple[int, int]]] | None = None) -> ImagePass:
    """One pass over `samples`: activations, embeddings, and state for `keep_rows` (up to cache_bytes)."""
    keep_rows = keep_rows or set()
    acts = np.zeros((len(samples), backend.d_sae), np.float32)
    embs: list[torch.Tensor] = []
    state: dict[int, torch.Tensor] = {}
    used = 0
    it = list(batches(len(samples), batch_size))
    for a, b in (progress(it) if progress else it):
        px = backend.pixels([s.image for s in samples[a:b]])
        acts_B, emb_B, st = _encode_pass(backend, px)
        if acts_B.shape[-1] != backend.d_sae:
            raise SaekitError(f"backend returned {acts_B.shape[-1]} latents, expected d_sae={backend.d_sae}")
        acts[a:b] = acts_B.float().cpu().numpy()
        embs.append(emb_B.float().cpu())
        if st is not None:
            for i in range(a, b):
                if i in keep_rows and used + st[i - a].numel() * st.element_size() <= cache_bytes:
                    state[i] = st[i - a].cpu().clone()
                    used += state[i].numel() * state[i].element_size()
    return ImagePass(acts, torch.cat(embs) if embs else torch.zeros(0, 1), state)


@torch.no_grad()
def image_activations(backend: AuditBackend, samples: Samples, batch_size: int, desc: str = "encoding") -> np.ndarray:
    """Image-level activations [N, d_sae] of every sample (float32)."""
    out = np.zeros((len(samples), backend.d_sae), np.float32)
    for a, b in tqdm(list(batches(len(samples), batch_size)), desc=desc, leave=False):
        acts, _ = backend.encode(backend.pixels([s.image for s in samples[a:b]]))
        if acts.shape[-1] != backend.d_sae:
            raise SaekitError(f"backend returned {acts.shape[-1]} latents, expected d_sae={backend.d_sae}")
        out[a:b] = acts.float().cpu().numpy()
    return out


def similarity(emb_Be: torch.Tensor, text_e: torch.Tensor, kind: str) -> torch.Tensor:
    cos = emb_Be.float() @ text_e.float().to(emb_Be.device)
    return cos if kind == "cosine" else (1.0 + cos) / 2.0


def resolve_similarity(kind: str, backend: AuditBackend) -> str:
    if kind not in SIMILARITIES:
        raise SaekitError(f"--similarity must be one of {', '.join(SIMILARITIES)}, got {kind!r}")
    if kind != "auto":
        return kind
    return "cosine" if getattr(backend, "text_space_kind", "fitted") == "model" else "shifted"


class Batcher:
    """Collects images and embeds them `size` at a time; `flush()` embeds what is left. Results are read
    back by the ticket `add` returned."""

    def __init__(self, embed: Callable[[torch.Tensor], torch.Tensor], size: int):
        self.embed, self.size = embed, size
        self._pending: list[torch.Tensor] = []
        self._n_pending = 0
        self._done: list[torch.Tensor] = []
        self._n_done = 0
        self.n_forwarded = 0

    def add(self, px_B3HW: torch.Tensor) -> tuple[int, int]:
        start = self._n_done + self._n_pending
        self._pending.append(px_B3HW)
        self._n_pending += len(px_B3HW)
        while self._n_pending >= self.size:
            self._run(self.size)
        return start, start + len(px_B3HW)

    def _run(self, n: int) -> None:
        stacked = torch.cat(self._pending)
        head, tail = stacked[:n], stacked[n:]
        with torch.inference_mode():
            self._done.append(self.embed(head).float().cpu())
        self.n_forwarded += len(head)
        self._n_done += len(head)
        self._pending = [tail] if len(tail) else []
        self._n_pending = len(tail)

    def flush(self) -> torch.Tensor:
        if self._n_pending:
            self._run(self._n_pending)
        return torch.cat(self._done) if self._done else torch.zeros(0, 1)


@dataclass(frozen=True)
class ClassScores:
    """One class's alignment scores [K] over its top latents, and the similarity they used."""

    sufficiency: np.ndarray
    necessity: np.ndarray
    alignment: np.ndarray  # (sufficiency + necessity) / 2
    s_orig: np.ndarray  # [n] similarity of each sampled original to the class text
    similarity: str  # cosine, or shifted where the class's cosines reach <= 0


@dataclass
class ClassJob:
    """The bookkeeping of one class's alignment: which (image, latent) copies went to the batcher."""

    latents_K: np.ndarray
    rows: np.ndarray
    emb_orig: torch.Tensor  # [n, e]
    silent_nK: np.ndarray  # bool: latent k silent on image i (no masked copies needed)
    only_tickets: list[tuple[np.ndarray, tuple[int, int]]] = field(default_factory=list)  # (flat (i, k) indices, slice)
    removed_tickets: list[tuple[np.ndarray, tuple[int, int]]] = field(default_factory=list)


@torch.no_grad()
def queue_class(backend: AuditBackend, batcher: Batcher, images: Sequence[Image | None], rows: np.ndarray, latents_K: np.ndarray,
                ipass: ImagePass, gamma_only: float, gamma_removed: float, chunk: int) -> ClassJob:
    """Build the masked copies of one class's sampled images (chunk images at a time) and queue the ones
    that need a forward."""
    K = len(latents_K)
    job = ClassJob(latents_K, rows, ipass.emb_Ne[rows], np.zeros((len(rows), K), bool))
    for a, b in batches(len(rows), chunk):
        px = backend.pixels(images[a:b])
        states = [ipass.state.get(int(r)) for r in rows[a:b]]
        if all(s is not None for s in states):
            maps = maps_for(backend, torch.stack(states), px, latents_K)
        else:
            maps = maps_for(backend, None, px, latents_K)
        maps = maps.to(px.device)
        silent = maps.flatten(2).amax(dim=2) <= 0  # [b, K]
        job.silent_nK[a:b] = silent.cpu().numpy()
        live = (~silent).nonzero()
        if len(live) == 0:
            continue
        masks = pixel_masks(maps, tuple(px.shape[-2:]))
        sel_m = masks[live[:, 0], live[:, 1]].unsqueeze(1)  # [L, 1, H, W]
        sel_px = px[live[:, 0]]
        flat = ((live[:, 0] + a) * K + live[:, 1]).cpu().numpy()
        job.only_tickets.append((flat, batcher.add(concept_only(sel_px, sel_m, gamma_only)[:, 0])))
        job.removed_tickets.append((flat, batcher.add(concept_removed(sel_px, sel_m, gamma_removed)[:, 0])))
    return job


def finish_class(job: ClassJob, emb_all: torch.Tensor, emb_black: torch.Tensor, text_e: torch.Tensor, kind: str,
                 class_name: str = "") -> ClassScores:
    """Sufficiency, necessity and alignment [K] from the embedded copies."""
    n, K = job.silent_nK.shape
    e = job.emb_orig.shape[1]
    emb_only = emb_black.reshape(1, 1, e).expand(n, K, e).clone()
    emb_rem = job.emb_orig.unsqueeze(1).expand(n, K, e).clone()
    for flat, (s, t) in job.only_tickets:
        emb_only.reshape(n * K, e)[torch.as_tensor(flat)] = emb_all[s:t]
    for flat, (s, t) in job.removed_tickets:
        emb_rem.reshape(n * K, e)[torch.as_tensor(flat)] = emb_all[s:t]
    used = kind
    cos = [x.float() @ text_e.float().cpu() for x in (job.emb_orig, emb_only, emb_rem)]
    if kind == "cosine" and min(float(c.min()) for c in cos) <= 0:
        log.warning("class %s: text similarities reach %.3f <= 0, where the paper's ratios are undefined; "
                    "using (1 + cos) / 2 for this class", class_name, min(float(c.min()) for c in cos))
        used = "shifted"
    s_orig, s_only, s_rem = [(c if used == "cosine" else (1.0 + c) / 2.0).double().numpy() for c in cos]
    eps = 1e-8
    suff = (s_only / np.maximum(s_orig[:, None], eps)).mean(axis=0)
    nec = (s_orig[:, None] / np.maximum(s_rem, eps)).mean(axis=0)
    return ClassScores(suff, nec, (suff + nec) / 2.0, s_orig, used)
