"""A new dashboard page is one new file in dashboards/views/: this test writes a throw-away view
module (a route, a top-bar link and a callback), and the app routes, lists and renders it with no
other file changed."""
from __future__ import annotations

import json
import sys
import textwrap

import pytest

import dashboards.views
from dashboard_fixtures import tiny_pipeline

HELLO_VIEW = '''
"""/hello and /hello/<word> : a throw-away page."""
from dash import Input, Output, dcc, html

from dashboards.views.common import page
from dashboards.views.routing import Route


def layout(browser, word):
    return page(f"Hello {word}", html.Div(f"{browser.inputs.d_sae} latents"),
                dcc.Input(id="hello-name", value=""), html.Div(id="hello-echo"))


def register(app, browser):
    @app.callback(Output("hello-echo", "children"), Input("hello-name", "value"))
    def _echo(name):
        return f"echo {name}"


ROUTES = (Route(r"/hello(?:/(\\w+))?", lambda browser, m, search: layout(browser, m.group(1) or "you"),
                order=70, path="/hello", nav="Hello"),)
'''


def _dash_call(client, output: str, inputs: list[dict]) -> dict:
    out_id, prop = output.split(".")
    resp = client.post("/_dash-update-component", json={
        "output": output, "outputs": {"id": out_id, "property": prop}, "inputs": inputs,
        "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]})
    assert resp.status_code == 200, resp.data[:300]
    return json.loads(resp.data)["response"][out_id][prop]


def _top_bar(client) -> list[tuple[str, str]]:
    """(label, href) of the nav links in the served layout."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            props = node.get("props", {})
            if node.get("type") == "Link" and "nav-link" in str(props.get("className")):
                found.append((props["children"], props["href"]))
            for v in props.values():
                walk(v)
        elif isinstance(node, list):
            for x in node:
                walk(x)

    walk(json.loads(client.get("/_dash-layout").get_data(as_text=True)))
    return found


@pytest.fixture()
def hello_view(tmp_path, monkeypatch):
    """dashboards/views/ plus one extra directory holding only hello_view.py."""
    views_dir = tmp_path / "more_views"
    views_dir.mkdir()
    (views_dir / "hello_view.py").write_text(textwrap.dedent(HELLO_VIEW))
    monkeypatch.setattr(dashboards.views, "__path__", [*dashboards.views.__path__, str(views_dir)])
    yield
    sys.modules.pop("dashboards.views.hello_view", None)


def test_a_new_view_module_is_routed_listed_and_rendered(tmp_path, hello_view):
    from dashboards.app import create_app, render_page
    from dashboards.inputs import load_inputs

    pipe = tiny_pipeline(tmp_path / "dash")
    app = create_app(load_inputs(pipe.sae_dir, pipe.store_path, progress=False))
    d_sae = app.browser.inputs.d_sae

    page = json.dumps(render_page(app.browser, "/hello/world").to_plotly_json(), default=str)
    assert "Hello you" in json.dumps(render_page(app.browser, "/hello").to_plotly_json(), default=str)
    assert "Hello world" in page and f"{d_sae} latents" in page
    client = app.server.test_client()
    assert _top_bar(client)[-2:] == [("Steering", "/steer"), ("Hello", "/hello")]
    assert "/steer, /hello." in json.dumps(render_page(app.browser, "/nowhere").to_plotly_json(), default=str)

    routed = _dash_call(client, "page.children", [{"id": "url", "property": "pathname", "value": "/hello/there"},
                                                  {"id": "url", "property": "search", "value": ""}])
    assert "Hello there" in json.dumps(routed)
    assert _dash_call(client, "hello-echo.children",
                      [{"id": "hello-name", "property": "value", "value": "ping"}]) == "echo ping"


def test_without_the_new_file_the_page_does_not_exist(tmp_path):
    from dashboards.app import create_app, render_page
    from dashboards.inputs import load_inputs

    pipe = tiny_pipeline(tmp_path / "dash")
    app = create_app(load_inputs(pipe.sae_dir, pipe.store_path, progress=False))
    assert "No page at /hello/world" in json.dumps(render_page(app.browser, "/hello/world").to_plotly_json(),
                                                   default=str)
    assert _top_bar(app.server.test_client()) == [("Features", "/"), ("Audit", "/audit"),
                                                  ("Artifacts", "/artifacts"), ("Steering", "/steer")]
