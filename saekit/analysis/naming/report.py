"""OUT/index.html of `saekit name`: the run's facts and a card per best-named latent, from names.json."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from saekit.common.html_report import esc, highlight_tokens, img, write_report
from saekit.results.names import LatentName, NamesDocument


def _card(lat: LatentName) -> str:
    ms = " · ".join(f"{label} {value:.3f}" for label, value in (("MS (Pach et al.)", lat.mono_score),
                                                               ("centred", lat.mono_score_centred))
                    if value is not None) or "MS n/a"
    cands = ", ".join(f"{esc(w)} ({c:.2f})" for w, c in lat.candidates[1:])
    body = [f'<div class="card"><b>#{lat.latent}: {esc(lat.name)}</b> '
            f'<span class="muted">score {lat.score:.3f} · {ms} · freq {lat.freq:.2e}</span><br>'
            f'<span class="muted">also: {cands}</span><br>']
    for t in lat.top:
        tip = f"sample {t.sample_id} · act {t.activation:.3g} · {t.label} · {t.text[:120]}"
        if t.heatmap:
            body.append(img(t.heatmap, alt=f"sample {t.sample_id}", title=tip))
        elif t.tokens:
            vmax = max((a for _, a in t.tokens), default=0.0)
            body.append(f'<div class="muted">{highlight_tokens(t.tokens, vmax)}</div>')
    body.append("</div>")
    return "".join(body)


def write_index(path: Path, doc: NamesDocument, cards: Sequence[LatentName]) -> None:
    """index.html at ``path``: the facts of ``doc`` and a card for each of ``cards``."""
    vocab = f"{doc.vocab.source} ({doc.vocab.size} words)" if doc.vocab is not None else "none"
    head = [["SAE", doc.sae.path or "(in memory)"], ["hook", doc.sae.hook], ["store", doc.store.path],
            ["method", doc.method], ["vocabulary", vocab],
            ["live / named latents", f"{doc.n_live} / {doc.n_named}"],
            ["Monosemanticity embedding", doc.mono_embedding or "none"]]
    if doc.mono_mean_pair_cosine is not None:
        head.append(["MS shown", f"MS (Pach et al.): raw cosines; a latent firing alike on every sample scores "
                                 f"{doc.mono_mean_pair_cosine:.3f} (the samples' mean pair cosine); "
                                 "centred: saekit's variant (docs/evaluation.md)"])
    grid = "\n".join(['<div class="grid">', *(_card(lat) for lat in cards), "</div>"])
    notes = "".join(f"<p class='muted'>{esc(n)}</p>" for n in doc.notes)
    write_report(path, "Named SAE latents", [("Run", [["field", "value"]] + head),
                                             (f"Best-named latents ({len(cards)})", notes + grid)])
