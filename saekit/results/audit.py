"""AuditDocument: audit.json, written by `saekit audit` (ConceptScope, saekit.analysis.conceptscope).

Per class: target, context and bias concepts (SAE latents) with their alignment statistics; the
dataset-level biases strongest first; optionally robustness sub-groups of held-out test images and a
classifier's accuracy per sub-group.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from saekit.results.document import Document
from saekit.results.refs import SaeRef

SampleId = int | str


@dataclass(frozen=True)
class AuditConcept:
    latent: int                       # latent index
    name: str                         # its name (names.json, vocabulary, or "latent N")
    alignment: float                  # (sufficiency + necessity) / 2
    z: float                          # alignment's z-score within the class
    class_mean: float                 # mean activation on the class's images
    sufficiency: float                # ConceptScope sufficiency of the latent for the class
    necessity: float                  # ConceptScope necessity of the latent for the class
    lift: float                       # class mean / mean over the other classes
    bias_strength: float              # bias rule lift: class-vs-rest AUC; rule paper: sigmas above the context mean
    bias: bool                        # a bias concept of this class
    example_sample_ids: tuple[SampleId, ...]  # dataset sample ids of the example images
    examples: str | None = None       # PNG strip path relative to the audit directory
    auc: float = 0.5                  # class-vs-rest AUC of the latent's image-level activation


@dataclass(frozen=True)
class AuditClass:
    n_images: int                     # the class's audited images
    n_sampled: int                    # of them sampled for the alignment scores
    text_similarity: float            # mean similarity of the sampled images to the class text
    bias_threshold: float | None      # class-mean threshold for a bias concept (None: no context concepts)
    target: tuple[AuditConcept, ...]  # concepts that define the class
    context: tuple[AuditConcept, ...]  # concepts that co-occur with it (bias concepts included)
    bias: tuple[AuditConcept, ...]    # the context concepts flagged as biases
    similarity: str = "shifted"       # image-text similarity the ratios used: cosine or shifted ((1 + cos) / 2)


@dataclass(frozen=True)
class AuditBias:
    cls: str = field(metadata={"key": "class"})  # the class (key "class" in the file)
    latent: int                       # latent index
    name: str                         # its name
    strength: float                   # bias rule lift: class-vs-rest AUC; rule paper: sigmas above the context mean
    lift: float                       # class mean / mean over the other classes
    class_mean: float                 # mean activation on the class's images
    alignment: float                  # (sufficiency + necessity) / 2
    z: float                          # alignment's z-score within the class
    examples: str | None = None       # PNG strip path relative to the audit directory
    auc: float = 0.5                  # class-vs-rest AUC of the latent's image-level activation


@dataclass(frozen=True)
class SubgroupImage:
    sample_id: SampleId               # test-set sample id
    label: str                        # its class
    group: str                        # prototype, confounded, shortcut or ambiguous
    z_target: float                   # strongest clipped z of the class's target concepts
    z_bias: float                     # strongest clipped z of the class's bias concepts
    pred: str | None = None           # the classifier's prediction (when one ran)


@dataclass(frozen=True)
class Subgroups:
    threshold: float                  # z above which a concept counts as present
    clip: float                       # z-scores are clipped to +-clip
    counts: dict[str, int]            # group -> number of test images
    images: tuple[SubgroupImage, ...]  # one per test image


@dataclass(frozen=True)
class GroupAccuracy:
    n: int                            # test images in the group
    accuracy: float | None            # None when the group is empty


@dataclass(frozen=True)
class ModelRef:
    id: str                           # model spec
    revision: str = ""                 # model revision


@dataclass(frozen=True)
class AuditDataset:
    spec: str = ""                     # the load_dataset spec
    fingerprint: str | None = None    # results.fingerprint.dataset_fingerprint of (id, label)
    n_total: int | None = None        # samples in the dataset
    held_out: int | None = None       # of them held out as test images
    n_images: int = 0                 # images audited
    classes: tuple[str, ...] = ()     # class names, sorted


@dataclass(frozen=True)
class AuditTest:
    spec: str                         # the test set: a dataset spec or the held-out fraction
    n_images: int                     # test images


@dataclass(frozen=True)
class AuditLatents:
    n_valid: int                      # latents active on enough images
    noisy: tuple[int, ...]            # always-on latents filtered out


@dataclass(frozen=True)
class AuditDocument(Document, kind="audit", filename="audit.json", version=2,  # 2: validity / bias rules, auc,
                    command="audit", what="ConceptScope audit"):               # per-class similarity, timings
    UPGRADES: ClassVar[dict] = {1: lambda data: data}  # the fields version 2 added have defaults

    sae: SaeRef                       # the SAE audited with
    model: ModelRef                   # the model whose activations it reads
    dataset: AuditDataset             # the audited dataset
    test: AuditTest | None            # the test images of the robustness analysis
    text_space: dict[str, Any] | None  # the text space's description
    names: str | None                 # where concept names came from
    params: dict[str, Any]            # the AuditConfig used
    latents: AuditLatents             # which latents took part
    classes: dict[str, AuditClass]    # class name -> its concepts
    biases: tuple[AuditBias, ...]     # strongest first
    classifier: str = "none"          # none, probe, zero-shot or logits
    subgroups: Subgroups | None = None  # robustness sub-groups of the test images
    accuracy_by_group: dict[str, GroupAccuracy] | None = None  # group (and "all") -> accuracy
    timings_s: dict[str, float] | None = None  # seconds per phase of the audit
    masked_copies: dict[str, int] | None = None  # defined (2 x top_k x sampled images) and forwarded
