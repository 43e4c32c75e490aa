"""What a latent is explained and scored on: 32-token windows (whole images for vision) counted
independently, delphi's quantile sampling with disjoint explaining and held-out windows, non-activating
windows that never fire (random, or similar in the hooked layer), and latents chosen across the
firing-frequency range with dense and too-rare ones reported."""
from __future__ import annotations

import re

import numpy as np
import pytest

from autointerp_fixtures import HOOK, PLANTED, planted_sae, text_store, windows_of
from saekit.autointerp.config import ExplainConfig
from saekit.autointerp.evidence import EvidenceBuilder, Example
from saekit.autointerp.sampling import sample_sizes, split_quantiles
from saekit.autointerp.selection import choose_latents
from saekit.autointerp.windows import WindowTable, collect_windows, scan_windows
from saekit.sae import load_sae
from stores import ActivationStore


@pytest.fixture
def planted(tmp_path):
    store, texts = text_store(tmp_path, n=100)
    return load_sae(planted_sae(tmp_path)), ActivationStore.open(store), texts


def test_windows_and_their_frequencies_match_an_independent_cut(planted):
    sae, store, texts = planted
    table = scan_windows(sae, store, HOOK, 32)
    cut = windows_of(texts)
    assert table.n_windows == len(cut) == 200
    for j, word in enumerate(PLANTED):
        assert table.fire_count[j] == sum(re.search(rf"\b{word}\b", t) is not None for _, t in cut)
    assert table.fire_count[3] == 0
    lw = collect_windows(sae, store, HOOK, 32, [1])[1]
    firing = {(int(table.sample_id[w]), table.span(w)[0]) for w in lw.windows}
    starts: dict[int, int] = {}
    expected = set()
    for sid, text in cut:
        if re.search(r"\bdog\b", text):
            expected.add((sid, starts.get(sid, 0)))
        starts[sid] = starts.get(sid, 0) + 32
    assert firing == expected
    pos, acts = lw.tokens_of(int(lw.windows[0]))
    assert len(pos) % 3 == 0 and (acts > 0).all()  # the three bytes of each 'dog'


def test_quantile_sampling_as_delphi_sizes_it():
    rng = np.random.default_rng(0)
    p = split_quantiles(1000, 40, 50, 10, rng)
    ex, sc = [r for r, _ in p.explain], [r for r, _ in p.score]
    assert len(ex) == 40 and len(sc) == 50 and not set(ex) & set(sc)
    for q in range(10):  # 4 explaining and 5 scoring windows from each band of 100
        assert sum(b == q for _, b in p.explain) == 4 and sum(b == q for _, b in p.score) == 5
        assert all(100 * q <= r < 100 * (q + 1) for r, b in p.explain + p.score if b == q)
    assert sample_sizes(20, 40, 50) == (9, 11) and sample_sizes(2, 40, 50) == (1, 1) and sample_sizes(3, 40, 50) == (1, 2)
    small = split_quantiles(20, 40, 50, 10, rng)
    assert len(small.explain) == 9 and len(small.score) == 11
    assert sorted(r for r, _ in small.explain + small.score) == list(range(20))
    assert split_quantiles(1000, 40, 50, 10, np.random.default_rng(0)) == p  # seeded


def _table(counts, n_windows=1000) -> WindowTable:
    return WindowTable(sample_id=np.arange(n_windows), index=np.zeros(n_windows, np.int64), ctx=32,
                       fire_count=np.asarray(counts, np.int64))


