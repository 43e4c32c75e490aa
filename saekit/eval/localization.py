"""ViSAEBench's M1, feature localization: Moran's I of each latent's patch map with queen weights.

saekit's own implementation of what ViSAEBench 0.1.0 computes with its default settings
(tests/test_eval_visaebench.py runs ViSAEBench's code on the same codes and compares):

  - an image's map of latent j is its code on every patch of the grid (0 where it does not fire);
  - Moran's I with queen (8-neighbour) binary weights w, W = sum_ij w_ij, n = patches:
        I = (n / W) * sum_ij w_ij (x_i - x̄)(x_j - x̄) / sum_i (x_i - x̄)^2
  - a (latent, image) pair counts when the latent fires on at least MIN_ACTIVE patches and at most
    int(MAX_ACTIVE_FRACTION * n) of them, and the map is not constant;
  - images are read in order in groups of IMAGE_GROUP; a latent stops collecting at the first group
    that starts with MAX_IMAGES valid images already counted (so it may end with up to
    MAX_IMAGES + IMAGE_GROUP - 1);
  - a latent with at least MIN_IMAGES valid images is evaluable; its score is its mean I;
  - when more than MAX_FEATURES latents are evaluable, numpy's RandomState(seed).choice picks
    MAX_FEATURES of them without replacement (seed 42 in ViSAEBench); the metric is their mean.

The sums run over the nonzero codes only (x̄ and the zero patches enter in closed form), so the
cost grows with the active codes, not with patches × latents.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from saekit.common.jsontypes import JSONObject
from saekit.eval.encode import Encoded
from saekit.eval.rows import EvalRows
from saekit.eval.spatial import patch_grid

MIN_ACTIVE = 5
MAX_ACTIVE_FRACTION = 0.9
MIN_IMAGES = 50
MAX_IMAGES = 200
MAX_FEATURES = 500
IMAGE_GROUP = 64
SEED = 42  # ViSAEBench's default
NON_LOCALIZED = 0.1
CHUNK_IMAGES = 512  # images whose codes are held at once
_TINY = 1e-10


@dataclass(frozen=True)
class ImageGrid:
    """The patch grid and which evaluated rows are patches of complete images (every patch has a row)."""

    gh: int
    gw: int
    patch_of_row: np.ndarray  # [N] patch index of each row (meaningful where image_of_row >= 0)
    image_of_row: np.ndarray  # [N] index among the complete images, in evaluation order; -1: not used
    n_images: int
    n_incomplete: int  # evaluated images without a row for every patch of the grid (left out)


def image_grid(rows: EvalRows, enc: Encoded) -> ImageGrid:
    gh, gw, pre = patch_grid(rows)
    n_patch = gh * gw
    patch = rows.position - pre
    in_grid = (patch >= 0) & (patch < n_patch)
    seen = np.zeros((len(enc.sample_ids), n_patch), np.int64)
    np.add.at(seen, (enc.row_sample[in_grid], patch[in_grid]), 1)
    complete = (seen == 1).all(1)
    order = np.cumsum(complete) - 1  # image index among the complete images, in evaluation order
    image = np.where(in_grid & complete[enc.row_sample], order[enc.row_sample], -1)
    return ImageGrid(gh, gw, patch, image, int(complete.sum()), int((~complete).sum()))


@dataclass(frozen=True)
class PatchCodes:
    """Nonzero codes of patch rows: image index, patch index, latent, value."""

    image: np.ndarray
    patch: np.ndarray
    latent: np.ndarray
    value: np.ndarray


def patch_codes(grid: ImageGrid, enc: Encoded, row_ids: np.ndarray) -> PatchCodes:
    """The nonzero codes of the given rows (patch rows of complete images)."""
    r, c = np.nonzero(enc.val[row_ids] != 0)
    rr = row_ids[r]
    return PatchCodes(grid.image_of_row[rr], grid.patch_of_row[rr], enc.idx[rr, c], enc.val[rr, c].astype(np.float64))


def _queen_neighbour_sums(key: np.ndarray, patch: np.ndarray, value: np.ndarray, gh: int, gw: int,
                          group_of_key: np.ndarray) -> np.ndarray:
    """sum over each entry's queen neighbours q (same map) of value_q, per entry; key = map * n + patch, sorted."""
    n = gh * gw
    r, c = patch // gw, patch % gw
    out = np.zeros(len(key))
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr == 0 and dc == 0:
                continue
            ok = (r + dr >= 0) & (r + dr < gh) & (c + dc >= 0) & (c + dc < gw)
            want = group_of_key[ok] * n + (r[ok] + dr) * gw + (c[ok] + dc)
            at = np.minimum(np.searchsorted(key, want), len(key) - 1)
            hit = key[at] == want
            out[np.flatnonzero(ok)[hit]] += value[at[hit]]
    return out


def queen_degree(gh: int, gw: int) -> np.ndarray:
    """Number of queen neighbours of every patch [gh * gw] (8 inside, 5 on an edge, 3 in a corner)."""
    r = np.arange(gh)
    c = np.arange(gw)
    nr = 1 + (r > 0) + (r < gh - 1)
    nc = 1 + (c > 0) + (c < gw - 1)
    return (np.outer(nr, nc) - 1).ravel()


