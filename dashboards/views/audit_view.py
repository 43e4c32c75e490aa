"""/audit and /class/<name> : ConceptScope's per-class target / context / bias concepts and the
dataset-level bias table, read from audit.json."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

import plotly.graph_objects as go
from dash import dash_table, dcc, html

from dashboards.context import ROLES
from dashboards.views.common import (FONT, card, class_href, feature_href, feature_link, figure_style, fmt_num,
                                     graph, not_found, notice, page, thumb)

ROLE_HELP = {
    "target": "concepts that define the class",
    "context": "concepts that co-occur with the class and help recognise it",
    "bias": "concepts the class leans on that do not define it",
}
EXAMPLES_SHOWN = 4


def _missing() -> html.Div:
    return page("Audit", notice(["No audit loaded. Run ", html.Code("saekit audit --out DIR"),
                                 " and relaunch with ", html.Code("--audit DIR"), "."], "info"))


def layout(browser: Any) -> html.Div:
    if browser.inputs.audit is None:
        return _missing()
    audit = browser.audit
    ds = audit.get("dataset") or {}
    classes = audit.get("classes") or {}
    params = audit.get("params") or {}
    rows = []
    for cls, roles in classes.items():
        roles = roles or {}
        row = {"class": f"[{cls}]({class_href(cls)})"}
        for role in ROLES:
            entries = roles.get(role) or []
            row[f"n_{role}"] = len(entries)
            row[f"top_{role}"] = ", ".join(_concept_name(browser, e) for e in entries[:3])
        rows.append(row)
    class_table = dash_table.DataTable(
        id="audit-classes", data=rows, page_size=15, sort_action="native", filter_action="native",
        columns=[{"name": "Class", "id": "class", "presentation": "markdown"}]
        + [c for role in ROLES for c in ({"name": f"# {role}", "id": f"n_{role}", "type": "numeric"},
                                         {"name": f"top {role} concepts", "id": f"top_{role}"})],
        style_as_list_view=True, markdown_options={"link_target": "_self"},
        style_cell={"fontFamily": FONT, "fontSize": "13px", "padding": "6px 8px", "textAlign": "left",
                    "maxWidth": "260px", "overflow": "hidden", "textOverflow": "ellipsis"},
        style_header={"fontWeight": "600", "backgroundColor": "#f5f6f8"},
    )
    bias_rows = [{
        "class": f"[{b.get('class')}]({class_href(b.get('class'))})",
        "latent": f"[#{b.get('latent')}]({feature_href(b.get('latent'))})" if isinstance(b.get("latent"), int) else "",
        "name": _concept_name(browser, b),
        "strength": _round(b.get("strength")),
    } for b in audit.get("biases") or []]
    bias_table = dash_table.DataTable(
        id="audit-biases", data=bias_rows, page_size=10, sort_action="native",
        columns=[{"name": "Class", "id": "class", "presentation": "markdown"},
                 {"name": "Latent", "id": "latent", "presentation": "markdown"},
                 {"name": "Concept", "id": "name"}, {"name": "Strength", "id": "strength", "type": "numeric"}],
        style_as_list_view=True, markdown_options={"link_target": "_self"},
        style_cell={"fontFamily": FONT, "fontSize": "13px", "padding": "6px 8px", "textAlign": "left"},
        style_header={"fontWeight": "600", "backgroundColor": "#f5f6f8"},
    )
    parts = [card("Dataset-level biases (strongest first)", bias_table if bias_rows else
                  html.Div("The audit found no biased concepts.", className="muted"))]
    acc = _accuracy_figure(audit.get("accuracy_by_group"))
    if acc is not None:
        parts.append(card("Accuracy by robustness sub-group", graph(acc, id="audit-accuracy")))
    parts.append(card("Classes", class_table))
    sub = (f"dataset {ds.get('spec', '?')} · {ds.get('n_images', '?')} images · {len(classes)} classes"
           + (f" · alpha {params.get('alpha')}" if params.get("alpha") is not None else "")
           + (f" · sigma {params.get('sigma')}" if params.get("sigma") is not None else ""))
    return page("Audit", *parts, subtitle=sub)


def class_layout(browser: Any, cls: str) -> html.Div:
    if browser.inputs.audit is None:
        return _missing()
    classes = browser.audit.get("classes") or {}
    if cls not in classes:
        return not_found(f"The audit has no class {cls!r}.", "Pick one from the audit's class table.")
    roles = classes[cls] or {}
    cols = []
    for role in ROLES:
        entries = roles.get(role) or []
        items = [_concept_card(browser, cls, role, e) for e in entries[:12]] or [
            html.Div(f"No {role} concepts.", className="muted")]
        cols.append(card(f"{role.capitalize()} ({len(entries)})", html.Div(ROLE_HELP[role], className="muted small"),
                         *items, class_name=f"grow role-col role-col-{role}"))
    biases = [b for b in browser.audit.get("biases") or [] if str(b.get("class")) == cls]
    extra = [notice(f"{len(biases)} of this class's concepts are among the dataset-level biases.", "warn")] if biases else []
    return page(f"Class: {cls}", *extra, html.Div(cols, className="row three"),
                subtitle="ConceptScope: concepts by role, with example images",
                actions=dcc.Link("← all classes", href="/audit", className="btn btn-light"))


def _concept_name(browser: Any, entry: dict) -> str:
    """The latent's name from names.json (one name per latent across views), else the audit's."""
    i = entry.get("latent")
    name = (browser.name(i) if isinstance(i, int) else "") or entry.get("name")
    return name or (f"#{i}" if isinstance(i, int) else "?")


def _concept_card(browser: Any, cls: str, role: str, entry: dict) -> html.Div:
    i = entry.get("latent")
    head = [feature_link(browser, i) if isinstance(i, int) and 0 <= i < browser.inputs.d_sae
            else html.Span(_concept_name(browser, entry))]
    if entry.get("name") and isinstance(i, int) and not browser.name(i):
        head.append(html.Span(f" {entry['name']}"))
    metrics = " · ".join(f"{k} {fmt_num(entry.get(k))}" for k in ("alignment", "z", "sufficiency", "necessity")
                         if isinstance(entry.get(k), (int, float)))
    return html.Div([html.Div(head, className="concept-head"), html.Div(metrics, className="muted small"),
                     html.Div(_examples(browser, entry), className="gallery small")], className="concept")


def _examples(browser: Any, entry: dict) -> list:
    """Audit example images: files the audit wrote under examples/, else the store's samples."""
    i = entry.get("latent") if isinstance(entry.get("latent"), int) else None
    out = []
    files = entry.get("example_images") or entry.get("examples") or []
    if isinstance(files, str):  # saekit audit writes one strip of example tiles per concept
        return [html.Img(src="/files/audit/" + quote(files), className="thumb-img strip-img",
                         alt=f"examples of latent {i}", style={"height": "96px", "width": "auto"})]
    for rel in files[:EXAMPLES_SHOWN]:
        if isinstance(rel, str):
            out.append(html.Img(src="/files/audit/" + quote(rel), width=96, height=96, className="thumb-img",
                                alt=rel))
    if out or not browser.inputs.audit_same_dataset:
        return out
    for sid in (entry.get("example_sample_ids") or [])[:EXAMPLES_SHOWN]:
        if isinstance(sid, int) and browser.samples.record(sid) is not None:
            out.append(thumb(sid, i if i is not None and i < browser.inputs.d_sae else None, "", size=96))
    return out


def _accuracy_figure(acc: Any) -> go.Figure | None:
    if not isinstance(acc, dict) or not acc:
        return None
    # {group: accuracy} or saekit audit's {group: {"n": ..., "accuracy": ...}}
    vals = {k: (v.get("accuracy") if isinstance(v, dict) else v) for k, v in acc.items()}
    counts = {k: v.get("n") for k, v in acc.items() if isinstance(v, dict)}
    keys = [k for k, v in vals.items() if isinstance(v, (int, float))]
    if not keys:
        return None
    labels = [f"{k} (n={counts[k]})" if counts.get(k) is not None else k for k in keys]
    fig = go.Figure(go.Bar(x=labels, y=[vals[k] for k in keys], marker_line_width=0))
    fig.update_yaxes(title="accuracy", range=[0, 1])
    return figure_style(fig, height=220)


def _round(x: Any) -> Any:
    return round(float(x), 4) if isinstance(x, (int, float)) else x
