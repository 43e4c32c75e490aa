"""SAEBench's feature absorption from activations: probe, main latents, per-word scores, means.

Inputs: the activations of the training words' prompts, of the test words' prompts, and of the
test words in fresh prompts (SAEBench scores absorption on new prompts of the probe's test words).
  1. the letter probe: one-vs-rest on the training activations (probes.LETTER_PROBE);
  2. the letters' main latents by k-sparse probing (ksparse);
  3. per letter, the test words the probe recognises (logit > 0) are scored in their fresh prompts
     (scoring.word_absorption), and the letter's rates are means over them;
  4. the headline means run over letters whose probe F1 on the test words exceeds MIN_PROBE_F1; fewer
     than MIN_LETTERS such letters means the model does not represent first letters well enough.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from saekit.common.errors import SaekitError
from saekit.common.jsontypes import JSONObject
from saekit.eval.absorption.ksparse import MAX_K, F1_JUMP, fit_sparse_probes, letter_f1, letter_main_latents
from saekit.eval.absorption.probes import LETTER_PROBE, train_probe
from saekit.eval.absorption.scoring import mean_scores, word_absorption
from saekit.eval.absorption.vocab import LETTERS, letter_index
from saekit.sae import SAE

MIN_PROBE_F1 = 0.6
MIN_LETTERS = 20


@dataclass(frozen=True)
class AbsorptionSettings:
    max_k: int = MAX_K
    f1_jump: float = F1_JUMP
    min_probe_f1: float = MIN_PROBE_F1
    min_letters: int = MIN_LETTERS


def first_letter_absorption(x_train: np.ndarray, train_words: Sequence[str], x_test: np.ndarray,
                            test_words: Sequence[str], x_fresh: np.ndarray, sae: SAE, seed: int = 0,
                            settings: AbsorptionSettings = AbsorptionSettings()) -> JSONObject:
    """SAEBench's absorption scores; x_fresh [len(test_words), d] are the test words in fresh prompts."""
    if not (len(x_train) == len(train_words) and len(x_test) == len(test_words) == len(x_fresh)):
        raise SaekitError("feature absorption: activations and words differ in number")
    y_train = np.array([letter_index(w) for w in train_words])
    y_test = np.array([letter_index(w) for w in test_words])
    xtr, xte, xfr = (torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in (x_train, x_test, x_fresh))
    onehot = torch.nn.functional.one_hot(torch.from_numpy(y_train), num_classes=len(LETTERS))
    probe = train_probe(xtr, onehot, LETTER_PROBE, seed)

    def encode(x: torch.Tensor) -> torch.Tensor:
        return sae.encode(x.to(sae.device)).float().cpu()

    with torch.no_grad():
        sparse = fit_sparse_probes(xtr, y_train, encode, sae.cfg.d_sae, seed, settings.max_k)
        probe_scores = probe(xte).numpy()
        mains = letter_main_latents(sparse, encode(xte), y_test, settings.f1_jump)
        z_fresh = encode(xfr)
        W_dec = sae.W_dec.detach().float().cpu()
        per_letter = []
        for li, letter in enumerate(LETTERS):
            if li not in mains:
                continue
            main, f1_by_k = mains[li]
            f1_probe = letter_f1(y_test == li, probe_scores[:, li])
            recognised = np.flatnonzero((y_test == li) & (probe_scores[:, li] > 0))
            if len(recognised) == 0:
                continue
            direction = probe.weight[li] / probe.weight[li].norm()
            cos = torch.nn.functional.cosine_similarity(direction, W_dec, dim=-1).float()
            words = [word_absorption(xfr[i], z_fresh[i], direction, cos, main) for i in recognised]
            n = len(words)
            per_letter.append({
                "letter": letter, "f1_probe": f1_probe, "main_latents": main, "num_split_features": len(main),
                "sparse_f1": {str(k): v for k, v in f1_by_k.items()}, "num_probe_true_positives": n,
                "num_full_absorption": sum(w.full for w in words),
                "full_absorption_rate": sum(w.full for w in words) / n,
                "mean_absorption_fraction": sum(w.fraction for w in words) / n})
    scored = [p for p in per_letter if p["f1_probe"] > settings.min_probe_f1]
    if len(scored) < settings.min_letters:
        raise SaekitError(f"feature absorption: the letter probe reaches F1 > {settings.min_probe_f1} on "
                          f"{len(scored)} letters, fewer than the {settings.min_letters} needed (the model "
                          "does not represent first letters well enough at this hook)")
    return {**mean_scores(scored), "n_letters": len(scored), "n_train_words": len(train_words),
            "n_test_words": len(test_words), "probe_f1_mean": float(np.mean([p["f1_probe"] for p in per_letter])),
            "per_letter": per_letter}
