"""/sample/<id> : one sample, the latents that fire most on it, and links to steer it."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from dash import dcc, html

if TYPE_CHECKING:
    from dashboards.context import Browser

from dashboards.views.common import (card, class_href, feature_link, img_src, not_found, page, thumb,
                                     token_highlights)
from dashboards.views.routing import Route

N_LATENTS = 12


ROUTES = (Route(r"/sample/(-?\d{1,18})", lambda browser, m, search: layout(browser, int(m.group(1))),
                order=30, path="/sample/<id>"),)


def strongest_latents(browser: Browser, sample_id: int, n: int = N_LATENTS) -> list[tuple[int, float]]:
    """(latent, max activation on the sample), strongest first: from the SAE when loaded, else from
    the latents that list the sample among their top examples."""
    z = browser.samples.encode_sample(sample_id)
    if z is not None:
        peak = z[0].max(axis=0)
        order = np.argsort(-peak)[:n]
        return [(int(i), float(peak[i])) for i in order if peak[i] > 0]
    top = np.asarray(browser.summaries.top_sample_ids)
    lat, slot = np.nonzero(top == sample_id)
    vals = np.asarray(browser.summaries.top_values)[lat, slot]
    order = np.argsort(-vals)[:n]
    return [(int(lat[i]), float(vals[i])) for i in order]


def layout(browser: Browser, sample_id: int) -> html.Div:
    rec = browser.samples.record(sample_id)
    if rec is None:
        return not_found(f"There is no sample {sample_id} in the store.",
                         f"The store holds {len(browser.inputs.store.samples):,} samples.")
    meta = html.Table(html.Tbody([
        html.Tr([html.Th(k), html.Td(str(v) if k != "label" or v is None else dcc.Link(str(v), href=class_href(v))
                                     if browser.inputs.audit is not None and str(v) in browser.inputs.audit.classes else str(v))])
        for k, v in rec.items() if v not in (None, "") and k != "tokens"
    ]), className="simple-table meta-table")
    latents = strongest_latents(browser, sample_id)
    if browser.samples.is_text:
        hero = html.Div((rec.get("text") or "")[:2000], className="sample-text")
        items = []
        z = browser.samples.encode_sample(sample_id)
        toks = browser.samples.tokens(sample_id)
        for i, v in latents:
            if z is not None:
                acts, pos = z[0][:, i], z[1]
                tok_list = [toks[p] if toks and 0 <= p < len(toks) else f"⟨{p}⟩" for p in pos]
                hl = token_highlights(tok_list, acts, float(browser.summaries.max_act[i]) or 1.0)
            else:
                hl = None
            items.append(html.Div([html.Div([feature_link(browser, i), html.Span(f"  {v:.3g}", className="muted")]),
                                   hl], className="text-example"))
        strongest = html.Div(items or [html.Div("No latent fires on this sample.", className="muted")])
    else:
        hero = html.Img(src=img_src(sample_id, None, 320), width=320, height=320, className="hero-img",
                        alt=f"sample {sample_id}")
        strongest = html.Div([
            thumb(sample_id, i, [feature_link(browser, i), html.Br(), html.Span(f"{v:.3g}", className="act")],
                  href=f"/feature/{i}")
            for i, v in latents
        ] or [html.Div("No latent fires on this sample.", className="muted")], className="gallery")
    src = "from the SAE on this sample" if browser.inputs.sae is not None else "from the latents' top examples"
    return page(f"Sample {sample_id}",
                html.Div([card(None, hero, class_name="side"), card("Record", meta, class_name="grow")],
                         className="row"),
                card(f"Strongest latents ({src})", strongest),
                html.P(dcc.Link("Steer a feature on this sample →", href=f"/steer?sample={sample_id}",
                                className="btn")),
                subtitle=str(rec.get("label") or ""))
