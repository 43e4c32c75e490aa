"""The on-disk cache of vocabulary embeddings: a hit only for the same encoder (weights) and word list."""
import numpy as np

from saekit.analysis.naming.vocab_cache import MIN_WORDS, cached_vocab_embeddings


class CountingEncoder:
    def __init__(self, seed: int):
        self.seed, self.texts = seed, 0

    def __call__(self, words):
        self.texts += len(words)
        return np.stack([np.random.default_rng([self.seed, len(w), ord(w[0])]).normal(size=8) for w in words])


WORDS = [f"word{i}" for i in range(MIN_WORDS + 6)]


def test_second_run_reads_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SAEKIT_CACHE", str(tmp_path))
    enc = CountingEncoder(0)
    first = cached_vocab_embeddings(WORDS, "enc", enc)
    n_first = enc.texts
    again = cached_vocab_embeddings(WORDS, "enc", enc)
    assert np.array_equal(first, again)
    assert enc.texts == n_first + 1  # only the probe text was embedded
    assert len(list((tmp_path / "vocab_embeddings").glob("*.npy"))) == 1


def test_other_words_or_weights_miss(tmp_path, monkeypatch):
    monkeypatch.setenv("SAEKIT_CACHE", str(tmp_path))
    cached_vocab_embeddings(WORDS, "enc", CountingEncoder(0))
    other_weights = CountingEncoder(1)  # same name, different weights
    got = cached_vocab_embeddings(WORDS, "enc", other_weights)
    assert other_weights.texts == len(WORDS) + 1
    assert np.allclose(got, other_weights(WORDS))
    fewer = CountingEncoder(0)
    cached_vocab_embeddings(WORDS[:-1], "enc", fewer)
    assert fewer.texts == len(WORDS)  # probe + the 69 words


def test_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv("SAEKIT_CACHE", "none")
    enc = CountingEncoder(0)
    cached_vocab_embeddings(WORDS, "enc", enc)
    cached_vocab_embeddings(WORDS, "enc", enc)
    assert enc.texts == 2 * len(WORDS)
