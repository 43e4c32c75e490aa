"""ConceptScope core: masks, statistics, and known answers on the planted benchmark."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import concept_benchmark as cb
from saekit.analysis.conceptscope import categories as cc
from saekit.analysis.conceptscope.config import ConceptScopeConfig
from saekit.analysis.conceptscope.masks import concept_only, concept_removed, pixel_masks
from saekit.analysis.conceptscope.method import conceptscope
from saekit.analysis.conceptscope.samples import holdout_split, sample_class_rows
from saekit.analysis.conceptscope.subgroups import assign_subgroups
from saekit.common.errors import SaekitError

C = 4


# ----------------------------------------------------------------------------------------- masks
def test_masks_keep_and_remove_the_active_patch():
    px = torch.rand(1, 3, 8, 8) * 0.5 + 0.25
    maps = torch.zeros(1, 2, 2, 2)
    maps[0, 0, 0, 0] = 3.0  # latent 0 fires on the top-left patch; latent 1 is silent
    m = pixel_masks(maps, (8, 8))
    assert m.shape == (1, 2, 8, 8)
    assert m[0, 0].max() == pytest.approx(1.0) and m[0, 0, 0, 0] == pytest.approx(1.0)
    assert m[0, 0, 7, 7] == 0.0 and m[0, 1].abs().max() == 0.0
    only, removed = concept_only(px, m, 0.5), concept_removed(px, m, 0.001)
    assert only.shape == removed.shape == (1, 2, 3, 8, 8)
    # concept-only keeps the concept's pixels and blacks out the rest
    assert torch.allclose(only[0, 0, :, 0, 0], px[0, :, 0, 0]) and only[0, 0, :, 7, 7].abs().max() == 0
    # concept-removed blacks out the whole footprint (m ** 0.001 ~ 1 wherever m > 0) and keeps the rest
    assert removed[0, 0, :, :3, :3].abs().max() < 0.02 and torch.allclose(removed[0, 0, :, 7, 7], px[0, :, 7, 7])
    # a silent latent: nothing is concept, so concept-only is black and concept-removed is the image
    assert only[0, 1].abs().max() == 0 and torch.allclose(removed[0, 1], px[0])


# ------------------------------------------------------------------------------------ statistics
def test_split_uses_std_not_variance():
    paper = cc.BiasRule("paper", sigma=1.0)
    # alignment z of the outlier: (6 - 1.5) / std(2.598) = 1.73 >= 1 (with the variance 6.75 it would be 0.67)
    align = np.array([6.0, 0.0, 0.0, 0.0])
    s = cc.split_concepts(align, np.ones(4), np.ones(4), alpha=1.0, bias=paper)
    assert s.is_target_K.tolist() == [True, False, False, False]
    assert s.z_K[0] == pytest.approx(4.5 / np.std([6, 0, 0, 0]))
    # the paper's bias rule among context means [0, 0, 0, 6]: threshold mean + std = 1.5 + 2.598
    align = np.array([9.0, 0, 0, 0, 0, 0, 0, 0])
    means = np.array([1.0, 0.0, 0.0, 0.0, 6.0, 0.0, 0.0, 0.0])
    s = cc.split_concepts(align, means, np.full(8, 0.1), alpha=1.0, bias=paper)
    ctx = means[1:]
    assert s.bias_threshold == pytest.approx(ctx.mean() + ctx.std())
    assert np.flatnonzero(s.is_bias_K).tolist() == [4]
    # the paper's rule flags the same concept even when it is equally strong in every class
    assert cc.split_concepts(align, means, means, alpha=1.0, bias=paper).is_bias_K[4]


def test_lift_rule_flags_the_class_specific_context_not_the_strong_generic_one():
    """Known answer: a generic latent 4x stronger than a cue latent but equally active elsewhere (lift 1)
    sets the paper's threshold and hides the cue; the lift rule reports the cue only."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 40)
    in_c = labels == 0
    acts = np.zeros((120, 3))
    acts[:, 0] = 4.0 + rng.random(120)  # generic: strong everywhere
    cue = np.where(in_c, rng.random(120) < 0.85, rng.random(120) < 0.06)
    acts[:, 1] = cue * (1.0 + 0.1 * rng.random(120))  # the cue: weak but class-specific
    acts[:, 2] = 0.5 * (rng.random(120) < 0.5)  # control: independent of class
    stats = cc.class_stats(acts, labels, 3)
    auc = cc.class_auc(acts, in_c)
    assert auc[0] == pytest.approx(0.5, abs=0.15) and auc[1] > 0.85 and abs(auc[2] - 0.5) < 0.15
    align = np.array([0.0, 0.0, 0.0])  # all context
    lift = cc.split_concepts(align, stats.mean_CD[0], stats.other_mean_CD[0], alpha=1.0, auc_K=auc)
    assert lift.is_bias_K.tolist() == [False, True, False]
    assert lift.lift_K[1] > 5 and lift.bias_strength_K[1] == pytest.approx(auc[1])
    paper = cc.split_concepts(align, stats.mean_CD[0], stats.other_mean_CD[0], alpha=1.0,
                              bias=cc.BiasRule("paper"), auc_K=auc)
    assert paper.is_bias_K.tolist() == [True, False, False]


