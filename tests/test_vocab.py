"""The shipped naming vocabulary and the vocabulary loader."""
from __future__ import annotations

import re

import pytest

from saekit.data.vocab import DEFAULT_VOCAB, load_vocab
from saekit.common.errors import SaekitError


def test_default_vocabulary_is_concrete_clean_and_deduplicated():
    words = load_vocab()
    assert 3000 <= len(words) <= 10000
    assert len(set(words)) == len(words)
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)?", w) and len(w) > 2 for w in words)
    vocab = set(words)
    # concrete nouns and colours a naming method needs, including clipart subjects
    for w in ("dog", "horse", "flag", "star", "car", "tree", "house", "guitar", "apple", "arrow", "red", "green",
              "penguin", "card", "flower", "computer"):
        assert w in vocab, w
    # proper nouns (capitalised in WordNet) and abstract nouns are left out
    for w in ("crete", "paris", "louis", "philosophy", "happiness"):
        assert w not in vocab, w
    assert DEFAULT_VOCAB.read_text(encoding="utf-8").startswith("# saekit default naming vocabulary")


def test_custom_vocabulary_skips_comments_blanks_and_duplicates(tmp_path):
    f = tmp_path / "v.txt"
    f.write_text("# my words\n\n  red fox \nbarn\nred fox\n# trailing\nowl\n", encoding="utf-8")
    assert load_vocab(f) == ["red fox", "barn", "owl"]
    assert load_vocab(str(f)) == ["red fox", "barn", "owl"]


def test_bad_vocabulary_files_raise_one_line_errors(tmp_path):
    with pytest.raises(SaekitError, match="does not exist"):
        load_vocab(tmp_path / "missing.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("# only a comment\n\n", encoding="utf-8")
    with pytest.raises(SaekitError, match="holds no words"):
        load_vocab(empty)
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(SaekitError, match="not UTF-8"):
        load_vocab(binary)
