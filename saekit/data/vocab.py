"""Naming vocabularies: a word list, one entry a line; the default one ships in saekit/data/vocab/."""
from __future__ import annotations

from pathlib import Path

from saekit.common.errors import SaekitError

DEFAULT_VOCAB = Path(__file__).resolve().parent / "vocab" / "default.txt"


def load_vocab(path: str | Path | None = None) -> list[str]:
    """Words of a vocabulary file (default: the shipped one): blank lines and `#` comments skipped,
    surrounding whitespace stripped, duplicates dropped keeping the first occurrence."""
    p = Path(path) if path is not None else DEFAULT_VOCAB
    if not p.is_file():
        raise SaekitError(f"vocabulary file {p} does not exist (expected a text file with one word or phrase a line)")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise SaekitError(f"vocabulary file {p} is not UTF-8 text (expected one word or phrase a line)") from exc
    words = list(dict.fromkeys(w for w in (line.strip() for line in lines) if w and not w.startswith("#")))
    if not words:
        raise SaekitError(f"vocabulary file {p} holds no words (expected one word or phrase a line)")
    return words
