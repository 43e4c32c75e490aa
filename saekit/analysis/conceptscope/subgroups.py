"""ConceptScope's robustness sub-groups of test images, and accuracy per group.

For a test image of class y, with the audited (train) statistics mu_y, sd_y of each latent's
image-level activation in class y:
  z_target = max over y's target latents of clip((a - mu_y) / sd_y, -3, 3)   (0 when y has none)
  z_bias   = the same over y's bias latents
and with threshold t (0 in the paper):
  prototype  : z_target >  t and z_bias >  t   (the class as the dataset usually shows it)
  confounded : z_target >  t and z_bias <= t   (the class without its usual bias)
  shortcut   : z_target <= t and z_bias >  t   (the bias without the class's own evidence)
  ambiguous  : z_target <= t and z_bias <= t
The groups are the document's ``Subgroups`` (saekit.results.audit), one ``SubgroupImage`` per test image.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from saekit.analysis.conceptscope.samples import SampleId
from saekit.results.audit import GroupAccuracy, SubgroupImage, Subgroups

GROUPS = ("prototype", "confounded", "shortcut", "ambiguous")


def _max_clipped_z(acts_NK: np.ndarray, mean_K: np.ndarray, std_K: np.ndarray, clip: float) -> np.ndarray:
    if acts_NK.shape[1] == 0:
        return np.zeros(len(acts_NK))
    z = (acts_NK - mean_K) / (std_K + 1e-8)
    return np.clip(z, -clip, clip).max(axis=1)


def assign_subgroups(acts_ND: np.ndarray, labels_N: np.ndarray, mean_CD: np.ndarray, std_CD: np.ndarray,
                     target_latents: list[np.ndarray], bias_latents: list[np.ndarray],
                     clip: float = 3.0, threshold: float = 0.0, class_names: Sequence[str] | None = None,
                     sample_ids: Sequence[SampleId] | None = None) -> Subgroups:
    """Sub-group of every test image from its class's target and bias latents (lists indexed by class).
    class_names / sample_ids: what each image's row records (default: the class index, the row)."""
    acts_ND = np.asarray(acts_ND, np.float64)
    zt = np.zeros(len(acts_ND))
    zb = np.zeros(len(acts_ND))
    for c in range(len(target_latents)):
        rows = np.flatnonzero(labels_N == c)
        if len(rows) == 0:
            continue
        t, b = np.asarray(target_latents[c], int), np.asarray(bias_latents[c], int)
        zt[rows] = _max_clipped_z(acts_ND[np.ix_(rows, t)], mean_CD[c, t], std_CD[c, t], clip)
        zb[rows] = _max_clipped_z(acts_ND[np.ix_(rows, b)], mean_CD[c, b], std_CD[c, b], clip)
    hi_t, hi_b = zt > threshold, zb > threshold
    group = np.where(hi_t, np.where(hi_b, 0, 1), np.where(hi_b, 2, 3))
    images = tuple(SubgroupImage(sample_id=i if sample_ids is None else sample_ids[i],
                                 label=str(labels_N[i]) if class_names is None else class_names[int(labels_N[i])],
                                 group=GROUPS[group[i]], z_target=float(zt[i]), z_bias=float(zb[i]))
                   for i in range(len(acts_ND)))
    counts = {g: int((group == k).sum()) for k, g in enumerate(GROUPS)}
    return Subgroups(threshold=threshold, clip=clip, counts=counts, images=images)


def accuracy_by_group(groups: Subgroups, labels_N: np.ndarray, preds_N: np.ndarray) -> dict[str, GroupAccuracy]:
    """{group: (n, accuracy, None when empty)} plus "all"."""
    correct = np.asarray(preds_N) == np.asarray(labels_N)
    group_N = np.array([img.group for img in groups.images])
    out: dict[str, GroupAccuracy] = {}
    for name in GROUPS:
        sel = group_N == name
        n = int(sel.sum())
        out[name] = GroupAccuracy(n=n, accuracy=float(correct[sel].mean()) if n else None)
    out["all"] = GroupAccuracy(n=int(len(correct)), accuracy=float(correct.mean()) if len(correct) else None)
    return out
