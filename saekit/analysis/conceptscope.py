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
   (concept_masks.py builds the masked images; all 2 x k x n of them go through the model in batches);
4. target / context / bias split per class; a dataset-level list of biases, strongest first;
5. sub-groups (prototype / confounded / shortcut / ambiguous) of test images and, with a
   classifier, accuracy per group.

The model side is an `AuditBackend` (concept_backend.py adapts a saekit model + SAE + text space;
concept_benchmark.py has a planted one for tests), so this module is plain orchestration.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from saekit.analysis import concept_categories as cc
from saekit.analysis.concept_masks import concept_only, concept_removed, pixel_masks
from saekit.analysis.subgroups import GROUPS, accuracy_by_group, assign_subgroups
from saekit.errors import SaekitError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CLASSIFIERS = ("none", "probe", "zero-shot", "logits")


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


@dataclass(frozen=True)
class AuditConfig:
    alpha: float = 1.0  # target if z-score of the alignment within the class >= alpha
    sigma: float = 1.0  # bias if class mean >= mean + sigma * std of the context latents' means
    n_per_class: int = 128  # images sampled per class for the alignment scores
    top_k: int = 20  # latents per class, by class-mean activation
    active_threshold: float = 0.5  # a latent is active on an image when its image-level activation exceeds this
    min_active_images: int = 1  # valid: active on more than this many images
    noisy_freq: float = 0.9  # noisy: fires (> 0) on more than this fraction of the images of every class
    min_lift: float = 1.5  # bias must be this many times stronger in its class than elsewhere (0: paper's rule)
    gamma_only: float = 0.5
    gamma_removed: float = 0.001
    prompt: str = "{}"  # class text; "{}" is the class name with underscores as spaces (the paper's)
    min_images_per_class: int = 5
    n_examples: int = 4  # example images per concept in the report
    subgroup_clip: float = 3.0
    subgroup_threshold: float = 0.0
    batch_size: int = 32  # images per model forward
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_per_class < 1:
            raise SaekitError(f"--per-class must be >= 1, got {self.n_per_class}")
        if self.top_k < 1:
            raise SaekitError(f"--top-k must be >= 1, got {self.top_k}")
        if self.sigma < 0:
            raise SaekitError(f"--sigma must be >= 0, got {self.sigma}")
        if self.min_images_per_class < 2:
            raise SaekitError(f"min_images_per_class must be >= 2 (a std needs two images), got {self.min_images_per_class}")
        if self.batch_size < 1:
            raise SaekitError(f"--batch-size must be >= 1, got {self.batch_size}")
        if "{}" not in self.prompt:
            raise SaekitError(f"--prompt must contain '{{}}' where the class name goes, got {self.prompt!r}")


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

    @property
    def bias(self) -> list[Concept]:
        return [c for c in self.context if c.bias]


