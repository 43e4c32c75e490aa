"""ConceptScope dataset audit (Choi et al., NeurIPS 2025): which SAE concepts make up each class,
which of them are the class's own (target), which merely co-occur (context), and which of those
co-occur unusually strongly (bias); then robustness sub-groups of test images.

Pipeline (see concept_categories.py for the statistics and docs/conceptscope.md for deviations):
1. image-level activation of every latent on every audited image (mean over the SAE's tokens);
2. noisy and valid latents; per class the top-k (20) valid latents by class-mean activation;
3. alignment of each of those with the class text, on `n_per_class` (128) sampled class images:
     sufficiency = mean_i s(concept-only_i) / s(original_i)
     necessity   = mean_i s(original_i) / s(concept-removed_i)
     A           = (sufficiency + necessity) / 2
   with s = similarity of the image's text-space embedding to the class-name embedding
   (concept_masks.py builds the masked images; concept_alignment.py embeds the 2 x k x n copies that need
   a forward, in batches shared across classes, and reuses the image-level pass for the originals);
4. target / context / bias split per class; a dataset-level list of biases, strongest first;
5. sub-groups (prototype / confounded / shortcut / ambiguous) of test images and, with a
   classifier, accuracy per group.

The model side is an `AuditBackend` (concept_backend.py adapts a saekit model + SAE + text space;
tests/concept_benchmark.py has a planted one), so this module is plain orchestration.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from saekit.analysis import concept_categories as cc
from saekit.analysis.concept_alignment import Batcher, finish_class, image_pass, queue_class, resolve_similarity
from saekit.analysis.conceptscope_config import CLASSIFIERS, ConceptScopeConfig
from saekit.common.errors import SaekitError

log = logging.getLogger(__name__)


class AuditBackend(Protocol):
    """What the audit needs from a model + SAE + text space. Pixels are float [B, 3, H, W] in [0, 1]
    at the model's input resolution."""

    d_sae: int

    def pixels(self, images: Sequence[Any]) -> torch.Tensor: ...

    def encode(self, pixels_B3HW: torch.Tensor, latents: np.ndarray | None = None
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(image-level activations [B, d_sae], patch maps of `latents` [B, K, gh, gw] or None)."""

    def embed(self, pixels_B3HW: torch.Tensor) -> torch.Tensor:
        """Unit-norm text-space embeddings [B, e] of the images."""

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Unit-norm text-space embeddings [T, e]."""

    def features(self, pixels_B3HW: torch.Tensor) -> torch.Tensor:
        """Pooled image features [B, f] (for a linear-probe classifier)."""


@dataclass
class Concept:
    latent: int
    name: str
    alignment: float
    z: float
    class_mean: float
    sufficiency: float
    necessity: float
    lift: float
    auc: float
    bias_strength: float
    bias: bool
    example_sample_ids: list
    example_indices: list[int] = field(default_factory=list, repr=False)  # rows of the audited set
    examples: str | None = None  # png path relative to the output directory, set by the report writer

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("example_indices")
        return d


@dataclass
class ClassAudit:
    name: str
    n_images: int
    n_sampled: int
    text_similarity: float  # mean similarity of the sampled originals to the class text
    bias_threshold: float
    target: list[Concept]
    context: list[Concept]
    similarity: str = "shifted"  # the similarity the ratios used for this class

    @property
    def bias(self) -> list[Concept]:
        return [c for c in self.context if c.bias]


@dataclass
class AuditResult:
    config: ConceptScopeConfig
    class_names: list[str]
    classes: list[ClassAudit]
    n_images: int
    n_valid: int
    noisy: list[int]
    acts_ND: np.ndarray = field(repr=False)  # image-level activations of the audited images
    labels_N: np.ndarray = field(repr=False)
    sample_ids: list = field(repr=False)
    stats: cc.ClassStats = field(repr=False)
    subgroups: dict[str, Any] | None = None
    accuracy_by_group: dict[str, Any] | None = None
    classifier: str = "none"
    test_acts_ND: np.ndarray | None = field(default=None, repr=False)  # image-level activations of the test images
    test_labels_N: np.ndarray | None = field(default=None, repr=False)
    emb_Ne: np.ndarray | None = field(default=None, repr=False)  # text-space embeddings of the audited images
    patch_state: dict[int, Any] = field(default_factory=dict, repr=False)  # row -> cached hook activations (report)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase
    n_forwarded: int = 0  # masked copies that went through the model
    n_masked: int = 0  # masked copies the method defines (2 x top_k x sampled images)

    def biases(self) -> list[dict[str, Any]]:
        """Dataset-level biases, strongest first (strength = sigmas above the class's context mean)."""
        rows = []
        for c in self.classes:
            for con in c.bias:
                rows.append({"class": c.name, "latent": con.latent, "name": con.name,
                             "strength": con.bias_strength, "lift": con.lift, "auc": con.auc, "class_mean": con.class_mean,
                             "alignment": con.alignment, "z": con.z, "examples": con.examples})
        rows.sort(key=lambda r: (-r["strength"], -r["lift"], r["class"], r["latent"]))
        return rows

    def latents_of(self, kind: str) -> list[np.ndarray]:
        """Per class (by index) the latents of kind "target" or "bias"."""
        out = []
        for c in self.classes:
            items = c.target if kind == "target" else c.bias
            out.append(np.array([x.latent for x in items], dtype=int))
        return out


# ------------------------------------------------------------------------------------------- helpers
def class_index(labels: Sequence[Any]) -> tuple[list[str], np.ndarray]:
    """Sorted class names and each sample's class index."""
    names = sorted({str(x) for x in labels})
    lookup = {n: i for i, n in enumerate(names)}
    return names, np.array([lookup[str(x)] for x in labels], dtype=np.int64)


class SampleView(Sequence):
    """Index / slice access to a lazily decoded dataset (saekit.data.Dataset) restricted to `rows`,
    so the audit never holds every decoded image at once."""

    def __init__(self, dataset: Any, rows: Sequence[int] | None = None):
        self.dataset = dataset
        self.rows = list(range(len(dataset))) if rows is None else list(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self.dataset[r] for r in self.rows[i]]
        return self.dataset[self.rows[i]]


def sample_meta(samples: Sequence[Any], what: str) -> tuple[list[Any], list[str]]:
    """(ids, labels) in one pass, with the checks every path needs: non-empty, images, labels."""
    if len(samples) == 0:
        raise SaekitError(f"the {what} is empty; the audit needs labelled images (a folder with one sub-folder per class)")
    ids, labels, missing = [], [], []
    for i in range(len(samples)):
        s = samples[i]
        if i == 0 and getattr(s, "image", None) is None:
            raise SaekitError(f"the {what} has no images (sample {getattr(s, 'source', s.id)!r}); the audit needs an image dataset")
        ids.append(_jsonable(s.id))
        if getattr(s, "label", None) in (None, ""):
            missing.append(getattr(s, "source", s.id))
        labels.append(str(s.label))
    if missing:
        raise SaekitError(f"{len(missing)} image(s) of the {what} have no label (first: {missing[0]!r}); "
                          "the audit needs a class label per image (sub-folders = classes)")
    return ids, labels


def sample_class_rows(labels_N: np.ndarray, c: int, n: int, seed: int) -> np.ndarray:
    """The same `n` rows of class c for a given seed, whatever path asks (sorted)."""
    rows = np.flatnonzero(labels_N == c)
    if len(rows) <= n:
        return rows
    rng = np.random.default_rng([seed, c])
    return np.sort(rng.choice(rows, size=n, replace=False))


# ------------------------------------------------------------------------------------------ method
def conceptscope(backend: AuditBackend, samples: Sequence[Any], cfg: ConceptScopeConfig = ConceptScopeConfig(),
                 test_samples: Sequence[Any] | None = None, classifier: str = "none",
                 names: dict[int, str] | Callable[[int], str] | None = None) -> AuditResult:
    """Run ConceptScope on labelled `samples` (objects with .image, .label, .id).

    test_samples: images for the robustness sub-groups (their classes must be among the audited ones).
    classifier: "none", "probe" (logistic regression on backend.features of the audited images),
    "zero-shot" (nearest class text in the text space) or "logits" (backend.logits, classes in sorted order).
    names: latent -> name (a dict or a function); missing names read 'latent N'."""
    if classifier not in CLASSIFIERS:
        raise SaekitError(f"--classifier must be one of {', '.join(CLASSIFIERS)}, got {classifier!r}")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ids, raw_labels = sample_meta(samples, "dataset")
    class_names, labels = class_index(raw_labels)
    cc.check_class_sizes(labels, class_names, cfg.min_images_per_class)
    C = len(class_names)
    sampled = [sample_class_rows(labels, c, cfg.n_per_class, cfg.seed) for c in range(C)]
    keep = {int(r) for rows in sampled for r in rows}

    ipass = image_pass(backend, samples, cfg.batch_size, keep, cache_bytes=cfg.cache_mb << 20,
                       progress=lambda it: tqdm(it, desc="image-level activations", leave=False))
    acts = ipass.acts_ND
    timings["image_pass"] = time.perf_counter() - t0
    stats = cc.class_stats(acts, labels, C)
    noisy = cc.noisy_latents(stats, cfg.noisy_freq)
    valid = cc.valid_latents(acts, noisy, cfg.active_threshold, cfg.min_active_images, cfg.validity)
    log.info("%d images, %d classes, %d valid latents (%d noisy)", len(samples), C, len(valid), int(noisy.sum()))
    if len(valid) == 0:
        unit = "x its own maximum" if cfg.validity == "relative" else "(SAE units)"
        raise SaekitError(
            f"no valid latents: none is active (above {cfg.active_threshold} {unit}) on more than "
            f"{cfg.min_active_images} image(s), noisy ones excluded; lower --active-threshold or --min-active-images")

    def name_of(j: int) -> str:
        got = names(j) if callable(names) else (names or {}).get(int(j))
        return got or f"latent {j}"

    t1 = time.perf_counter()
    texts = [cfg.prompt.format(n.replace("_", " ")) for n in class_names]
    text_Ce = backend.encode_texts(texts)
    kind = resolve_similarity(cfg.similarity, backend)
    batcher = Batcher(backend.embed, cfg.mask_batch_size)
    chunk = max(1, cfg.batch_size // 2)
    tops, jobs = [], []
    for c in tqdm(range(C), desc="masked copies per class", leave=False):
        top = cc.top_latents(stats.mean_CD[c], valid, cfg.top_k)
        tops.append(top)
        jobs.append(queue_class(backend, batcher, [samples[int(i)].image for i in sampled[c]], sampled[c], top,
                                ipass, cfg.gamma_only, cfg.gamma_removed, chunk))
    emb_all = batcher.flush()
    px0 = backend.pixels([samples[int(sampled[0][0])].image])
    emb_black = backend.embed(torch.zeros_like(px0)).float().cpu()[0]
    timings["alignment"] = time.perf_counter() - t1

    classes: list[ClassAudit] = []
    for c in range(C):
        top = tops[c]
        scores = finish_class(jobs[c], emb_all, emb_black, text_Ce[c].cpu(), kind, class_names[c])
        class_rows = np.flatnonzero(labels == c)
        auc = cc.class_auc(acts[:, top], labels == c)
        split = cc.split_concepts(scores["alignment"], stats.mean_CD[c, top], stats.other_mean_CD[c, top],
                                  cfg.alpha, cfg.bias, auc)
        target, context = [], []
        for k, j in enumerate(top):
            ex = class_rows[np.argsort(-acts[class_rows, j], kind="stable")[:cfg.n_examples]]
            con = Concept(
                latent=int(j), name=name_of(int(j)), alignment=float(scores["alignment"][k]), z=float(split.z_K[k]),
                class_mean=float(stats.mean_CD[c, j]), sufficiency=float(scores["sufficiency"][k]),
                necessity=float(scores["necessity"][k]), lift=float(split.lift_K[k]), auc=float(split.auc_K[k]),
                bias_strength=float(split.bias_strength_K[k]), bias=bool(split.is_bias_K[k]),
                example_sample_ids=[ids[i] for i in ex], example_indices=[int(i) for i in ex])
            (target if split.is_target_K[k] else context).append(con)
        classes.append(ClassAudit(class_names[c], int(len(class_rows)), int(len(sampled[c])),
                                  float(scores["s_orig"].mean()), split.bias_threshold, target, context,
                                  similarity=scores["similarity"]))

    result = AuditResult(cfg, class_names, classes, len(samples), int(len(valid)), np.flatnonzero(noisy).tolist(),
                         acts, labels, ids, stats, classifier=classifier, emb_Ne=ipass.emb_Ne.numpy(),
                         n_forwarded=batcher.n_forwarded, n_masked=2 * sum(j.silent_nK.size for j in jobs),
                         patch_state=ipass.state)
    t2 = time.perf_counter()
    if test_samples is not None:
        from saekit.analysis.concept_robustness import robustness

        robustness(backend, result, samples, test_samples, sample_meta(test_samples, "test set"), classifier, text_Ce)
    elif classifier != "none":
        raise SaekitError("--classifier needs test images: pass --test-data or a --test-frac above 0")
    timings["subgroups"] = time.perf_counter() - t2
    result.timings = timings
    log.info("masked copies: %d of %d went through the model (the rest are silent latents)",
             result.n_forwarded, result.n_masked)
    return result


def _jsonable(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


def holdout_split(labels: Sequence[str], test_frac: float, seed: int) -> tuple[list[int], list[int]]:
    """Stratified split of row indices: `test_frac` of each class's images (at least one when a class has
    two or more and test_frac > 0) go to the test rows."""
    if not 0.0 <= test_frac < 1.0:
        raise SaekitError(f"--test-frac must be in [0, 1), got {test_frac}")
    n = len(labels)
    if test_frac == 0.0 or n == 0:
        return list(range(n)), []
    _, idx = class_index(labels)
    rng = np.random.default_rng(seed)
    test = np.zeros(n, bool)
    for c in np.unique(idx):
        rows = np.flatnonzero(idx == c)
        n_test = max(1, int(round(test_frac * len(rows)))) if len(rows) > 1 else 0
        test[rng.permutation(rows)[:n_test]] = True
    return np.flatnonzero(~test).tolist(), np.flatnonzero(test).tolist()
