"""/steer : pick a latent, a mode and a strength and see the effect on one sample.

Vision models: how the model's output moves (cosine to the unsteered output over a dose-response
sweep, class changes when the model has a head). LLMs: greedy generation with and without the edit.
All the steering itself is saekit.analysis.steering; this module only lays out its results.
"""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Union
from urllib.parse import parse_qs

import numpy as np
import plotly.graph_objects as go
import dash
from dash import Input, Output, dcc, html
from dash.development.base_component import Component

from dashboards.views.common import card, feature_link, figure_style, graph, img_src, notice, page, sample_href
from dashboards.views.routing import Route
from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    from dashboards.context import Browser

log = logging.getLogger(__name__)
#: a control's value as Dash hands it to a callback (None before the user picks one)
ControlValue = Union[int, float, str, None]

MODES = [("clamp", "clamp (keep the SAE error)"), ("add", "add decoder direction"), ("ablate", "ablate")]
STRENGTH_MARKS = {v: str(v) for v in (-4, -2, 0, 1, 2, 4)}
DOSE_POINTS = 5
_lock = threading.Lock()  # one model run at a time: hooks are installed on the shared model


ROUTES = (Route(r"/steer", lambda browser, m, search: layout(browser, search), order=60, path="/steer",
                nav="Steering"),)


def _query(search: str | None) -> dict[str, str]:
    q = parse_qs((search or "").lstrip("?"))
    return {k: v[0] for k, v in q.items() if v}


def _int(x: ControlValue, default: int) -> int:

    try:
        return int(x)
    except (TypeError, ValueError):
        return default


def layout(browser: Browser, search: str | None = None) -> html.Div:
    q = _query(search)
    s = browser.summaries
    default_latent = int(np.argmax(np.asarray(s.freq))) if browser.inputs.d_sae else 0
    latent = min(max(_int(q.get("latent"), default_latent), 0), browser.inputs.d_sae - 1)
    ids = np.asarray(s.top_sample_ids[latent])
    default_sample = int(ids[0]) if ids.size and ids[0] >= 0 else int(next(iter(browser.inputs.store.samples), 0))
    sample = _int(q.get("sample"), default_sample)
    inputs = browser.inputs
    model = inputs.loaded_model
    is_text = (getattr(model, "modality", "") == "text") if model is not None else inputs.meta.sample_modality == "text"
    controls = html.Div([
        html.Label(["Latent", dcc.Input(id="steer-latent", type="number", value=latent, min=0,
                                        max=browser.inputs.d_sae - 1, step=1, debounce=True)], className="field"),
        html.Label(["Sample id", dcc.Input(id="steer-sample", type="number", value=sample, step=1, debounce=True)],
                   className="field"),
        html.Div([html.Div("Mode", className="field-label"),
                  dcc.RadioItems(id="steer-mode", options=[{"label": l, "value": v} for v, l in MODES],
                                 value=q.get("mode", "clamp") if q.get("mode") in dict(MODES) else "clamp",
                                 className="radio-row")], className="field"),
        html.Div([html.Div("Strength (× the latent's max activation; for ablate, the fraction removed)",
                           className="field-label"),
                  dcc.Slider(id="steer-strength", min=-4, max=4, step=0.25, value=2.0, marks=STRENGTH_MARKS,
                             updatemode="mouseup", tooltip={"placement": "bottom", "always_visible": False})],
                 className="field wide"),
        html.Label(["Prompt (LLM)", dcc.Textarea(id="steer-prompt", value="", rows=2,
                                                  placeholder="empty: the sample's text")],
                   className="field wide", style={} if is_text else {"display": "none"}),
    ], className="steer-controls")
    if not inputs.model_spec:
        status = notice(["Steering is unavailable: it needs the model and the store records none. Relaunch with ",
                         html.Code("saekit dashboard ... --model MODEL"), "."], "warn", id="steer-unavailable")
    else:
        source = "" if inputs.model_given else " (the store's; --model overrides it)"
        loading = "" if model is not None else " · loaded on the first steering run"
        status = html.Div(f"model {inputs.model_spec}{source}{loading} · hook {inputs.hook}", className="muted small")
    return page("Steering", card(None, status, controls),
                dcc.Loading(html.Div(id="steer-output", className="steer-output"), type="dot"),
                subtitle="clamp, add or ablate one SAE latent and compare with the unsteered model")


