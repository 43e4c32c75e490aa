"""Monosemanticity Score (MS) of SAE latents, after Pach et al. 2025, "Sparse Autoencoders Learn
Monosemantic Features in Vision-Language Models" (arXiv 2504.02821).

Definition (the paper's, in our notation). For latent k with activations a_n over N images,
min-max normalise over those images, ã_n = (a_n - min_m a_m) / (max_m a_m - min_m a_m); weight each
pair of distinct images by r_nm = ã_n ã_m; let s_nm = cos(e_n, e_m) be the cosine similarity of
an independent image embedding (the paper uses DINOv2; here any embedding: DINOv2 pooled features
or the aligned text-space embedding). Then

    MS_k = sum_{n<m} r_nm s_nm / sum_{n<m} r_nm.

O(N·d) form. With unit-norm e_n, sum_{n != m} ã_n ã_m cos(e_n, e_m) = ||sum_n ã_n e_n||^2 - sum_n ã_n^2,
and sum_{n != m} ã_n ã_m = (sum_n ã_n)^2 - sum_n ã_n^2; both halves of the n<m sums cancel, so

    MS_k = (||sum_n ã_n e_n||^2 - sum_n ã_n^2) / ((sum_n ã_n)^2 - sum_n ã_n^2).

MS is invariant to scaling a, so only the shift by min matters. Writing b = a - min, all needed
sums follow from running sums of a, a^2, a·e, e and the count, which makes a one-pass streaming
accumulator exact (``MonosemanticityAccumulator``). A latent whose weights are all zero (never
varies) or that weights fewer than two images gets NaN.

``monosemanticity_scores`` is what `saekit eval` and `saekit name` both report: the paper's score
(``ms``), saekit's centred variant (``ms_centred``: the same formula on the embeddings minus their
mean over the scored samples) and those samples' mean pair cosine, which a raw score is read against.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Union

import numpy as np

from saekit.common.errors import SaekitError

if TYPE_CHECKING:
    import torch

    #: activations or embeddings as numpy arrays or torch tensors (on any device)
    Array = Union[np.ndarray, torch.Tensor]


def _as_f64(x: Array) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _unit_rows(e: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(e, axis=1, keepdims=True)
    return e / np.maximum(n, 1e-12)


def _check(acts: np.ndarray, emb: np.ndarray) -> None:
    if acts.ndim != 2 or emb.ndim != 2 or acts.shape[0] != emb.shape[0]:
        raise SaekitError(
            f"monosemanticity needs activations [N, L] and embeddings [N, D] over the same N images, "
            f"got {acts.shape} and {emb.shape}")


def centred_embeddings(emb_ND: Array) -> np.ndarray:
    """Unit embeddings minus their mean over the given images (float64 [N, D]); the score's cosines are then
    those of the centred vectors, so a random pair of images scores about 0 instead of the common component's
    cosine (saekit's ``ms_centred`` variant; docs/evaluation.md: why it is reported beside the paper's)."""
    e = _unit_rows(_as_f64(emb_ND))
    return e - e.mean(axis=0, keepdims=True)


def mean_pair_cosine(emb_ND: Array) -> float:
    """The mean cosine of the embeddings over distinct pairs: the raw MS of a latent that weighs every pair alike."""
    e = _unit_rows(_as_f64(emb_ND))
    n = len(e)
    if n < 2:
        raise SaekitError("the mean pair cosine needs at least two embeddings")
    total = e.sum(0)
    return float((total @ total - n) / (n * (n - 1)))


@dataclass(frozen=True)
class MonosemanticityScores:
    """Both scores of every latent over one set of samples, and that set's mean pair cosine."""

    ms: np.ndarray            # [L] Pach et al.'s score: raw cosines of the independent embedding (NaN: undefined)
    ms_centred: np.ndarray    # [L] saekit's variant: cosines of the embeddings centred on the samples' mean
    mean_pair_cosine: float   # what ``ms`` of a latent weighing every pair alike comes to on these samples


