"""report.html of `saekit compare`: one table (a row per SAE) and the trade-off plots."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from saekit.common.html_report import esc, table, write_report
from saekit.eval.registry import all_metrics
from saekit.eval.svg import bars, histograms, scatter


def columns() -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """(column, metric, key path) of the table, as the registered metrics declare them; a skipped metric
    shows "skipped" with its reason."""
    return tuple((c.label, m.name, c.path) for m in all_metrics() for c in m.columns)

def metric_value(entry: dict[str, Any], metric: str, path: tuple[str, ...]) -> float | None:
    v: Any = entry["metrics"].get(metric)
    for key in path:
        if not isinstance(v, dict) or key not in v:
            return None
        v = v[key]
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def _cell(entry: dict[str, Any], metric: str, path: tuple[str, ...]) -> str:
    res = entry["metrics"].get(metric)
    if res is None:
        return '<span class="muted">not run</span>'
    if "skipped" in res:
        return f'<span class="muted" title="{esc(res["skipped"])}">skipped</span>'
    v = metric_value(entry, metric, path)
    return "–" if v is None else f"{v:.4g}"


def _stability_cell(result: dict[str, Any], name: str) -> str:
    vals = [p["frac_matched"] for p in result["stability"] if name in (p["a"], p["b"]) and "frac_matched" in p]
    return f"{sum(vals) / len(vals):.3g}" if vals else '<span class="muted">–</span>'


def write_compare_report(path: Path, result: dict[str, Any]) -> Path:
    entries = result["saes"]
    cols = columns()
    header = ["SAE", "arch", "d_sae", "k"] + [c[0] for c in cols] + ["stability (mean vs others)"]
    rows = [header] + [
        [esc(e["name"]), esc(e["arch"]), str(e["d_sae"]), esc(e["k"] if e["k"] is not None else "–")]
        + [_cell(e, m, p) for _, m, p in cols] + [_stability_cell(result, e["name"])]
        for e in entries]
    table_html = table(rows, raw=True)
    split = result["split"]
    intro = (f"<p>Store <code>{esc(result['store'])}</code>, hook <code>{esc(result['hook'])}</code>, suite "
             f"<b>{esc(result['suite'])}</b>; split <b>{esc(split['name'])}</b> (fraction {split['fraction']}): "
             f"{result['n_rows']} rows of {result['n_samples']} samples, the same for every SAE."
             + (f" <span class='muted'>{esc(split['note'])}</span>" if split.get("note") else "") + "</p>")
    names = [e["name"] for e in entries]
    l0 = [metric_value(e, "core", ("l0",)) for e in entries]
    plots = "".join([
        scatter("L0 vs FVE", "L0", "FVE", [(n, x, metric_value(e, "core", ("fve",))) for n, x, e in zip(names, l0, entries)]),
        scatter("L0 vs sparse-probing accuracy (k=1)", "L0", "accuracy",
                [(n, x, metric_value(e, "sparse_probing", ("acc", "1"))) for n, x, e in zip(names, l0, entries)]),
        bars("dead fraction", "fraction of latents", [(n, metric_value(e, "core", ("dead_frac",))) for n, e in
                                                       zip(names, entries)]),
        *(histograms(title, "MS", [(n, e["metrics"].get("monosemanticity", {}).get(key, {}).get("edges", []),
                                    e["metrics"].get("monosemanticity", {}).get(key, {}).get("counts", []))
                                   for n, e in zip(names, entries)])
          for title, key in (("Monosemanticity Score (Pach et al.: raw cosines)", "hist"),
                             ("Monosemanticity Score, centred embeddings (saekit's variant)", "hist_centred"))),
    ])
    stab = [["SAE A", "SAE B", "matched ≥ threshold", "mean matched cosine"]] + [
        [esc(p["a"]), esc(p["b"]),
         f"{p['frac_matched']:.3g}" if "frac_matched" in p else f'<span class="muted">{esc(p["skipped"])}</span>',
         f"{p['mean_matched_cosine']:.3g}" if "mean_matched_cosine" in p else "–"] for p in result["stability"]]
    sections = [("Setup", intro), ("Metrics", table_html), ("Trade-offs", f'<div class="grid">{plots}</div>')]
    if result["stability"]:
        sections.append(("Stability (Hungarian matching of decoder rows, cosine ≥ 0.7)", table(stab, raw=True)))
    return write_report(path, "SAE comparison", sections)

