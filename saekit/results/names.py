"""NamesDocument: names.json, written by `saekit name` (saekit.analysis.naming).

One entry per named (live) latent: its vocabulary name and candidates, Monosemanticity Scores
(Pach et al.'s under `mono_score`, saekit's centred variant under `mono_score_centred`), firing
statistics and top samples (with heatmap PNGs for image stores, token strings for text stores).
Version 1 files load with a centred score moved to `mono_score_centred`. `explanation` is filled
by auto-interpretation (`saekit explain`) when it has run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from saekit.results.document import Document
from saekit.results.refs import SaeRef, StoreRef


@dataclass(frozen=True)
class TopSample:
    sample_id: int                    # store sample id
    activation: float                 # the latent's max activation on this sample
    label: str = ""                   # the sample's label ("" when it has none)
    text: str = ""                    # the sample's text (first 300 characters)
    heatmap: str | None = None        # PNG path relative to the names directory (image stores)
    tokens: tuple[tuple[str, float], ...] | None = None  # (token, activation) pairs (text stores)


@dataclass(frozen=True)
class JudgedSample:
    sample_id: int                    # store sample id (held out from the explainer)
    truth: bool                       # detection: the latent fires on it; fuzzing: the marked tokens are the true ones
    answer: float                     # the judge's answer in [0, 1] (>= 0.5 reads "yes")
    activation: float                 # the latent's max activation on the sample
    shown: str                        # what the judge was shown, as text


@dataclass(frozen=True)
class Judgement:
    balanced_accuracy: float | None   # (true-positive rate + true-negative rate) / 2; None when one class is missing
    auc: float | None                 # ROC AUC of the answers against the truth
    n_positive: int                   # samples whose truth is true
    n_negative: int                   # samples whose truth is false
    judged: tuple[JudgedSample, ...]  # every sample the score was judged on


@dataclass(frozen=True)
class Explanation:
    text: str                         # the explanation of the latent
    client: str                       # the model (client) that wrote it
    explained_on: tuple[int, ...]     # sample ids shown to the explainer
    detection: Judgement | None = None  # scored by detection (images and text)
    fuzzing: Judgement | None = None  # scored by fuzzing (text only)


@dataclass(frozen=True)
class ExplainRun:
    client: str                       # the explaining / judging client
    params: dict[str, Any]            # the ExplainConfig used (without the API key)
    n_explained: int                  # latents explained
    tokens: dict[str, int]            # token counts spent
    created: str                      # ISO time of writing


@dataclass(frozen=True)
class LatentName:
    latent: int                       # latent index
    name: str                         # the best vocabulary word
    score: float                      # its cosine to the latent's query
    candidates: tuple[tuple[str, float], ...]  # (word, cosine), best first
    mono_score: float | None          # Monosemanticity Score of Pach et al.: raw cosines (None when not computed)
    freq: float                       # fraction of store rows where the latent fires
    sample_freq: float                # fraction of samples where it fires
    mean_act: float                   # mean of its positive activations
    max_act: float                    # its largest activation in the store
    top: tuple[TopSample, ...]        # top samples, best first
    explanation: Explanation | None = None  # auto-interpretation, when `saekit explain` has run
    mono_score_centred: float | None = None  # saekit's variant: cosines of embeddings centred on the samples' mean


@dataclass(frozen=True)
class VocabRef:
    source: str                       # "default", a file path, or "given"
    size: int                         # number of words


def _names_from_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept one score per latent in mono_score: the centred variant when the run centred (its
    mono_centred, else params.mono_centre; runs from before that option used raw cosines). Version 2 keeps
    Pach et al.'s score in mono_score and the centred one in mono_score_centred, so a centred version-1 score
    moves there (Pach et al.'s was not computed)."""
    data = dict(data)
    centred = data.pop("mono_centred", None)
    if centred is None:
        centred = bool((data.get("params") or {}).get("mono_centre", False))
    if centred:
        data["latents"] = [{**lat, "mono_score": None, "mono_score_centred": lat.get("mono_score")}
                           for lat in data.get("latents", [])]
    return data


@dataclass(frozen=True)
class NamesDocument(Document, kind="names", filename="names.json", version=2,  # 2: both Monosemanticity Scores
                    command="name", what="latent names"):
    UPGRADES: ClassVar[dict] = {1: _names_from_v1}

    sae: SaeRef                       # the SAE named
    store: StoreRef                   # the store its summaries came from
    method: str                       # decoder, top-images or both (auto resolved); "explain" for explain-only runs
    n_live: int                       # latents that fire at least once
    n_named: int                      # latents listed in `latents`
    notes: tuple[str, ...]            # problems worth showing (e.g. images that could not be reloaded)
    latents: tuple[LatentName, ...]   # one per named latent, by latent index
    vocab: VocabRef | None = None     # the candidate words (None for explain-only runs)
    text_space: dict[str, Any] | None = None  # the text space's description (kind, model, hook, pooling, ...)
    mono_embedding: str | None = None  # the embedding the Monosemanticity Scores were computed against
    mono_mean_pair_cosine: float | None = None  # the scored samples' mean pair cosine: a latent weighing all pairs alike scores this raw
    params: dict[str, Any] = field(default_factory=dict)  # the NameConfig used
    created: str = ""                 # ISO time of writing
    seconds: float = 0.0              # run time
    explanations: ExplainRun | None = None  # the `saekit explain` run that added explanations

    def by_latent(self) -> dict[int, LatentName]:
        return {e.latent: e for e in self.latents}
