"""/feature/<i> : one latent's top examples, quantile samples, histogram, names, neighbours, classes."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
from dash import dcc, html

from dashboards.views.common import (card, class_href, feature_href, feature_link, figure_style, fmt_num,
                                     fmt_pct, graph, not_found, notice, page, sample_href, stat, thumb,
                                     token_highlights)
from dashboards.views.routing import Route
from saekit.results.names import Explanation, LatentName

if TYPE_CHECKING:
    from dashboards.context import Browser

TOP_SHOWN = 16


ROUTES = (Route(r"/feature/(-?\d{1,12})", lambda browser, m, search: layout(browser, int(m.group(1))),
                order=20, path="/feature/<i>"),)


def layout(browser: Browser, latent: int) -> html.Div:
    s = browser.summaries
    if not 0 <= latent < browser.inputs.d_sae:
        return not_found(f"There is no latent #{latent}.",
                         f"This SAE has latents 0 to {browser.inputs.d_sae - 1}.")
    entry = browser.name_entries.get(latent)
    mono = browser.mono_of(latent)
    centred = entry.mono_score_centred if entry is not None and not browser.mono_centred_shown else None
    stats = html.Div([
        stat("firing freq (tokens)", fmt_pct(float(s.freq[latent]))),
        stat("firing freq (samples)", fmt_pct(float(s.sample_freq[latent]))),
        stat("mean activation", fmt_num(float(s.mean_act[latent]))),
        stat("max activation", fmt_num(float(s.max_act[latent]))),
        stat(browser.mono_label, fmt_num(mono) if mono is not None else "—"),
        *([stat("MS centred (saekit)", fmt_num(centred))] if centred is not None else []),
    ], className="stats")
    nav = html.Div([
        dcc.Link("← prev", href=feature_href(max(0, latent - 1)), className="btn btn-light"),
        dcc.Link("next →", href=feature_href(min(browser.inputs.d_sae - 1, latent + 1)), className="btn btn-light"),
        dcc.Link("Steer this feature", href=f"/steer?latent={latent}", className="btn"),
    ], className="btn-row")
    dead = float(s.freq[latent]) <= 0
    body = [stats]
    if dead:
        body.append(notice("This latent never fired on the store: it is dead.", "warn"))
    if entry is not None and entry.explanation is not None:
        body.append(card("Explanation", _explanation(entry.explanation), id="explanation"))
    body.append(card("Top activations", _top_examples(browser, latent), id="top-examples"))
    body.append(html.Div([
        card("Activation histogram", graph(_histogram(browser, latent), id="feature-hist"), class_name="grow"),
        card("Name candidates", _candidates(entry), class_name="side"),
    ], className="row"))
    body.append(card("Samples across the activation range", _quantiles(browser, latent)))
    body.append(html.Div([
        card("Nearest features (decoder cosine)", _neighbours(browser, latent), class_name="grow"),
        card("Classes (ConceptScope audit)", _classes(browser, latent), class_name="grow"),
    ], className="row"))
    title = browser.name(latent) or "(unnamed)"
    return page(f"#{latent} · {title}", *body, subtitle=f"latent {latent} of {browser.inputs.d_sae:,} · "
                f"hook {browser.inputs.hook_label}", actions=nav)


def _top_examples(browser: Browser, latent: int) -> Any:
    s = browser.summaries
    ids = np.asarray(s.top_sample_ids[latent][:TOP_SHOWN])
    vals = np.asarray(s.top_values[latent][:TOP_SHOWN])
    keep = ids >= 0
    if not keep.any():
        return html.Div("No sample activates this latent.", className="muted")
    if browser.samples.is_text:
        rows = []
        scale = float(s.max_act[latent]) or 1.0
        for k in np.flatnonzero(keep):
            sid = int(ids[k])
            pos = np.asarray(s.top_positions[latent, k])
            acts = np.asarray(s.top_token_acts[latent, k], dtype=np.float32)
            valid = pos >= 0
            toks = browser.samples.tokens(sid)
            tok_list = [toks[p] if toks and p < len(toks) else f"⟨{p}⟩" for p in pos[valid]]
            rows.append(html.Div([
                html.Div([dcc.Link(f"sample {sid}", href=sample_href(sid)), html.Span(f" max {vals[k]:.3g}",
                                                                                        className="muted")],
                         className="text-example-head"),
                token_highlights(tok_list, acts[valid], scale),
            ], className="text-example"))
        return html.Div(rows, className="text-examples")
    return html.Div([
        thumb(int(ids[k]), latent, [html.Span(f"{vals[k]:.3g}", className="act"), " ",
                                    html.Span(browser.samples.label(int(ids[k])), className="muted")])
        for k in np.flatnonzero(keep)
    ], className="gallery")


def _explanation(ex: Explanation) -> Any:
    """The `saekit explain` text, its detection / fuzzing scores and the held-out samples judged."""
    parts: list[Any] = [html.P(ex.text, className="explanation-text"),
                        html.Div(f"by {ex.client or '?'} · explained on samples "
                                 f"{', '.join(str(i) for i in ex.explained_on)}", className="muted small")]
    for kind, j in (("detection", ex.detection), ("fuzzing", ex.fuzzing), ("fuzzing (active)", ex.fuzzing_active)):
        if j is None:
            continue
        parts.append(html.H4(f"{kind}: balanced accuracy {fmt_num(j.balanced_accuracy)} · "
                             f"AUC {fmt_num(j.auc)} ({j.n_positive} + {j.n_negative} windows)"))
        rows = [html.Tr([html.Td(dcc.Link(str(r.sample_id), href=sample_href(r.sample_id))),
                         html.Td("activates" if r.truth else "—"),
                         html.Td("yes" if r.answer >= 0.5 else "no",
                                 className="ok" if (r.answer >= 0.5) == r.truth else "bad"),
                         html.Td(r.shown, className="muted")])
                for r in j.judged]
        parts.append(html.Table([html.Thead(html.Tr([html.Th("sample"), html.Th("truth"), html.Th("judge"),
                                                     html.Th("shown")])), html.Tbody(rows)], className="simple-table"))
    return html.Div(parts)


def _quantiles(browser: Browser, latent: int) -> Any:
    s = browser.summaries
    q_ids = np.asarray(s.quantile_sample_ids[latent])
    q_vals = np.asarray(s.quantile_values[latent])
    Q = q_ids.shape[0]
    rows = []
    for q in range(Q - 1, -1, -1):
        ids = [int(x) for x in q_ids[q] if x >= 0]
        if not ids:
            continue
        band = f"{100 * q // Q}–{100 * (q + 1) // Q}%"
        if browser.samples.is_text:
            items = [html.Div([dcc.Link(f"sample {sid}", href=sample_href(sid)), " ",
                               html.Span(_snippet(browser, sid), className="muted")], className="q-text")
                     for sid in ids]
        else:
            items = [thumb(sid, latent, f"{float(q_vals[q, j]):.3g}", size=96) for j, sid in enumerate(ids)]
        rows.append(html.Div([html.Div(band, className="q-band"), html.Div(items, className="gallery small")],
                             className="q-row"))
    return html.Div(rows) if rows else html.Div("No samples (the latent never fires).", className="muted")


def _snippet(browser: Browser, sid: int, n: int = 120) -> str:
    text = (browser.samples.record(sid) or {}).get("text") or ""
    return text[:n] + ("…" if len(text) > n else "")


def _histogram(browser: Browser, latent: int) -> go.Figure:
    s = browser.summaries
    edges = np.asarray(s.hist_edges, dtype=np.float64) * float(s.max_act[latent])
    counts = np.asarray(s.hist_counts[latent], dtype=np.float64)
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure(go.Bar(x=centres, y=counts, width=np.diff(edges), marker_line_width=0))
    fig.update_yaxes(type="log", title="tokens")
    fig.update_xaxes(title="activation (> 0)")
    return figure_style(fig, height=240)


def _candidates(entry: LatentName | None) -> Any:
    if entry is None or not entry.candidates:
        return html.Div("No names (launch with --names DIR from `saekit name`).", className="muted")
    rows = [html.Tr([html.Td(word), html.Td(f"{cos:.3f}", className="num")]) for word, cos in entry.candidates[:10]]
    return html.Table([html.Thead(html.Tr([html.Th("name"), html.Th("score", className="num")])),
                       html.Tbody(rows)], className="simple-table")


def _neighbours(browser: Browser, latent: int) -> Any:
    s = browser.summaries
    rows = []
    for j, c in zip(np.asarray(s.neighbours[latent]), np.asarray(s.neighbour_cos[latent])):
        if j < 0:
            continue
        rows.append(html.Tr([html.Td(feature_link(browser, int(j))), html.Td(f"{float(c):.3f}", className="num")]))
    if not rows:
        return html.Div("No neighbours.", className="muted")
    return html.Table([html.Thead(html.Tr([html.Th("feature"), html.Th("cosine", className="num")])),
                       html.Tbody(rows)], className="simple-table")


def _classes(browser: Browser, latent: int) -> Any:
    if browser.inputs.audit is None:
        return html.Div("No audit loaded (launch with --audit DIR from `saekit audit`).", className="muted")
    roles = browser.class_roles.get(latent, [])
    if not roles:
        return html.Div("Not a target, context or bias concept for any class.", className="muted")
    rows = [html.Tr([html.Td(dcc.Link(r.cls, href=class_href(r.cls))),
                     html.Td(html.Span(r.role, className=f"role role-{r.role}")),
                     html.Td(fmt_num(r.entry.alignment), className="num")]) for r in roles]
    return html.Table([html.Thead(html.Tr([html.Th("class"), html.Th("role"), html.Th("alignment", className="num")])),
                       html.Tbody(rows)], className="simple-table")
