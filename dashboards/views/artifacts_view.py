"""/artifacts : per-layer token-norm distributions, outlier tokens and heatmaps, register neurons and
the before/after of test-time registers, read from artifacts.json."""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import plotly.graph_objects as go
from dash import dash_table, html

from dashboards.views.common import FONT, card, figure_style, fmt_num, graph, notice, page, sample_href

MAX_HEATMAPS = 24


def layout(browser: Any) -> html.Div:
    if browser.inputs.artifacts is None:
        return page("Artifacts", notice(["No artifact report loaded. Run ", html.Code("saekit artifacts --out DIR"),
                                         " and relaunch with ", html.Code("--artifacts DIR"), "."], "info"))
    art = browser.artifacts
    layers = [l for l in art.get("layers") or [] if isinstance(l, dict)]
    first = art.get("first_outlier_layer")
    parts = [html.Div([
        card("Token norms per layer", graph(_quantile_figure(layers), id="artifacts-norms"), class_name="grow"),
        card("Norm distributions", graph(_hist_figure(layers), id="artifacts-hists"), class_name="grow"),
    ], className="row")]
    summary = [f"{len(layers)} layers", "first layer with high-norm outliers: "
               + ("none" if first is None else str(first))]
    parts.insert(0, notice(" · ".join(summary), "warn" if first is not None else "info"))
    heat = _heatmaps(browser)
    parts.append(card("Outlier heatmaps", heat if heat else html.Div("No heatmaps in the report.", className="muted")))
    parts.append(html.Div([
        card("Strongest outlier tokens", _outliers(art.get("outliers") or []), class_name="grow"),
        card("Register neurons", _register_neurons(art.get("register_neurons") or []), class_name="grow"),
    ], className="row"))
    ttr = art.get("test_time_registers")
    if isinstance(ttr, dict) and ttr:
        parts.append(card("Test-time registers: before / after", _before_after(ttr)))
    model = art.get("model")
    model_s = model.get("id") if isinstance(model, dict) else model
    ds = art.get("dataset")
    ds_s = ds.get("spec") if isinstance(ds, dict) else ds
    return page("Artifacts", *parts, subtitle=f"model {model_s or '?'} · dataset {ds_s or '?'}")


