"""The one static-HTML report builder: every index.html / report.html saekit writes (naming, align,
audit, artifacts, compare, quickstart) is a ``page`` of this module (no dependencies; plotly only
where a report asks for it through ``head``).

    write_report(path, "Title", [("Section", "<p>raw html</p>"), ("Table", [[cell, ...], ...])])
    write_page(path, "Title", body_html, style=extra_css, head=extra_head_html)

A section body is raw HTML (a str) or a table (a list of rows; the first row is the header when
``header=True`` is kept, the default). Text that is not meant as HTML goes through ``esc``. Image
paths should be relative to the report so the directory can be moved.
"""
from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Iterable, Sequence, Union

from saekit.common.atomic import write_text_atomic

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}code{background:#f4f4f4;padding:0 3px}
.grid{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #ddd;border-radius:6px;padding:8px;width:300px}
.card img{width:64px;height:64px;image-rendering:pixelated;margin:1px}.muted{color:#777;font-size:.85em}
.tok{padding:0 1px;border-radius:2px}
"""


#: a report section: (heading, raw HTML or table rows)
Section = tuple[str, Union[str, Sequence[Sequence[object]]]]


def esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def table(rows: Sequence[Sequence[object]], header: bool = True, raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw``."""
    cell = (lambda c: str(c)) if raw else esc
    out = ["<table>"]
    for i, row in enumerate(rows):
        tag = "th" if header and i == 0 else "td"
        out.append("<tr>" + "".join(f"<{tag}>{cell(c)}</{tag}>" for c in row) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def img(src: str, alt: str = "", title: str = "", width: int | None = None) -> str:
    w = f' width="{int(width)}"' if width else ""
    return f'<img src="{esc(src)}" alt="{esc(alt)}" title="{esc(title or alt)}" loading="lazy"{w}>'


def highlight_tokens(tokens: Iterable[tuple[str, float]], vmax: float) -> str:
    """Text with each token's background shaded by its activation (0..vmax)."""
    parts = []
    for tok, a in tokens:
        alpha = 0.0 if vmax <= 0 else max(0.0, min(1.0, float(a) / vmax))
        parts.append(f'<span class="tok" style="background:rgba(255,120,0,{alpha:.2f})" '
                     f'title="{float(a):.3g}">{esc(tok)}</span>')
    return "".join(parts)


def page(title: str, body: str, style: str = "", head: str = "") -> str:
    """A whole document: the shared STYLE plus a report's own ``style`` rules, ``head`` (e.g. a
    script tag) and the title as the first heading."""
    return (f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{esc(title)}</title>{head}"
            f"<style>{STYLE}{style}</style></head><body><h1>{esc(title)}</h1>\n{body}\n</body></html>\n")


def write_page(path: str | os.PathLike, title: str, body: str, style: str = "", head: str = "") -> Path:
    """``page(...)`` written atomically to ``path``."""
    return write_text_atomic(path, page(title, body, style=style, head=head))


def sections_html(sections: Sequence[Section]) -> str:
    """Sections (heading, raw-HTML string or table rows) as one body."""
    body = []
    for heading, content in sections:
        body.append(f"<h2>{esc(heading)}</h2>")
        body.append(content if isinstance(content, str) else table(content))
    return "\n".join(body)


def write_report(path: str | os.PathLike, title: str, sections: Sequence[Section]) -> Path:

    """Write a page of sections (heading, raw-HTML string or table rows) atomically."""
    return write_page(path, title, sections_html(sections))
