"""The Dash feature browser: a shell with URL routing, the page modules, and two image routes.

Pages (dcc.Location): whatever the modules of dashboards/views/ declare in ROUTES (dashboards.views.routing):
today /  /feature/<i>  /sample/<id>  /audit  /class/<name>  /artifacts  /steer
Images (Flask): /img/sample/<id>.png?latent=<i>&size=<px>  (integers only; rendered from the store)
                /files/<names|audit|artifacts>/<relative path>  (images inside those output dirs only)
"""
from __future__ import annotations

import logging
from pathlib import Path

import dash
from dash import Input, Output, dcc, html
from dash.development.base_component import Component
from flask import Flask, Response, abort, request, send_file

from dashboards.context import Browser
from dashboards.inputs import DashboardInputs
from dashboards.safe_files import MIME, resolve_inside
from dashboards.views.common import not_found, notice
from dashboards.views.routing import find_route, listed_paths, nav_links, view_modules

log = logging.getLogger(__name__)

ASSETS = Path(__file__).parent / "assets"


def render_page(browser: Browser, pathname: str | None, search: str | None = None) -> Component:
    """The page for a URL path: the routing callback's body (and what the benchmark times)."""
    path = (pathname or "/").rstrip("/") or "/"
    found = find_route(path)
    if found is None:
        return not_found(f"No page at {path}.", f"Pages: {', '.join(listed_paths())}.")
    route, match = found
    return route.render(browser, match, search)


def _shell(browser: Browser) -> html.Div:
    inp = browser.inputs
    n_samples = getattr(browser.summaries, "n_samples", None)
    info = f"{inp.d_sae:,} latents · {n_samples:,} samples · {inp.hook_label}" if n_samples else f"{inp.d_sae:,} latents"
    banners = [notice(p, "error") for p in inp.problems]
    return html.Div([
        dcc.Location(id="url", refresh="callback-nav"),
        html.Header([
            dcc.Link("saekit", href="/", className="brand"),
            html.Nav([dcc.Link(label, href=href, className="nav-link", id=f"nav-{label.lower()}")
                      for label, href in nav_links()], className="nav"),
            html.Div(info, className="nav-info"),
        ], className="topbar"),
        html.Div(banners, id="banners", className="banners"),
        html.Main(id="page", className="main"),
    ])


def create_app(inputs: DashboardInputs) -> dash.Dash:
    """A Dash app browsing `inputs`; serve it with `app.run(...)` or any WSGI server (`app.server`)."""
    browser = Browser(inputs)
    app = dash.Dash(__name__, assets_folder=str(ASSETS), title="saekit · feature browser",
                    suppress_callback_exceptions=True, update_title=None)
    app.layout = _shell(browser)
    app.browser = browser  # for tests and the benchmark

    @app.callback(Output("page", "children"), Input("url", "pathname"), Input("url", "search"))
    def _route(pathname, search):
        return render_page(browser, pathname, search)

    for module in view_modules():
        if hasattr(module, "register"):
            module.register(app, browser)
    _register_routes(app.server, browser)
    return app


def _register_routes(server: Flask, browser: Browser) -> None:
    roots = browser.inputs.output_roots()

    @server.before_request
    def _refuse_traversal() -> None:
        # Every route, Dash's own included: a decoded path with dot segments, backslashes or NUL
        # never names anything this app serves.
        path = request.path
        if ("\\" in path or "\x00" in path or "//" in path
                or any(seg in ("..", ".") for seg in path.split("/"))):
            abort(404)

    @server.route("/img/sample/<int(signed=True):sample_id>.png")
    def _sample_png(sample_id: int) -> Response:
        latent = request.args.get("latent", type=int)
        size = request.args.get("size", default=160, type=int)
        if latent is not None and not 0 <= latent < browser.inputs.d_sae:
            abort(404)
        data = browser.samples.png(sample_id, latent, size or 160)
        if data is None:
            abort(404)
        resp = Response(data, mimetype="image/png")
        resp.headers["Cache-Control"] = "private, max-age=3600"
        return resp

    @server.route("/files/<kind>/<path:relative>")
    def _output_file(kind: str, relative: str) -> Response:
        root = roots.get(kind)
        if root is None:
            abort(404)
        target = resolve_inside(root, relative)
        if target is None:
            abort(404)
        return send_file(target, mimetype=MIME[target.suffix.lower()], max_age=3600)
