"""Small building blocks every page uses, so the pages look alike."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence, Union
from urllib.parse import quote

import numpy.typing as npt
import plotly.graph_objects as go
from dash import dcc, html
from dash.development.base_component import Component

if TYPE_CHECKING:
    from dashboards.context import Browser

FONT = "Inter, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
ACCENT = "#d9480f"
#: one thing a Dash component shows: a component, text, a number, or nothing
Child = Union[Component, str, int, float, None]
#: a child, or a list of children that may hold lists again (flat() splices them in)
Children = Union[Child, Sequence[object]]


def flat(children: Iterable[Children]) -> list[Child]:
    """Children with nested lists spliced in (Dash's renderer does not accept a list inside a list)."""
    out: list[Child] = []
    for c in children:
        if isinstance(c, (list, tuple)):
            out.extend(flat(c))
        elif c is not None:
            out.append(c)
    return out


def page(title: str, *children: Children, subtitle: str | None = None, actions: Children = None) -> html.Div:
    head = [html.H2(title, className="page-title")]
    if subtitle:
        head.append(html.Div(subtitle, className="page-subtitle"))
    header = html.Div([html.Div(head), html.Div(actions, className="page-actions")] if actions else head,
                      className="page-header")
    return html.Div([header, *flat(children)], className="page")


def card(title: str | None, *children: Children, class_name: str = "", id: str | None = None) -> html.Section:
    body = [html.H3(title, className="card-title")] if title else []
    kwargs = {"id": id} if id else {}
    return html.Section(body + flat(children), className=f"card {class_name}".strip(), **kwargs)


def notice(text: Children, kind: str = "info", id: str | None = None) -> html.Div:
    kwargs = {"id": id} if id else {}
    return html.Div(text, className=f"notice notice-{kind}", role="status", **kwargs)


def stat(label: str, value: str) -> html.Div:
    return html.Div([html.Div(value, className="stat-value"), html.Div(label, className="stat-label")],
                    className="stat")


def fmt_pct(x: float | None) -> str:
    if x is None or x != x:
        return "—"
    if x == 0:
        return "0%"
    return f"{100 * x:.3g}%"


def fmt_num(x: float | None, digits: int = 3) -> str:
    if x is None or x != x:
        return "—"
    return f"{x:.{digits}g}"


def feature_href(latent: int) -> str:
    return f"/feature/{int(latent)}"


def class_href(cls: str) -> str:
    return "/class/" + quote(str(cls), safe="")


def sample_href(sample_id: int) -> str:
    return f"/sample/{int(sample_id)}"


def feature_link(browser: Browser, latent: int, class_name: str = "feature-link") -> dcc.Link:
    return dcc.Link(browser.label(int(latent)), href=feature_href(latent), className=class_name)


def img_src(sample_id: int, latent: int | None = None, size: int = 160) -> str:
    q = f"?size={size}" if latent is None else f"?latent={int(latent)}&size={size}"
    return f"/img/sample/{int(sample_id)}.png{q}"


def thumb(sample_id: int, latent: int | None, caption: Iterable[Children] | str, size: int = 160,
          href: str | None = None) -> html.Figure:
    """A sample image (with the latent's heatmap) linking to the sample page."""
    img = html.Img(src=img_src(sample_id, latent, size), width=size, height=size,
                   alt=f"sample {sample_id}", className="thumb-img")
    cap = caption if isinstance(caption, (list, tuple)) else [caption]
    return html.Figure([dcc.Link(img, href=href or sample_href(sample_id)), html.Figcaption(list(cap))],
                       className="thumb", style={"width": f"{size}px"})


def token_highlights(tokens: list[str] | None, acts: npt.ArrayLike, scale
: float, window: int = 24) -> html.Div:
    """Text with each token's background set by its activation; a window around the peak token."""
    import numpy as np

    acts = np.asarray(acts, dtype=np.float32)
    if tokens is None:
        tokens = [f"⟨{i}⟩" for i in range(len(acts))]
    n = min(len(tokens), len(acts))
    if n == 0:
        return html.Div("(no tokens)", className="tokens")
    peak = int(np.argmax(acts[:n]))
    lo, hi = max(0, peak - window), min(n, peak + window // 2 + 1)
    spans = [html.Span("…", className="tok-ellipsis")] if lo > 0 else []
    for i in range(lo, hi):
        a = float(acts[i]) / max(scale, 1e-12)
        a = min(max(a, 0.0), 1.0)
        style = {"backgroundColor": f"rgba(217, 72, 15, {0.85 * a:.3f})"} if a > 0 else {}
        if a > 0.6:
            style["color"] = "white"
        spans.append(html.Span(tokens[i], className="tok", style=style, title=f"{float(acts[i]):.3g}"))
    if hi < n:
        spans.append(html.Span("…", className="tok-ellipsis"))
    return html.Div(spans, className="tokens")


def figure_style(fig: go.Figure, height: int = 260) -> go.Figure:
    fig.update_layout(template="plotly_white", height=height, margin=dict(l=50, r=16, t=30, b=40),
                      font=dict(family=FONT, size=12), colorway=[ACCENT, "#1c7ed6", "#37b24d", "#7048e8"],
                      showlegend=fig.layout.showlegend if fig.layout.showlegend is not None else False)
    return fig


def graph(fig: go.Figure, id: str | None = None) -> dcc.Graph:
    """A figure at its own layout height (a responsive graph in a flex row would otherwise collapse)."""
    kwargs = {"id": id} if id else {}
    height = fig.layout.height or 300
    return dcc.Graph(figure=fig, config={"displayModeBar": False, "responsive": True},
                     style={"height": f"{height}px", "width": "100%"}, **kwargs)


def not_found(what: str, hint: str = "") -> html.Div:
    return page("Not found", notice([html.Strong(what), html.Span(" " + hint) if hint else None], "warn"),
                html.P(dcc.Link("← back to the feature list", href="/")))
