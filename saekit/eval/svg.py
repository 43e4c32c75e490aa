"""Small inline-SVG charts for the comparison report (no JavaScript, no plotting dependency)."""
from __future__ import annotations

import html
import math
from typing import Sequence

W, H, PAD = 420, 280, 48
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def _scale(lo: float, hi: float, a: float, b: float):
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi - lo < 1e-12:
        lo, hi = (lo - 0.5, hi + 0.5) if math.isfinite(lo) else (0.0, 1.0)
    return lambda v: a + (v - lo) / (hi - lo) * (b - a)


def _frame(title: str, xlabel: str, ylabel: str, body: str, xlo: float, xhi: float, ylo: float, yhi: float) -> str:
    e = html.escape
    ticks = []
    for i in range(5):
        xv, yv = xlo + (xhi - xlo) * i / 4, ylo + (yhi - ylo) * i / 4
        x = PAD + (W - PAD - 10) * i / 4
        y = H - PAD - (H - PAD - 24) * i / 4
        ticks.append(f'<text x="{x:.1f}" y="{H - PAD + 14}" font-size="10" text-anchor="middle">{xv:.3g}</text>')
        ticks.append(f'<text x="{PAD - 4}" y="{y + 3:.1f}" font-size="10" text-anchor="end">{yv:.3g}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" role="img" aria-label="{e(title)}">'
            f'<text x="{W / 2}" y="14" font-size="12" text-anchor="middle" font-weight="bold">{e(title)}</text>'
            f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" stroke="#888"/>'
            f'<line x1="{PAD}" y1="24" x2="{PAD}" y2="{H - PAD}" stroke="#888"/>{"".join(ticks)}'
            f'<text x="{W / 2}" y="{H - 8}" font-size="11" text-anchor="middle">{e(xlabel)}</text>'
            f'<text x="12" y="{H / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 12 {H / 2})">'
            f'{e(ylabel)}</text>{body}</svg>')


def _finite(vals: Sequence[float]) -> list[float]:
    return [v for v in vals if v is not None and math.isfinite(v)]


def scatter(title: str, xlabel: str, ylabel: str, points: Sequence[tuple[str, float | None, float | None]]) -> str:
    """Labelled points (name, x, y); points with a missing coordinate are listed as not shown."""
    ok = [(n, x, y) for n, x, y in points if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)]
    xs, ys = [p[1] for p in ok] or [0.0], [p[2] for p in ok] or [0.0]
    pad_x, pad_y = 0.08 * (max(xs) - min(xs) or 1), 0.08 * (max(ys) - min(ys) or 0.1)
    xlo, xhi, ylo, yhi = min(xs) - pad_x, max(xs) + pad_x, min(ys) - pad_y, max(ys) + pad_y
    sx, sy = _scale(xlo, xhi, PAD, W - 10), _scale(ylo, yhi, H - PAD, 24)
    body = []
    for i, (n, x, y) in enumerate(ok):
        c = COLORS[i % len(COLORS)]
        body.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="5" fill="{c}"><title>{html.escape(n)}: '
                    f'{x:.4g}, {y:.4g}</title></circle>'
                    f'<text x="{sx(x) + 7:.1f}" y="{sy(y) - 6:.1f}" font-size="10" fill="{c}">{html.escape(n)}</text>')
    missing = [n for n, x, y in points if (n, x, y) not in ok]
    if missing:
        body.append(f'<text x="{PAD + 4}" y="36" font-size="10" fill="#777">not shown (skipped): '
                    f'{html.escape(", ".join(missing))}</text>')
    return _frame(title, xlabel, ylabel, "".join(body), xlo, xhi, ylo, yhi)


def bars(title: str, ylabel: str, items: Sequence[tuple[str, float | None]]) -> str:
    vals = _finite([v for _, v in items]) or [0.0]
    yhi = max(max(vals), 1e-9) * 1.1
    sy = _scale(0.0, yhi, H - PAD, 24)
    n = max(len(items), 1)
    bw = (W - PAD - 10) / n
    body = []
    for i, (name, v) in enumerate(items):
        x = PAD + i * bw
        label = f'<text x="{x + bw / 2:.1f}" y="{H - PAD + 26}" font-size="9" text-anchor="middle">{html.escape(name)}</text>'
        if v is None or not math.isfinite(v):
            body.append(label + f'<text x="{x + bw / 2:.1f}" y="{H - PAD - 4}" font-size="9" text-anchor="middle">'
                                f'skipped</text>')
            continue
        body.append(f'<rect x="{x + 0.15 * bw:.1f}" y="{sy(v):.1f}" width="{0.7 * bw:.1f}" '
                    f'height="{H - PAD - sy(v):.1f}" fill="{COLORS[i % len(COLORS)]}"><title>{v:.4g}</title></rect>'
                    + label)
    return _frame(title, "", ylabel, "".join(body), 0.0, 0.0, 0.0, yhi)


def histograms(title: str, xlabel: str, series: Sequence[tuple[str, Sequence[float], Sequence[int]]]) -> str:
    """Overlaid normalised histograms (name, bin edges, counts) as step lines."""
    ok = [(n, e, c) for n, e, c in series if e and c and sum(c) > 0]
    if not ok:
        return _frame(title, xlabel, "fraction of latents", "", 0, 1, 0, 1)
    xlo, xhi = min(e[0] for _, e, _ in ok), max(e[-1] for _, e, _ in ok)
    yhi = max(max(c) / sum(c) for _, _, c in ok) * 1.1
    sx, sy = _scale(xlo, xhi, PAD, W - 10), _scale(0.0, yhi, H - PAD, 24)
    body = []
    for i, (n, e, c) in enumerate(ok):
        tot = sum(c)
        pts = []
        for j, cnt in enumerate(c):
            y = sy(cnt / tot)
            pts += [f"{sx(e[j]):.1f},{y:.1f}", f"{sx(e[j + 1]):.1f},{y:.1f}"]
        col = COLORS[i % len(COLORS)]
        body.append(f'<polyline fill="none" stroke="{col}" stroke-width="2" points="{" ".join(pts)}">'
                    f'<title>{html.escape(n)}</title></polyline>'
                    f'<text x="{W - 14}" y="{36 + 12 * i}" font-size="10" text-anchor="end" fill="{col}">'
                    f'{html.escape(n)}</text>')
    return _frame(title, xlabel, "fraction of latents", "".join(body), xlo, xhi, 0.0, yhi)
