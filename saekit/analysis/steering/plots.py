"""A dependency-free PNG line plot (plotly's PNG export needs a browser engine saekit does not ship)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from saekit.common.imaging import save_png


def line_plot_png(path: Path, xs: Sequence[float], ys: Sequence[float], title: str = "", xlabel: str = "", ylabel: str = "",
                  size: tuple[int, int] = (640, 420)) -> None:
    """A small line plot drawn with PIL (plotly's PNG export needs a browser engine we don't ship)."""
    from PIL import Image, ImageDraw

    W, H = size
    left, right, top, bottom = 70, 20, 40, 50
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    xs = [float(x) for x in xs]
    ys = [float(y) for y in ys]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    y0, y1 = (min(ys + [0.0]), max(ys + [0.0])) if ys else (0.0, 1.0)
    if x1 == x0:
        x1 = x0 + 1.0
    if y1 == y0:
        y1 = y0 + 1.0
    pad = 0.05 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad

    def px(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x0) / (x1 - x0) * (W - left - right), H - bottom - (y - y0) / (y1 - y0) * (H - top - bottom))

    d.rectangle([left, top, W - right, H - bottom], outline="black")
    zy = px(x0, 0.0)[1]
    d.line([left, zy, W - right, zy], fill=(200, 200, 200))
    for t in range(5):
        yv = y0 + (y1 - y0) * t / 4
        _, yy = px(x0, yv)
        d.text((4, yy - 6), f"{yv:.3g}", fill="black")
        xv = x0 + (x1 - x0) * t / 4
        xx, _ = px(xv, y0)
        d.text((xx - 10, H - bottom + 6), f"{xv:.3g}", fill="black")
    pts = [px(x, y) for x, y in zip(xs, ys)]
    if len(pts) > 1:
        d.line(pts, fill=(31, 119, 180), width=2)
    for x, y in pts:
        d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=(31, 119, 180))
    d.text((left, 12), title, fill="black")
    d.text((W // 2 - 20, H - 20), xlabel, fill="black")
    d.text((4, top - 30), ylabel, fill="black")
    save_png(img, path)
