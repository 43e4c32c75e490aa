"""OUT/names.json with the explanations: a NamesDocument (saekit.results.names) whose latent
entries carry an `Explanation` (text, client, the samples explained on, detection and fuzzing
judgements with every judged window) and whose `explanations` field records the run (client,
settings without the key, token counts, the latents not explained and why). With --names the vocabulary names of that run are kept
and the explanations added; without it each explained latent gets an entry whose name is its
explanation. Written atomically by NamesDocument.save."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING

from saekit.autointerp.config import ExplainConfig
from saekit.autointerp.runner import TokenCount
from saekit.common.errors import SaekitError
from saekit.results import NamesDocument, SaeRef, StoreMetadata, StoreRef
from saekit.results.names import ExplainRun, Explanation, LatentName, SkippedLatent

if TYPE_CHECKING:
    from saekit.sae import SAE
    from saekit.results.summaries import LatentSummaries
    from stores import ActivationStore


def _base_doc(cfg: ExplainConfig, summ: LatentSummaries, store: ActivationStore, sae: SAE) -> NamesDocument:
    return NamesDocument(
        sae=SaeRef.of(sae.cfg, path=str(cfg.sae), fingerprint=summ.sae_fingerprint, hook=summ.hook),
        store=StoreRef(path=str(cfg.store), fingerprint=summ.store_fingerprint,
                       modality=StoreMetadata.from_store(store).sample_modality, n_samples=summ.n_samples),
        method="explain", n_live=int(summ.live.sum()), n_named=0, notes=(), latents=())


def write_names(out: Path, records: dict[int, Explanation], cfg: ExplainConfig, summ: LatentSummaries,
                store: ActivationStore, sae: SAE, client: str, count: TokenCount, skipped: tuple[SkippedLatent, ...] = (),
                n_windows: int = 0) -> NamesDocument:
    if cfg.names:
        doc = NamesDocument.load(Path(cfg.names))
        if doc.sae.fingerprint not in ("", summ.sae_fingerprint):
            raise SaekitError(f"--names {cfg.names} was made for another SAE; name this SAE first")
    else:
        doc = _base_doc(cfg, summ, store, sae)
    by_latent = doc.by_latent()
    for lat, explanation in sorted(records.items()):
        entry = by_latent.get(lat) or LatentName(
            latent=lat, name=explanation.text[:80], score=0.0, candidates=(), mono_score=None,
            freq=float(summ.freq[lat]), sample_freq=float(summ.sample_freq[lat]), mean_act=float(summ.mean_act[lat]),
            max_act=float(summ.max_act[lat]), top=())
        by_latent[lat] = dataclasses.replace(entry, explanation=explanation)
    latents = tuple(by_latent[k] for k in sorted(by_latent))
    run = ExplainRun(client=client, params=cfg.public(), n_explained=len(records), tokens=count.as_dict(),
                     created=time.strftime("%Y-%m-%dT%H:%M:%S"), n_windows=n_windows,
                     skipped=skipped)
    doc = dataclasses.replace(doc, latents=latents, n_named=len(latents), explanations=run)
    doc.save(out)
    return doc
