"""The quickstart's HTML report: training curves, L0 / FVE, feature density, named features.

Self-contained and offline: plotly.js is written next to the page, images are referenced by
relative paths into the naming output.
"""
from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import numpy as np

from saekit.common.atomic import write_text_atomic
from saekit.common.html_report import write_page
from saekit.common.jsontypes import JSONObject
from saekit.results import AlignDocument, CompareDocument, EvaluationDocument, MetricsLog, MetricsRecord, NamesDocument

GRID_FEATURES = 24


def write_report(out: Path, *, config: JSONObject, metrics_jsonl: Path, eval_json: Path, align_dir: Path,
                 names_dir: Path, sae_dir: Path, store: Path, steps: list[JSONObject], dashboard: str,
                 compare_dir: Path | None = None) -> Path:
    import plotly.offline

    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "plotly.min.js", plotly.offline.get_plotlyjs())
    curves = MetricsLog.load(metrics_jsonl).records
    metrics = _eval_figures(eval_json)
    align = AlignDocument.load(align_dir)
    names = NamesDocument.load(names_dir)
    freq = _latent_frequencies(sae_dir, store, config["hook"])

    sections = [
        _summary_section(config, metrics, align.metrics, names, steps),
        _figure_section("Training curves", _training_figure(curves)),
        _figure_section("Feature density", _density_figure(freq)),
        _grid_section(names, names_dir, out),
        _compare_section(compare_dir, out),
        f"<h2>Browse everything</h2><pre>{html.escape(dashboard)}</pre>",
    ]
    return write_page(out / "index.html", "saekit quickstart report", "\n".join(sections), style=_STYLE,
                      head='<script src="plotly.min.js"></script>')


def _latent_frequencies(sae_dir: Path, store: Path, hook: str) -> np.ndarray | None:
    from saekit.analysis.summaries import LatentSummaries, default_summaries_dir
    from stores import ActivationStore

    with ActivationStore.open(store) as s:
        directory = default_summaries_dir(sae_dir, s, hook)
    if not directory.exists():
        return None
    return np.asarray(LatentSummaries.load(directory).freq)


def _eval_figures(eval_json: Path) -> dict[str, Any]:
    """{metric: value} from the evaluation document, plus "_split": the split of the core metrics."""
    doc = EvaluationDocument.load(eval_json)
    out: dict[str, Any] = {k: m.value for k, m in doc.metrics.items() if m.value is not None}
    out.update({k.removeprefix("core."): v for k, v in list(out.items()) if k.startswith("core.")})
    core = doc.metrics.get("core.fve") or doc.metrics.get("fve")
    out["_split"] = {"holdout": "held-out samples", "train": "training samples"}.get(
        core.split if core else "all", "all samples (includes training rows)")
    return out


def _compare_section(compare_dir: Path | None, out: Path) -> str:
    """The small comparison (quickstart --compare-k): a row per SAE and a link to the full report."""
    if compare_dir is None or not (compare_dir / "compare.json").exists():
        return ""
    doc = CompareDocument.load(compare_dir)
    head = "<tr><th>SAE</th><th>L0</th><th>FVE</th><th>dead</th><th>probe acc k=1</th><th>M1 Moran's I</th></tr>"
    rows = []
    for e in doc.saes:
        cells = [e.value("core", "l0"), e.value("core", "fve"), e.value("core", "dead_frac"),
                 e.value("sparse_probing", "acc", "1"), e.value("spatial_coherence", "m1_morans_i")]
        rows.append(f"<tr><td>{html.escape(e.name)}</td>"
                    + "".join(f"<td>{'skipped' if v is None else format(v, '.3f')}</td>" for v in cells) + "</tr>")
    link = os.path.relpath(compare_dir / "report.html", out)
    return (f"<h2>Comparison</h2><p>On the same {html.escape(doc.split.name)} rows ({doc.n_rows} rows); "
            f"<a href='{html.escape(link)}'>full comparison report</a>.</p><table>{head}{''.join(rows)}</table>")


def _fmt(metrics: dict[str, Any], key: str, spec: str) -> str:
    v = metrics.get(key)
    return "skipped" if v is None else format(v, spec)


