"""report.html of `saekit compare`: one table (a row per SAE) and the trade-off plots, from the compare document."""
from __future__ import annotations

from pathlib import Path

from saekit.common.html_report import esc, table, write_report
from saekit.eval.registry import all_metrics
from saekit.eval.svg import bars, histograms, scatter
from saekit.results.compare import ComparedSae, CompareDocument


def columns() -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """(column, metric, key path) of the table, as the registered metrics declare them; a skipped metric
    shows "skipped" with its reason."""
    return tuple((c.label, m.name, c.path) for m in all_metrics() for c in m.columns)


def _cell(entry: ComparedSae, metric: str, path: tuple[str, ...]) -> str:
    if metric not in entry.metrics:
        return '<span class="muted">not run</span>'
    reason = entry.skipped(metric)
    if reason is not None:
        return f'<span class="muted" title="{esc(reason)}">skipped</span>'
    v = entry.value(metric, *path)
    return "–" if v is None else f"{v:.4g}"


def _stability_cell(doc: CompareDocument, name: str) -> str:
    vals = [p.frac_matched for p in doc.stability if name in (p.a, p.b) and p.frac_matched is not None]
    return f"{sum(vals) / len(vals):.3g}" if vals else '<span class="muted">–</span>'


def _histogram(entry: ComparedSae, key: str) -> tuple[list[float], list[float]]:
    """(edges, counts) of the Monosemanticity histogram ``key`` of one SAE (empty when it has none)."""
    ms = entry.metrics.get("monosemanticity", {})
    hist = ms.get(key, {}) if isinstance(ms, dict) else {}
    return (list(hist.get("edges", [])), list(hist.get("counts", []))) if isinstance(hist, dict) else ([], [])


def write_compare_report(path: Path, doc: CompareDocument) -> Path:
    entries = doc.saes
    cols = columns()
    header = ["SAE", "arch", "d_sae", "k"] + [c[0] for c in cols] + ["stability (mean vs others)"]
    rows = [header] + [
        [esc(e.name), esc(e.arch), str(e.d_sae), esc(e.k if e.k is not None else "–")]
        + [_cell(e, m, p) for _, m, p in cols] + [_stability_cell(doc, e.name)]
        for e in entries]
    table_html = table(rows, raw=True)
    split = doc.split
    intro = (f"<p>Store <code>{esc(doc.store)}</code>, hook <code>{esc(doc.hook)}</code>, suite "
             f"<b>{esc(doc.suite)}</b>; split <b>{esc(split.name)}</b> (fraction {split.fraction}): "
             f"{doc.n_rows} rows of {doc.n_samples} samples, the same for every SAE."
             + (f" <span class='muted'>{esc(split.note)}</span>" if split.note else "") + "</p>")
    names = [e.name for e in entries]
    l0 = [e.value("core", "l0") for e in entries]
    plots = "".join([
        scatter("L0 vs FVE", "L0", "FVE", [(n, x, e.value("core", "fve")) for n, x, e in zip(names, l0, entries)]),
        scatter("L0 vs sparse-probing accuracy (k=1)", "L0", "accuracy",
                [(n, x, e.value("sparse_probing", "acc", "1")) for n, x, e in zip(names, l0, entries)]),
        bars("dead fraction", "fraction of latents", [(n, e.value("core", "dead_frac")) for n, e in zip(names, entries)]),
        *(histograms(title, "MS", [(n, *_histogram(e, key)) for n, e in zip(names, entries)])
          for title, key in (("Monosemanticity Score (Pach et al.: raw cosines)", "hist"),
                             ("Monosemanticity Score, centred embeddings (saekit's variant)", "hist_centred"))),
    ])
    stab = [["SAE A", "SAE B", "matched ≥ threshold", "mean matched cosine"]] + [
        [esc(p.a), esc(p.b),
         f"{p.frac_matched:.3g}" if p.frac_matched is not None else f'<span class="muted">{esc(p.skipped or "")}</span>',
         f"{p.mean_matched_cosine:.3g}" if p.mean_matched_cosine is not None else "–"] for p in doc.stability]
    sections = [("Setup", intro), ("Metrics", table_html), ("Trade-offs", f'<div class="grid">{plots}</div>')]
    if doc.stability:
        sections.append(("Stability (Hungarian matching of decoder rows, cosine ≥ 0.7)", table(stab, raw=True)))
    return write_report(path, "SAE comparison", sections)
