"""CompareDocument: compare.json, written by `saekit compare` (saekit.eval.compare).

One metric suite run on several SAEs over the same rows of one store: a row per SAE with every
metric's full result (or the reason it was skipped), and the decoder stability of every pair.
Files written before this document existed (the same object without kind and format_version)
load as format version 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from saekit.common.jsontypes import JSONObject
from saekit.results.document import Document


@dataclass(frozen=True)
class CompareSplit:
    name: str                         # holdout, train or all: the samples every SAE was evaluated on
    fraction: float                   # the held-out fraction of the split
    salt: str = ""                    # the salt that assigns samples to the split
    note: str = ""                    # a caveat (e.g. SAEs that record no held-out split)


@dataclass(frozen=True)
class ComparedSae:
    name: str                         # display name (--name, else the checkpoint directory's name)
    path: str                         # the SAE spec as given
    arch: str                         # architecture
    d_sae: int                        # number of latents
    k: int | None                     # active latents per token (None for architectures without k)
    metrics: dict[str, dict[str, Any]]  # metric -> its result, or {"skipped": reason}; "timing_s" -> seconds per step

    def value(self, metric: str, *path: str) -> float | None:
        """The finite number at ``metrics[metric][path...]``; None when skipped, absent or not a finite number."""
        v: object = self.metrics.get(metric)
        for key in path:
            if not isinstance(v, dict) or key not in v:
                return None
            v = v[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return None
        return float(v)

    def skipped(self, metric: str) -> str | None:
        """Why ``metric`` was skipped (None when it ran or was not run)."""
        res = self.metrics.get(metric)
        reason = res.get("skipped") if isinstance(res, dict) else None
        return None if reason is None else str(reason)


@dataclass(frozen=True)
class StabilityPair:
    a: str                            # name of the first SAE
    b: str                            # name of the second SAE
    threshold: float | None = None    # cosine at which two decoder rows count as matched
    d_sae: tuple[int, int] | None = None  # latents of a and b
    frac_matched: float | None = None  # fraction of the smaller SAE's latents matched at >= threshold (Hungarian matching)
    mean_matched_cosine: float | None = None  # mean cosine of the matched decoder rows
    other_hook: str | None = None     # the hook b reads
    skipped: str | None = None        # why the pair could not be compared


@dataclass(frozen=True)
class CompareDocument(Document, kind="compare", filename="compare.json", version=1,
                      command="compare", what="SAE comparison"):

    store: str                        # the store the SAEs were evaluated on
    hook: str                         # the hook they read
    suite: str                        # the metric suite run
    split: CompareSplit               # the rows every SAE was evaluated on
    n_rows: int                       # rows evaluated (the same for every SAE)
    n_samples: int                    # samples those rows belong to
    saes: tuple[ComparedSae, ...]     # one per --sae, in order
    stability: tuple[StabilityPair, ...]  # every pair of SAEs

    @classmethod
    def unversioned(cls, data: JSONObject, where: str) -> int:
        if "kind" not in data and "saes" in data:
            return 0
        return super().unversioned(data, where)


def _from_unversioned(data: JSONObject) -> JSONObject:
    """Version 0 is version 1 without kind and format_version."""
    return data


CompareDocument.UPGRADES = {0: _from_unversioned}
