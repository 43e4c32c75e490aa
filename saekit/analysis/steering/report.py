"""index.html of `saekit steer`, from its document."""
from __future__ import annotations

import html

from saekit.results import SteeringDocument


def render_html(doc: SteeringDocument) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><td>{r.strength:g}</td><td>{r.effect:.4g}</td><td>{r.delta:+.4g}</td>"
        f"<td>{esc(r.generation or '')}</td></tr>" for r in doc.rows)
    base = f"<p>baseline generation: {esc(doc.baseline_generation)}</p>" if doc.baseline_generation is not None else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>saekit steer</title></head><body>"
            f"<h1>Steering latent {doc.latent} ({esc(doc.mode)}) of {esc(doc.model)}</h1>"
            f"<p>hook {esc(doc.hook)}; effect: {esc(doc.effect)}; baseline {doc.baseline:.4g}</p>{base}"
            f"<table border=1><tr><th>strength</th><th>effect</th><th>delta</th><th>generation</th></tr>{rows}</table>"
            f"<p><img src='{esc(doc.plots.png)}'> <a href='{esc(doc.plots.html)}'>interactive plot</a></p>"
            f"</body></html>")
