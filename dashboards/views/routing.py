"""How a page joins the app: its module in dashboards/views/ declares ``ROUTES`` (and, optionally,
``register(app, browser)`` for its callbacks). The app finds every such module itself, so a new page
is one new file there: no route table, top-bar list or import line to edit elsewhere.
"""
from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import TYPE_CHECKING, Callable, Optional

from dash.development.base_component import Component

if TYPE_CHECKING:
    from dashboards.context import Browser

VIEWS_PACKAGE = "dashboards.views"
#: (browser, the match of the URL path, the query string) -> the page
Render = Callable[["Browser", "re.Match[str]", Optional[str]], Component]


@dataclass(frozen=True)
class Route:
    """One kind of URL a view answers."""

    pattern: str              # a regular expression the whole URL path must match
    render: Render
    order: int = 100          # place in the top bar and in the "not found" page's list
    path: str | None = None   # the path as the "not found" page lists it ("/feature/<i>"); None: unlisted
    nav: str | None = None    # the top-bar label (linking to `path`); None: not in the top bar


def view_modules() -> tuple[ModuleType, ...]:
    """Every module of the views package that declares ROUTES, by name."""
    package = importlib.import_module(VIEWS_PACKAGE)
    return _view_modules(tuple(package.__path__))


@lru_cache(maxsize=4)
def _view_modules(search_path: tuple[str, ...]) -> tuple[ModuleType, ...]:
    names = sorted(info.name for info in pkgutil.iter_modules(list(search_path)))
    modules = (importlib.import_module(f"{VIEWS_PACKAGE}.{name}") for name in names)
    return tuple(m for m in modules if hasattr(m, "ROUTES"))


def routes() -> list[Route]:
    """Every view's routes, in `order`."""
    return sorted((r for m in view_modules() for r in m.ROUTES), key=lambda r: r.order)


def find_route(path: str) -> tuple[Route, re.Match[str]] | None:
    """The route whose pattern matches the whole of `path`, with its match (None when none does)."""
    for route in routes():
        m = re.fullmatch(route.pattern, path)
        if m:
            return route, m
    return None


def nav_links() -> list[tuple[str, str]]:
    """(label, href) of the top bar."""
    return [(r.nav, r.path) for r in routes() if r.nav and r.path]


def listed_paths() -> list[str]:
    """The paths the "not found" page lists."""
    return [r.path for r in routes() if r.path]
