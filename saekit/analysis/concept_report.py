"""Write a ConceptScope audit to a directory: examples/*.png, index.html, then audit.json last.

audit.json is written atomically after everything else, and any previous audit.json is removed
first, so a directory with an audit.json always holds a complete report.
"""
from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from saekit.analysis.concept_alignment import maps_for
from saekit.analysis.concept_masks import pixel_masks
from saekit.analysis.conceptscope import AuditBackend, AuditResult, Concept
from saekit.analysis.subgroups import GROUPS
from saekit.common.atomic import write_text_atomic
from saekit.common.html_report import page
from saekit.results import AuditDocument

_MIN_TILE = 96


def audit_json(result: AuditResult, meta: dict[str, Any]) -> dict[str, Any]:
    """The audit.json document. meta: {sae, model, dataset, test, text_space} descriptions from the caller."""
    cfg = result.config
    classes = {}
    for c in result.classes:
        classes[c.name] = {
            "n_images": c.n_images, "n_sampled": c.n_sampled, "text_similarity": c.text_similarity,
            "similarity": c.similarity,
            "bias_threshold": c.bias_threshold if np.isfinite(c.bias_threshold) else None,
            "target": [x.to_json() for x in c.target],
            "context": [x.to_json() for x in c.context],
            "bias": [x.to_json() for x in c.bias],
        }
    dataset = dict(meta.get("dataset", {}))
    dataset.update(n_images=result.n_images, classes=result.class_names)
    return {
        "kind": "audit", "format_version": AuditDocument.FORMAT_VERSION,
        "sae": meta.get("sae", {}), "model": meta.get("model", {}), "dataset": dataset,
        "test": meta.get("test"), "text_space": meta.get("text_space"), "names": meta.get("names"),
        "params": {"alpha": cfg.alpha, "n_per_class": cfg.n_per_class, "top_k": cfg.top_k,
                   "validity": cfg.validity, "active_threshold": cfg.active_threshold,
                   "min_active_images": cfg.min_active_images, "noisy_freq": cfg.noisy_freq,
                   "bias_rule": cfg.bias_rule, "min_lift": cfg.min_lift, "min_auc": cfg.min_auc, "sigma": cfg.sigma,
                   "gamma_only": cfg.gamma_only, "gamma_removed": cfg.gamma_removed, "prompt": cfg.prompt,
                   "seed": cfg.seed, "similarity": cfg.similarity, "subgroup_threshold": cfg.subgroup_threshold,
                   "subgroup_clip": cfg.subgroup_clip},
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
        "masked_copies": {"defined": result.n_masked, "forwarded": result.n_forwarded},
        "latents": {"n_valid": result.n_valid, "noisy": result.noisy},
        "classes": classes,
        "biases": result.biases(),
        "classifier": result.classifier,
        "subgroups": result.subgroups,
        "accuracy_by_group": result.accuracy_by_group,
    }


@torch.no_grad()
def render_examples(result: AuditResult, backend: AuditBackend, samples: Sequence[Any], out_dir: Path) -> None:
    """One PNG strip per (class, concept): its top images, dimmed outside the concept's mask."""
    from PIL import Image

    ex_dir = out_dir / "examples"
    ex_dir.mkdir(parents=True, exist_ok=True)
    for ci, c in enumerate(result.classes):
        concepts: list[Concept] = c.target + c.context
        if not concepts:
            continue
        rows = sorted({i for con in concepts for i in con.example_indices})
        if not rows:
            continue
        latents = np.array([con.latent for con in concepts])
        tiles = {}
        for a in range(0, len(rows), 8):
            chunk = rows[a:a + 8]
            px = backend.pixels([samples[i].image for i in chunk])
            states = [result.patch_state.get(i) for i in chunk]
            maps = maps_for(backend, torch.stack(states) if all(s is not None for s in states) else None, px, latents)
            masks = pixel_masks(maps.to(px.device), tuple(px.shape[-2:]))  # [b, K, H, W]
            vis = px.unsqueeze(1) * (0.15 + 0.85 * masks.pow(0.5).unsqueeze(2))
            arr = (vis.clamp(0, 1) * 255).round().byte().permute(0, 1, 3, 4, 2).cpu().numpy()
            for j, r in enumerate(chunk):
                tiles[r] = arr[j]
        for k, con in enumerate(concepts):
            imgs = [tiles[r][k] for r in con.example_indices]
            strip = np.concatenate(imgs, axis=1)
            im = Image.fromarray(strip)
            h = im.height
            if h < _MIN_TILE:
                f = -(-_MIN_TILE // h)
                im = im.resize((im.width * f, h * f), Image.NEAREST)
            rel = f"examples/c{ci:03d}_l{con.latent}.png"
            im.save(out_dir / rel)
            con.examples = rel


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.3g}" if np.isfinite(x) else "inf"
    return html.escape(str(x))