@dataclass
class AuditResult:
    config: AuditConfig
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

    def biases(self) -> list[dict[str, Any]]:
        """Dataset-level biases, strongest first (strength = sigmas above the class's context mean)."""
        rows = []
        for c in self.classes:
            for con in c.bias:
                rows.append({"class": c.name, "latent": con.latent, "name": con.name,
                             "strength": con.bias_strength, "lift": con.lift, "class_mean": con.class_mean,
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


def _batches(n: int, size: int):
    for start in range(0, n, size):
        yield start, min(n, start + size)


@torch.no_grad()
def image_activations(backend: AuditBackend, samples: Sequence[Any], batch_size: int, desc: str = "encoding") -> np.ndarray:
    """Image-level activations [N, d_sae] of every sample (float32)."""
    out = np.zeros((len(samples), backend.d_sae), np.float32)
    for a, b in tqdm(list(_batches(len(samples), batch_size)), desc=desc, leave=False):
        px = backend.pixels([s.image for s in samples[a:b]])
        acts, _ = backend.encode(px)
        if acts.shape[-1] != backend.d_sae:
            raise SaekitError(f"backend returned {acts.shape[-1]} latents, expected d_sae={backend.d_sae}")
        out[a:b] = acts.float().cpu().numpy()
    return out


def _sim(emb_Be: torch.Tensor, text_e: torch.Tensor) -> torch.Tensor:
    """Cosine similarity mapped to [0, 1], so ratios stay defined where cosines can be <= 0 (docs)."""
    return (1.0 + emb_Be.float() @ text_e.float()) / 2.0


@torch.no_grad()
def alignment_scores(backend: AuditBackend, images: Sequence[Any], latents_K: np.ndarray, text_e: torch.Tensor,
                     cfg: AuditConfig) -> dict[str, np.ndarray]:
    """Sufficiency, necessity and alignment [K] of each latent for one class's sampled images.

    Per image batch: one encode for the K patch maps, then 2 x K masked copies per image, embedded
    in chunks of cfg.batch_size."""
    K = len(latents_K)
    n = len(images)
    s_orig = np.zeros(n)
    s_only = np.zeros((n, K))
    s_rem = np.zeros((n, K))
    per_batch = max(1, cfg.batch_size // max(1, 2 * K))
    for a, b in _batches(n, per_batch):
        px_B3HW = backend.pixels(images[a:b])
        _, maps_BKgg = backend.encode(px_B3HW, latents_K)
        masks_BKHW = pixel_masks(maps_BKgg.to(px_B3HW.device), tuple(px_B3HW.shape[-2:]))
        only = concept_only(px_B3HW, masks_BKHW, cfg.gamma_only).flatten(0, 1)
        rem = concept_removed(px_B3HW, masks_BKHW, cfg.gamma_removed).flatten(0, 1)
        stacked = torch.cat([px_B3HW, only, rem], dim=0)
        sims = torch.cat([_sim(backend.embed(stacked[i:j]), text_e)
                          for i, j in _batches(len(stacked), cfg.batch_size)]).cpu().numpy()
        nb = b - a
        s_orig[a:b] = sims[:nb]
        s_only[a:b] = sims[nb:nb + nb * K].reshape(nb, K)
        s_rem[a:b] = sims[nb + nb * K:].reshape(nb, K)
    eps = 1e-8
    suff = (s_only / np.maximum(s_orig[:, None], eps)).mean(axis=0)
    nec = (s_orig[:, None] / np.maximum(s_rem, eps)).mean(axis=0)
    return {"sufficiency": suff, "necessity": nec, "alignment": (suff + nec) / 2.0,
            "s_orig": s_orig, "s_only": s_only.mean(axis=0), "s_removed": s_rem.mean(axis=0)}


def sample_class_rows(labels_N: np.ndarray, c: int, n: int, seed: int) -> np.ndarray:
    """The same `n` rows of class c for a given seed, whatever path asks (sorted)."""
    rows = np.flatnonzero(labels_N == c)
    if len(rows) <= n:
        return rows
    rng = np.random.default_rng([seed, c])
    return np.sort(rng.choice(rows, size=n, replace=False))


# --------------------------------------------------------------------------------------------- audit
def audit(backend: AuditBackend, samples: Sequence[Any], cfg: AuditConfig = AuditConfig(),
          test_samples: Sequence[Any] | None = None, classifier: str = "none",
          names: dict[int, str] | Callable[[int], str] | None = None) -> AuditResult:
    """Run ConceptScope on labelled `samples` (objects with .image, .label, .id).

    test_samples: images for the robustness sub-groups (their classes must be among the audited ones).
    classifier: "none", "probe" (logistic regression on backend.features of the audited images),
    "zero-shot" (nearest class text in the text space) or "logits" (backend.logits, classes in sorted order).
    names: latent -> name (a dict or a function); missing names read 'latent N'."""
    if classifier not in CLASSIFIERS:
        raise SaekitError(f"--classifier must be one of {', '.join(CLASSIFIERS)}, got {classifier!r}")
    ids, raw_labels = sample_meta(samples, "dataset")
    class_names, labels = class_index(raw_labels)
    cc.check_class_sizes(labels, class_names, cfg.min_images_per_class)
    C = len(class_names)

    acts = image_activations(backend, samples, cfg.batch_size, desc="image-level activations")
    stats = cc.class_stats(acts, labels, C)
    noisy = cc.noisy_latents(stats, cfg.noisy_freq)
    valid = cc.valid_latents(acts, noisy, cfg.active_threshold, cfg.min_active_images)
    log.info("%d images, %d classes, %d valid latents (%d noisy)", len(samples), C, len(valid), int(noisy.sum()))
    if len(valid) == 0:
        raise SaekitError(
            f"no valid latents: none has an image-level activation above {cfg.active_threshold} on more than "
            f"{cfg.min_active_images} image(s) (noisy ones excluded); lower --active-threshold for this SAE")

    def name_of(j: int) -> str:
        if callable(names):
            got = names(j)
        else:
            got = (names or {}).get(int(j))
        return got or f"latent {j}"

    texts = [cfg.prompt.format(n.replace("_", " ")) for n in class_names]
    text_Ce = backend.encode_texts(texts)
    classes: list[ClassAudit] = []
    for c in tqdm(range(C), desc="alignment per class", leave=False):
        top = cc.top_latents(stats.mean_CD[c], valid, cfg.top_k)
        rows = sample_class_rows(labels, c, cfg.n_per_class, cfg.seed)
        scores = alignment_scores(backend, [samples[i].image for i in rows], top, text_Ce[c], cfg)
        split = cc.split_concepts(scores["alignment"], stats.mean_CD[c, top], stats.other_mean_CD[c, top],
                                  cfg.alpha, cfg.sigma, cfg.min_lift)
        class_rows = np.flatnonzero(labels == c)
        target, context = [], []
        for k, j in enumerate(top):
            ex = class_rows[np.argsort(-acts[class_rows, j], kind="stable")[:cfg.n_examples]]
            con = Concept(
                latent=int(j), name=name_of(int(j)), alignment=float(scores["alignment"][k]), z=float(split.z_K[k]),
                class_mean=float(stats.mean_CD[c, j]), sufficiency=float(scores["sufficiency"][k]),
                necessity=float(scores["necessity"][k]), lift=float(split.lift_K[k]),
                bias_strength=float(split.bias_strength_K[k]), bias=bool(split.is_bias_K[k]),
                example_sample_ids=[ids[i] for i in ex], example_indices=[int(i) for i in ex])
            (target if split.is_target_K[k] else context).append(con)
        classes.append(ClassAudit(class_names[c], int(len(class_rows)), int(len(rows)),
                                  float(scores["s_orig"].mean()), split.bias_threshold, target, context))

    result = AuditResult(cfg, class_names, classes, len(samples), int(len(valid)), np.flatnonzero(noisy).tolist(),
                         acts, labels, ids, stats, classifier=classifier)
    if test_samples is not None:
        _robustness(backend, result, samples, test_samples, classifier, text_Ce)
    elif classifier != "none":
        raise SaekitError("--classifier needs test images: pass --test-data or a --test-frac above 0")
    return result


def _jsonable(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


@torch.no_grad()
def _robustness(backend: AuditBackend, result: AuditResult, samples: Sequence[Any], test_samples: Sequence[Any],
                classifier: str, text_Ce: torch.Tensor) -> None:
    cfg = result.config
    test_ids, test_labels = sample_meta(test_samples, "test set")
    lookup = {n: i for i, n in enumerate(result.class_names)}
    unknown = sorted(set(test_labels) - set(lookup))
    if unknown:
        raise SaekitError(f"test classes {unknown} are not in the audited dataset (classes: {result.class_names})")
    labels_t = np.array([lookup[x] for x in test_labels])
    acts_t = image_activations(backend, test_samples, cfg.batch_size, desc="test activations")
    groups = assign_subgroups(acts_t, labels_t, result.stats.mean_CD, result.stats.std_CD,
                              result.latents_of("target"), result.latents_of("bias"),
                              clip=cfg.subgroup_clip, threshold=cfg.subgroup_threshold)
    preds = None if classifier == "none" else _predict(backend, classifier, samples, result.labels_N,
                                                        test_samples, text_Ce, cfg)
    images = []
    for i in range(len(test_samples)):
        row = {"sample_id": test_ids[i], "label": result.class_names[labels_t[i]],
               "group": GROUPS[groups.group_N[i]], "z_target": float(groups.z_target_N[i]),
               "z_bias": float(groups.z_bias_N[i])}
        if preds is not None:
            row["pred"] = result.class_names[int(preds[i])]
        images.append(row)
    counts = {g: int((groups.group_N == k).sum()) for k, g in enumerate(GROUPS)}
    result.subgroups = {"threshold": cfg.subgroup_threshold, "clip": cfg.subgroup_clip, "counts": counts,
                        "images": images}
    result.accuracy_by_group = None if preds is None else accuracy_by_group(groups, labels_t, preds)
    result.test_acts_ND = acts_t
    result.test_labels_N = labels_t


def _stack(backend: AuditBackend, fn: Callable[[torch.Tensor], torch.Tensor], samples: Sequence[Any],
           batch_size: int) -> np.ndarray:
    parts = [fn(backend.pixels([s.image for s in samples[a:b]])).float().cpu().numpy()
             for a, b in _batches(len(samples), batch_size)]
    return np.concatenate(parts)


def _predict(backend: AuditBackend, kind: str, samples: Sequence[Any], labels_N: np.ndarray,
             test_samples: Sequence[Any], text_Ce: torch.Tensor, cfg: AuditConfig) -> np.ndarray:
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