def register(app: dash.Dash, browser: Browser) -> None:
    @app.callback(
        Output("steer-output", "children"),
        Input("steer-latent", "value"),
        Input("steer-sample", "value"),
        Input("steer-mode", "value"),
        Input("steer-strength", "value"),
        Input("steer-prompt", "value"),
    )
    def _run(latent, sample, mode, strength, prompt):
        return render_effect(browser, latent, sample, mode, strength, prompt)


def render_effect(browser: Browser, latent: ControlValue, sample: ControlValue, mode: ControlValue,
                  strength: ControlValue, prompt: ControlValue = "") -> Component:
    """The effect panel for one choice of controls (also what the benchmark times)."""
    d_sae = browser.inputs.d_sae
    if latent is None or not isinstance(latent, (int, float)) or not 0 <= int(latent) < d_sae:
        return notice(f"Pick a latent between 0 and {d_sae - 1}.", "warn")
    latent = int(latent)
    if mode not in dict(MODES):
        return notice("Pick a mode: clamp, add or ablate.", "warn")
    try:
        strength = float(strength)
    except (TypeError, ValueError):
        return notice("Pick a strength.", "warn")
    if sample is None or browser.samples.record(int(sample)) is None:
        return notice(f"There is no sample {sample} in the store.", "warn")
    sample = int(sample)
    header = html.Div([
        html.Span("Steering "), feature_link(browser, latent), html.Span(f" · {mode} · strength {strength:g} · on "),
        dcc.Link(f"sample {sample}", href=sample_href(sample)),
    ], className="steer-head", id="steer-summary")
    try:
        with _lock:
            if getattr(browser.inputs.get_model(), "modality", "") == "text":
                body = _text_effect(browser, latent, sample, mode, strength, prompt or "")
            else:
                body = _vision_effect(browser, latent, sample, mode, strength)
    except SaekitError as exc:
        return html.Div([header, notice(str(exc), "error")])
    except Exception as exc:  # noqa: BLE001 - a failing model run must show a line, not kill the app
        log.exception("steering failed")
        return html.Div([header, notice(f"Steering failed: {exc.__class__.__name__}: {exc}", "error")])
    return html.Div([header, body])


def _latents_arg(latent: int, mode: str, value: float) -> Any:
    return [latent] if mode == "ablate" else {latent: value}


def _sample_inputs(browser: Browser, sample: int) -> Any:
    from saekit.data import Sample

    rec = browser.samples.record(sample) or {}
    img = None if browser.samples.is_text else browser.samples.image(sample)
    if not browser.samples.is_text and img is None:
        raise SaekitError(f"sample {sample} has no readable image (source {rec.get('source')!r})")
    smp = Sample(id=sample, source=rec.get("source"), label=rec.get("label"), text=rec.get("text"), image=img)
    return browser.inputs.get_model().prepare([smp])


