"""The first-letter task's words and answers (SAEBench's absorption vocabulary).

A word is a vocabulary token that reads as ASCII letters, optionally after one leading space
(" cat", "house"); its class is its first letter.
"""
from __future__ import annotations

import string
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

LETTERS = string.ascii_lowercase
_ALPHA = frozenset(string.ascii_letters)


def token_text(token: str, tokenizer: PreTrainedTokenizerBase) -> str:
    """The token as text; sentencepiece's '▁' word marker becomes the leading space it stands for."""
    text = tokenizer.convert_tokens_to_string([token])
    if token.startswith("▁") and not text.startswith(" "):
        text = " " + text
    return text


def is_alpha_word(text: str) -> bool:
    core = text[1:] if text.startswith(" ") else text
    return bool(core) and all(c in _ALPHA for c in core)


def alpha_words(tokenizer: PreTrainedTokenizerBase) -> list[str]:
    """Every vocabulary token that is letters (optionally after one space), sorted, so the list does
    not depend on the tokenizer's dict order."""
    return sorted({t for t in (token_text(tok, tokenizer) for tok in tokenizer.get_vocab()) if is_alpha_word(t)})


def first_letter(word: str) -> str:
    """The word's first letter, lower case ("  Cat" -> "c")."""
    return next(c for c in word.strip() if c.isalpha()).lower()


def letter_index(word: str) -> int:
    return LETTERS.index(first_letter(word))


def sample_words(words: list[str], n: int | None, seed: int) -> list[str]:
    """A seeded subset of n words (all when n is None or the list is no longer), in list order."""
    if n is None or len(words) <= n:
        return list(words)
    keep = np.sort(np.random.default_rng(seed).choice(len(words), size=n, replace=False))
    return [words[i] for i in keep]