def map_morans_i(codes: PatchCodes, gh: int, gw: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(image, latent, Moran's I, valid) of every (image, latent) map with a nonzero code."""
    n = gh * gw
    if not len(codes.value):
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0), np.zeros(0, bool)
    mp = codes.image.astype(np.int64) * (int(codes.latent.max(initial=0)) + 1) + codes.latent
    order = np.lexsort((codes.patch, mp))
    mp, patch, val = mp[order], codes.patch[order], codes.value[order]
    maps, first, group = np.unique(mp, return_index=True, return_inverse=True)
    key = group * n + patch
    neighbours = _queen_neighbour_sums(key, patch, val, gh, gw, group)
    deg = queen_degree(gh, gw)
    s_w = float(deg.sum())
    count = np.bincount(group, minlength=len(maps))
    s1 = np.bincount(group, val, len(maps))
    s2 = np.bincount(group, val * val, len(maps))
    xwx = np.bincount(group, val * neighbours, len(maps))
    dx = np.bincount(group, val * deg[patch], len(maps))
    mean = s1 / n
    numer = xwx - 2 * mean * dx + mean * mean * s_w  # (x - x̄)ᵀ W (x - x̄), zero patches included
    denom = s2 - n * mean * mean
    morans = (n / s_w) * numer / np.maximum(denom, _TINY)
    valid = (count >= MIN_ACTIVE) & (count <= int(MAX_ACTIVE_FRACTION * n)) & (denom > _TINY)
    return codes.image[order][first], codes.latent[order][first], morans, valid


@dataclass(frozen=True)
class ValidMaps:
    """Every (image, latent) map that counts, with its Moran's I."""

    image: np.ndarray
    latent: np.ndarray
    morans: np.ndarray


def valid_maps(grid: ImageGrid, enc: Encoded, chunk_images: int = CHUNK_IMAGES) -> ValidMaps:
    """The maps that count, computed chunk_images images at a time (memory bounded by a chunk's codes)."""
    used = np.flatnonzero(grid.image_of_row >= 0)
    used = used[np.argsort(grid.image_of_row[used], kind="stable")]
    bounds = np.searchsorted(grid.image_of_row[used], np.arange(0, grid.n_images + chunk_images, chunk_images))
    parts = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi > lo:
            image, latent, morans, valid = map_morans_i(patch_codes(grid, enc, used[lo:hi]), grid.gh, grid.gw)
            parts.append((image[valid], latent[valid], morans[valid]))
    if not parts:
        return ValidMaps(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    return ValidMaps(*(np.concatenate(p) for p in zip(*parts)))


def m1_scores(maps: ValidMaps, d_sae: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean Moran's I of every latent over the images it keeps, NaN when it has none; their count) [d_sae]."""
    image, latent, morans = maps.image, maps.latent.astype(np.int64), maps.morans
    grp = image // IMAGE_GROUP
    n_grp = int(grp.max(initial=0)) + 1
    key = latent * (n_grp + 1) + grp
    sorted_key = np.sort(key)
    before = np.searchsorted(sorted_key, key) - np.searchsorted(sorted_key, latent * (n_grp + 1))
    kept = before < MAX_IMAGES  # the latent had not reached the cap when this image's group began
    total = np.bincount(latent[kept], morans[kept], d_sae)
    count = np.bincount(latent[kept], minlength=d_sae)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan), count


def feature_localization(rows: EvalRows, enc: Encoded, seed: int = SEED, chunk_images: int = CHUNK_IMAGES
                         ) -> JSONObject:
    """ViSAEBench's M1 and its summary on the evaluated images; ``m1_morans_i`` is None (with the reason in
    ``m1_note``) when no latent has MIN_IMAGES valid images."""
    grid = image_grid(rows, enc)
    per_latent, count = m1_scores(valid_maps(grid, enc, chunk_images), enc.d_sae)
    evaluable = np.flatnonzero(count >= MIN_IMAGES)
    chosen = evaluable
    if len(evaluable) > MAX_FEATURES:
        chosen = np.sort(np.random.RandomState(seed).choice(evaluable, size=MAX_FEATURES, replace=False))
    out: dict[str, Any] = {"m1_n_images": grid.n_images, "m1_n_images_incomplete": grid.n_incomplete,
                           "m1_n_evaluable_latents": int(len(evaluable)), "m1_n_latents_scored": int(len(chosen)),
                           "m1_seed": int(seed)}
    if not len(chosen):
        out.update(m1_morans_i=None, m1_note=f"no latent has {MIN_IMAGES} images with {MIN_ACTIVE} to "
                   f"{int(MAX_ACTIVE_FRACTION * grid.gh * grid.gw)} active patches among the {grid.n_images} "
                   "evaluated images")
        return out
    s = per_latent[chosen]
    out.update(m1_morans_i=float(s.mean()), m1_median=float(np.median(s)), m1_std=float(s.std()),
               m1_p25=float(np.percentile(s, 25)), m1_p75=float(np.percentile(s, 75)),
               m1_frac_non_localized=float((s < NON_LOCALIZED).mean()))
    return out
