"""/ : every latent in one server-side paginated, sortable, filterable, searchable table."""
from __future__ import annotations

from typing import TYPE_CHECKING

import dash
from dash import Input, Output, State, callback_context, dash_table, dcc, html, no_update

from dashboards.views.common import card, page
from dashboards.views.routing import Route

if TYPE_CHECKING:
    from dashboards.context import Browser

PAGE_SIZE = 25

COLUMNS = [
    {"name": "Latent", "id": "latent", "type": "numeric"},
    {"name": "Name", "id": "name", "type": "text"},
    {"name": "Firing freq", "id": "freq", "type": "numeric",
     "format": {"specifier": ".3~%"}},
    {"name": "Mean act", "id": "mean_act", "type": "numeric", "format": {"specifier": ".4~g"}},
    {"name": "Mono score", "id": "mono", "type": "numeric", "format": {"specifier": ".3f"}},
    {"name": "Explanation", "id": "explanation", "type": "text"},
    {"name": "Detection", "id": "detection", "type": "numeric", "format": {"specifier": ".3f"}},
]


ROUTES = (Route(r"/|/features", lambda browser, m, search: layout(browser), order=10, path="/", nav="Features"),)


def _count(n: int) -> str:
    return f"{n:,} latent{'' if n == 1 else 's'}"


def layout(browser: Browser, search: str = "") -> html.Div:
    cat = browser.catalog
    n_live = int((cat.freq > 0).sum())
    first = cat.query(search=search, page=0, page_size=PAGE_SIZE)
    controls = html.Div([
        dcc.Input(id="feature-search", type="search", value=search, debounce=0.25,
                  placeholder="Search names and explanations, or #index", className="search-box", autoComplete="off"),
        dcc.Checklist(id="feature-hide-dead", options=[{"label": " hide dead latents", "value": "hide"}],
                      value=[], className="inline-check"),
        html.Span(_count(first.n_matching), id="feature-count", className="muted"),
    ], className="controls")
    table = dash_table.DataTable(
        id="feature-table",
        columns=[dict(c, name=browser.mono_label) if c["id"] == "mono" else c for c in COLUMNS],
        data=first.rows,
        page_current=0,
        page_size=PAGE_SIZE,
        page_count=first.page_count,
        page_action="custom",
        sort_action="custom",
        sort_mode="single",
        sort_by=[{"column_id": "freq", "direction": "desc"}],
        filter_action="custom",
        filter_query="",
        cell_selectable=True,
        style_as_list_view=True,
        style_table={"overflowX": "auto"},
        style_header={"fontWeight": "600", "backgroundColor": "#f5f6f8", "borderBottom": "1px solid #dfe3e8"},
        style_cell={"fontFamily": "Inter, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif", "fontSize": "14px", "padding": "6px 10px", "textAlign": "left",
                    "cursor": "pointer", "maxWidth": "420px", "overflow": "hidden", "textOverflow": "ellipsis"},
        style_cell_conditional=[{"if": {"column_id": c}, "textAlign": "right", "width": "120px"}
                                for c in ("latent", "freq", "mean_act", "mono", "detection")],
        style_filter={"backgroundColor": "#fbfbfc"},
    )
    hint = html.Div("Click a row to open the feature. Column filters take expressions such as "
                    "“> 0.01” or “fur”. " + browser.mono_note, className="muted small")
    return page("Features", card(None, controls, table, hint),
                subtitle=f"{cat.n:,} latents · {n_live:,} fire at least once · hook {browser.inputs.hook_label}")


def register(app: dash.Dash, browser: Browser) -> None:

    cat = browser.catalog

    @app.callback(
        Output("feature-table", "data"),
        Output("feature-table", "page_count"),
        Output("feature-count", "children"),
        Input("feature-table", "page_current"),
        Input("feature-table", "page_size"),
        Input("feature-table", "sort_by"),
        Input("feature-table", "filter_query"),
        Input("feature-search", "value"),
        Input("feature-hide-dead", "value"),
    )
    def _page(page_current, page_size, sort_by, filter_query, search, hide_dead):
        fq = filter_query or ""
        if hide_dead and "hide" in hide_dead:
            fq = (fq + " && " if fq else "") + "{freq} > 0"
        res = cat.query(search=search or "", filter_query=fq, sort_by=sort_by or None,
                        page=page_current or 0, page_size=page_size or PAGE_SIZE)
        return res.rows, res.page_count, _count(res.n_matching)

    @app.callback(
        Output("feature-table", "page_current"),
        Input("feature-search", "value"),
        Input("feature-table", "filter_query"),
        Input("feature-hide-dead", "value"),
        prevent_initial_call=True,
    )
    def _back_to_first_page(*_):
        return 0

    @app.callback(
        Output("url", "pathname", allow_duplicate=True),
        Input("feature-table", "active_cell"),
        State("feature-table", "data"),
        prevent_initial_call=True,
    )
    def _open(active_cell, rows):
        if not active_cell or not rows or not callback_context.triggered:
            return no_update
        r = active_cell.get("row")
        if r is None or not 0 <= r < len(rows):
            return no_update
        return f"/feature/{int(rows[r]['latent'])}"
