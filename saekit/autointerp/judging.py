"""Detection and fuzzing: the explanation is judged on held-out windows, and the verdicts scored.

- detection (images and text): held-out activating and non-activating windows, shown plainly.
- fuzzing (text), delphi's default: held-out activating windows with their true marks against
  non-activating windows with `n` random tokens marked, `n` the mean number of activating tokens
  per held-out window, rounded up.
- fuzzing_active (text), delphi's "active" variant: each held-out activating window twice, once
  with its true marks and once with `n` wrong tokens (at or below the marking level) marked.

Windows are shuffled (seeded per latent and score) and judged `batch` per prompt; the judge answers
one verdict per window and, when the endpoint returns token log-probabilities, a probability. Each
result keeps every window it was judged on."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from saekit.autointerp.chat import ChatReply, ChatRequest
from saekit.autointerp.evidence import Example, LatentEvidence
from saekit.autointerp.logprobs import verdict_probabilities
from saekit.autointerp.prompts import parse_list, judge_messages, parse_verdicts
from saekit.autointerp.render import Renderer, Shown
from saekit.autointerp.scoring import classification, roc_auc
from saekit.results.names import JudgedSample, Judgement

Verdicts = tuple[list[bool], list[float] | None]
Ask = Callable[[ChatRequest, Callable[[ChatReply], Verdicts]], Verdicts]  # CallRunner.ask, parsing verdicts
SCORES = ("detection", "fuzzing", "fuzzing_active")
_SALT = {kind: i + 1 for i, kind in enumerate(SCORES)}


def read_verdicts(reply: ChatReply, n: int) -> Verdicts:
    """The n verdicts of a judging answer and, for a list answer with log-probabilities, their P(yes)."""
    verdicts = parse_verdicts(reply.text, n)
    listed = parse_list(reply.text or "", n) is not None
    return verdicts, verdict_probabilities(reply.logprobs, n) if listed else None


def judge(kind: str, explanation: str, items: list[tuple[Example, Shown, bool]], ask: Ask, batch: int,
          max_tokens: int, logprobs: bool) -> Judgement:
    """Verdicts on `items` (example, what is shown, truth) and their scores."""
    verdicts: list[bool] = []
    probs: list[float | None] = []
    for start in range(0, len(items), batch):
        chunk = items[start:start + batch]
        req = ChatRequest(messages=judge_messages(kind.split("_")[0], explanation, [s for _, s, _ in chunk]),
                          max_tokens=max(max_tokens, 8 * len(chunk)), logprobs=logprobs)
        v, p = ask(req, lambda reply, n=len(chunk): read_verdicts(reply, n))
        verdicts.extend(v)
        probs.extend(p if p is not None else [None] * len(v))
    truth = [t for _, _, t in items]
    judged = tuple(JudgedSample(sample_id=int(ex.sample_id), truth=bool(t), answer=1.0 if v else 0.0,
                                probability=None if p is None else float(p), activation=float(ex.activation),
                                quantile=int(ex.quantile), start=int(ex.start),
                                stop=None if ex.stop is None else int(ex.stop), shown=s.text)
                   for (ex, s, t), v, p in zip(items, verdicts, probs))
    return Judgement(**classification(verdicts, truth), auc=roc_auc(probs, truth), n_positive=int(sum(truth)),
                     n_negative=int(len(truth) - sum(truth)), judged=judged)


def _shuffled(items: list, rng: np.random.Generator) -> list:
    return [items[i] for i in rng.permutation(len(items))]


def n_wrong_marks(ev: LatentEvidence, renderer: Renderer) -> int:
    """Mean number of activating tokens per held-out activating window, rounded up (delphi's n_incorrect)."""
    if not ev.positives:
        return 0
    return math.ceil(sum(renderer.n_active(ex) for ex in ev.positives) / len(ev.positives))


def items_for(kind: str, ev: LatentEvidence, renderer: Renderer, rng: np.random.Generator
              ) -> list[tuple[Example, Shown, bool]]:
    """The (example, shown, truth) triples a score judges, before shuffling."""
    if kind == "detection":
        return [(ex, renderer.plain_view(ex, rng), True) for ex in ev.positives] + \
               [(ex, renderer.plain_view(ex, rng), False) for ex in ev.negatives]
    n = n_wrong_marks(ev, renderer)
    wrong_on = ev.negatives if kind == "fuzzing" else ev.positives
    items = [(ex, renderer.fuzz_view(ex, True, n, rng), True) for ex in ev.positives]
    items += [(ex, renderer.fuzz_view(ex, False, n, rng), False) for ex in wrong_on]
    return [(ex, s, t) for ex, s, t in items if s is not None]


def score(kind: str, explanation: str, ev: LatentEvidence, renderer: Renderer, ask: Ask, seed: int, batch: int = 5,
          max_tokens: int = 60, logprobs: bool = True) -> Judgement:
    """One of SCORES for one latent's explanation."""
    rng = np.random.default_rng([seed, ev.latent, _SALT[kind]])
    items = _shuffled(items_for(kind, ev, renderer, rng), rng)
    return judge(kind, explanation, items, ask, batch, max_tokens, logprobs)