def _vision_effect(browser: Browser, latent: int, sample: int, mode: str, strength: float) -> Any:
    import torch

    from saekit.analysis import steering

    model, sae, hook = browser.inputs.get_model(), browser.inputs.sae, browser.inputs.hook
    value = float(browser.summaries.max_act[latent]) or 1.0
    inputs = _sample_inputs(browser, sample)
    with torch.no_grad():
        base = model.forward(inputs).detach().float()
    b = base.reshape(base.shape[0], -1)[0]
    # The dose-response sweep ends (or, for a negative strength, starts) at the chosen strength, so
    # its run there is the steered output: kept from the readout instead of a separate forward, and
    # the unsteered run above is its baseline. Forwards: 1 + DOSE_POINTS.
    strengths = [float(x) for x in np.linspace(min(0.0, strength), max(0.0, strength), DOSE_POINTS)]
    outputs: list[torch.Tensor] = []
    to_direction = steering.direction_readout(b)

    def readout(out: torch.Tensor) -> torch.Tensor:
        outputs.append(out.detach().float())
        return to_direction(out)

    dose = steering.dose_response(model, hook, sae, latent, inputs, strengths=strengths, mode=mode, value=value,
                                  readout=readout, effect_name="cosine to unsteered output",
                                  baseline=to_direction(base))
    steered = outputs[strengths.index(strength)]
    s = steered.reshape(steered.shape[0], -1)[0]
    cos = float(torch.nn.functional.cosine_similarity(b, s, dim=0))
    rel = float((s - b).norm() / b.norm().clamp_min(1e-12))
    fig = go.Figure(go.Scatter(x=dose.strengths, y=dose.effects, mode="lines+markers"))
    fig.update_xaxes(title="strength")
    fig.update_yaxes(title="cosine to unsteered output")
    metrics = html.Div([
        html.Div([html.Div(f"{cos:.4f}", className="stat-value", id="steer-cosine"),
                  html.Div("cosine(steered, unsteered output)", className="stat-label")], className="stat"),
        html.Div([html.Div(f"{rel:.3g}", className="stat-value"),
                  html.Div("relative change of the output", className="stat-label")], className="stat"),
    ], className="stats")
    parts = [metrics]
    labels = _class_labels(model, base.shape[-1])
    if labels is not None and base.dim() == 2:
        parts.append(_class_table(labels, base[0], steered[0]))
    images = html.Div([html.Figure([html.Img(src=img_src(sample, None, 224), width=224, height=224,
                                             className="thumb-img"), html.Figcaption("sample")],
                                   className="thumb", style={"width": "224px"}),
                       html.Figure([html.Img(src=img_src(sample, latent, 224), width=224, height=224,
                                             className="thumb-img"), html.Figcaption(f"latent {latent} on it")],
                                   className="thumb", style={"width": "224px"})], className="gallery")
    return html.Div([html.Div([card(None, images, class_name="side"),
                               card("Output change", *parts, graph(figure_style(fig, 220), id="steer-dose"),
                                    class_name="grow")], className="row")])


def _class_labels(model: Any, width: int) -> list[str] | None:
    """Class names when the model's output is a classifier head of `width` classes."""
    config = getattr(getattr(model, "module", None), "config", None)
    for v in [getattr(model, a, None) for a in ("id2label", "labels", "class_names")] + [
            getattr(config, "id2label", None) if getattr(config, "num_labels", None) == width else None]:
        if isinstance(v, dict) and len(v) == width:
            return [str(v[k]) for k in sorted(v)]
        if isinstance(v, (list, tuple)) and len(v) == width:
            return [str(x) for x in v]
    return None


def _class_table(labels: list[str], base: Any, steered: Any) -> html.Table:
    pb, ps = base.softmax(-1), steered.softmax(-1)
    top = sorted(set(pb.topk(5).indices.tolist()) | set(ps.topk(5).indices.tolist()), key=lambda i: -float(ps[i]))
    return html.Table([html.Thead(html.Tr([html.Th("class"), html.Th("p before", className="num"),
                                           html.Th("p after", className="num")])),
                       html.Tbody([html.Tr([html.Td(labels[i]), html.Td(f"{float(pb[i]):.3f}", className="num"),
                                            html.Td(f"{float(ps[i]):.3f}", className="num")]) for i in top])],
                      className="simple-table")


def _text_effect(browser: Browser, latent: int, sample: int, mode: str, strength: float, prompt: str) -> Any:
    from saekit.analysis import steering

    model, sae, hook = browser.inputs.get_model(), browser.inputs.sae, browser.inputs.hook
    if not prompt.strip():
        prompt = ((browser.samples.record(sample) or {}).get("text") or "")[:300]
    if not prompt.strip():
        raise SaekitError(f"sample {sample} has no text; type a prompt")
    value = float(browser.summaries.max_act[latent]) or 1.0
    base = steering.greedy_generate(model, prompt, max_new_tokens=20)
    with steering.steer(model, hook, sae, _latents_arg(latent, mode, value), mode=mode, strength=strength):
        steered = steering.greedy_generate(model, prompt, max_new_tokens=20)
    return html.Div([card("Prompt", html.Div(prompt, className="sample-text")), html.Div([
        card("Unsteered continuation", html.Div(base, className="sample-text", id="steer-base"), class_name="grow"),
        card("Steered continuation", html.Div(steered, className="sample-text", id="steer-steered"),
             class_name="grow"),
    ], className="row")])
