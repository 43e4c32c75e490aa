"""The three prompts (explain, detect, fuzz) and the parsers of their answers.

Explain: the latent's explaining windows with the activating parts marked (tokens between << >>,
or a red overlay on image patches), captions when the dataset has them; the answer is one line
"Explanation: ...". Detect: the explanation and a shuffled, numbered mix of activating and
non-activating windows shown plainly; fuzz: the explanation and numbered windows whose marks are
either the true activating tokens or wrong ones. Both ask, as delphi does, for a list with one 1
(yes) or 0 (no) per example, e.g. [1, 0, 0, 1, 1]; "N: yes" lines are accepted too.
"""
from __future__ import annotations

import re
from typing import Sequence

from saekit.autointerp.chat import Message, MalformedAnswer
from saekit.autointerp.render import Shown

EXPLAIN_SYSTEM = (
    "You are an interpretability researcher studying one feature of a neural network. You are shown "
    "inputs on which the feature activates, from its strongest activations to weaker ones. {marks} Say in a few words (at most 15) what the "
    "feature detects. Reply with exactly one line: Explanation: <your explanation>")
MARKS = {
    "text": "The tokens where it activates are marked <<like this>>.",
    "image": "The image regions where it activates are shaded red; a caption follows an image when one exists.",
}
JUDGE_SYSTEM = ("You check explanations of a neural network feature. You get an explanation and numbered "
                "examples and decide, for each example, {question} Reply with a list holding one 1 (yes) or "
                "0 (no) per example, in order, such as [1, 0, 1], and nothing else.")
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
    intro = {"type": "text", "text": "Activating examples:"}
    return ({"role": "system", "content": EXPLAIN_SYSTEM.format(marks=MARKS[modality])},
            {"role": "user", "content": _content([intro] + _parts(items, "Example"))})


def judge_messages(kind: str, explanation: str, items: Sequence[Shown]) -> tuple[Message, ...]:
    intro = {"type": "text", "text": f"Explanation: {explanation}\n\nExamples:"}
    outro = {"type": "text", "text": f"\nAnswer with a list of {len(items)} values, 1 or 0, one per example."}
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


_LIST = re.compile(r"\[([^\[\]]*)\]")
_VERDICT = r"(yes|no|true|false|activates|does not activate|[01](?:\.\d+)?|\.\d+)"
_NUMBERED = re.compile(r"^\W*(?:example\s*)?(\d+)\s*[:.)\-]\s*\W*" + _VERDICT, re.IGNORECASE | re.MULTILINE)
_BARE = re.compile(r"\b" + _VERDICT + r"\b", re.IGNORECASE)


def _value(word: str) -> bool:
    w = word.lower().strip()
    if w in ("yes", "true", "activates", "1"):
        return True
    if w in ("no", "false", "does not activate", "0"):
        return False
    return float(w) >= 0.5


def parse_list(text: str, n: int) -> list[bool] | None:
    """The first bracketed list of n verdicts (1/0, true/false, yes/no), as delphi reads answers."""
    m = _LIST.search(text)
    if m is None:
        return None
    items = [x.strip().strip("'\"") for x in m.group(1).split(",") if x.strip()]
    try:
        values = [_value(x) for x in items]
    except ValueError:
        return None
    return values if len(values) == n else None


def parse_verdicts(text: str, n: int) -> list[bool]:
    """n yes/no verdicts: a list like [1, 0, 1], else '<i>: yes/no' lines, else exactly n bare verdicts."""
    text = text or ""
    listed = parse_list(text, n)
    if listed is not None:
        return listed
    found: dict[int, bool] = {}
    for m in _NUMBERED.finditer(text):
        i = int(m.group(1))
        if 1 <= i <= n and i not in found:
            found[i] = _value(m.group(2))
    if len(found) == n:
        return [found[i] for i in range(1, n + 1)]
    bare = [_value(m.group(1)) for m in _BARE.finditer(_LIST.sub(" ", text))]
    if n == 1 and bare:
        return bare[:1]
    if len(bare) == n:
        return bare
    if not text.strip():
        raise MalformedAnswer("empty answer")
    raise MalformedAnswer(f"expected {n} verdicts (a list such as [1, 0]), found {max(len(found), len(bare))}")