def test_class_auc_known_values():
    x = np.array([[3.0], [2.0], [1.0], [0.0]])
    assert cc.class_auc(x, np.array([1, 1, 0, 0], bool))[0] == 1.0
    assert cc.class_auc(x, np.array([0, 0, 1, 1], bool))[0] == 0.0
    assert cc.class_auc(np.ones((4, 1)), np.array([1, 0, 1, 0], bool))[0] == 0.5  # ties count half


def test_valid_and_noisy_latents():
    labels = np.array([0] * 5 + [1] * 5)
    acts = np.zeros((10, 4))
    acts[:, 0] = 0.1  # fires everywhere, weakly: noisy
    acts[:2, 1] = 1.0  # active on two images: valid
    acts[3, 2] = 1.0  # active on one image only: not valid
    acts[:, 3] = np.where(labels == 0, 2.0, 0.0)  # class-specific
    stats = cc.class_stats(acts, labels, 2)
    noisy = cc.noisy_latents(stats, 0.9)
    assert noisy.tolist() == [True, False, False, False]
    assert cc.valid_latents(acts, noisy, 0.5, 1, rule="absolute").tolist() == [1, 3]
    assert cc.valid_latents(acts, noisy, 0.5, 1).tolist() == [1, 3]
    assert cc.top_latents(stats.mean_CD[0], np.array([1, 3]), 1).tolist() == [3]


def test_relative_validity_is_scale_free():
    """An SAE whose image-level activations are 100x smaller (as on SAEs trained here) keeps the same valid
    latents under the relative rule; the paper's absolute 0.5 leaves none."""
    rng = np.random.default_rng(1)
    acts = rng.random((30, 6)) * (rng.random((30, 6)) < 0.3)
    acts[:, 5] = 0.0
    acts[0, 5] = 1.0  # fires on one image only: never valid
    noisy = np.zeros(6, bool)
    big = cc.valid_latents(acts, noisy, 0.5, 1)
    assert cc.valid_latents(acts * 0.01, noisy, 0.5, 1).tolist() == big.tolist()
    assert 5 not in big.tolist() and len(big) == 5
    assert len(cc.valid_latents(acts * 0.01, noisy, 0.5, 1, rule="absolute")) == 0


def test_subgroups_follow_clipped_zscores():
    mean = np.array([[1.0, 1.0]])
    std = np.array([[1.0, 1.0]])
    acts = np.array([[3.0, 3.0], [3.0, 0.0], [0.0, 9.0], [0.0, 0.0]])  # latent 0 target, latent 1 bias
    g = assign_subgroups(acts, np.zeros(4, int), mean, std, [np.array([0])], [np.array([1])])
    assert [x.group for x in g.images] == ["prototype", "confounded", "shortcut", "ambiguous"]
    assert g.images[2].z_bias == 3.0  # clipped at 3