def monosemanticity_scores(batches: Iterable[tuple[np.ndarray, Array]], emb_ND: Array, n_latents: int) -> MonosemanticityScores:
    """Pach et al.'s score and the centred variant of ``n_latents`` latents over the samples embedded by
    ``emb_ND`` [N, D]. ``batches`` yields (rows of ``emb_ND`` [B], the latents' activations there [B, L]),
    each sample at most once; the centring uses the mean over all N embeddings."""
    e = _unit_rows(_as_f64(emb_ND))
    centred = centred_embeddings(e)
    raw_acc = MonosemanticityAccumulator(n_latents, e.shape[1])
    centred_acc = MonosemanticityAccumulator(n_latents, e.shape[1])
    for rows, acts in batches:
        raw_acc.update(acts, e[rows])
        centred_acc.update(acts, centred[rows])
    return MonosemanticityScores(raw_acc.result(), centred_acc.result(), mean_pair_cosine(e))


def monosemanticity_score(acts_NL: Array, emb_ND: Array) -> np.ndarray:
    """MS for every latent (column) of ``acts_NL`` against image embeddings ``emb_ND``, in O(N·D·L).

    Returns float64 [L]; NaN where undefined (constant activations or fewer than two images).
    """
    a = _as_f64(acts_NL)
    e = _as_f64(emb_ND)
    _check(a, e)
    acc = MonosemanticityAccumulator(a.shape[1], e.shape[1])
    acc.update(a, e)
    return acc.result()


def monosemanticity_score_pairwise(acts_NL: Array, emb_ND: Array) -> np.ndarray:
    """The O(N^2) definition, literally: a reference for tests and small N."""
    a = _as_f64(acts_NL)
    e = _unit_rows(_as_f64(emb_ND))
    _check(a, e)
    N, L = a.shape
    S = e @ e.T
    iu = np.triu_indices(N, k=1)
    out = np.full(L, np.nan)
    for k in range(L):
        lo, hi = a[:, k].min(), a[:, k].max()
        if hi <= lo:
            continue
        t = (a[:, k] - lo) / (hi - lo)
        R = np.outer(t, t)
        den = R[iu].sum()
        if den > 0:
            out[k] = (R[iu] * S[iu]).sum() / den
    return out


class MonosemanticityAccumulator:
    """Exact streaming MS: feed (activations [B, L], embeddings [B, D]) batches of images, then
    ``result()``. Memory O(L·D), independent of the number of images."""

    def __init__(self, n_latents: int, d_emb: int):
        self.L, self.D = int(n_latents), int(d_emb)
        self.n = 0
        self.sum_a = np.zeros(self.L)
        self.sum_a2 = np.zeros(self.L)
        self.sum_ae = np.zeros((self.L, self.D))
        self.sum_e = np.zeros(self.D)
        self.min_a = np.full(self.L, np.inf)
        self.max_a = np.full(self.L, -np.inf)

    def update(self, acts_BL: Array, emb_BD: Array) -> None:
        a = _as_f64(acts_BL)
        e = _unit_rows(_as_f64(emb_BD))
        _check(a, e)
        if a.shape[1] != self.L or e.shape[1] != self.D:
            raise SaekitError(f"expected activations [B, {self.L}] and embeddings [B, {self.D}], "
                              f"got {a.shape} and {e.shape}")
        if not len(a):
            return
        self.n += len(a)
        self.sum_a += a.sum(0)
        self.sum_a2 += (a * a).sum(0)
        self.sum_ae += a.T @ e
        self.sum_e += e.sum(0)
        self.min_a = np.minimum(self.min_a, a.min(0))
        self.max_a = np.maximum(self.max_a, a.max(0))

    def result(self) -> np.ndarray:
        """MS per latent, float64 [L] (NaN where undefined)."""
        out = np.full(self.L, np.nan)
        if self.n < 2:
            return out
        m = self.min_a
        scale = self.max_a - m
        ok = scale > 0
        # b = a - m;  sums of b, b^2 and b·e from the raw running sums
        sb = self.sum_a - self.n * m
        sb2 = self.sum_a2 - 2 * m * self.sum_a + self.n * m * m
        sbe = self.sum_ae - m[:, None] * self.sum_e[None, :]
        # scale-invariant, but divide by the range anyway to keep magnitudes near 1
        s = np.where(ok, scale, 1.0)
        sb, sb2, sbe = sb / s, sb2 / (s * s), sbe / s[:, None]
        num = (sbe * sbe).sum(1) - sb2
        den = sb * sb - sb2
        good = ok & (den > 1e-12 * np.maximum(sb * sb, 1e-300))
        out[good] = num[good] / den[good]
        return out
