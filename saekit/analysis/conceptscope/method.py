"""ConceptScope dataset audit (Choi et al., NeurIPS 2025): which SAE concepts make up each class,
which of them are the class's own (target), which merely co-occur (context), and which of those
co-occur unusually strongly (bias); then robustness sub-groups of test images.

Pipeline (see categories.py for the statistics and docs/conceptscope.md for deviations):
1. image-level activation of every latent on every audited image (mean over the SAE's tokens);
2. noisy and valid latents; per class the top-k (20) valid latents by class-mean activation;
3. alignment of each of those with the class text, on `n_per_class` (128) sampled class images:
     sufficiency = mean_i s(concept-only_i) / s(original_i)
     necessity   = mean_i s(original_i) / s(concept-removed_i)
     A           = (sufficiency + necessity) / 2
   with s = similarity of the image's text-space embedding to the class-name embedding
   (masks.py builds the masked images; alignment.py embeds the 2 x k x n copies that need
   a forward, in batches shared across classes, and reuses the image-level pass for the originals);
4. target / context / bias split per class; a dataset-level list of biases, strongest first;
5. sub-groups (prototype / confounded / shortcut / ambiguous) of test images and, with a
   classifier, accuracy per group.

The model side is an `AuditBackend` (backend.py adapts a saekit model + SAE + text space;
tests/concept_benchmark.py has a planted one), so this module is plain orchestration.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from saekit.analysis.conceptscope import categories as cc
from saekit.analysis.conceptscope.alignment import Batcher, finish_class, image_pass, queue_class, resolve_similarity
from saekit.analysis.conceptscope.config import CLASSIFIERS, ConceptScopeConfig
from saekit.analysis.conceptscope.result import ConceptScopeResult
from saekit.analysis.conceptscope.samples import Samples, class_index, sample_class_rows, sample_meta
from saekit.common.errors import SaekitError
from saekit.results.audit import AuditClass, AuditConcept, AuditLatents

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)


class AuditBackend(Protocol):
    """What the audit needs from a model + SAE + text space. Pixels are float [B, 3, H, W] in [0, 1]
    at the model's input resolution. A backend may also offer ``encode_pass`` + ``maps_from_state``
    (one forward for activations and embeddings, maps from cached hook activations; alignment.py),
    ``logits`` (a class head) and ``text_space_kind`` ("model" or "fitted")."""

    d_sae: int

    def pixels(self, images: Sequence[Image]) -> torch.Tensor: ...

    def encode(self, pixels_B3HW: torch.Tensor, latents: np.ndarray | None = None
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(image-level activations [B, d_sae], patch maps of `latents` [B, K, gh, gw] or None)."""

    def embed(self, pixels_B3HW: torch.Tensor) -> torch.Tensor:
        """Unit-norm text-space embeddings [B, e] of the images."""

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Unit-norm text-space embeddings [T, e]."""

    def features(self, pixels_B3HW: torch.Tensor) -> torch.Tensor:
        """Pooled image features [B, f] (for a linear-probe classifier)."""


def conceptscope(backend: AuditBackend, samples: Samples, cfg: ConceptScopeConfig = ConceptScopeConfig(),
                 test_samples: Samples | None = None, classifier: str = "none",
                 names: dict[int, str] | Callable[[int], str] | None = None) -> ConceptScopeResult:
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

    result = ConceptScopeResult(cfg, class_names, {}, AuditLatents(int(len(valid)), tuple(np.flatnonzero(noisy).tolist())),
                                len(samples), acts, labels, ids, stats, classifier=classifier,
                                emb_Ne=ipass.emb_Ne.numpy(), patch_state=ipass.state, n_forwarded=batcher.n_forwarded,
                                n_masked=2 * sum(j.silent_nK.size for j in jobs))
    for c in range(C):
        top = tops[c]
        scores = finish_class(jobs[c], emb_all, emb_black, text_Ce[c].cpu(), kind, class_names[c])
        auc = cc.class_auc(acts[:, top], labels == c)
        split = cc.split_concepts(scores.alignment, stats.mean_CD[c, top], stats.other_mean_CD[c, top],
                                  cfg.alpha, cfg.bias, auc)
        target: list[AuditConcept] = []
        context: list[AuditConcept] = []
        for k, j in enumerate(top):
            con = AuditConcept(
                latent=int(j), name=name_of(int(j)), alignment=float(scores.alignment[k]), z=float(split.z_K[k]),
                class_mean=float(stats.mean_CD[c, j]), sufficiency=float(scores.sufficiency[k]),
                necessity=float(scores.necessity[k]), lift=float(split.lift_K[k]), auc=float(split.auc_K[k]),
                bias_strength=float(split.bias_strength_K[k]), bias=bool(split.is_bias_K[k]),
                example_sample_ids=tuple(ids[i] for i in result.example_rows(c, int(j))))
            (target if split.is_target_K[k] else context).append(con)
        threshold = split.bias_threshold if np.isfinite(split.bias_threshold) else None
        result.classes[class_names[c]] = AuditClass(
            int((labels == c).sum()), int(len(sampled[c])), float(scores.s_orig.mean()), threshold, tuple(target),
            tuple(context), tuple(x for x in context if x.bias), similarity=scores.similarity)

    t2 = time.perf_counter()
    if test_samples is not None:
        from saekit.analysis.conceptscope.robustness import robustness

        robustness(backend, result, samples, test_samples, sample_meta(test_samples, "test set"), classifier, text_Ce)
    elif classifier != "none":
        raise SaekitError("--classifier needs test images: pass --test-data or a --test-frac above 0")
    timings["subgroups"] = time.perf_counter() - t2
    result.timings = timings
    log.info("masked copies: %d of %d went through the model (the rest are silent latents)",
             result.n_forwarded, result.n_masked)
    return result
