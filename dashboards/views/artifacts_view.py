"""/artifacts : per-layer token-norm distributions, outlier tokens and heatmaps, register neurons and
the before/after of test-time registers, read from artifacts.json."""
from __future__ import annotations

from typing import Any, Sequence
from urllib.parse import quote

import numpy as np
import plotly.graph_objects as go
from dash import dash_table, html

from dashboards.context import Browser
from dashboards.views.common import FONT, card, figure_style, fmt_num, graph, notice, page, sample_href
from dashboards.views.routing import Route
from saekit.results.artifacts import ArtifactLayer, OutlierToken, RegisterNeuron, TestTimeRegisters

MAX_HEATMAPS = 24


ROUTES = (Route(r"/artifacts", lambda browser, m, search: layout(browser), order=50, path="/artifacts",
                nav="Artifacts"),)


def layout(browser: Browser) -> html.Div:
    art = browser.inputs.artifacts
    if art is None:
        return page("Artifacts", notice(["No artifact report loaded. Run ", html.Code("saekit artifacts --out DIR"),
                                         " and relaunch with ", html.Code("--artifacts DIR"), "."], "info"))
    layers = art.layers
    first = art.first_outlier_layer
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
        card("Strongest outlier tokens", _outliers(art.outliers), class_name="grow"),
        card("Register neurons", _register_neurons(art.register_neurons), class_name="grow"),
    ], className="row"))
    if art.test_time_registers is not None:
        parts.append(card("Test-time registers: before / after", _before_after(art.test_time_registers)))
    return page("Artifacts", *parts, subtitle=f"model {art.model or '?'} · dataset {art.dataset.spec or '?'}")


def _quantile_figure(layers: Sequence[ArtifactLayer]) -> go.Figure:
    fig = go.Figure()
    xs = [l.layer for l in layers]
    qkeys = sorted({k for l in layers for k in l.norm_quantiles}, key=float)
    for q in qkeys:
        fig.add_trace(go.Scatter(x=xs, y=[l.norm_quantiles.get(q) for l in layers], mode="lines+markers", name=f"q{q}"))
    thr = [l.threshold for l in layers]
    if any(t is not None for t in thr):
        fig.add_trace(go.Scatter(x=xs, y=thr, mode="lines", name="outlier threshold",
                                 line=dict(dash="dash", color="#868e96")))
    if layers:
        fig.add_trace(go.Bar(x=xs, y=[l.outlier_frac for l in layers], name="outlier fraction", yaxis="y2",
                             opacity=0.35, marker_color="#d9480f", marker_line_width=0))
        fig.update_layout(yaxis2=dict(overlaying="y", side="right", title="outlier fraction", showgrid=False))
    fig.update_layout(showlegend=True, legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(title="layer")
    fig.update_layout(yaxis=dict(title="token norm"))
    return figure_style(fig, height=320)


def _hist_figure(layers: Sequence[ArtifactLayer]) -> go.Figure:
    fig = go.Figure()
    n = max(1, len(layers))
    for i, l in enumerate(layers):
        edges, counts = np.asarray(l.hist.edges, float), np.asarray(l.hist.counts, float)
        if len(edges) != len(counts) + 1 or not len(counts):
            continue
        t = i / max(1, n - 1)
        colour = f"rgb({int(28 + 189 * t)},{int(126 - 54 * t)},{int(214 - 199 * t)})"
        fig.add_trace(go.Scatter(x=(edges[:-1] + edges[1:]) / 2, y=np.maximum(counts, 0.5), mode="lines",
                                 line=dict(color=colour, width=1.5, shape="hvh"), name=f"layer {l.layer}"))
    fig.update_yaxes(type="log", title="tokens")
    fig.update_xaxes(title="token norm")
    fig.update_layout(showlegend=True, legend=dict(font=dict(size=10)))
    return figure_style(fig, height=320)


def _heatmaps(browser: Browser) -> list:
    """The report's per-layer heatmaps (layers[i].heatmap)."""
    if browser.inputs.artifacts_dir is None or browser.inputs.artifacts is None:
        return []
    items = [(l.heatmap, f"layer {l.layer}") for l in browser.inputs.artifacts.layers if l.heatmap][:MAX_HEATMAPS]
    if not items:
        return []
    return [html.Div([html.Figure([
        html.Img(src="/files/artifacts/" + quote(rel), className="thumb-img", alt=caption, width=260),
        html.Figcaption(caption)], className="thumb", style={"width": "260px"})
        for rel, caption in items], className="gallery")]


def _outliers(outliers: Sequence[OutlierToken]) -> Any:
    rows = sorted(outliers, key=lambda o: -o.norm)[:50]
    if not rows:
        return html.Div("No outlier tokens.", className="muted")
    data = [{"sample": f"[{o.sample_id}]({sample_href(o.sample_id)})" if isinstance(o.sample_id, int)
             else str(o.sample_id), "layer": o.layer, "position": o.position, "norm": round(o.norm, 3)} for o in rows]
    return dash_table.DataTable(
        id="artifacts-outliers", data=data, page_size=10, sort_action="native", style_as_list_view=True,
        columns=[{"name": "Sample", "id": "sample", "presentation": "markdown"}, {"name": "Layer", "id": "layer"},
                 {"name": "Position", "id": "position"}, {"name": "Norm", "id": "norm", "type": "numeric"}],
        markdown_options={"link_target": "_self"},
        style_cell={"fontFamily": FONT, "fontSize": "13px", "padding": "5px 8px", "textAlign": "left"},
        style_header={"fontWeight": "600", "backgroundColor": "#f5f6f8"})


def _register_neurons(neurons: Sequence[RegisterNeuron]) -> Any:
    rows = list(neurons[:20])
    if not rows:
        return html.Div("No register neurons found.", className="muted")
    return html.Table([html.Thead(html.Tr([html.Th("layer"), html.Th("neuron"), html.Th("score", className="num")])),
                       html.Tbody([html.Tr([html.Td(str(n.layer)), html.Td(str(n.neuron)),
                                            html.Td(fmt_num(n.score), className="num")]) for n in rows])],
                      className="simple-table")


def _before_after(ttr: TestTimeRegisters) -> Any:
    if ttr.skipped is not None:
        return html.Div(f"Not evaluated: {ttr.skipped}.", className="muted")
    before, after = ttr.before or {}, ttr.after or {}
    keys = list(dict.fromkeys(list(before) + list(after)))
    table = html.Table([
        html.Thead(html.Tr([html.Th("measure"), html.Th("before", className="num"), html.Th("after", className="num")])),
        html.Tbody([html.Tr([html.Td(k.replace("_", " ")), html.Td(fmt_num(before.get(k)), className="num"),
                             html.Td(fmt_num(after.get(k)), className="num")]) for k in keys])],
        className="simple-table")
    head = html.P(f"layer {ttr.layer} · {ttr.n_images} images with outliers · register init {ttr.init} · "
                  f"{len(ttr.neurons)} register neurons", className="muted")
    return html.Div([head, table])
