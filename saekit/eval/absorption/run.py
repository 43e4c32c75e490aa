"""Feature absorption of a language-model SAE on its own model (SAEBench's first-letter task).

The words are the tokenizer's letter tokens (a seeded sample of n_words; SAEBench takes them all,
which is tens of thousands of forward passes). A seeded Python RNG shuffles them into 80% training
and 20% test words and draws every prompt's in-context examples: training prompts from the training
words, test prompts from the test words, and the fresh prompts SAEBench scores absorption on from all
words. Activations are read at the word's token of each prompt, at the SAE's hook.
"""
from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject
from saekit.eval.absorption.first_letter import first_letter_absorption
from saekit.eval.absorption.prompts import TEMPLATE, TOKEN_POS, icl_prompt, split_words
from saekit.eval.absorption.vocab import alpha_words, sample_words
from saekit.sae import SAE

if TYPE_CHECKING:
    from saekit.models.tl_lm import TLModel

N_WORDS = 2000


@torch.no_grad()
def prompt_activations(model: TLModel, hook: str, prompts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """Activations [n, d] at the word's token (TOKEN_POS from each prompt's end)."""
    right = getattr(model.tokenizer, "padding_side", "right") != "left"
    out = []
    for s in range(0, len(prompts), batch_size):
        inputs = model.tokenize(list(prompts[s : s + batch_size]))
        acts = model.capture(inputs, [hook])[hook]
        n_tok = inputs["attention_mask"].sum(1)
        pos = n_tok + TOKEN_POS if right else torch.full_like(n_tok, acts.shape[1] + TOKEN_POS)
        out.append(acts[torch.arange(acts.shape[0]), pos].float().cpu().numpy())
    return np.concatenate(out)


def _check_template(tokenizer: Any) -> None:
    tail = TEMPLATE.format(word="")
    n = len(tokenizer(tail, add_special_tokens=False)["input_ids"])
    if n != -TOKEN_POS - 1:
        raise SaekitError(f"feature absorption: this tokenizer splits {tail!r} into {n} tokens, not "
                          f"{-TOKEN_POS - 1}, so the word's token is not at position {TOKEN_POS}")


@dataclass(frozen=True)
class AbsorptionWords:
    """The task's words and their activations at the SAE's hook."""

    train: list[str]        # probe-training words
    test: list[str]         # probe-test words
    x_train: np.ndarray     # [len(train), d] activations of the training prompts
    x_test: np.ndarray      # [len(test), d] activations of the test prompts
    x_fresh: np.ndarray     # [len(test), d] activations of the fresh prompts absorption is scored on


@functools.lru_cache(maxsize=2)
def absorption_activations(model_spec: str, hook: str, device: str, n_words: int, seed: int) -> AbsorptionWords:
    """The words and their activations, cached: `saekit compare` scores several SAEs on the same ones."""
    from saekit.models import load_model

    model = load_model(model_spec, device)
    if getattr(model, "modality", "") != "text" or not hasattr(model, "tokenizer"):
        raise SaekitError(f"feature absorption is a language-model task; {model_spec} is not a language model")
    _check_template(model.tokenizer)
    words = sample_words(alpha_words(model.tokenizer), n_words, seed)
    if len(words) < 100:
        raise SaekitError(f"feature absorption: the tokenizer of {model_spec} has {len(words)} whole-word tokens, "
                          "too few for the first-letter task")
    rng = random.Random(seed)
    train, test = split_words(words, rng)
    prompts = ([icl_prompt(w, train, rng) for w in train] + [icl_prompt(w, test, rng) for w in test]
               + [icl_prompt(w, words, rng) for w in test])
    acts = prompt_activations(model, hook, prompts)
    a, b = len(train), len(train) + len(test)
    return AbsorptionWords(train=train, test=test, x_train=acts[:a], x_test=acts[a:b], x_fresh=acts[b:])


def feature_absorption(sae: SAE, model_spec: str | None, seed: int = 0, n_words: int = N_WORDS) -> JSONObject:
    """SAEBench's first-letter absorption of an LM SAE on its model (e.g. offline:smollm2-135m)."""
    if not model_spec:
        raise SaekitError("feature absorption needs the SAE's language model (--model, e.g. offline:smollm2-135m)")
    data = absorption_activations(model_spec, sae.cfg.hook, str(sae.device), n_words, seed)
    if data.x_train.shape[1] != sae.cfg.d_in:
        raise SaekitError(f"{model_spec} gives d={data.x_train.shape[1]} at {sae.cfg.hook!r} but the SAE expects "
                          f"{sae.cfg.d_in}")
    res = first_letter_absorption(data.x_train, data.train, data.x_test, data.test, data.x_fresh, sae, seed)
    return {"model": model_spec, "prompt": TEMPLATE, "n_words": len(data.train) + len(data.test), **res}
