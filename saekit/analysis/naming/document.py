"""The names.json document of a naming run (saekit.results.NamesDocument; fields in docs/formats.md), from
the run's inputs and what it computed (``NamingParts``)."""
from __future__ import annotations

import dataclasses
import os
import time
from typing import TYPE_CHECKING

from saekit.analysis.naming.config import NamingOptions
from saekit.analysis.naming.embeddings import SampleEmbeddings
from saekit.analysis.naming.text_side import TextSide
from saekit.results import NamesDocument, SaeRef
from saekit.results.names import LatentName

if TYPE_CHECKING:
    from saekit.analysis.monosemanticity.score import MonosemanticityScores
    from saekit.inputs import Inputs
    from saekit.results.summaries import LatentSummaries


@dataclasses.dataclass(frozen=True)
class NamingParts:
    """What a naming run computed, as names.json records it."""

    summaries: "LatentSummaries"            # the latent summaries the names were drawn from
    modality: str                           # the samples' modality: image or text
    vocab_source: str                       # "default", a file path, or "given"
    vocab_size: int                         # words in the vocabulary
    method: str                             # decoder, top-images or both ("auto" resolved)
    side: TextSide                          # the text space or text encoder names were scored in
    mono_embedding: SampleEmbeddings | None  # what the Monosemanticity Scores compared samples by
    mono: "MonosemanticityScores | None"     # the latents' Monosemanticity Scores (None: not computed)
    notes: list[str]                        # problems worth showing
    latents: list[LatentName]               # one entry per named latent (naming.entries)
    seconds: float                          # run time


def names_document(*, inputs: "Inputs", sae_dir: str | os.PathLike | None, parts: NamingParts,
                   options: NamingOptions) -> NamesDocument:
    """The names.json document of a run on ``inputs`` (the SAE's checkpoint directory ``sae_dir``, "" when it
    was named in memory) that computed ``parts`` with ``options``."""
    summ = parts.summaries
    store_path = inputs.store_path or str(getattr(inputs.store, "path", ""))
    return NamesDocument.of({
        "sae": SaeRef.of(inputs.sae.cfg, path=str(sae_dir) if sae_dir is not None else "",
                         fingerprint=summ.sae_fingerprint, hook=inputs.hook),
        "store": {"path": store_path, "fingerprint": summ.store_fingerprint,
                  "modality": parts.modality, "n_samples": summ.n_samples},
        "vocab": {"source": parts.vocab_source, "size": parts.vocab_size},
        "method": parts.method,
        "text_space": parts.side.describe(),
        "mono_embedding": parts.mono_embedding.described if parts.mono_embedding is not None else None,
        "mono_mean_pair_cosine": parts.mono.mean_pair_cosine if parts.mono is not None else None,
        "params": dataclasses.asdict(options),
        "n_live": int(summ.live.sum()),
        "n_named": len(parts.latents),
        "notes": parts.notes,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "seconds": round(parts.seconds, 1),
        "latents": parts.latents,
    })