def _quantile_figure(layers: list[dict]) -> go.Figure:
    fig = go.Figure()
    xs = [l.get("layer", i) for i, l in enumerate(layers)]
    qkeys = sorted({str(k) for l in layers for k in (l.get("norm_quantiles") or {})}, key=_as_float)
    for q in qkeys:
        ys = [(l.get("norm_quantiles") or {}).get(q, (l.get("norm_quantiles") or {}).get(_as_float(q)))
              for l in layers]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=f"q{q}"))
    thr = [l.get("threshold") for l in layers]
    if any(isinstance(t, (int, float)) for t in thr):
        fig.add_trace(go.Scatter(x=xs, y=thr, mode="lines", name="outlier threshold",
                                 line=dict(dash="dash", color="#868e96")))
    frac = [l.get("outlier_frac") for l in layers]
    if any(isinstance(f, (int, float)) for f in frac):
        fig.add_trace(go.Bar(x=xs, y=frac, name="outlier fraction", yaxis="y2", opacity=0.35,
                             marker_color="#d9480f", marker_line_width=0))
        fig.update_layout(yaxis2=dict(overlaying="y", side="right", title="outlier fraction", showgrid=False))
    fig.update_layout(showlegend=True, legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(title="layer")
    fig.update_layout(yaxis=dict(title="token norm"))
    return figure_style(fig, height=320)


def _hist_figure(layers: list[dict]) -> go.Figure:
    fig = go.Figure()
    n = max(1, len(layers))
    for i, l in enumerate(layers):
        h = l.get("hist") or {}
        edges, counts = np.asarray(h.get("edges") or [], float), np.asarray(h.get("counts") or [], float)
        if len(edges) != len(counts) + 1 or not len(counts):
            continue
        t = i / max(1, n - 1)
        colour = f"rgb({int(28 + 189 * t)},{int(126 - 54 * t)},{int(214 - 199 * t)})"
        fig.add_trace(go.Scatter(x=(edges[:-1] + edges[1:]) / 2, y=np.maximum(counts, 0.5), mode="lines",
                                 line=dict(color=colour, width=1.5, shape="hvh"), name=f"layer {l.get('layer', i)}"))
    fig.update_yaxes(type="log", title="tokens")
    fig.update_xaxes(title="token norm")
    fig.update_layout(showlegend=True, legend=dict(font=dict(size=10)))
    return figure_style(fig, height=320)


def _heatmaps(browser: Any) -> list:
    """The report's per-layer heatmaps (layers[i].heatmap), else every heatmaps/*.png."""
    root = browser.inputs.artifacts_dir
    if root is None:
        return []
    items = [(str(l["heatmap"]), f"layer {l.get('layer')}") for l in browser.artifacts.get("layers") or []
             if isinstance(l, dict) and isinstance(l.get("heatmap"), str)]
    if not items:
        items = [(f.relative_to(root).as_posix(), f.stem.replace("_", " "))
                 for f in sorted(Path(root).glob("heatmaps/*.png"))]
    items = items[:MAX_HEATMAPS]
    if not items:
        return []
    return [html.Div([html.Figure([
        html.Img(src="/files/artifacts/" + quote(rel), className="thumb-img", alt=caption, width=260),
        html.Figcaption(caption)], className="thumb", style={"width": "260px"})
        for rel, caption in items], className="gallery")]


def _outliers(outliers: list[dict]) -> Any:
    rows = sorted((o for o in outliers if isinstance(o, dict)), key=lambda o: -float(o.get("norm") or 0))[:50]
    if not rows:
        return html.Div("No outlier tokens.", className="muted")
    data = [{"sample": f"[{o.get('sample_id')}]({sample_href(o['sample_id'])})" if isinstance(o.get("sample_id"), int)
             else str(o.get("sample_id")), "layer": o.get("layer"), "position": o.get("position"),
             "norm": round(float(o.get("norm") or 0), 3)} for o in rows]
    return dash_table.DataTable(
        id="artifacts-outliers", data=data, page_size=10, sort_action="native", style_as_list_view=True,
        columns=[{"name": "Sample", "id": "sample", "presentation": "markdown"}, {"name": "Layer", "id": "layer"},
                 {"name": "Position", "id": "position"}, {"name": "Norm", "id": "norm", "type": "numeric"}],
        markdown_options={"link_target": "_self"},
        style_cell={"fontFamily": FONT, "fontSize": "13px", "padding": "5px 8px", "textAlign": "left"},
        style_header={"fontWeight": "600", "backgroundColor": "#f5f6f8"})


def _register_neurons(neurons: list[dict]) -> Any:
    rows = [n for n in neurons if isinstance(n, dict)][:20]
    if not rows:
        return html.Div("No register neurons found.", className="muted")
    return html.Table([html.Thead(html.Tr([html.Th("layer"), html.Th("neuron"), html.Th("score", className="num")])),
                       html.Tbody([html.Tr([html.Td(str(n.get("layer"))), html.Td(str(n.get("neuron"))),
                                            html.Td(fmt_num(n.get("score")), className="num")]) for n in rows])],
                      className="simple-table")


def _before_after(ttr: dict) -> Any:
    before, after = ttr.get("before") or {}, ttr.get("after") or {}
    if not before and not after and isinstance(ttr.get("skipped"), str):
        return html.Div(f"Not evaluated: {ttr['skipped']}.", className="muted")
    keys = [k for k in dict.fromkeys(list(before) + list(after))]
    scalars = [k for k in keys if isinstance(before.get(k), (int, float)) or isinstance(after.get(k), (int, float))]
    series = [k for k in keys if _is_series(before.get(k)) or _is_series(after.get(k))]
    parts = []
    if scalars:
        parts.append(html.Table([
            html.Thead(html.Tr([html.Th("measure"), html.Th("before", className="num"), html.Th("after", className="num")])),
            html.Tbody([html.Tr([html.Td(k.replace("_", " ")), html.Td(fmt_num(before.get(k)), className="num"),
                                 html.Td(fmt_num(after.get(k)), className="num")]) for k in scalars])],
            className="simple-table"))
    for k in series[:3]:
        fig = go.Figure()
        for label, d in (("before", before), ("after", after)):
            if _is_series(d.get(k)):
                fig.add_trace(go.Scatter(y=[float(v) for v in d[k]], mode="lines+markers", name=label))
        fig.update_layout(title=k.replace("_", " "), showlegend=True)
        parts.append(graph(figure_style(fig, height=240)))
    imgs = [(label, v) for label, d in (("before", before), ("after", after)) for v in d.values()
            if isinstance(v, str) and v.lower().endswith(".png")]
    if imgs:
        parts.append(html.Div([html.Figure([
            html.Img(src="/files/artifacts/" + quote(rel), width=200, className="thumb-img", alt=label),
            html.Figcaption(label)], className="thumb", style={"width": "200px"}) for label, rel in imgs],
            className="gallery"))
    for k in ("skipped", "note", "summary"):
        if isinstance(ttr.get(k), str):
            parts.append(html.P(ttr[k], className="muted"))
    return html.Div(parts or [html.Div("No numbers in the report.", className="muted")])


def _is_series(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, (int, float)) for x in v)


def _as_float(q: Any) -> float:
    try:
        return float(q)
    except (TypeError, ValueError):
        return float("inf")
