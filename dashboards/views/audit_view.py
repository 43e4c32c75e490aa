"""/audit and /class/<name> : ConceptScope's per-class target / context / bias concepts and the
dataset-level bias table, read from audit.json."""
from __future__ import annotations

from urllib.parse import quote, unquote

import plotly.graph_objects as go
from dash import dash_table, dcc, html

from dashboards.context import ROLES, Browser
from dashboards.views.common import (FONT, card, class_href, feature_href, feature_link, figure_style, fmt_num,
                                     graph, not_found, notice, page, thumb)
from dashboards.views.routing import Route
from saekit.results.audit import AuditClass, AuditConcept, GroupAccuracy

ROLE_HELP = {
    "target": "concepts that define the class",
    "context": "concepts that co-occur with the class and help recognise it",
    "bias": "concepts the class leans on that do not define it",
}
EXAMPLES_SHOWN = 4


ROUTES = (Route(r"/audit", lambda browser, m, search: layout(browser), order=40, path="/audit", nav="Audit"),
          Route(r"/class/([^/]+)", lambda browser, m, search: class_layout(browser, unquote(m.group(1))), order=45))


def _missing() -> html.Div:
    return page("Audit", notice(["No audit loaded. Run ", html.Code("saekit audit --out DIR"),
                                 " and relaunch with ", html.Code("--audit DIR"), "."], "info"))


def layout(browser: Browser) -> html.Div:
    audit = browser.inputs.audit
    if audit is None:
        return _missing()
    rows = []
    for cls, roles in audit.classes.items():
        row = {"class": f"[{cls}]({class_href(cls)})"}
        for role in ROLES:
            entries = _entries(roles, role)
            row[f"n_{role}"] = len(entries)
            row[f"top_{role}"] = ", ".join(_concept_name(browser, e.latent, e.name) for e in entries[:3])
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
        "class": f"[{b.cls}]({class_href(b.cls)})",
        "latent": f"[#{b.latent}]({feature_href(b.latent)})",
        "name": _concept_name(browser, b.latent, b.name),
        "strength": round(b.strength, 4),
    } for b in audit.biases]
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
    acc = _accuracy_figure(audit.accuracy_by_group)
    if acc is not None:
        parts.append(card("Accuracy by robustness sub-group", graph(acc, id="audit-accuracy")))
    parts.append(card("Classes", class_table))
    params = audit.params
    sub = (f"dataset {audit.dataset.spec or '?'} · {audit.dataset.n_images} images · {len(audit.classes)} classes"
           + (f" · alpha {params.get('alpha')}" if params.get("alpha") is not None else "")
           + (f" · sigma {params.get('sigma')}" if params.get("sigma") is not None else ""))
    return page("Audit", *parts, subtitle=sub)


def class_layout(browser: Browser, cls: str) -> html.Div:
    audit = browser.inputs.audit
    if audit is None:
        return _missing()
    if cls not in audit.classes:
        return not_found(f"The audit has no class {cls!r}.", "Pick one from the audit's class table.")
    roles = audit.classes[cls]
    cols = []
    for role in ROLES:
        entries = _entries(roles, role)
        items = [_concept_card(browser, e) for e in entries[:12]] or [
            html.Div(f"No {role} concepts.", className="muted")]
        cols.append(card(f"{role.capitalize()} ({len(entries)})", html.Div(ROLE_HELP[role], className="muted small"),
                         *items, class_name=f"grow role-col role-col-{role}"))
    biases = [b for b in audit.biases if b.cls == cls]
    extra = [notice(f"{len(biases)} of this class's concepts are among the dataset-level biases.", "warn")] if biases else []
    return page(f"Class: {cls}", *extra, html.Div(cols, className="row three"),
                subtitle="ConceptScope: concepts by role, with example images",
                actions=dcc.Link("← all classes", href="/audit", className="btn btn-light"))


def _entries(roles: AuditClass, role: str) -> tuple[AuditConcept, ...]:
    return {"target": roles.target, "context": roles.context, "bias": roles.bias}[role]


def _concept_name(browser: Browser, latent: int, audit_name: str) -> str:
    """The latent's name from names.json (one name per latent across views), else the audit's."""
    return browser.name(latent) or audit_name or f"#{latent}"


def _concept_card(browser: Browser, entry: AuditConcept) -> html.Div:
    i = entry.latent
    head = [feature_link(browser, i) if 0 <= i < browser.inputs.d_sae
            else html.Span(_concept_name(browser, i, entry.name))]
    if entry.name and not browser.name(i):
        head.append(html.Span(f" {entry.name}"))
    metrics = " · ".join(f"{k} {fmt_num(getattr(entry, k))}" for k in ("alignment", "z", "sufficiency", "necessity"))
    return html.Div([html.Div(head, className="concept-head"), html.Div(metrics, className="muted small"),
                     html.Div(_examples(browser, entry), className="gallery small")], className="concept")


def _examples(browser: Browser, entry: AuditConcept) -> list:
    """The strip of example tiles `saekit audit` wrote under examples/, else the store's samples
    (when the audit ran on the store's dataset, so its sample ids are the store's)."""
    i = entry.latent
    if entry.examples:
        return [html.Img(src="/files/audit/" + quote(entry.examples), className="thumb-img strip-img",
                         alt=f"examples of latent {i}", style={"height": "96px", "width": "auto"})]
    if not browser.inputs.audit_same_dataset:
        return []
    return [thumb(sid, i if i < browser.inputs.d_sae else None, "", size=96)
            for sid in entry.example_sample_ids[:EXAMPLES_SHOWN]
            if isinstance(sid, int) and browser.samples.record(sid) is not None]


def _accuracy_figure(acc: dict[str, GroupAccuracy] | None) -> go.Figure | None:
    keys = [k for k, v in (acc or {}).items() if v.accuracy is not None]
    if not keys:
        return None
    labels = [f"{k} (n={acc[k].n})" for k in keys]
    fig = go.Figure(go.Bar(x=labels, y=[acc[k].accuracy for k in keys], marker_line_width=0))
    fig.update_yaxes(title="accuracy", range=[0, 1])
    return figure_style(fig, height=220)
