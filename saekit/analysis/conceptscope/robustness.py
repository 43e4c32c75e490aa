"""ConceptScope's robustness step: image-level activations of test images, their sub-groups
(subgroups.py) under the audited class statistics, and a classifier's accuracy per sub-group
("probe": logistic regression on the model's pooled features of the audited images; "zero-shot":
nearest class text; "logits": the model's class head, classes in sorted order)."""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from saekit.analysis.conceptscope.alignment import batches, image_activations
from saekit.analysis.conceptscope.samples import SampleId, Samples
from saekit.analysis.conceptscope.subgroups import accuracy_by_group, assign_subgroups
from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    from saekit.analysis.conceptscope.config import ConceptScopeConfig
    from saekit.analysis.conceptscope.method import AuditBackend
    from saekit.analysis.conceptscope.result import ConceptScopeResult


@torch.no_grad()
def robustness(backend: AuditBackend, result: ConceptScopeResult, samples: Samples, test_samples: Samples,
               test_meta: tuple[list[SampleId], list[str]], classifier: str, text_Ce: torch.Tensor) -> None:
    """Fills result.subgroups, accuracy_by_group, test_acts_ND and test_labels_N (test_meta: sample_meta of
    the test images)."""
    cfg = result.config
    test_ids, test_labels = test_meta
    lookup = {n: i for i, n in enumerate(result.class_names)}
    unknown = sorted(set(test_labels) - set(lookup))
    if unknown:
        raise SaekitError(f"test classes {unknown} are not in the audited dataset (classes: {result.class_names})")
    labels_t = np.array([lookup[x] for x in test_labels])
    acts_t = image_activations(backend, test_samples, cfg.batch_size, desc="test activations")
    groups = assign_subgroups(acts_t, labels_t, result.stats.mean_CD, result.stats.std_CD,
                              result.latents_of("target"), result.latents_of("bias"),
                              clip=cfg.subgroup_clip, threshold=cfg.subgroup_threshold,
                              class_names=result.class_names, sample_ids=test_ids)
    preds = None if classifier == "none" else _predict(backend, classifier, samples, result.labels_N,
                                                        test_samples, text_Ce, cfg)
    if preds is not None:
        groups = dataclasses.replace(groups, images=tuple(
            dataclasses.replace(img, pred=result.class_names[int(p)]) for img, p in zip(groups.images, preds)))
    result.subgroups = groups
    result.accuracy_by_group = None if preds is None else accuracy_by_group(groups, labels_t, preds)
    result.test_acts_ND = acts_t
    result.test_labels_N = labels_t


def _stack(backend: AuditBackend, fn: Callable[[torch.Tensor], torch.Tensor], samples: Samples,
           batch_size: int) -> np.ndarray:
    parts = [fn(backend.pixels([s.image for s in samples[a:b]])).float().cpu().numpy()
             for a, b in batches(len(samples), batch_size)]
    return np.concatenate(parts)


def _predict(backend: AuditBackend, kind: str, samples: Samples, labels_N: np.ndarray,
             test_samples: Samples, text_Ce: torch.Tensor, cfg: ConceptScopeConfig) -> np.ndarray:
    if kind == "zero-shot":
        emb = _stack(backend, backend.embed, test_samples, cfg.batch_size)
        return (emb @ text_Ce.float().cpu().numpy().T).argmax(axis=1)
    if kind == "logits":
        fn = getattr(backend, "logits", None)
        if fn is None:
            raise SaekitError("--classifier logits needs a model with a classification head")
        logits = _stack(backend, fn, test_samples, cfg.batch_size)
        if logits.shape[1] != len(text_Ce):
            raise SaekitError(f"--classifier logits: the model gives {logits.shape[1]} class logits but the dataset "
                              f"has {len(text_Ce)} classes (expected one logit per class, in sorted class order)")
        return logits.argmax(axis=1)
    from sklearn.linear_model import LogisticRegression

    train_f = _stack(backend, backend.features, samples, cfg.batch_size)
    test_f = _stack(backend, backend.features, test_samples, cfg.batch_size)
    mu, sd = train_f.mean(axis=0), train_f.std(axis=0) + 1e-6
    probe = LogisticRegression(max_iter=2000, random_state=cfg.seed)
    probe.fit((train_f - mu) / sd, labels_N)
    return probe.predict((test_f - mu) / sd)
