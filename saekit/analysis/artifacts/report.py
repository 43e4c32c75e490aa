"""The pictures and page of `saekit artifacts`: per-layer patch-norm heatmaps (outliers outlined)
and OUT/index.html."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from saekit.analysis.artifacts.outliers import ArtifactReport, TokenStats
from saekit.common.html_report import esc, page, sections_html, table
from saekit.common.imaging import colormap, save_png
from saekit.results import ArtifactsDocument
from saekit.results.codec import encode

if TYPE_CHECKING:
    from PIL import Image


def heatmap_png(path: Path, norms_NP: np.ndarray, masks_NP: np.ndarray, grid: tuple[int, int],
                thumbnails: Sequence["Image.Image | None"] = (), cell: int = 12, title: str = "") -> None:
    """One row per image: the image (when given) and its patch-norm map, outliers outlined in white."""
    from PIL import Image, ImageDraw

    gh, gw = grid
    n = norms_NP.shape[0]
    tile = max(gh, gw) * cell
    has_thumb = any(t is not None for t in thumbnails)
    cols = 2 if has_thumb else 1
    W, H = cols * (tile + 8) + 8, n * (tile + 8) + 28
    img = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(img)
    draw.text((8, 6), title, fill="black")
    vmax = float(norms_NP.max()) if norms_NP.size else 1.0
    for r in range(n):
        y0 = 28 + r * (tile + 8)
        x0 = 8
        if has_thumb:
            t = thumbnails[r] if r < len(thumbnails) else None
            if t is not None:
                img.paste(t.convert("RGB").resize((tile, tile)), (x0, y0))
            x0 += tile + 8
        rgb = colormap(norms_NP[r].reshape(gh, gw) / max(vmax, 1e-12))
        hm = Image.fromarray(rgb, "RGB").resize((gw * cell, gh * cell), Image.NEAREST)
        img.paste(hm, (x0, y0))
        for p in np.nonzero(masks_NP[r])[0]:
            rr, cc = divmod(int(p), gw)
            draw.rectangle([x0 + cc * cell, y0 + rr * cell, x0 + (cc + 1) * cell - 1, y0 + (rr + 1) * cell - 1],
                           outline="white", width=2)
    save_png(img, path)


def write_heatmaps(report: ArtifactReport, stats: TokenStats, out_dir: Path, n_samples: int = 8) -> dict[int, str]:
    """heatmaps/layer_XX.png for every layer; returns {layer: relative path}."""
    hdir = out_dir / "heatmaps"
    hdir.mkdir(parents=True, exist_ok=True)
    k = min(n_samples, report.n_images)
    paths = {}
    for i in range(len(report.layers)):
        rel = f"heatmaps/layer_{i:02d}.png"
        heatmap_png(out_dir / rel, report.norms[:k, i], report.masks[:k, i], report.patch_grid,
                    stats.thumbnails[:k], title=f"layer {i}: patch-token norms (outliers outlined)")
        paths[i] = rel
    return paths


def render_html(doc: ArtifactsDocument) -> str:
    """A self-contained index.html for artifacts.json."""
    fmt = lambda v: "–" if v is None else f"{v:.3g}"  # noqa: E731
    rows = [["layer", "median norm", "max norm", "threshold", "outliers", "fraction",
             "cos to neighbours (outliers / normal)", "CLS attention share (outliers / uniform)", "heatmap"]]
    for r in doc.layers:
        q, cos, share = r.norm_quantiles, r.cos_to_neighbours, r.cls_attention_share
        rows.append([r.layer, fmt(q["0.5"]), fmt(q["1.0"]), fmt(r.threshold), r.n_outliers,
                     f"{r.outlier_frac:.4f}", f"{fmt(cos.outliers)} / {fmt(cos.normal)}",
                     f"{fmt(share and share.outliers)} / {fmt(share and share.uniform)}",
                     f'<a href="{esc(r.heatmap)}">png</a>' if r.heatmap else ""])
    neurons = [["layer", "neuron", "score"]] + [[n.layer, n.neuron, f"{n.score:.4g}"] for n in doc.register_neurons]
    ttr = doc.test_time_registers
    first = doc.first_outlier_layer
    imgs = "".join(f"<h3>layer {r.layer}</h3><img src=\"{esc(r.heatmap)}\">" for r in doc.layers
                   if r.heatmap and (first is None or r.layer >= first - 1))
    body = (f"<p>{doc.n_images} images; first layer with outliers: <b>{'none' if first is None else first}</b>;\n"
            f"outliers listed: {len(doc.outliers)}{' (truncated)' if doc.outliers_truncated else ''}.</p>\n"
            + sections_html([("Per layer (patch tokens, resid_post)", table(rows, raw=True)),
                             ("Register neurons", table(neurons)),
                             ("Test-time registers", f"<pre>{esc(json.dumps(encode(ttr), indent=2))}</pre>" if ttr
                              else "<p>not run</p>"),
                             ("Heatmaps", imgs)]))
    return page(f"High-norm artifact tokens: {doc.model}", body, style="td{text-align:right}")

