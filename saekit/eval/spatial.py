"""saekit's own spatial-coherence estimator, `morans_i_rook_top8`: Moran's I of each latent's patch map
on its top images (ViSAEBench's M1 is saekit.eval.localization; both are reported side by side).

For latent j, its top images are the TOP_IMAGES evaluated images with the largest activation of j
on any patch. On each, the latent's activations over the patch grid (0 where it does not fire)
form a map x; Moran's I with rook (4-neighbour) adjacency w,

    I = (n / W) * sum_ij w_ij (x_i - x̄)(x_j - x̄) / sum_i (x_i - x̄)^2,   W = sum_ij w_ij,

is near 1 for one compact blob, near -1/(n-1) (about 0) for patches scattered at random, and
negative for a checkerboard. A latent's coherence is the mean I over its top images (maps that
are constant are skipped). The baseline scores the same maps with their patches permuted at
random (seeded), which keeps each map's values and destroys only their arrangement.
"""
from __future__ import annotations


import numpy as np

from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject
from saekit.eval.encode import Encoded
from saekit.eval.rows import EvalRows

TOP_IMAGES = 8


def morans_i(maps: np.ndarray) -> np.ndarray:
    """Moran's I (rook adjacency) of maps [M, H, W]; NaN for constant maps."""
    x = maps.astype(np.float64)
    dev = x - x.mean(axis=(1, 2), keepdims=True)
    h, w = x.shape[1:]
    num = 2 * (dev[:, :, :-1] * dev[:, :, 1:]).sum((1, 2)) + 2 * (dev[:, :-1, :] * dev[:, 1:, :]).sum((1, 2))
    W = 2 * (h * (w - 1) + w * (h - 1))
    den = (dev**2).sum((1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (h * w / W) * num / den
    out[den <= 1e-20] = np.nan
    return out


def patch_grid(rows: EvalRows) -> tuple[int, int, int]:
    """(grid_h, grid_w, n_prefix_tokens) of a patch store, or SaekitError naming what is missing."""
    grid = rows.attrs.get("patch_grid")
    if not grid or len(grid) != 2:
        raise SaekitError("spatial coherence needs a store of patch tokens from a vision model (its metadata has no "
                          "patch_grid); this store has no patch positions")
    gh, gw = int(grid[0]), int(grid[1])
    pre = int(rows.attrs.get("n_prefix_tokens", 0))
    patch = (rows.position >= pre) & (rows.position < pre + gh * gw)
    if not patch.any():
        raise SaekitError(f"spatial coherence needs patch-token rows, but no evaluated row of {rows.hook!r} has a "
                          f"patch position (tokens={rows.attrs.get('tokens', '?')!r})")
    return gh, gw, pre


def _by_latent(enc: Encoded) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r, c = np.nonzero(enc.val > 0)
    lat = enc.idx[r, c]
    order = np.argsort(lat, kind="stable")
    r, lat, val = r[order], lat[order], enc.val[r[order], c[order]]
    bounds = np.searchsorted(lat, np.arange(enc.d_sae + 1))
    return r, val, lat, bounds


def latent_coherence(rows: EvalRows, enc: Encoded, top_images: int = TOP_IMAGES, max_latents: int | None = None,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(latents, mean Moran's I on their top images, the same with shuffled patches) per scorable latent."""
    gh, gw, pre = patch_grid(rows)
    rng = np.random.default_rng(seed)
    r_all, v_all, _, bounds = _by_latent(enc)
    patch_of_row = rows.position - pre
    in_grid = (patch_of_row >= 0) & (patch_of_row < gh * gw)
    latents = np.flatnonzero(np.diff(bounds) > 0)
    if max_latents is not None and len(latents) > max_latents:
        latents = np.sort(rng.choice(latents, size=max_latents, replace=False))
    done, scores, base = [], [], []
    for j in latents:
        r, v = r_all[bounds[j]:bounds[j + 1]], v_all[bounds[j]:bounds[j + 1]]
        keep = in_grid[r]
        r, v = r[keep], v[keep]
        if len(r) < 2:
            continue
        s = enc.row_sample[r]
        best = np.zeros(len(enc.sample_ids))
        np.maximum.at(best, s, v)
        top = np.argsort(-best, kind="stable")[:top_images]
        top = top[best[top] > 0]
        slot = np.full(len(enc.sample_ids), -1)
        slot[top] = np.arange(len(top))
        m = slot[s] >= 0
        maps = np.zeros((len(top), gh * gw))
        np.add.at(maps, (slot[s[m]], patch_of_row[r[m]]), v[m])
        i_true = morans_i(maps.reshape(-1, gh, gw))
        shuffled = np.take_along_axis(maps, rng.permuted(np.tile(np.arange(gh * gw), (len(top), 1)), axis=1), 1)
        i_base = morans_i(shuffled.reshape(-1, gh, gw))
        if np.isfinite(i_true).any():
            done.append(int(j))
            scores.append(float(np.nanmean(i_true)))
            base.append(float(np.nanmean(i_base)))
    return np.asarray(done, np.int64), np.asarray(scores), np.asarray(base)


def rook_top8_coherence(rows: EvalRows, enc: Encoded, top_images: int = TOP_IMAGES, max_latents: int | None = None,
                        seed: int = 0) -> JSONObject:
    """The rook, top-image estimator's summary over latents, its keys prefixed so no reader takes it for M1."""
    gh, gw, _ = patch_grid(rows)
    _, s_arr, b_arr = latent_coherence(rows, enc, top_images, max_latents, seed)
    if not len(s_arr):
        raise SaekitError("spatial coherence: no latent fires on two or more patches of the evaluated images")
    hist, edges = np.histogram(s_arr, bins=np.linspace(-0.5, 1.0, 16))
    return {"grid": [gh, gw], "top_images": top_images, "rook_top8_n_latents": int(len(s_arr)),
            "morans_i_rook_top8": float(s_arr.mean()), "morans_i_rook_top8_median": float(np.median(s_arr)),
            "rook_top8_shuffled_baseline": float(b_arr.mean()),
            "rook_top8_excess_over_baseline": float((s_arr - b_arr).mean()),
            "rook_top8_frac_above_0.3": float((s_arr > 0.3).mean()),
            "hist": {"edges": edges.round(3).tolist(), "counts": hist.tolist()}}