def test_latents_span_the_frequency_range_and_dense_ones_are_reported():
    rng = np.random.default_rng(1)
    counts = np.concatenate([rng.integers(4, 500, size=900), rng.integers(600, 1000, size=49), [700], [0] * 40, [2] * 10])
    table = _table(rng.permutation(counts))
    choice = choose_latents(table, (), "sample", 12, 0.5, 4, seed=0)
    assert len(choice.latents) == 12
    eligible = np.flatnonzero((table.fire_count >= 4) & (table.window_freq <= 0.5))
    assert choice.n_eligible == len(eligible)
    ranks = np.argsort(np.argsort(table.fire_count[eligible], kind="stable"), kind="stable")
    rank_of = dict(zip(eligible.tolist(), ranks.tolist()))
    strata = sorted(rank_of[i] * 12 // len(eligible) for i in choice.latents)
    assert strata == list(range(12))  # one from each twelfth of the frequency order
    dense = {s.latent for s in choice.skipped}
    assert all(s.reason == "dense" for s in choice.skipped) and dense == set(np.flatnonzero(table.window_freq > 0.5))
    assert choose_latents(table, (), "sample", 12, 0.5, 4, seed=0) == choice
    assert choose_latents(table, (), "sample", 12, 0.5, 4, seed=1).latents != choice.latents
    everyone = choose_latents(table, (), "all", 12, 0.5, 4, seed=0)
    assert len(everyone.latents) == len(eligible)
    asked = [int(np.flatnonzero(table.fire_count == c)[0]) for c in (0, 2, 700)] + [int(eligible[0])]
    picked = choose_latents(table, tuple(asked), "sample", 12, 0.5, 4, seed=0)
    assert picked.latents == (asked[3],)
    assert [s.reason for s in picked.skipped] == ["never fires", "too rare", "dense"]


def test_evidence_windows_are_disjoint_and_negatives_never_fire(planted):
    sae, store, texts = planted
    table = scan_windows(sae, store, HOOK, 32)
    lws = collect_windows(sae, store, HOOK, 32, [0])
    sizes = ExplainConfig(sae="s", store="s", client="c", out="o", size="small").sizes
    ev = EvidenceBuilder(table, lws, sizes, seed=0).build(0)
    assert (len(ev.explain), len(ev.positives), len(ev.negatives)) == (10, 10, 10)
    key = lambda e: (e.sample_id, e.start)  # noqa: E731
    assert not {key(e) for e in ev.explain} & {key(e) for e in ev.positives}
    cut = {}
    for sid, text in windows_of(texts):
        cut.setdefault(sid, []).append(text)
    assert all("cat" in cut[e.sample_id][e.start // 32].split() for e in ev.explain + ev.positives)
    assert all("cat" not in cut[e.sample_id][e.start // 32].split() for e in ev.negatives)
    similar = EvidenceBuilder(table, lws, sizes, seed=0, negatives="similar", store=store, hook=HOOK).build(0)
    assert all("cat" not in cut[e.sample_id][e.start // 32].split() for e in similar.negatives)

    def planted_words(evs):
        return np.mean([sum(w in PLANTED for w in cut[e.sample_id][e.start // 32].split()) for e in evs])

    # the activating windows are full of planted words: their look-alikes hold more of them than random windows
    assert planted_words(similar.negatives) > planted_words(ev.negatives)


def test_image_windows_are_whole_images_shaded_to_explain_and_plain_to_score(tmp_path):
    from saekit.autointerp.render import ImageRenderer
    from test_naming import _image_store

    store_path, _ = _image_store(tmp_path)
    store = ActivationStore.open(store_path)
    from test_autointerp_http import _image_sae

    sae = load_sae(_image_sae(tmp_path))
    table = scan_windows(sae, store, HOOK, None)
    assert table.n_windows == len(store.sample_ids) and (table.index == 0).all()
    lw = collect_windows(sae, store, HOOK, None, [0])[0]
    w = int(lw.windows[0])
    pos, acts = lw.tokens_of(w)
    ex = Example(int(table.sample_id[w]), float(acts.max()), acts, pos, 0, None, 0, w)
    r = ImageRenderer(store, px=32)
    shaded, plain = r.explain_view(ex, float(acts.max())), r.plain_view(ex, np.random.default_rng(0))
    assert shaded.image_url != plain.image_url and shaded.text == plain.text == "a cat"
    assert r.plain_view(Example(ex.sample_id, 0.0), np.random.default_rng(0)).image_url == plain.image_url
