"""ConceptScope's statistics on image-level latent activations: valid latents, per-class strengths,
and the target / context / bias split. Pure numpy, no model needed.

Definitions (Choi et al., NeurIPS 2025, and where saekit differs; see docs/conceptscope.md):
- image-level activation a[n, j] = mean over the image's tokens of latent j;
- noisy latents: fire (a > 0) on more than `noisy_freq` of the images of every class. The paper's
  code instead drops latents whose mean image-level activation when active exceeds 0.1, a
  threshold tied to its SAE's activation scale; "always on in every class" is scale-free;
- valid latents: not noisy and a > `active_threshold` (0.5) on more than `min_active_images` (1) images;
- per class: the `top_k` (20) valid latents by class-mean activation;
- split: z = (A - mean A) / std A within the class (population std, not variance); target if
  z >= alpha, else context; a context latent is bias if its class mean >= mean + sigma * std of the
  context latents' class means (the paper's rule) and, saekit's addition, it is over-represented in
  the class: class mean >= min_lift x its mean over the other classes' images (min_lift = 0 gives the
  paper's rule exactly).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from saekit.errors import SaekitError


@dataclass(frozen=True)
class ClassStats:
    """Per-class statistics of image-level activations: mean, std and firing frequency [C, d_sae]."""

    mean_CD: np.ndarray
    std_CD: np.ndarray
    freq_CD: np.ndarray  # fraction of the class's images with a > 0
    other_mean_CD: np.ndarray  # mean over the images of all other classes
    n_per_class: np.ndarray  # [C]


def class_stats(acts_ND: np.ndarray, labels_N: np.ndarray, n_classes: int) -> ClassStats:
    acts_ND = np.asarray(acts_ND, np.float64)
    D = acts_ND.shape[1]
    mean = np.zeros((n_classes, D))
    std = np.zeros((n_classes, D))
    freq = np.zeros((n_classes, D))
    other = np.zeros((n_classes, D))
    counts = np.bincount(labels_N, minlength=n_classes)
    total = acts_ND.sum(axis=0)
    for c in range(n_classes):
        rows = acts_ND[labels_N == c]
        mean[c] = rows.mean(axis=0)
        std[c] = rows.std(axis=0)
        freq[c] = (rows > 0).mean(axis=0)
        n_other = len(acts_ND) - len(rows)
        other[c] = (total - rows.sum(axis=0)) / n_other if n_other else 0.0
    return ClassStats(mean, std, freq, other, counts)


def noisy_latents(stats: ClassStats, noisy_freq: float) -> np.ndarray:
    """Bool [d_sae]: latents that fire on more than `noisy_freq` of the images of every class."""
    return (stats.freq_CD > noisy_freq).all(axis=0)


def valid_latents(acts_ND: np.ndarray, noisy_D: np.ndarray, active_threshold: float, min_active_images: int) -> np.ndarray:
    """Indices of latents active (> active_threshold) on more than `min_active_images` images, noisy ones excluded."""
    n_active = (np.asarray(acts_ND) > active_threshold).sum(axis=0)
    return np.flatnonzero((n_active > min_active_images) & ~noisy_D)


def top_latents(class_mean_D: np.ndarray, valid: np.ndarray, k: int) -> np.ndarray:
    """The k valid latents with the largest class-mean activation, strongest first (ties: lower index)."""
    order = np.lexsort((valid, -class_mean_D[valid]))
    return valid[order[:k]]


def zscores(x: np.ndarray) -> np.ndarray:
    """(x - mean) / std with the population std; all zeros when std is 0 (nothing stands out)."""
    x = np.asarray(x, np.float64)
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


@dataclass(frozen=True)
class Split:
    """The target / context / bias split of one class's top latents (indices into its top list)."""

    z_K: np.ndarray  # z-score of the alignment within the class
    is_target_K: np.ndarray
    is_bias_K: np.ndarray
    bias_threshold: float  # mean + sigma * std of the context latents' class means
    bias_strength_K: np.ndarray  # (class mean - context mean) / context std (0 when std is 0)
    lift_K: np.ndarray  # class mean / mean over the other classes


def split_concepts(alignment_K: np.ndarray, class_mean_K: np.ndarray, other_mean_K: np.ndarray,
                   alpha: float, sigma: float, min_lift: float) -> Split:
    z = zscores(alignment_K)
    is_target = z >= alpha
    ctx = ~is_target
    class_mean_K = np.asarray(class_mean_K, np.float64)
    lift = class_mean_K / np.maximum(np.asarray(other_mean_K, np.float64), 1e-12)
    if ctx.any():
        mu, sd = class_mean_K[ctx].mean(), class_mean_K[ctx].std()
        threshold = float(mu + sigma * sd)
        strength = (class_mean_K - mu) / sd if sd > 0 else np.zeros_like(class_mean_K)
    else:
        threshold, strength = float("inf"), np.zeros_like(class_mean_K)
    is_bias = ctx & (class_mean_K >= threshold) & (lift >= min_lift)
    return Split(z, is_target, is_bias, threshold, strength, lift)


def check_class_sizes(labels_N: np.ndarray, class_names: list[str], min_images: int, what: str = "dataset") -> None:
    counts = np.bincount(labels_N, minlength=len(class_names))
    for c, name in enumerate(class_names):
        if counts[c] < min_images:
            raise SaekitError(
                f"class {name!r} has {counts[c]} image(s) in the {what}; the audit needs at least {min_images} "
                f"per class (per-class mean and std of latent activations)")