def test_class_sampling_is_deterministic_and_sized():
    labels = np.array([0] * 50 + [1] * 7)
    a = sample_class_rows(labels, 0, 16, seed=3)
    assert len(a) == 16 and (labels[a] == 0).all()
    assert np.array_equal(a, sample_class_rows(labels, 0, 16, seed=3))
    assert len(sample_class_rows(labels, 1, 16, seed=3)) == 7
    train, test = holdout_split([str(x) for x in labels], 0.2, seed=0)
    assert len(test) == 10 + 1 and not set(train) & set(test)


# ------------------------------------------------------------------------------ planted benchmark
class CountingBackend(cb.PlantedBackend):
    """Counts the images embedded, to check the configured sample size and the 2 x K masked copies."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.n_embedded = 0
        self.max_batch = 0

    def embed(self, px):
        self.n_embedded += len(px)
        self.max_batch = max(self.max_batch, len(px))
        return super().embed(px)


@pytest.fixture(scope="module")
def planted():
    train = cb.make_dataset(C, 40, seed=0)
    test = cb.make_test_set(C, per_cue=10, seed=1)
    backend = CountingBackend(C)
    cfg = ConceptScopeConfig(n_per_class=24, batch_size=32, mask_batch_size=64)
    result = conceptscope(backend, train, cfg, test_samples=test, classifier="logits")
    return backend, cfg, result, test


def test_planted_cue_is_the_bias_of_its_class_and_the_control_is_not(planted):
    backend, cfg, result, _ = planted
    lat = backend.latents
    assert result.class_names == cb.class_names(C)
    assert lat.background in result.latents.noisy  # on in every image of every class
    for c, (name, cls) in enumerate(result.classes.items()):
        bias = {x.latent for x in cls.bias}
        target = {x.latent for x in cls.target}
        assert lat.cue[c] in bias, f"class {name}: cue latent {lat.cue[c]} not flagged, biases {bias}"
        assert lat.control not in bias
        assert lat.shape[c] in target and lat.cue[c] not in target
        assert not (bias & set(lat.cue[np.arange(C) != c]))  # other classes' cues are not this class's bias
        assert cls.n_sampled == cfg.n_per_class


def test_planted_alignment_uses_the_configured_sample_in_batches(planted):
    backend, cfg, result, test = planted
    k = min(cfg.top_k, result.latents.n_valid)
    # the method defines 2 x K masked copies per sampled image; the originals were embedded in the
    # image-level pass, and copies of silent latents (black / the original) need no forward
    assert result.n_masked == C * cfg.n_per_class * 2 * k
    n_train = sum(cls.n_images for cls in result.classes.values())
    assert backend.n_embedded == n_train + result.n_forwarded + 1  # + the black image, once
    assert result.n_forwarded < result.n_masked
    assert backend.max_batch == cfg.mask_batch_size  # masked copies of several latents and classes share forwards


def test_uncorrelated_control_dataset_flags_no_cue():
    train = cb.make_dataset(C, 40, seed=5, correlated=False)
    backend = cb.PlantedBackend(C)
    result = conceptscope(backend, train, ConceptScopeConfig(n_per_class=16))
    flagged = {x.latent for cls in result.classes.values() for x in cls.bias}
    assert not flagged & set(backend.latents.cue.tolist()) and backend.latents.control not in flagged


def test_planted_precision_at_10(planted):
    backend, _, result, test = planted
    cue = np.array([s.cue for s in test])
    p = cb.bias_discovery_precision(result.test_acts_ND, result.test_labels_N, cue, result.latents_of("bias"), k=10)
    assert p["n_pairs"] == C * (C - 1)
    assert p["precision"] >= 0.9
    assert cb.concept_precision(result.biases(), result.class_names, backend.latents, k=C) == 1.0


def test_planted_subgroups_expose_a_shortcut_classifier(planted):
    _, _, result, test = planted
    acc = result.accuracy_by_group
    # the planted classifier reads only the stamp: right when the class's own bias is present,
    # wrong when the class appears without it
    assert acc["prototype"].n > 0 and acc["confounded"].n > 0
    assert acc["prototype"].accuracy >= 0.9 and acc["confounded"].accuracy <= 0.3
    assert sum(result.subgroups.counts.values()) == len(test)


def test_same_seed_same_result():
    train = cb.make_dataset(2, 12, seed=2)
    r1 = conceptscope(cb.PlantedBackend(2), train, ConceptScopeConfig(n_per_class=6, seed=7))
    r2 = conceptscope(cb.PlantedBackend(2), train, ConceptScopeConfig(n_per_class=6, seed=7))
    assert [[(x.latent, x.alignment) for x in c.target + c.context] for c in r1.classes.values()] == \
           [[(x.latent, x.alignment) for x in c.target + c.context] for c in r2.classes.values()]


# ------------------------------------------------------------------------------------- bad input
def test_bad_inputs_are_one_line_errors():
    backend = cb.PlantedBackend(C)
    with pytest.raises(SaekitError, match="empty"):
        conceptscope(backend, [], ConceptScopeConfig())
    few = cb.make_dataset(2, 3, seed=0)
    with pytest.raises(SaekitError, match=r"has 3 image\(s\).*at least 5") as e:
        conceptscope(cb.PlantedBackend(2), few, ConceptScopeConfig())
    assert "\n" not in str(e.value)
    unlabelled = [cb.PlantedSample(0, "x.png", "", None, few[0].image)] + few
    with pytest.raises(SaekitError, match="no label"):
        conceptscope(cb.PlantedBackend(2), unlabelled, ConceptScopeConfig())
    with pytest.raises(SaekitError, match="no valid latents"):
        conceptscope(cb.PlantedBackend(2), cb.make_dataset(2, 6, seed=0), ConceptScopeConfig(validity="absolute", active_threshold=1e6))
    with pytest.raises(SaekitError, match="--per-class"):
        ConceptScopeConfig(n_per_class=0)


def test_config_errors_are_one_line():
    from saekit.analysis.conceptscope.config import AuditConfig

    with pytest.raises(SaekitError, match="fraction of each latent's maximum"):
        ConceptScopeConfig(active_threshold=1.5)
    ConceptScopeConfig(validity="absolute", active_threshold=1.5)  # SAE units: any value
    with pytest.raises(SaekitError, match="--bias-rule"):
        ConceptScopeConfig(bias_rule="magnitude")
    with pytest.raises(SaekitError, match="--similarity"):
        ConceptScopeConfig(similarity="dot")
    with pytest.raises(SaekitError, match="--model"):
        AuditConfig(data="d", sae="s", out="o")
    with pytest.raises(SaekitError, match="not both"):
        AuditConfig(model="m", data="d", sae="s", out="o", test_data="t", test_frac=0.1)
    cfg = AuditConfig(model="m", data="d", sae="s", out="o", min_lift=3.0)
    assert cfg.method() == ConceptScopeConfig(min_lift=3.0)  # the method's fields, nothing else


class ScaledBackend(cb.PlantedBackend):
    """The planted SAE with every activation multiplied by `scale`: a foreign SAE on another scale."""

    def __init__(self, n_classes: int, scale: float):
        super().__init__(n_classes)
        self.scale = scale

    def encode(self, px, latents=None):
        acts, maps = super().encode(px, latents)
        return acts * self.scale, None if maps is None else maps * self.scale


def test_default_rules_give_the_same_audit_at_any_sae_scale():
    train = cb.make_dataset(3, 20, seed=4)
    cfg = ConceptScopeConfig(n_per_class=8)

    def roles(res):
        return [(sorted(x.latent for x in c.target), sorted(x.latent for x in c.bias)) for c in res.classes.values()]

    base = conceptscope(ScaledBackend(3, 1.0), train, cfg)
    assert all(c.bias for c in base.classes.values())
    for scale in (1e-3, 40.0):
        assert roles(conceptscope(ScaledBackend(3, scale), train, cfg)) == roles(base)
    with pytest.raises(SaekitError, match="no valid latents"):  # the paper's 0.5 in SAE units
        conceptscope(ScaledBackend(3, 1e-3), train, ConceptScopeConfig(n_per_class=8, validity="absolute"))
