"""Held-out split: stable hash of the sample id, kept out of training, recorded in the checkpoint."""
from __future__ import annotations

import json

import numpy as np
import pytest

from stores.errors import StoreError
from stores.split import SplitView, holdout_mask
from saekit.train.data import ArraySource


def test_holdout_mask_is_stable_and_about_the_fraction():
    ids = np.arange(200_000, dtype=np.int64)
    m = holdout_mask(ids, 0.1)
    assert abs(m.mean() - 0.1) < 0.005
    # the same id gets the same answer alone, in another order, and in a bigger store
    perm = np.random.default_rng(0).permutation(ids)
    assert np.array_equal(holdout_mask(perm, 0.1), m[perm])
    assert np.array_equal(holdout_mask(ids[:1000], 0.1), m[:1000])
    # nested in the fraction, different under another salt, nothing at 0
    assert not (m & ~holdout_mask(ids, 0.2)).any()
    assert (holdout_mask(ids, 0.1, salt="other") != m).mean() > 0.1
    assert not holdout_mask(ids, 0.0).any()
    # pinned values: the split must never change between versions
    assert np.flatnonzero(holdout_mask(np.arange(100), 0.1)).tolist() == PINNED


PINNED = [3, 6, 10, 12, 25, 31, 75, 87, 95]


def test_holdout_mask_rejects_bad_fraction():
    with pytest.raises(StoreError, match="fraction"):
        holdout_mask(np.arange(3), 1.0)


def test_split_view_partitions_rows_and_rebatches():
    acts = np.arange(1000 * 2, dtype=np.float32).reshape(1000, 2)
    src = ArraySource({"h": acts})
    train = SplitView(src, 0.25, "train")
    held = SplitView(src, 0.25, "holdout")
    tr = list(train.iter_batches("h", 64, shuffle=True, seed=3, with_index=True))
    he = list(held.iter_batches("h", 64, shuffle=False, with_index=True))
    assert all(len(b[0]) == 64 for b in tr[:-1])
    tr_ids = np.concatenate([b[1] for b in tr])
    he_ids = np.concatenate([b[1] for b in he])
    assert len(np.intersect1d(tr_ids, he_ids)) == 0
    assert len(tr_ids) + len(he_ids) == 1000
    assert train.n_rows("h") == len(tr_ids) and held.n_rows("h") == len(he_ids)
    assert np.array_equal(np.sort(he_ids), np.flatnonzero(holdout_mask(np.arange(1000), 0.25)))
    dropped = list(train.iter_batches("h", 64, shuffle=True, seed=3, drop_last=True))
    assert all(len(b) == 64 for b in dropped)


@pytest.mark.parametrize("world_size", [1, 3])
def test_a_store_skips_the_other_sides_rows_itself_and_gives_full_batches(tmp_path, world_size):
    from stores import ActivationStore

    n, d = 5000, 3
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d)).astype(np.float32)
    sid = np.arange(n) // 5
    w = ActivationStore.create(tmp_path / "s.h5", {"h": d}, dtype="float32", attrs={"model_id": "toy"},
                               chunk_rows={"h": 64})
    w.add_samples(np.unique(sid), [{}] * len(np.unique(sid)))
    w.append("h", X, sid, np.arange(n) % 5)
    w.close()
    store = ActivationStore.open(tmp_path / "s.h5")
    view = SplitView(store, 0.3, "train")
    keep = ~holdout_mask(sid, 0.3)

    class NoPushDown:  # the same store behind the generic filter-and-regroup path
        hooks, dtype = store.hooks, store.dtype

        def __getattr__(self, name):
            return getattr(store, name)

    generic = SplitView(NoPushDown(), 0.3, "train")
    kw = dict(shuffle=True, seed=4, epoch=1, buffer_rows=700, drop_last=False)
    for v in (view, generic):
        rows = []
        for rank in range(world_size):
            batches = list(v.iter_batches("h", 96, with_index=True, raw=True, rank=rank, world_size=world_size, **kw))
            assert all(len(b[0]) == 96 for b in batches[:-1])
            order = list(v.row_order("h", 96, rank=rank, world_size=world_size, **kw))
            for (acts, s, _), r in zip(batches, order, strict=True):
                np.testing.assert_array_equal(acts, X[r])  # row_order names the batch's rows
                np.testing.assert_array_equal(s, sid[r])
            rows.extend(order)
        rows = np.concatenate(rows)
        assert np.array_equal(np.sort(rows), np.flatnonzero(keep))  # every kept row once, no held-out row
    assert view.n_rows("h") == generic.n_rows("h") == int(keep.sum())
    with pytest.raises(StoreError, match="keep_rows has 3 entries; hook 'h' has 5000 rows"):
        next(store.iter_batches("h", 8, keep_rows=np.ones(3, bool)))


def test_train_keeps_heldout_out_and_records_it(tmp_path, one_torch_thread):
    from saekit.sae import load_sae
    from saekit.train import TrainConfig, train

    rng = np.random.default_rng(0)
    acts = rng.normal(size=(2048, 8)).astype(np.float32)
    held = holdout_mask(np.arange(2048), 0.1)
    acts[held] = np.nan  # training would fail on any held-out row
    cfg = TrainConfig(hook="h", arch="topk", k=2, expansion=2, tokens=4096, batch_size=256, out=str(tmp_path / "s"),
                      device="cpu", progress=False, normalization="none")
    train(cfg, source=ArraySource({"h": acts}))
    meta = json.loads((tmp_path / "s" / "config.json").read_text())
    assert meta["holdout"] == 0.1 and meta["holdout_salt"]
    assert load_sae(str(tmp_path / "s")).cfg.holdout == 0.1
    with pytest.raises(Exception, match="NaN"):
        train(cfg.replace(holdout=0.0, out=str(tmp_path / "t")), source=ArraySource({"h": acts}))
