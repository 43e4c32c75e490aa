"""The audit's pictures and page: one PNG strip per (class, concept) under examples/ (its top images,
dimmed outside the concept's mask), and index.html rendered from the ``AuditDocument``.

`run.py` writes them in this order, then audit.json last (a directory with an audit.json always
holds a complete report).
"""
from __future__ import annotations

import dataclasses
import html
from pathlib import Path

import numpy as np
import torch

from saekit.analysis.conceptscope.alignment import maps_for
from saekit.analysis.conceptscope.masks import pixel_masks
from saekit.analysis.conceptscope.method import AuditBackend
from saekit.analysis.conceptscope.result import ConceptScopeResult
from saekit.analysis.conceptscope.samples import Samples
from saekit.analysis.conceptscope.subgroups import GROUPS
from saekit.common.html_report import page
from saekit.results.audit import AuditConcept, AuditDocument

_MIN_TILE = 96


@torch.no_grad()
def render_examples(result: ConceptScopeResult, backend: AuditBackend, samples: Samples, out_dir: Path
                    ) -> ConceptScopeResult:
    """Write one PNG strip per (class, concept) under out_dir/examples; the result with each concept's
    `examples` path (relative to out_dir) set."""
    from PIL import Image

    ex_dir = out_dir / "examples"
    ex_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[tuple[str, int], str] = {}
    for ci, (name, c) in enumerate(result.classes.items()):
        concepts = c.target + c.context
        if not concepts:
            continue
        examples = {con.latent: result.example_rows(ci, con.latent).tolist() for con in concepts}
        rows = sorted({i for r in examples.values() for i in r})
        if not rows:
            continue
        latents = np.array([con.latent for con in concepts])
        tiles = {}
        for a in range(0, len(rows), 8):
            chunk = rows[a:a + 8]
            px = backend.pixels([samples[i].image for i in chunk])
            states = [result.patch_state[i] for i in chunk if i in result.patch_state]
            cached = torch.stack(states) if len(states) == len(chunk) else None
            maps = maps_for(backend, cached, px, latents)
            masks = pixel_masks(maps.to(px.device), tuple(px.shape[-2:]))  # [b, K, H, W]
            vis = px.unsqueeze(1) * (0.15 + 0.85 * masks.pow(0.5).unsqueeze(2))
            arr = (vis.clamp(0, 1) * 255).round().byte().permute(0, 1, 3, 4, 2).cpu().numpy()
            for j, r in enumerate(chunk):
                tiles[r] = arr[j]
        for k, con in enumerate(concepts):
            strip = np.concatenate([tiles[r][k] for r in examples[con.latent]], axis=1)
            im = Image.fromarray(strip)
            h = im.height
            if h < _MIN_TILE:
                f = -(-_MIN_TILE // h)
                im = im.resize((im.width * f, h * f), Image.NEAREST)
            rel = f"examples/c{ci:03d}_l{con.latent}.png"
            im.save(out_dir / rel)
            paths[(name, con.latent)] = rel
    return result.with_concepts(lambda name, x: dataclasses.replace(x, examples=paths.get((name, x.latent))))


def _fmt(x: object) -> str:
    if isinstance(x, float):
        return f"{x:.3g}" if np.isfinite(x) else "inf"
    return html.escape(str(x))


def _concept_rows(items: tuple[AuditConcept, ...], show_bias: bool) -> str:
    if not items:
        return "<p><em>none</em></p>"
    head = ("<tr><th>latent</th><th>name</th><th>alignment</th><th>z</th><th>sufficiency</th><th>necessity</th>"
            "<th>class mean</th><th>lift</th>" + ("<th>bias strength</th>" if show_bias else "") + "<th>examples</th></tr>")
    body = []
    for x in items:
        img = f'<img src="{html.escape(x.examples)}" alt="examples of latent {x.latent}">' if x.examples else ""
        cls = ' class="bias"' if x.bias else ""
        body.append(f"<tr{cls}><td>{x.latent}</td><td>{_fmt(x.name)}</td><td>{_fmt(x.alignment)}</td><td>{_fmt(x.z)}</td>"
                    f"<td>{_fmt(x.sufficiency)}</td><td>{_fmt(x.necessity)}</td><td>{_fmt(x.class_mean)}</td>"
                    f"<td>{_fmt(x.lift)}</td>" + (f"<td>{_fmt(x.bias_strength)}</td>" if show_bias else "")
                    + f"<td>{img}</td></tr>")
    return f"<table>{head}{''.join(body)}</table>"


_STYLE = "table{margin:0.5em 0}tr.bias{background:#fde2e2}img{image-rendering:pixelated;max-height:110px}"


def index_html(doc: AuditDocument) -> str:
    """The audit's page, from its document."""
    p = doc.params
    parts = [
        f"<p>Dataset <code>{_fmt(doc.dataset.spec)}</code>: {doc.dataset.n_images} images, "
        f"{len(doc.classes)} classes. SAE <code>{_fmt(doc.sae.path)}</code> on hook "
        f"<code>{_fmt(doc.sae.hook)}</code>; {doc.latents.n_valid} valid latents, {len(doc.latents.noisy)} noisy "
        f"(always-on) latents filtered. Text space: {_fmt((doc.text_space or {}).get('kind', ''))}.</p>",
        f"<p>alpha = {p['alpha']}, sigma = {p['sigma']}, {p['n_per_class']} images per class for alignment, "
        f"top {p['top_k']} latents per class, minimum lift {p['min_lift']}. Alignment A = (sufficiency + necessity)/2; "
        "target: z(A) &ge; alpha within the class; bias: a context concept whose class mean is at least "
        "mean + sigma&middot;std of the context concepts' means.</p>",
        "<h2>Strongest biases in the dataset</h2>",
    ]
    if doc.biases:
        rows = "".join(
            f"<tr><td>{_fmt(b.cls)}</td><td>{b.latent}</td><td>{_fmt(b.name)}</td><td>{_fmt(b.strength)}</td>"
            f"<td>{_fmt(b.lift)}</td><td>{_fmt(b.class_mean)}</td><td>{_fmt(b.alignment)}</td>"
            f"<td>{'<img src=' + repr(html.escape(b.examples)) + '>' if b.examples else ''}</td></tr>"
            for b in doc.biases[:50])
        parts.append("<table><tr><th>class</th><th>latent</th><th>name</th><th>strength (&sigma; above context)</th>"
                     f"<th>lift</th><th>class mean</th><th>alignment</th><th>examples</th></tr>{rows}</table>")
    else:
        parts.append("<p><em>no bias concepts found</em></p>")
    if doc.subgroups:
        acc = doc.accuracy_by_group or {}
        rows = "".join(f"<tr><td>{g}</td><td>{doc.subgroups.counts[g]}</td>"
                       f"<td>{_fmt(acc[g].accuracy if g in acc else '') if acc else ''}</td></tr>" for g in GROUPS)
        parts.append(f"<h2>Robustness sub-groups of the test images</h2><p>classifier: {_fmt(doc.classifier)}"
                     + (f", overall accuracy {_fmt(acc['all'].accuracy)}" if acc else "") + "</p>"
                     f"<table><tr><th>group</th><th>images</th><th>accuracy</th></tr>{rows}</table>")
    for name, c in doc.classes.items():
        parts.append(f"<h2>Class {_fmt(name)}</h2><p>{c.n_images} images, {c.n_sampled} sampled; "
                     f"mean class-text similarity {_fmt(c.text_similarity)}</p>")
        parts.append("<h3>Target concepts</h3>" + _concept_rows(c.target, False))
        parts.append("<h3>Bias concepts</h3>" + _concept_rows(c.bias, True))
        parts.append("<h3>Context concepts</h3>" + _concept_rows(tuple(x for x in c.context if not x.bias), True))
    return page("ConceptScope dataset audit", "\n".join(parts), style=_STYLE)
