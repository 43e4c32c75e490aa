"""Is (1 + cos) / 2 rank-preserving for ConceptScope's alignment ratios? A simulation with CLIP-like
cosines (originals 0.27 +- 0.03, concept-only and concept-removed copies 0.12-0.28 per latent, noise
0.04), 20 latents x 128 images per class, target = z >= 1: the fraction of latents whose
target/context label differs between raw cosines and (1 + cos) / 2. The transform is monotone for
each similarity but not for their ratios, which is why saekit uses raw cosines wherever the text
space allows them (docs/conceptscope.md).

Prints one JSON line. Usage: python experiments/bench/audit_similarity_transform.py [--classes 2000]
"""
from __future__ import annotations

import argparse
import json

import numpy as np


def alignment(f, s_orig_n: np.ndarray, only_nK: np.ndarray, rem_nK: np.ndarray) -> np.ndarray:
    a, b, c = f(s_orig_n)[:, None], f(only_nK), f(rem_nK)
    return ((b / a).mean(axis=0) + (a / c).mean(axis=0)) / 2


def targets(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    return (x - x.mean()) / x.std() >= alpha


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--classes", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    K, n = 20, 128
    switched = []
    for _ in range(args.classes):
        s_orig = rng.normal(0.27, 0.03, n)
        only = np.clip(rng.uniform(0.12, 0.28, K) + rng.normal(0, 0.04, (n, K)), 0.01, None)
        rem = np.clip(rng.uniform(0.18, 0.28, K) + rng.normal(0, 0.04, (n, K)), 0.01, None)
        raw = targets(alignment(lambda x: x, s_orig, only, rem))
        shifted = targets(alignment(lambda x: (1 + x) / 2, s_orig, only, rem))
        switched.append(int((raw != shifted).sum()))
    sw = np.array(switched)
    print(json.dumps({"benchmark": "audit_similarity_transform", "classes": args.classes, "latents_per_class": K,
                      "switched_fraction": round(float(sw.sum() / (K * len(sw))), 4),
                      "classes_with_a_switch": round(float((sw > 0).mean()), 4)}))


if __name__ == "__main__":
    main()
