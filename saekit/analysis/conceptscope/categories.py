"""ConceptScope's statistics on image-level latent activations: valid latents, per-class strengths,
and the target / context / bias split. Pure numpy, no model needed.

Definitions (Choi et al., NeurIPS 2025, and where saekit differs; see docs/conceptscope.md):
- image-level activation a[n, j] = mean over the image's tokens of latent j;
- noisy latents: fire (a > 0) on more than `noisy_freq` of the images of every class;
- valid latents, rule "relative" (default): active on more than `min_active_images` images, where
  active means a[n, j] > active_threshold (0.5) x the latent's own largest image-level activation
  over the audited images, so the rule means the same on any SAE's scale; rule "absolute" (the
  paper's): a[n, j] > active_threshold in the SAE's units;
- per class: the `top_k` (20) valid latents by class-mean activation (the paper's selection);
- split: z = (A - mean A) / std A within the class (population std); target if z >= alpha, else context;
- bias, rule "lift" (default): a context latent that is disproportionately active in the class
  compared with the other classes: lift = class mean / mean over the other classes' images
  >= min_lift (2) and class-vs-rest AUC of its image-level activation >= min_auc (0.7); rule
  "paper": class mean >= mean + sigma x std of the context latents' class means.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from saekit.common.errors import SaekitError

VALIDITY_RULES = ("relative", "absolute")
BIAS_RULES = ("lift", "paper")


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


def valid_latents(acts_ND: np.ndarray, noisy_D: np.ndarray, active_threshold: float, min_active_images: int,
                  rule: str = "relative") -> np.ndarray:
    """Indices of latents active on more than `min_active_images` images, noisy ones excluded.

    rule "relative": active = above active_threshold x the latent's own maximum (a dead latent is never
    active); "absolute": above active_threshold in the SAE's units (the paper's 0.5)."""
    acts_ND = np.asarray(acts_ND)
    if rule == "relative":
        peak_D = acts_ND.max(axis=0) if len(acts_ND) else np.zeros(acts_ND.shape[1])
        active = (acts_ND > active_threshold * peak_D) & (peak_D > 0)
    elif rule == "absolute":
        active = acts_ND > active_threshold
    else:
        raise SaekitError(f"validity rule must be one of {', '.join(VALIDITY_RULES)}, got {rule!r}")
    return np.flatnonzero((active.sum(axis=0) > min_active_images) & ~noisy_D)


def top_latents(class_mean_D: np.ndarray, valid: np.ndarray, k: int) -> np.ndarray:
    """The k valid latents with the largest class-mean activation, strongest first (ties: lower index)."""
    order = np.lexsort((valid, -class_mean_D[valid]))
    return valid[order[:k]]


def class_auc(acts_NK: np.ndarray, in_class_N: np.ndarray) -> np.ndarray:
    """[K] probability that a random image of the class has a larger image-level activation than a random
    image of the other classes (ties count half): 0.5 = no association, 1 = perfectly class-specific."""
    from scipy.stats import rankdata

    acts_NK = np.asarray(acts_NK, np.float64)
    pos = np.asarray(in_class_N, bool)
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0 or acts_NK.shape[1] == 0:
        return np.full(acts_NK.shape[1], 0.5)
    ranks = rankdata(acts_NK, axis=0)
    return (ranks[pos].sum(axis=0) - n1 * (n1 + 1) / 2) / (n1 * n0)


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
    bias_threshold: float  # rule "paper": mean + sigma * std of the context latents' class means; "lift": min_lift
    bias_strength_K: np.ndarray  # rule "lift": the class-vs-rest AUC; "paper": sigmas above the context mean
    lift_K: np.ndarray  # class mean / mean over the other classes
    auc_K: np.ndarray  # class-vs-rest AUC of the image-level activation


@dataclass(frozen=True)
class BiasRule:
    rule: str = "lift"
    min_lift: float = 2.0
    min_auc: float = 0.7
    sigma: float = 1.0

    def __post_init__(self) -> None:
        if self.rule not in BIAS_RULES:
            raise SaekitError(f"--bias-rule must be one of {', '.join(BIAS_RULES)}, got {self.rule!r}")


def split_concepts(alignment_K: np.ndarray, class_mean_K: np.ndarray, other_mean_K: np.ndarray, alpha: float,
                   bias: BiasRule = BiasRule(), auc_K: np.ndarray | None = None) -> Split:
    z = zscores(alignment_K)
    is_target = z >= alpha
    ctx = ~is_target
    class_mean_K = np.asarray(class_mean_K, np.float64)
    lift = class_mean_K / np.maximum(np.asarray(other_mean_K, np.float64), 1e-12)
    auc = np.full(len(class_mean_K), 0.5) if auc_K is None else np.asarray(auc_K, np.float64)
    if bias.rule == "lift":
        is_bias = ctx & (lift >= bias.min_lift) & (auc >= bias.min_auc)
        return Split(z, is_target, is_bias, float(bias.min_lift), auc.copy(), lift, auc)
    if ctx.any():
        mu, sd = class_mean_K[ctx].mean(), class_mean_K[ctx].std()
        threshold = float(mu + bias.sigma * sd)
        strength = (class_mean_K - mu) / sd if sd > 0 else np.zeros_like(class_mean_K)
    else:
        threshold, strength = float("inf"), np.zeros_like(class_mean_K)
    return Split(z, is_target, ctx & (class_mean_K >= threshold), threshold, strength, lift, auc)


def check_class_sizes(labels_N: np.ndarray, class_names: list[str], min_images: int, what: str = "dataset") -> None:
    counts = np.bincount(labels_N, minlength=len(class_names))
    for c, name in enumerate(class_names):
        if counts[c] < min_images:
            raise SaekitError(
                f"class {name!r} has {counts[c]} image(s) in the {what}; the audit needs at least {min_images} "
                f"per class (per-class mean and std of latent activations)")
