"""In-context first-letter prompts, as SAEBench builds them.

A prompt is ten solved examples and the word, one per line, after a leading newline:

    \\n<ex1> has the first letter: E\\n ... \\n<ex10> has the first letter: T\\n<word> has the first letter:

The examples are a random sample of the example list that does not contain the word; the
activation is read at the word's (last) token, TOKEN_POS counted from the end.
"""
from __future__ import annotations

import random

from saekit.common.errors import SaekitError
from saekit.eval.absorption.vocab import first_letter

TEMPLATE = "{word} has the first letter:"
TOKEN_POS = -6  # the word's token: the template's tail " has the first letter:" is five tokens
N_EXAMPLES = 10
SEPARATOR = "\n"
TRAIN_FRACTION = 0.8
_MAX_ATTEMPTS = 1000


def answer(word: str) -> str:
    """' C' for 'cat': a space and the first letter in upper case."""
    return " " + first_letter(word).upper()


def icl_prompt(word: str, examples: list[str], rng: random.Random, n_examples: int = N_EXAMPLES,
               template: str = TEMPLATE) -> str:
    """The prompt for `word` with n_examples solved examples drawn from `examples` (never the word itself)."""
    if len(examples) < n_examples:
        raise SaekitError(f"feature absorption needs at least {n_examples} words for its in-context examples, "
                          f"got {len(examples)}")
    for _ in range(_MAX_ATTEMPTS):
        shown = rng.sample(examples, n_examples)
        if word not in shown:
            break
    else:
        raise SaekitError(f"feature absorption: no example set without {word!r} after {_MAX_ATTEMPTS} draws")
    lines = [template.format(word=ex) + answer(ex) for ex in shown]
    return SEPARATOR + SEPARATOR.join(lines) + SEPARATOR + template.format(word=word)


def split_words(words: list[str], rng: random.Random) -> tuple[list[str], list[str]]:
    """(train, test): the words shuffled by `rng`, the first TRAIN_FRACTION for training."""
    shuffled = rng.sample(words, len(words))
    cut = int(len(shuffled) * TRAIN_FRACTION)
    return shuffled[:cut], shuffled[cut:]
