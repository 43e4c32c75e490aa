"""Detection and fuzzing: the explanation is judged on held-out samples, and the answers are scored.

Detection (images and text): the held-out activating and non-activating samples, shown plainly and
shuffled (seeded per latent), asked in batches of `batch` samples: does the feature activate?
Fuzzing (text): each held-out activating sample once, its window marked either with the true
activating tokens or with as many wrong ones (alternating, then shuffled): are the marks right?
Each result keeps the samples it was judged on (sample id, truth, answer, what was shown as text)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from saekit.autointerp.chat import ChatRequest
from saekit.autointerp.evidence import Example, LatentEvidence
from saekit.autointerp.prompts import judge_messages, parse_verdicts
from saekit.autointerp.render import Shown
from saekit.autointerp.scoring import balanced_accuracy, roc_auc

Ask = Callable[[ChatRequest, Callable[[str], Any]], Any]


def _judge(kind: str, explanation: str, items: list[tuple[Example, Shown, bool]], ask: Ask, batch: int,
           max_tokens: int) -> dict[str, Any]:
    scores: list[float] = []
    for start in range(0, len(items), batch):
        chunk = items[start:start + batch]
        req = ChatRequest(messages=judge_messages(kind, explanation, [s for _, s, _ in chunk]),
                          max_tokens=max(max_tokens, 8 * len(chunk)))
        scores.extend(ask(req, lambda text, n=len(chunk): parse_verdicts(text, n)))
    truth = [t for _, _, t in items]
    judged = [{"sample_id": ex.sample_id, "truth": bool(t), "answer": float(a), "activation": ex.activation,
               "shown": s.text} for (ex, s, t), a in zip(items, scores)]
    return {"balanced_accuracy": balanced_accuracy(scores, truth), "auc": roc_auc(scores, truth),
            "n_positive": int(sum(truth)), "n_negative": int(len(truth) - sum(truth)), "judged": judged}


def detection(explanation: str, ev: LatentEvidence, renderer: Any, ask: Ask, seed: int, batch: int = 4,
              max_tokens: int = 60) -> dict[str, Any]:
    rng = np.random.default_rng([seed, ev.latent, 1])
    items = [(ex, renderer.plain_view(ex, rng), True) for ex in ev.positives]
    items += [(ex, renderer.plain_view(ex, rng), False) for ex in ev.negatives]
    items = [items[i] for i in rng.permutation(len(items))]
    return _judge("detection", explanation, items, ask, batch, max_tokens)


def fuzzing(explanation: str, ev: LatentEvidence, renderer: Any, ask: Ask, seed: int, batch: int = 4,
            max_tokens: int = 60) -> dict[str, Any]:
    rng = np.random.default_rng([seed, ev.latent, 2])
    items = []
    for i, ex in enumerate(ev.positives):
        shown = renderer.fuzz_view(ex, i % 2 == 0, rng)
        if shown is not None:
            items.append((ex, shown, i % 2 == 0))
    items = [items[i] for i in rng.permutation(len(items))]
    return _judge("fuzzing", explanation, items, ask, batch, max_tokens)
