"""Vocabulary embeddings cached on disk: embedding the default vocabulary (5,733 words) through a text
encoder takes minutes on a small CPU, and every `saekit name` / `saekit audit` run needs the same matrix.

The cache file is keyed by a fingerprint of (encoder, vocabulary): the encoder's name plus its embedding
of a fixed probe text (so two encoders that share a name but not their weights, e.g. two random CLIPs or
an updated model, never share an entry) and every word in order. A changed word list or encoder is a
miss, never a wrong hit. Files live in ``$SAEKIT_CACHE/vocab_embeddings/`` (default ``~/.cache/saekit``);
``SAEKIT_CACHE=none`` turns the cache off.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from saekit.common.atomic import atomic_file
from saekit.results.fingerprint import fingerprint as shared_fingerprint

log = logging.getLogger(__name__)

PROBE = "a photo of a cat sitting on a red chair"
MIN_WORDS = 64  # below this, embedding is cheaper than a file


def cache_dir() -> Path | None:
    root = os.environ.get("SAEKIT_CACHE", str(Path.home() / ".cache" / "saekit"))
    return None if root.lower() == "none" else Path(root) / "vocab_embeddings"


def fingerprint(encoder_name: str, probe_emb: np.ndarray, words: Sequence[str]) -> str:
    return shared_fingerprint(encoder_name, np.round(np.asarray(probe_emb, np.float64).ravel(), 3),
                              "\n".join(words), length=32)


def encoder_name(text_space: object, fallback: str) -> str:
    """What a text space embeds texts with: a fitted map's text encoder (the map itself only moves
    images), a CLIP space's model; ``fallback`` (a text encoder or model spec) without a text space."""
    spec = getattr(text_space, "text_encoder_spec", None) or getattr(text_space, "spec", None)
    return str(spec) if spec else fallback


def cached_vocab_embeddings(words: Sequence[str], encoder_name: str,
                            embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """``embed(words)`` as float32, read from the cache when this encoder embedded these words before."""
    words = list(words)
    root = cache_dir()
    if root is None or len(words) < MIN_WORDS:
        return np.asarray(embed(words), np.float32)
    path = root / f"{fingerprint(encoder_name, embed([PROBE]), words)}.npy"
    if path.is_file():
        emb = np.load(path)
        if emb.shape[0] == len(words):
            log.info("vocabulary embeddings from the cache %s", path)
            return emb
    emb = np.asarray(embed(words), np.float32)
    try:
        root.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as tmp:
            np.save(tmp, emb)
    except OSError as exc:  # a read-only home is no reason to fail the run
        log.warning("could not cache vocabulary embeddings in %s: %s", root, exc)
    return emb
