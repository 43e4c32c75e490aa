"""One names.json entry per named latent: its name, candidates, statistics and top samples (with a
heatmap PNG or token highlights for the latents that get a card)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from saekit.analysis.naming.config import NamingOptions
from saekit.analysis.naming.sources import ImageSource, TokenSource
from saekit.results.names import LatentName, TopSample

if TYPE_CHECKING:
    from saekit.analysis.monosemanticity.score import MonosemanticityScores
    from saekit.results.summaries import LatentSummaries
    from stores import ActivationStore


def _top_entry(store: "ActivationStore", summ: "LatentSummaries", lat: int, k: int, carded: bool,
               images: ImageSource | None, tokens_of: TokenSource | None, opts: NamingOptions,
               out_dir: Path) -> TopSample:
    sid = int(summ.top_sample_ids[lat, k])
    rec = store.samples[sid] if sid in store.samples else {}
    pos = summ.top_positions[lat, k]
    acts_k = summ.top_token_acts[lat, k].astype(np.float32)
    keep = pos >= 0
    if not keep.any():  # a pooled sample: its one row carries position -1
        keep = np.zeros_like(keep)
        keep[0] = True
    heatmap = None
    if images is not None and images.available and carded and k < opts.heatmaps_per_latent:
        rel = f"heatmaps/l{lat}_{k}.png"
        try:
            images.heatmap_png(sid, acts_k[keep], pos[keep], float(summ.max_act[lat]), out_dir / rel, opts.thumb_px)
            heatmap = rel
        except Exception as exc:  # noqa: BLE001 - one bad image must not sink the run; the note says why
            images.problem = images.problem or f"image of sample {sid} could not be rendered: {exc}"
    tokens = None
    if tokens_of is not None:
        strs = tokens_of.tokens(sid) if carded else None
        tokens = tuple((strs[int(i)] if strs is not None and 0 <= int(i) < len(strs) else f"<{int(i)}>", float(a))
                       for i, a in zip(pos[keep], acts_k[keep]))
    return TopSample(sample_id=sid, activation=float(summ.top_values[lat, k]), label=rec.get("label") or "",
                     text=str(rec.get("text") or "")[:300], heatmap=heatmap, tokens=tokens)


def latent_entries(store: "ActivationStore", summ: "LatentSummaries", live: np.ndarray, words: Sequence[str],
                   cand_idx: np.ndarray, cand_cos: np.ndarray, mono: "MonosemanticityScores | None", carded: set[int],
                   images: ImageSource | None, tokens: TokenSource | None, opts: NamingOptions,
                   out_dir: Path) -> list[LatentName]:
    """Entries for the ``live`` latents in order; rows in ``carded`` get heatmaps / token strings; ``mono``: the
    latents' Monosemanticity Scores (Pach et al.'s under mono_score, the centred variant under mono_score_centred)."""
    def score(which: str, lat: int) -> float | None:
        value = np.nan if mono is None else float(getattr(mono, which)[lat])
        return value if np.isfinite(value) else None

    latents = []
    for row, lat in enumerate(live):
        lat = int(lat)
        top = []
        for k in range(min(opts.top_n, summ.top_k)):
            if int(summ.top_sample_ids[lat, k]) < 0:
                break
            top.append(_top_entry(store, summ, lat, k, row in carded, images, tokens, opts, out_dir))
        latents.append(LatentName(
            latent=lat,
            name=words[int(cand_idx[row, 0])],
            score=float(cand_cos[row, 0]),
            candidates=tuple((words[int(i)], float(c)) for i, c in zip(cand_idx[row], cand_cos[row])),
            mono_score=score("ms", lat),
            mono_score_centred=score("ms_centred", lat),
            freq=float(summ.freq[lat]),
            sample_freq=float(summ.sample_freq[lat]),
            mean_act=float(summ.mean_act[lat]),
            max_act=float(summ.max_act[lat]),
            top=tuple(top),
        ))
    return latents
