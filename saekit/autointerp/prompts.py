"""The three prompts (explain, detect, fuzz) and the parsers of their answers.

Explain: the latent's top samples with the activating parts marked (tokens between << >>, or a red
overlay on image patches), captions when the dataset has them; the answer is one line
"Explanation: ...". Detect: the explanation and a shuffled, numbered mix of activating and
non-activating samples shown plainly; fuzz: the explanation and numbered text windows whose marks
are either the true activating tokens or as many wrong ones. Both ask for one yes/no per sample
("N: yes"); a number in [0, 1] is read as a probability, so an endpoint may answer with confidences.
"""
from __future__ import annotations

import re
from typing import Sequence

from saekit.autointerp.chat import Message, MalformedAnswer
from saekit.autointerp.render import Shown

EXPLAIN_SYSTEM = (
    "You are an interpretability researcher studying one feature of a neural network. You are shown the "
    "inputs on which the feature activates most strongly. {marks} Say in a few words (at most 15) what the "
    "feature detects. Reply with exactly one line: Explanation: <your explanation>")
MARKS = {
    "text": "The tokens where it activates are marked <<like this>>.",
    "image": "The image regions where it activates are shaded red; a caption follows an image when one exists.",
}
JUDGE_SYSTEM = ("You check explanations of a neural network feature. You get an explanation and numbered "
                "examples and decide, for each example, {question} Reply with one line per example, "
                "in the form '<number>: yes' or '<number>: no', and nothing else.")
QUESTIONS = {
    "detection": "whether the feature activates on it, judging only from the explanation.",
    "fuzzing": "whether the tokens marked <<like this>> are the ones the explanation describes.",
}


def _parts(items: Sequence[Shown], label: str) -> list[dict]:
    """Numbered samples as chat content parts: text inline, images as image_url parts."""
    parts: list[dict] = []
    for i, s in enumerate(items, 1):
        if s.image_url is not None:
            parts.append({"type": "text", "text": f"{label} {i}" + (f" (caption: {s.text})" if s.text else "") + ":"})
            parts.append({"type": "image_url", "image_url": {"url": s.image_url}})
        else:
            parts.append({"type": "text", "text": f"{label} {i}: {s.text}"})
    return parts


def _content(parts: list[dict]) -> str | list[dict]:
    """Plain text when no part is an image (what text-only servers expect), else the parts list."""
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def explain_messages(items: Sequence[Shown], modality: str) -> tuple[Message, ...]:
    intro = {"type": "text", "text": "Top activating examples:"}
    return ({"role": "system", "content": EXPLAIN_SYSTEM.format(marks=MARKS[modality])},
            {"role": "user", "content": _content([intro] + _parts(items, "Example"))})


def judge_messages(kind: str, explanation: str, items: Sequence[Shown]) -> tuple[Message, ...]:
    intro = {"type": "text", "text": f"Explanation: {explanation}\n\nExamples:"}
    outro = {"type": "text", "text": f"\nAnswer for all {len(items)} examples, one line each: '<number>: yes' or '<number>: no'."}
    return ({"role": "system", "content": JUDGE_SYSTEM.format(question=QUESTIONS[kind])},
            {"role": "user", "content": _content([intro] + _parts(items, "Example") + [outro])})


def parse_explanation(text: str) -> str:
    """The explanation from an answer: the text after 'Explanation:', else the first non-empty line."""
    text = (text or "").strip()
    m = re.search(r"explanation\s*[:\-]\s*(.+)", text, flags=re.IGNORECASE)
    line = m.group(1) if m else next((ln for ln in text.splitlines() if ln.strip()), "")
    line = line.strip().strip("*\"'` ").strip()
    if not line:
        raise MalformedAnswer("empty explanation")
    return line[:300]


_VERDICT = r"(yes|no|true|false|activates|does not activate|[01](?:\.\d+)?|\.\d+)"
_NUMBERED = re.compile(r"^\W*(?:example\s*)?(\d+)\s*[:.)\-]\s*\W*" + _VERDICT, re.IGNORECASE | re.MULTILINE)
_BARE = re.compile(r"\b" + _VERDICT + r"\b", re.IGNORECASE)


def _value(word: str) -> float:
    w = word.lower()
    if w in ("yes", "true", "activates"):
        return 1.0
    if w in ("no", "false", "does not activate"):
        return 0.0
    return min(1.0, max(0.0, float(w)))


def parse_verdicts(text: str, n: int) -> list[float]:
    """n scores in [0, 1] from '<i>: yes/no' lines (or, failing that, exactly n bare verdicts in order)."""
    text = text or ""
    found: dict[int, float] = {}
    for m in _NUMBERED.finditer(text):
        i = int(m.group(1))
        if 1 <= i <= n and i not in found:
            found[i] = _value(m.group(2))
    if len(found) == n:
        return [found[i] for i in range(1, n + 1)]
    bare = [_value(m.group(1)) for m in _BARE.finditer(text)]
    if n == 1 and bare:
        return bare[:1]
    if len(bare) == n:
        return bare
    if not text.strip():
        raise MalformedAnswer("empty answer")
    raise MalformedAnswer(f"expected {n} yes/no verdicts, found {max(len(found), len(bare))}")