def _summary_section(config: dict[str, Any], metrics: dict[str, Any], align: dict[str, Any],
                     names: NamesDocument, steps: list[dict[str, Any]]) -> str:
    on = f"on {metrics['_split']}"
    cards = [
        ("L0", _fmt(metrics, "l0", ".1f"), f"active latents per token, {on}"),
        ("FVE (pooled)", _fmt(metrics, "fve", ".3f"), f"1 - SSE / total sum of squares about the mean, {on}"),
        ("FVE (per token)", _fmt(metrics, "fve_per_token", ".3f"), f"mean over tokens of 1 - |x - x̂|² / |x - mean|², {on}"),
        ("dead fraction", _fmt(metrics, "dead_frac", ".3f"), f"latents that never fired, {on}"),
        ("sparse probing k=1", _fmt(metrics, "sparse_probing.acc.1", ".3f"),
         f"balanced one-vs-rest accuracy with the best latent per class; all {metrics.get('sparse_probing.raw_acc', float('nan')):.3f} "
         f"raw dims, {on}"),
        ("M1 Moran's I", _fmt(metrics, "spatial_coherence.m1_morans_i", ".3f"),
         f"ViSAEBench's spatial coherence (queen weights, images with 5 to 90% of patches active); saekit's rook "
         f"top-8 estimator {metrics.get('spatial_coherence.morans_i_rook_top8', float('nan')):.3f}, shuffled patches "
         f"{metrics.get('spatial_coherence.rook_top8_shuffled_baseline', float('nan')):.3f}"),
        ("MS (Pach et al.)", _fmt(metrics, "monosemanticity.ms_mean", ".3f"),
         f"mean Monosemanticity Score, raw cosines of an independent encoder; the images' mean pair cosine "
         f"{metrics.get('monosemanticity.mean_pair_cosine', float('nan')):.3f}, saekit's centred variant "
         f"{metrics.get('monosemanticity.ms_centred_mean', float('nan')):.3f}"),
        ("recall@10", f"{align.get('recall_at_10', float('nan')):.3f}",
         f"held-out image→caption; shuffled-caption fit {align.get('baseline_shuffled_recall_at_10', float('nan')):.3f}"),
        ("named latents", str(len(names.latents)), "live latents with a vocabulary name"),
    ]
    card_html = "".join(
        f'<div class="card"><div class="v">{html.escape(v)}</div><div class="k">{html.escape(k)}</div>'
        f'<div class="n">{html.escape(n)}</div></div>' for k, v, n in cards)
    rows = "".join(
        f"<tr><td>{html.escape(s['name'])}</td><td>{_step_time(s)}</td></tr>" for s in steps)
    setup = ", ".join(f"{k}={html.escape(str(config[k]))}" for k in ("model", "data", "hook", "arch", "expansion", "k"))
    return (f"<p class='setup'>{setup}</p><div class='cards'>{card_html}</div>"
            f"<h2>Steps</h2><table class='steps'><tr><th>step</th><th>time</th></tr>{rows}</table>")


def _step_time(step: dict[str, Any]) -> str:
    return "reused" if step["reused"] else f"{step['seconds']:.1f} s"


def _training_figure(curves: tuple[MetricsRecord, ...]):
    from plotly.subplots import make_subplots
    import plotly.graph_objects as go

    fig = make_subplots(rows=1, cols=4, subplot_titles=("loss", "FVE", "L0", "dead fraction"))
    tokens = [c.tokens for c in curves]
    for col, key in enumerate(("loss", "fve", "l0", "dead_frac"), start=1):
        fig.add_trace(go.Scatter(x=tokens, y=[getattr(c, key) for c in curves], mode="lines", name=key), row=1, col=col)
        fig.update_xaxes(title_text="tokens", row=1, col=col)
    fig.update_layout(height=320, showlegend=False, margin=dict(l=40, r=20, t=40, b=40))
    return fig


def _density_figure(freq: np.ndarray | None):
    import plotly.graph_objects as go

    fig = go.Figure()
    if freq is not None:
        live = freq[freq > 0]
        fig.add_trace(go.Histogram(x=np.log10(live), nbinsx=60, name="live latents"))
        fig.update_layout(title=f"log10 firing frequency of {live.size} live latents ({int((freq == 0).sum())} never fired)")
    fig.update_layout(height=320, xaxis_title="log10(fraction of tokens where the latent fires)",
                      yaxis_title="latents", margin=dict(l=40, r=20, t=50, b=40))
    return fig


def _figure_section(title: str, fig) -> str:
    return f"<h2>{html.escape(title)}</h2>" + fig.to_html(full_html=False, include_plotlyjs=False)


def _grid_section(names: NamesDocument, names_dir: Path, out: Path) -> str:
    latents = [entry for entry in names.latents if any(t.heatmap for t in entry.top)]
    latents.sort(key=lambda e: -e.score)
    # The best-scoring latent of each distinct name: a dense concept (say, playing cards) would
    # otherwise fill the whole grid with near-duplicates.
    shown, seen = [], set()
    for entry in latents:
        if entry.name not in seen:
            seen.add(entry.name)
            shown.append(entry)
    rel = Path(os.path.relpath(names_dir, out))
    cards = []
    for entry in shown[:GRID_FEATURES]:
        images = "".join(
            f'<img src="{html.escape((rel / t.heatmap).as_posix())}" title="activation {t.activation:.2f}">'
            for t in entry.top[:4] if t.heatmap)
        mono = entry.mono_score
        mono_txt = f" · MS (Pach et al.) {mono:.2f}" if mono is not None else ""
        cards.append(
            f'<div class="feat"><div class="t">#{entry.latent} <b>{html.escape(entry.name)}</b></div>'
            f'<div class="s">score {entry.score:.3f}{mono_txt} · freq {entry.freq:.2e}</div>'
            f'<div class="imgs">{images}</div></div>')
    body = "".join(cards) or "<p>No latent has heatmaps yet.</p>"
    title = f"Named features (the best latent of each of {min(len(shown), GRID_FEATURES)} distinct names)"
    return f"<h2>{title}</h2><div class='grid'>{body}</div>"


_STYLE = """
body { margin: 24px auto; max-width: 1200px; }
h1 { margin-bottom: 4px; } h2 { margin-top: 32px; padding-bottom: 4px; }
.setup { color: #666; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { border: 1px solid #ddd; border-radius: 8px; padding: 10px 14px; min-width: 150px; width: auto; }
.card .v { font-size: 24px; font-weight: 600; } .card .k { font-weight: 600; } .card .n { color: #777; font-size: 12px; }
table.steps td, table.steps th { padding: 2px 12px; text-align: left; border: none; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(270px, 1fr)); gap: 14px; }
.feat { border: 1px solid #ddd; border-radius: 8px; padding: 8px; }
.feat .s { color: #777; font-size: 12px; margin-bottom: 4px; }
.feat img { width: 62px; height: 62px; margin: 1px; image-rendering: auto; }
pre { background: #f5f5f5; padding: 10px; }
"""
