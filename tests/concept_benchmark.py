"""A planted ConceptScope benchmark: synthetic shape images with a class-correlated corner stamp,
an encoder + SAE whose latents are known, and the paper's bias-discovery precision@k.

Images (32 x 32, rendered with PIL): class c is a shape of its own colour (ellipse, square,
triangle, ...) on a black, slightly noisy background. The planted bias: a 4 x 4 stamp of colour
cue_c in a random corner on a fraction `p_cue` of class c's images (and on `p_leak` of the other
classes' images). The control: a stamp of one more colour on `p_control` of every image,
independent of the class.

The planted "model" sees colours only: each 4 x 4 patch becomes a token holding the fraction of its
pixels nearest to each palette colour. The planted SAE reads those tokens: one latent per class colour
(the class's shape), one per cue colour, one for the control stamp, one for the black background
(on in every image: a noisy latent), a few two-colour mixtures and some dead latents. Its text
space embeds an image as its colour histogram (background excluded) plus a constant, and a class
name as its class colour plus the same constant, so the class text matches the shape, not the stamp.

Bias-discovery precision@k (the protocol of the paper's benchmark code): for every pair of classes
(s, c), s != c, rank the test images of class s by each bias latent of class c, take the fraction of
the top k that carry c's cue, keep the best bias latent of c (0 when c has none), and average over pairs.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from saekit.results.audit import AuditBias

IMAGE = 32
PATCH = 4
_LEVELS = (0.0, 0.5, 1.0)
PALETTE = np.array(list(itertools.product(_LEVELS, repeat=3)), dtype=np.float32)  # [27, 3]; 0 = black
# alphabetical, so that the audit's sorted class order is the planted order
SHAPES = ("bar", "cross", "diamond", "ellipse", "hexagon", "plus_thin", "ring", "square", "tall", "triangle", "wedge", "wide")
LATENT_SCALE = float((IMAGE // PATCH) ** 2)  # a stamp filling one patch gives image-level activation 1.0


@dataclass(frozen=True)
class PlantedSample:
    """Same fields as saekit.data.Sample; `cue` = the class whose stamp the image carries (-1: none)."""

    id: int
    source: str
    label: str
    text: str | None
    image: Any
    cue: int = -1
    control: bool = False


def class_names(n_classes: int) -> list[str]:
    if n_classes > len(SHAPES):
        raise ValueError(f"the planted benchmark has at most {len(SHAPES)} classes")
    return list(SHAPES[:n_classes])


def colours(n_classes: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Palette indices of the class colours [C], cue colours [C] and the control colour."""
    if 2 * n_classes + 1 > len(PALETTE) - 1:
        raise ValueError(f"the planted palette supports at most {(len(PALETTE) - 2) // 2} classes")
    rng = np.random.default_rng(1234)
    order = 1 + rng.permutation(len(PALETTE) - 1)
    return order[:n_classes], order[n_classes:2 * n_classes], int(order[2 * n_classes])