def _concept_rows(items: list[Concept], show_bias: bool) -> str:
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


def index_html(doc: dict[str, Any], result: AuditResult) -> str:
    p = doc["params"]
    parts = [
        f"<p>Dataset <code>{_fmt(doc['dataset'].get('spec', ''))}</code>: {result.n_images} images, "
        f"{len(result.class_names)} classes. SAE <code>{_fmt(doc['sae'].get('path', ''))}</code> on hook "
        f"<code>{_fmt(doc['sae'].get('hook', ''))}</code>; {result.n_valid} valid latents, {len(result.noisy)} noisy "
        f"(always-on) latents filtered. Text space: {_fmt((doc.get('text_space') or {}).get('kind', ''))}.</p>",
        f"<p>alpha = {p['alpha']}, sigma = {p['sigma']}, {p['n_per_class']} images per class for alignment, "
        f"top {p['top_k']} latents per class, minimum lift {p['min_lift']}. Alignment A = (sufficiency + necessity)/2; "
        "target: z(A) &ge; alpha within the class; bias: a context concept whose class mean is at least "
        "mean + sigma&middot;std of the context concepts' means.</p>",
        "<h2>Strongest biases in the dataset</h2>",
    ]
    biases = doc["biases"]
    if biases:
        rows = "".join(
            f"<tr><td>{_fmt(b['class'])}</td><td>{b['latent']}</td><td>{_fmt(b['name'])}</td><td>{_fmt(b['strength'])}</td>"
            f"<td>{_fmt(b['lift'])}</td><td>{_fmt(b['class_mean'])}</td><td>{_fmt(b['alignment'])}</td>"
            f"<td>{'<img src=' + repr(html.escape(b['examples'])) + '>' if b.get('examples') else ''}</td></tr>"
            for b in biases[:50])
        parts.append("<table><tr><th>class</th><th>latent</th><th>name</th><th>strength (&sigma; above context)</th>"
                     f"<th>lift</th><th>class mean</th><th>alignment</th><th>examples</th></tr>{rows}</table>")
    else:
        parts.append("<p><em>no bias concepts found</em></p>")
    if doc.get("subgroups"):
        sg = doc["subgroups"]
        acc = doc.get("accuracy_by_group") or {}
        rows = "".join(f"<tr><td>{g}</td><td>{sg['counts'][g]}</td><td>{_fmt((acc.get(g) or {}).get('accuracy', '')) if acc else ''}</td></tr>"
                       for g in GROUPS)
        parts.append(f"<h2>Robustness sub-groups of the test images</h2><p>classifier: {_fmt(doc.get('classifier'))}"
                     + (f", overall accuracy {_fmt(acc['all']['accuracy'])}" if acc else "") + "</p>"
                     f"<table><tr><th>group</th><th>images</th><th>accuracy</th></tr>{rows}</table>")
    for c in result.classes:
        parts.append(f"<h2>Class {_fmt(c.name)}</h2><p>{c.n_images} images, {c.n_sampled} sampled; "
                     f"mean class-text similarity {_fmt(c.text_similarity)}</p>")
        parts.append("<h3>Target concepts</h3>" + _concept_rows(c.target, False))
        parts.append("<h3>Bias concepts</h3>" + _concept_rows(c.bias, True))
        parts.append("<h3>Context concepts</h3>" + _concept_rows([x for x in c.context if not x.bias], True))
    return page("ConceptScope dataset audit", "\n".join(parts), style=_STYLE)


def write_report(result: AuditResult, backend: AuditBackend, samples: Sequence[Any], out_dir: str | os.PathLike,
                 meta: dict[str, Any]) -> Path:
    """Examples, index.html, then audit.json (an AuditDocument) last; returns the audit.json path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    AuditDocument.path_in(out).unlink(missing_ok=True)
    render_examples(result, backend, samples, out)
    doc = AuditDocument.of(audit_json(result, meta))
    write_text_atomic(out / "index.html", index_html(doc.to_json(), result))
    return doc.save(out) / AuditDocument.FILENAME
