"""The judge's confidence in each verdict from its token log-probabilities, read as delphi reads them.

An answer is a list of 1s and 0s; its verdict tokens are the answer tokens holding a 0 or a 1. At
each, the probability of "yes" is P(1) / (P(0) + P(1)), summing the top alternatives offered at
that place whose text holds a 0 (counted as "no" first) or a 1; 0 when neither appears. When the
answer does not have exactly one verdict token per example, there are no probabilities (the
verdicts still count; only the AUC, which needs them, leaves that prompt out)."""
from __future__ import annotations

import math
from typing import Sequence

from saekit.autointerp.chat import TokenLogprob


def _verdict(token: str) -> str | None:
    if "0" in token:
        return "0"
    if "1" in token:
        return "1"
    return None


def verdict_probabilities(logprobs: Sequence[TokenLogprob] | None, n: int) -> list[float] | None:
    """P(yes) for each of the n verdicts of a list answer, or None (no logprobs, or not n verdicts)."""
    if not logprobs:
        return None
    out: list[float] = []
    for tok in logprobs:
        if _verdict(tok.token) is None:
            continue
        mass = {"0": 0.0, "1": 0.0}
        for alt, lp in tok.top:
            kind = _verdict(alt)
            if kind is not None:
                mass[kind] += math.exp(lp)
        total = mass["0"] + mass["1"]
        out.append(mass["1"] / total if total > 0 else 0.0)
    return out if len(out) == n else None