def _draw_shape(draw, kind: str, box: tuple[int, int, int, int], fill: tuple[int, int, int]) -> None:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    if kind == "ellipse":
        draw.ellipse(box, fill=fill)
    elif kind == "square":
        draw.rectangle(box, fill=fill)
    elif kind == "triangle":
        draw.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=fill)
    elif kind == "diamond":
        draw.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=fill)
    elif kind in ("cross", "plus_thin"):
        w = max(2, (x1 - x0) // (3 if kind == "cross" else 5))
        draw.rectangle((cx - w, y0, cx + w, y1), fill=fill)
        draw.rectangle((x0, cy - w, x1, cy + w), fill=fill)
    elif kind == "bar":
        draw.rectangle((x0, cy - 2, x1, cy + 2), fill=fill)
    elif kind == "ring":
        draw.ellipse(box, outline=fill, width=3)
    elif kind == "wedge":
        draw.pieslice(box, 30, 300, fill=fill)
    elif kind == "hexagon":
        q = (x1 - x0) // 4
        draw.polygon([(x0 + q, y0), (x1 - q, y0), (x1, cy), (x1 - q, y1), (x0 + q, y1), (x0, cy)], fill=fill)
    elif kind == "tall":
        draw.rectangle((cx - 3, y0, cx + 3, y1), fill=fill)
    else:
        draw.rectangle((x0, cy - 4, x1, cy + 4), fill=fill)


def _corners() -> list[tuple[int, int]]:
    e = IMAGE - PATCH
    return [(0, 0), (e, 0), (0, e), (e, e)]


def render(c: int, n_classes: int, cue: int, control: bool, rng: np.random.Generator):
    """One image of class c carrying class `cue`'s stamp (-1: none) and optionally the control stamp."""
    from PIL import Image, ImageDraw

    cls_col, cue_col, ctl_col = colours(n_classes)
    img = Image.new("RGB", (IMAGE, IMAGE), (0, 0, 0))
    draw = ImageDraw.Draw(img)
    size = int(rng.integers(12, 19))
    x0 = int(rng.integers(PATCH + 1, IMAGE - PATCH - size))
    y0 = int(rng.integers(PATCH + 1, IMAGE - PATCH - size))
    rgb = tuple(int(v * 255) for v in PALETTE[cls_col[c]])
    _draw_shape(draw, SHAPES[c], (x0, y0, x0 + size, y0 + size), rgb)
    corners = [tuple(x) for x in rng.permutation(_corners())]
    for on, col in ((cue >= 0, cue_col[cue] if cue >= 0 else 0), (control, ctl_col)):
        if on:
            x, y = corners.pop()
            draw.rectangle((x, y, x + PATCH - 1, y + PATCH - 1), fill=tuple(int(v * 255) for v in PALETTE[col]))
    arr = np.asarray(img, np.float32) / 255.0
    arr = np.clip(arr + rng.normal(0.0, 0.03, arr.shape), 0.0, 1.0)
    return Image.fromarray((arr * 255).round().astype(np.uint8))


def make_dataset(n_classes: int, n_per_class: int, seed: int, p_cue: float = 0.9, p_leak: float = 0.05,
                 p_control: float = 0.5, correlated: bool = True, start_id: int = 0) -> list[PlantedSample]:
    """Training images. correlated=False is the control dataset: every image carries a random class's
    cue with the same overall rate, independent of its own class."""
    rng = np.random.default_rng(seed)
    names = class_names(n_classes)
    rate = (p_cue + (n_classes - 1) * p_leak) / n_classes  # overall cue rate of the correlated set
    out = []
    for c in range(n_classes):
        for _ in range(n_per_class):
            if correlated:
                u = rng.random()
                others = [k for k in range(n_classes) if k != c]
                cue = c if u < p_cue else (int(rng.choice(others)) if u < p_cue + p_leak and others else -1)
            else:
                cue = int(rng.integers(n_classes)) if rng.random() < rate else -1
            control = bool(rng.random() < p_control)
            sid = start_id + len(out)
            out.append(PlantedSample(sid, f"planted/{names[c]}/{sid}.png", names[c], None,
                                     render(c, n_classes, cue, control, rng), cue, control))
    return out


def make_test_set(n_classes: int, per_cue: int, seed: int, start_id: int = 10**6) -> list[PlantedSample]:
    """Test images for precision@k: for every class, `per_cue` images with each class's cue and `per_cue` with none."""
    rng = np.random.default_rng(seed)
    names = class_names(n_classes)
    out = []
    for c in range(n_classes):
        for cue in list(range(n_classes)) + [-1]:
            for _ in range(per_cue):
                sid = start_id + len(out)
                control = bool(rng.random() < 0.5)
                out.append(PlantedSample(sid, f"planted-test/{names[c]}/{sid}.png", names[c], None,
                                         render(c, n_classes, cue, control, rng), cue, control))
    return out


# ------------------------------------------------------------------------------------ planted model
@dataclass(frozen=True)
class PlantedLatents:
    shape: np.ndarray  # [C] latent of each class's shape colour
    cue: np.ndarray  # [C] latent of each class's stamp colour
    control: int
    background: int
    mixtures: np.ndarray  # [M] two-colour latents
    W_enc: np.ndarray  # [P, d_sae] palette fraction -> latent pre-activation

    def responds_to_cue(self, latent: int, c: int, n_classes: int) -> bool:
        _, cue_col, _ = colours(n_classes)
        return bool(self.W_enc[cue_col[c], latent] > 0)


def planted_latents(n_classes: int, n_mixtures: int = 4, n_dead: int = 8, seed: int = 0) -> PlantedLatents:
    cls_col, cue_col, ctl_col = colours(n_classes)
    P = len(PALETTE)
    d = 2 * n_classes + 2 + n_mixtures + n_dead
    W = np.zeros((P, d), np.float32)
    shape = np.arange(n_classes)
    cue = n_classes + np.arange(n_classes)
    W[cls_col, shape] = LATENT_SCALE
    W[cue_col, cue] = LATENT_SCALE
    control, background = 2 * n_classes, 2 * n_classes + 1
    W[ctl_col, control] = LATENT_SCALE
    W[0, background] = LATENT_SCALE
    rng = np.random.default_rng(seed)
    mixtures = 2 * n_classes + 2 + np.arange(n_mixtures)
    for j in mixtures:
        a, b = rng.choice(np.arange(1, P), size=2, replace=False)
        W[[a, b], j] = LATENT_SCALE / 2
    # dead latents: weights on colours that never occur together with a bias they cannot beat
    for j in range(d - n_dead, d):
        W[rng.choice(np.arange(1, P), size=2, replace=False), j] = -1.0
    return PlantedLatents(shape, cue, control, background, mixtures, W)


class PlantedBackend:
    """AuditBackend of the planted model: colour tokens -> planted SAE; colour-histogram text space."""

    def __init__(self, n_classes: int, latents: PlantedLatents | None = None, text_const: float = 0.5):
        self.n_classes = n_classes
        self.latents = latents or planted_latents(n_classes)
        self.W_enc = torch.from_numpy(self.latents.W_enc)
        self.d_sae = self.W_enc.shape[1]
        self.threshold = 0.5
        self.text_const = text_const
        self.names = class_names(n_classes)
        self.cls_col, self.cue_col, _ = colours(n_classes)

    def pixels(self, images: Sequence[Any]) -> torch.Tensor:
        arr = np.stack([np.asarray(im.convert("RGB"), np.float32) / 255.0 for im in images])
        return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()

    def _tokens(self, px_B3HW: torch.Tensor) -> torch.Tensor:
        """Per patch, the fraction of its pixels nearest to each palette colour [B, T, P]: every channel
        is rounded to the nearest level (0, 0.5, 1), which indexes PALETTE (r slowest, b fastest)."""
        B, _, H, W = px_B3HW.shape
        lv = (px_B3HW * 2.0).round().clamp(0, 2).long()
        colour_BHW = lv[:, 0] * 9 + lv[:, 1] * 3 + lv[:, 2]
        gh, gw = H // PATCH, W // PATCH
        patch_HW = (torch.arange(H)[:, None] // PATCH) * gw + torch.arange(W)[None, :] // PATCH
        T, P = gh * gw, len(PALETTE)
        flat = (torch.arange(B)[:, None, None] * T + patch_HW[None]) * P + colour_BHW
        counts = torch.bincount(flat.flatten(), minlength=B * T * P).reshape(B, T, P)
        return counts.float() / (PATCH * PATCH)

    def encode(self, px_B3HW: torch.Tensor, latents: np.ndarray | None = None):
        tokens_BTP = self._tokens(px_B3HW)
        B = len(tokens_BTP)
        gh, gw = px_B3HW.shape[-2] // PATCH, px_B3HW.shape[-1] // PATCH
        z_BTD = torch.relu(tokens_BTP @ self.W_enc - self.threshold)
        maps = None
        if latents is not None:
            idx = torch.as_tensor(np.asarray(latents, dtype=np.int64))
            maps = z_BTD[:, :, idx].transpose(1, 2).reshape(B, len(idx), gh, gw)
        return z_BTD.mean(dim=1), maps

    def features(self, px_B3HW: torch.Tensor) -> torch.Tensor:
        """The image's colour histogram [B, P]."""
        return self._tokens(px_B3HW).mean(dim=1)

    def embed(self, px_B3HW: torch.Tensor) -> torch.Tensor:
        hist = self.features(px_B3HW).clone()
        hist[:, 0] = 0.0  # background carries no meaning
        hist = hist / hist.sum(dim=1, keepdim=True).clamp_min(1e-6) * (hist.sum(dim=1, keepdim=True) > 1e-3)
        e = torch.cat([hist, torch.full((len(hist), 1), self.text_const)], dim=1)
        return F.normalize(e, dim=1)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        out = torch.zeros(len(texts), len(PALETTE) + 1)
        for i, t in enumerate(texts):
            key = t.replace(" ", "_")
            if key in self.names:
                out[i, int(self.cls_col[self.names.index(key)])] = 1.0
            out[i, -1] = self.text_const
        return F.normalize(out, dim=1)

    def logits(self, px_B3HW: torch.Tensor) -> torch.Tensor:
        """A shortcut classifier: predicts the class whose stamp colour is present (for sub-group tests)."""
        hist = self.features(px_B3HW)
        return hist[:, torch.as_tensor(self.cue_col)]


# ---------------------------------------------------------------------------------------- metrics
def bias_discovery_precision(acts_ND: np.ndarray, labels_N: np.ndarray, cue_N: np.ndarray,
                             bias_latents: list[np.ndarray], k: int = 10) -> dict[str, Any]:
    """The paper's protocol: mean over class pairs (s, c != s) of the best precision@k of c's bias latents
    at finding c's cue among class s's test images."""
    C = len(bias_latents)
    scores = []
    for s in range(C):
        rows = np.flatnonzero(labels_N == s)
        for c in range(C):
            if c == s:
                continue
            best = 0.0
            for j in bias_latents[c]:
                top = rows[np.argsort(-acts_ND[rows, j], kind="stable")[:k]]
                best = max(best, float((cue_N[top] == c).mean()) if len(top) else 0.0)
            scores.append(best)
    arr = np.array(scores) if scores else np.zeros(1)
    return {"precision": float(arr.mean()), "std": float(arr.std()), "n_pairs": len(scores)}


def concept_precision(biases: Sequence[AuditBias], class_names_: list[str], latents: PlantedLatents,
                      k: int = 10) -> float:
    """Fraction of the k strongest reported biases that are a latent responding to that class's planted cue."""
    top = biases[:k]
    hits = sum(latents.responds_to_cue(b.latent, class_names_.index(b.cls), len(class_names_)) for b in top)
    return hits / k
