"""What the method returns: its findings already in the document's types (``AuditClass``,
``AuditConcept``, ``Subgroups``, ...; saekit.results.audit) plus the arrays the report and the
benchmarks read (image-level activations, class statistics, cached hook activations)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from saekit.analysis.conceptscope.categories import ClassStats
from saekit.analysis.conceptscope.config import ConceptScopeConfig
from saekit.analysis.conceptscope.samples import SampleId
from saekit.results.audit import AuditBias, AuditClass, AuditConcept, AuditLatents, GroupAccuracy, Subgroups


@dataclass
class ConceptScopeResult:
    config: ConceptScopeConfig
    class_names: list[str]
    classes: dict[str, AuditClass]  # class name -> its concepts, in class order
    latents: AuditLatents  # valid and noisy latents
    n_images: int  # audited images
    acts_ND: np.ndarray = field(repr=False)  # image-level activations of the audited images
    labels_N: np.ndarray = field(repr=False)  # their class indices
    sample_ids: list[SampleId] = field(repr=False)
    stats: ClassStats = field(repr=False)
    classifier: str = "none"
    subgroups: Subgroups | None = None
    accuracy_by_group: dict[str, GroupAccuracy] | None = None
    test_acts_ND: np.ndarray | None = field(default=None, repr=False)  # image-level activations of the test images
    test_labels_N: np.ndarray | None = field(default=None, repr=False)
    emb_Ne: np.ndarray | None = field(default=None, repr=False)  # text-space embeddings of the audited images
    patch_state: dict[int, torch.Tensor] = field(default_factory=dict, repr=False)  # row -> cached hook activations
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase
    n_forwarded: int = 0  # masked copies that went through the model
    n_masked: int = 0  # masked copies the method defines (2 x top_k x sampled images)

    def biases(self) -> tuple[AuditBias, ...]:
        """Dataset-level biases, strongest first."""
        rows = [AuditBias(cls=name, latent=x.latent, name=x.name, strength=x.bias_strength, lift=x.lift,
                          class_mean=x.class_mean, alignment=x.alignment, z=x.z, examples=x.examples, auc=x.auc)
                for name, c in self.classes.items() for x in c.bias]
        return tuple(sorted(rows, key=lambda r: (-r.strength, -r.lift, r.cls, r.latent)))

    def latents_of(self, kind: str) -> list[np.ndarray]:
        """Per class (by index) the latents of kind "target" or "bias"."""
        return [np.array([x.latent for x in (c.target if kind == "target" else c.bias)], dtype=int)
                for c in self.classes.values()]

    def example_rows(self, c: int, latent: int) -> np.ndarray:
        """Rows of the audited set that show `latent` best among class c's images (the report's examples)."""
        rows = np.flatnonzero(self.labels_N == c)
        return rows[np.argsort(-self.acts_ND[rows, latent], kind="stable")[:self.config.n_examples]]

    def with_concepts(self, change: Callable[[str, AuditConcept], AuditConcept]) -> ConceptScopeResult:
        """The same result with every concept of every class replaced by change(class name, concept)."""
        def fix(name: str, items: tuple[AuditConcept, ...]) -> tuple[AuditConcept, ...]:
            return tuple(change(name, x) for x in items)

        classes = {name: dataclasses.replace(c, target=fix(name, c.target), context=fix(name, c.context),
                                             bias=fix(name, c.bias)) for name, c in self.classes.items()}
        return dataclasses.replace(self, classes=classes)

    def renamed(self, names: dict[int, str]) -> ConceptScopeResult:
        """The same result with the concepts of the latents in `names` renamed."""
        return self.with_concepts(lambda _, x: dataclasses.replace(x, name=names[x.latent]) if x.latent in names else x)
