"""ExplainRunDocument: OUT/run.json, written by `saekit explain` (saekit.autointerp.explain).

What a run judges with (the fingerprint a `--resume` must match) and its settings, written when the
run starts; when it finishes, `outcome` adds what it did: the latents explained with their
explanations and scores (the same `Explanation` names.json holds), the calls and tokens spent, the
latents left out. `explain` returns this document (a dry run returns it unsaved: it writes nothing).
Files written before this document existed (fingerprint and config only, without kind and
format_version) load as format version 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from saekit.common.jsontypes import JSONObject
from saekit.results.document import Document
from saekit.results.names import Explanation, SkippedLatent


@dataclass(frozen=True)
class TokenCounts:
    calls: int = 0                    # model calls made (retries included)
    cache_hits: int = 0               # answers taken from the response cache (no tokens spent)
    retries: int = 0                  # calls repeated after a transport failure
    malformed: int = 0                # answers that could not be parsed and were asked again
    prompt_tokens: int = 0            # prompt tokens sent (a dry run: estimated)
    completion_tokens: int = 0        # completion tokens received (a dry run: the most that could come back)


@dataclass(frozen=True)
class ExplainedLatent:
    latent: int                       # latent index
    explanation: Explanation          # its explanation and scores


@dataclass(frozen=True)
class ExplainOutcome:
    out: str                          # the output directory
    client: str                       # the explaining / judging client
    latents: tuple[ExplainedLatent, ...]  # every latent explained (resumed ones included), in the order chosen
    tokens: TokenCounts               # calls and tokens of this run (resumed latents cost none)
    n_resumed: int                    # latents taken from an earlier run's progress.jsonl
    seconds: float                    # wall time of the run
    skipped: tuple[SkippedLatent, ...] = ()  # latents not explained (dense, too rare, never firing), with the reason
    n_windows: int = 0                # windows the store was cut into
    dry_run: bool = False             # nothing was asked: tokens counts what the run would send
    images: int = 0                   # images a dry run would send

    def by_latent(self) -> dict[int, Explanation]:
        return {e.latent: e.explanation for e in self.latents}

    def detection_scores(self) -> list[float]:
        """The detection balanced accuracies that could be computed, in latent order."""
        return [e.explanation.detection.balanced_accuracy for e in self.latents
                if e.explanation.detection is not None and e.explanation.detection.balanced_accuracy is not None]


@dataclass(frozen=True)
class ExplainRunDocument(Document, kind="explain_run", filename="run.json", version=1,
                         command="explain", what="explain run"):

    fingerprint: dict[str, Any]       # what decides the results: the SAE's and store's fingerprints and the judged settings
    config: dict[str, Any]            # the ExplainConfig used (without the API key)
    outcome: ExplainOutcome | None = None  # what the run did (None while it runs)

    @classmethod
    def unversioned(cls, data: JSONObject, where: str) -> int:
        if "kind" not in data and "fingerprint" in data:
            return 0
        return super().unversioned(data, where)

    def changed_settings(self, fingerprint: JSONObject) -> list[str]:
        """The fingerprint keys whose values differ from ``fingerprint``'s."""
        return sorted(k for k in set(self.fingerprint) | set(fingerprint)
                      if self.fingerprint.get(k) != fingerprint.get(k))


def _from_unversioned(data: JSONObject) -> JSONObject:
    """Version 0 is version 1 without kind, format_version and outcome."""
    return data


ExplainRunDocument.UPGRADES = {0: _from_unversioned}
