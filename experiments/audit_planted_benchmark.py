"""Planted ConceptScope benchmark: bias-discovery precision@10 (the paper's protocol) and more.

Ten shape classes; each class's images carry its own coloured corner stamp 90% of the time (5% leak
to other classes), a control stamp sits on half of all images regardless of class. The audit runs on
the training images; precision@10 is measured on a balanced test set where every class appears with
every class's stamp (10 images per pair). A second, uncorrelated control dataset (stamps independent
of class) must yield no stamp bias at all.

Prints one JSON line:
  precision_at_10          paper protocol: per class pair (s, c), best bias latent of c ranks class-s test
                           images; fraction of the top 10 carrying c's stamp; mean over pairs
  concept_precision_at_10  fraction of the 10 strongest dataset-level biases that are a planted stamp
  control_flagged          classes where the uncorrelated control stamp was flagged as a bias
  control_dataset_flagged  stamp biases flagged on the uncorrelated control dataset
  paper_rule_control_flagged  the same as control_flagged with the paper's validity and bias rules

Usage: python experiments/audit_planted_benchmark.py [--classes 10] [--per-class 128] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import logging
import time

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def run(n_classes: int, per_class: int, n_per_class: int, seed: int) -> dict:
    import concept_benchmark as cb  # the planted benchmark lives with the tests (tests/concept_benchmark.py)
    from saekit.analysis.conceptscope.config import ConceptScopeConfig
    from saekit.analysis.conceptscope.method import conceptscope

    t0 = time.perf_counter()
    train = cb.make_dataset(n_classes, per_class, seed=seed)
    test = cb.make_test_set(n_classes, per_cue=10, seed=seed + 1)
    control = cb.make_dataset(n_classes, per_class, seed=seed + 2, correlated=False)
    backend = cb.PlantedBackend(n_classes)
    lat = backend.latents
    cfg = ConceptScopeConfig(n_per_class=n_per_class, seed=seed, batch_size=256)

    t1 = time.perf_counter()
    result = conceptscope(backend, train, cfg, test_samples=test, classifier="logits")
    t_audit = time.perf_counter() - t1
    cue = np.array([s.cue for s in test])
    prec = cb.bias_discovery_precision(result.test_acts_ND, result.test_labels_N, cue, result.latents_of("bias"), k=10)
    biases = result.biases()
    ctrl = conceptscope(backend, control, cfg)
    paper = conceptscope(backend, train, ConceptScopeConfig(n_per_class=n_per_class, seed=seed, batch_size=256,
                                                            bias_rule="paper", validity="absolute"))

    def flagged(res, latents) -> int:
        return sum(1 for c in res.classes.values() for x in c.bias if x.latent in latents)

    cues = set(lat.cue.tolist())
    return {
        "benchmark": "conceptscope_planted",
        "n_classes": n_classes, "train_per_class": per_class, "n_per_class": n_per_class, "n_test": len(test),
        "precision_at_10": round(prec["precision"], 4), "precision_at_10_std": round(prec["std"], 4),
        "n_pairs": prec["n_pairs"],
        "concept_precision_at_10": cb.concept_precision(biases, result.class_names, lat, k=10),
        "cue_flagged_in_own_class": sum(1 for c, cls in enumerate(result.classes.values())
                                        if lat.cue[c] in {x.latent for x in cls.bias}),
        "n_biases": len(biases),
        "control_flagged": flagged(result, {lat.control}),
        "control_dataset_flagged": flagged(ctrl, cues | {lat.control}),
        "paper_rule_control_flagged": flagged(paper, {lat.control}),
        "noisy_filtered": lat.background in result.latents.noisy,
        "shortcut_classifier_accuracy": {g: v.accuracy for g, v in result.accuracy_by_group.items()},
        "audit_seconds": round(t_audit, 2), "total_seconds": round(time.perf_counter() - t0, 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--per-class", type=int, default=128, help="training images per class")
    p.add_argument("--n-per-class", type=int, default=128, help="images per class for the alignment scores")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(run(a.classes, a.per_class, a.n_per_class, a.seed)))


if __name__ == "__main__":
    main()
