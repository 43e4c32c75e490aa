"""Monosemanticity Score: O(N·d) form equals the O(N^2) definition; known answers."""
from __future__ import annotations

import numpy as np
import pytest

from saekit.analysis.monosemanticity.score import (
    MonosemanticityAccumulator,
    monosemanticity_score,
    monosemanticity_score_pairwise,
)
from saekit.common.errors import SaekitError


def test_linear_form_equals_pairwise_definition():
    rng = np.random.default_rng(0)
    N, L, D = 57, 9, 12
    acts = np.maximum(rng.normal(size=(N, L)), 0) * rng.uniform(0.5, 3, size=L)
    acts[:, 3] += 2.0  # min > 0: the min-max shift matters
    emb = rng.normal(size=(N, D)) * rng.uniform(0.1, 5, size=(N, 1))  # not unit-norm on purpose
    fast = monosemanticity_score(acts, emb)
    slow = monosemanticity_score_pairwise(acts, emb)
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12)


def test_streaming_equals_one_shot():
    rng = np.random.default_rng(1)
    acts = np.abs(rng.normal(size=(40, 5)))
    emb = rng.normal(size=(40, 7))
    acc = MonosemanticityAccumulator(5, 7)
    for s in range(0, 40, 6):
        acc.update(acts[s:s + 6], emb[s:s + 6])
    np.testing.assert_allclose(acc.result(), monosemanticity_score_pairwise(acts, emb), rtol=1e-9)


def test_known_answers():
    rng = np.random.default_rng(2)
    N, D = 60, 16
    concept = np.zeros(D)
    concept[0] = 1
    labels = np.arange(N) % 3 == 0
    emb = rng.normal(size=(N, D)) * 0.05
    emb[labels] += concept * 3  # images of one concept share a direction
    acts = np.zeros((N, 3))
    acts[labels, 0] = rng.uniform(1, 2, size=labels.sum())  # fires only on the concept
    acts[:, 1] = rng.uniform(0, 1, size=N)                   # fires on everything
    acts[:, 2] = 1.0                                         # constant: undefined
    ms = monosemanticity_score(acts, emb)
    assert ms[0] > 0.95
    assert ms[1] < 0.5
    assert np.isnan(ms[2])
    # identical embeddings give MS exactly 1 whatever the activations
    same = monosemanticity_score(acts[:, :2], np.ones((N, D)))
    np.testing.assert_allclose(same, 1.0)


def test_shape_mismatch_is_an_error():
    with pytest.raises(SaekitError, match="same N"):
        monosemanticity_score(np.zeros((4, 2)), np.zeros((5, 3)))


def test_centring_removes_the_common_component_that_makes_every_latent_score_alike():
    """Embeddings = a large shared direction + one direction per class (as clip-art under one encoder):
    with raw cosines a class latent and a latent firing at random both score near the shared cosine;
    centred, the random latent scores about 0 and the class latent stays high."""
    from saekit.analysis.monosemanticity.score import centred_embeddings

    rng = np.random.default_rng(0)
    N, C, D = 600, 6, 32
    cls = rng.integers(0, C, N)
    emb = 3.0 * np.eye(D)[0] + np.eye(D)[1 + cls] + 0.2 * rng.normal(size=(N, D))
    acts = np.stack([(cls == 2) * rng.uniform(0.5, 1.0, N), rng.uniform(0, 1, N) * (rng.random(N) < 0.2)], axis=1)
    raw = monosemanticity_score(acts, emb)
    cen = monosemanticity_score(acts, centred_embeddings(emb))
    assert raw[1] > 0.7 and raw[0] - raw[1] < 0.15  # blind: both near the shared cosine
    assert abs(cen[1]) < 0.05 and cen[0] > 0.3 and cen[0] - cen[1] > 4 * (raw[0] - raw[1])


def test_both_scores_from_batches_in_any_order_equal_the_definitions():
    """monosemanticity_scores (what eval and naming both call): Pach et al.'s score on raw cosines, the centred
    variant on embeddings centred over all N samples, and the mean pair cosine, fed in shuffled batches."""
    from saekit.analysis.monosemanticity.score import centred_embeddings, mean_pair_cosine, monosemanticity_scores

    rng = np.random.default_rng(3)
    N, L, D = 45, 6, 8
    acts = np.abs(rng.normal(size=(N, L)))
    emb = rng.normal(size=(N, D)) + 2.0  # a shared component: raw and centred differ
    perm = rng.permutation(N)
    scores = monosemanticity_scores(((perm[s:s + 7], acts[perm[s:s + 7]]) for s in range(0, N, 7)), emb, L)
    np.testing.assert_allclose(scores.ms, monosemanticity_score_pairwise(acts, emb), rtol=1e-9)
    np.testing.assert_allclose(scores.ms_centred, monosemanticity_score_pairwise(acts, centred_embeddings(emb)),
                               rtol=1e-9)
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    cos = e @ e.T
    assert scores.mean_pair_cosine == pytest.approx(cos[np.triu_indices(N, 1)].mean(), abs=1e-12)
    assert mean_pair_cosine(emb) == pytest.approx(scores.mean_pair_cosine, abs=1e-12)
    assert np.abs(scores.ms - scores.ms_centred).min() > 0.1
