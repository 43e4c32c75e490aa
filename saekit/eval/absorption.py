"""Feature absorption on the first-letter task (after SAEBench, Chanin et al. 2024), simplified.

Words: single vocabulary tokens that are a space plus 2+ ASCII letters (" cat"), a seeded sample.
Each is read in the prompt PROMPT at the word's token, at the SAE's hook. Then:
  1. a multinomial logistic probe on the raw activations predicts the first letter (train split);
     its weight row p_L is letter L's direction;
  2. letter L's main latent = the latent with the largest mean difference (letter L minus the
     rest) on the training words;
  3. on test words of L that the probe classifies correctly, a false negative is a word on which
     the main latent does not fire; it is *absorbed* when the active latent with the largest
     projection z_j <d_j, p̂_L> onto the letter direction has cosine(d_j, p̂_L) >= COS_MIN:
     another latent carries the letter information instead.
Per letter: absorption rate = absorbed / correctly-probed words, false-negative rate = misses /
correctly-probed words; the result averages over letters with at least MIN_WORDS test words.
Deviation from SAEBench: one main latent per letter (SAEBench grows a k-sparse set of main latents
while the F1 improves) and the largest-projection test instead of SAEBench's partial-absorption
fraction; both keep the definition's intent (the letter is linearly present, the SAE's letter
latent is silent, a different latent aligned with the letter fires) and make it cheap.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from saekit.errors import SaekitError
from saekit.sae import SAE

if TYPE_CHECKING:
    from saekit.models.tl_lm import TLModel

PROMPT = "Spell the word:{word}"
COS_MIN = 0.025
MIN_WORDS = 5
N_WORDS = 1500


def first_letter_words(tokenizer: Any, n: int = N_WORDS, seed: int = 0) -> list[str]:
    """A seeded sample of vocabulary tokens that decode to ' ' + 2 or more ASCII letters."""
    words = set()
    for tid in range(len(tokenizer)):
        s = tokenizer.decode([tid])
        if len(s) >= 3 and s[0] == " " and s[1:].isascii() and s[1:].isalpha():
            words.add(s)
    words_l = sorted(words)
    if len(words_l) > n:
        idx = np.random.default_rng(seed).choice(len(words_l), size=n, replace=False)
        words_l = [words_l[i] for i in sorted(idx)]
    return words_l


@torch.no_grad()
def word_activations(model: TLModel, hook: str, words: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Activations [n, d] at each word's (last) token in PROMPT."""
    tok = model.tokenizer
    out = []
    for s in range(0, len(words), batch_size):
        texts = [PROMPT.format(word=w) for w in words[s : s + batch_size]]
        inputs = model.tokenize(texts)
        acts = model.capture(inputs, [hook])[hook]
        att = inputs["attention_mask"]
        if getattr(tok, "padding_side", "right") == "left":
            last = torch.full((len(texts),), att.shape[1] - 1, device=att.device)
        else:
            last = att.sum(1) - 1
        out.append(acts[torch.arange(len(texts)), last].float().cpu().numpy())
    return np.concatenate(out)


def absorption_from_acts(acts: np.ndarray, letters: Sequence[str], sae: SAE, seed: int = 0) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    y = np.asarray(letters)
    keep_letters = [c for c, n in zip(*np.unique(y, return_counts=True)) if n >= 3 * MIN_WORDS]
    keep = np.isin(y, keep_letters)
    if len(keep_letters) < 2:
        raise SaekitError(f"feature absorption needs at least two first letters with {3 * MIN_WORDS}+ words")
    X, y = acts[keep].astype(np.float32), y[keep]
    tr, te = train_test_split(np.arange(len(y)), test_size=0.34, random_state=seed, stratify=y)
    probe = LogisticRegression(max_iter=2000, C=1.0).fit(X[tr], y[tr])
    pred = probe.predict(X[te])
    dirs = probe.coef_ / np.linalg.norm(probe.coef_, axis=1, keepdims=True)
    classes = list(probe.classes_)
    with torch.no_grad():
        Z = sae.encode(torch.from_numpy(X)).float().cpu().numpy()
        D = sae.W_dec.detach().float().cpu().numpy()
    D = D / np.maximum(np.linalg.norm(D, axis=1, keepdims=True), 1e-12)
    per_letter = []
    for ci, c in enumerate(classes):
        pos = y[tr] == c
        diff = Z[tr][pos].mean(0) - Z[tr][~pos].mean(0)
        main = int(np.argmax(diff))
        ok = te[(y[te] == c) & (pred == c)]
        if len(ok) < MIN_WORDS or diff[main] <= 0:
            continue
        cos = D @ dirs[ci]
        missed = ok[Z[ok, main] == 0]
        absorbed = 0
        for i in missed:
            proj = Z[i] * cos  # each latent's contribution along the letter direction
            j = int(np.argmax(proj))
            if Z[i, j] > 0 and j != main and cos[j] >= COS_MIN:
                absorbed += 1
        per_letter.append({"letter": str(c), "main_latent": main, "n_words": int(len(ok)),
                           "false_negative_rate": len(missed) / len(ok), "absorption_rate": absorbed / len(ok)})
    if not per_letter:
        raise SaekitError("feature absorption: no letter has a main latent and enough correctly probed test words")
    return {"n_words": int(len(y)), "n_letters": len(per_letter), "probe_accuracy": float((pred == y[te]).mean()),
            "absorption_rate": float(np.mean([p["absorption_rate"] for p in per_letter])),
            "false_negative_rate": float(np.mean([p["false_negative_rate"] for p in per_letter])),
            "per_letter": per_letter}


def feature_absorption(sae: SAE, model_spec: str | None, seed: int = 0, n_words: int = N_WORDS) -> dict[str, Any]:
    """The first-letter absorption of an LM SAE; the model (e.g. offline:smollm2-135m) must be the SAE's."""
    if not model_spec:
        raise SaekitError("feature absorption needs the SAE's language model (--model, e.g. offline:smollm2-135m)")
    words, acts = _word_acts(model_spec, sae.cfg.hook, str(sae.device), n_words, seed)
    if acts.shape[1] != sae.cfg.d_in:
        raise SaekitError(f"{model_spec} gives d={acts.shape[1]} at {sae.cfg.hook!r} but the SAE expects {sae.cfg.d_in}")
    res = absorption_from_acts(acts, [w[1].lower() for w in words], sae, seed)
    return {"model": model_spec, "prompt": PROMPT, **res}


@functools.lru_cache(maxsize=2)
def _word_acts(model_spec: str, hook: str, device: str, n_words: int, seed: int) -> tuple[list[str], np.ndarray]:
    """(words, activations), cached: `saekit compare` scores several SAEs of one model on the same words."""
    from saekit.models import load_model

    model = load_model(model_spec, device)
    if getattr(model, "modality", "") != "text" or not hasattr(model, "tokenizer"):
        raise SaekitError(f"feature absorption is a language-model task; {model_spec} is not a language model")
    words = first_letter_words(model.tokenizer, n_words, seed)
    if not words:
        raise SaekitError(f"feature absorption: the tokenizer of {model_spec} has no whole-word tokens")
    return words, word_activations(model, hook, words)
