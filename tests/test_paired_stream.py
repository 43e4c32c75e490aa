"""A transcoder's paired rows streamed through the store's windows (saekit.train.paired.StreamedPairs) are
the hooks' rows side by side, batch for batch, in the order the store gives one hook: the same rows as the
in-memory PairedRows holds, taken in the store's order, for shuffled passes, ranks, kept rows and the
store's dtype; hooks chunked differently fall back to PairedRows."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from saekit.common.errors import SaekitError
from saekit.train.paired import PairedRows, StreamedPairs, paired_source
from stores import ActivationStore
from interrupted_training import interrupted_then_resumed

N = 1000


def _store(path: Path, widths: dict[str, int], chunk_rows: dict[str, int] | None, dtype: str = "float16") -> Path:
    rng = np.random.default_rng(0)
    w = ActivationStore.create(path, hooks=widths, dtype=dtype, chunk_rows=chunk_rows)
    w.add_samples(np.arange(N // 10, dtype=np.int64), [{} for _ in range(N // 10)])
    sample, pos = np.arange(N, dtype=np.int64) // 10, (np.arange(N) % 10).astype(np.int32)
    for h, d in widths.items():
        w.append(h, rng.standard_normal((N, d)).astype(np.float32), sample, pos)
    w.close()
    return path


@pytest.fixture
def store(tmp_path):
    with ActivationStore.open(_store(tmp_path / "s.h5", {"a": 6, "b": 4, "c": 5}, {"a": 64, "b": 64, "c": 64})) as s:
        yield s


OPTIONS = [dict(shuffle=True, seed=3, epoch=1, buffer_rows=200), dict(shuffle=True, seed=0, rank=1, world_size=3),
           dict(shuffle=False, rank=0, world_size=2, buffer_rows=128), dict(shuffle=True, seed=5, drop_last=True)]


@pytest.mark.parametrize("kw", OPTIONS)
@pytest.mark.parametrize("keep", [False, True])
def test_streamed_batches_are_the_hooks_rows_side_by_side_in_the_stores_order(store, kw, keep):
    src = paired_source(store, "a", ("b", "c"))
    assert isinstance(src, StreamedPairs) and src.d("a") == 15 and src.n_rows("a") == N
    if keep:
        kw = dict(kw, keep_rows=np.random.default_rng(1).random(N) < 0.7)
    whole = np.concatenate([store.read_rows(h, 0, N) for h in ("a", "b", "c")], axis=1)
    orders = [list(store.row_order(h, 96, **{"buffer_rows": store.default_buffer_rows("a"), **kw})) for h in "abc"]
    assert all(len(o) == len(orders[0]) and all(np.array_equal(x, y) for x, y in zip(o, orders[0])) for o in orders)
    rows = list(src.row_order("a", 96, **kw))
    assert [len(r) for r in rows] == [len(r) for r in orders[0]] and all(map(np.array_equal, rows, orders[0]))
    batches = list(src.iter_batches("a", 96, with_index=True, **kw))
    assert len(batches) == len(rows) > 1
    sid_all, pos_all = store.read_index("a", 0, N)
    for (acts, sid, pos), r in zip(batches, rows):
        np.testing.assert_array_equal(acts, whole[r])
        np.testing.assert_array_equal(sid, sid_all[r])
        np.testing.assert_array_equal(pos, pos_all[r])
    raw = list(src.iter_batches("a", 96, raw=True, **kw))
    assert raw[0].dtype == np.float16 and all(np.array_equal(b.astype(np.float32), whole[r]) for b, r in zip(raw, rows))


def test_streamed_and_in_memory_pairs_hold_the_same_rows(store):
    streamed, held = paired_source(store, "a", ("b",)), PairedRows(store, "a", ("a",), ("b",))
    assert streamed.layout == held.layout and streamed.d("a") == held.d("a") == 10
    np.testing.assert_array_equal(streamed.read_raw("a", 100, 300).astype(np.float32), held.read_raw("a", 100, 300))
    np.testing.assert_array_equal(streamed.read_rows("a", 0, N), held.read_rows("a", 0, N))
    assert all(np.array_equal(x, y) for x, y in zip(streamed.read_index("a", 5, 50), held.read_index("a", 5, 50)))
    st, hs = streamed.stats("a"), held.stats("a")
    np.testing.assert_allclose(st["mean"], hs["mean"], atol=1e-3)
    np.testing.assert_allclose(st["mean_sq_norm"], hs["mean_sq_norm"], rtol=1e-3)
    assert streamed.dtype == "float16" and streamed.samples is not None
    with pytest.raises(SaekitError, match="'b' is not in this source"):
        streamed.n_rows("b")


def test_hooks_chunked_differently_are_held_in_memory(tmp_path):
    with ActivationStore.open(_store(tmp_path / "d.h5", {"a": 6, "b": 4}, {"a": 64, "b": 100})) as s:
        assert isinstance(paired_source(s, "a", ("b",)), PairedRows)
    with ActivationStore.open(_store(tmp_path / "e.h5", {"a": 6, "b": 4}, {"a": 64, "b": 64})) as s:
        assert isinstance(paired_source(s, "a", ("b",)), StreamedPairs)
        assert paired_source(s, "a", ()) is s


@pytest.mark.parametrize("data_on_device", ["off", "on"])
def test_a_streamed_transcoder_resumes_bitwise_and_the_resident_copy_trains_alike(tmp_path, monkeypatch, data_on_device):
    import torch

    from saekit.train import TrainConfig, train

    path = _store(tmp_path / "t.h5", {"in": 8, "out": 6}, {"in": 128, "out": 128}, dtype="float32")
    cfg = TrainConfig(store=str(path), hook="in", target_hook=("out",), skip=True, arch="topk", k=3, expansion=2,
                      tokens=6_400, batch_size=128, lr=3e-3, out=str(tmp_path / "ref"), progress=False, device="cpu",
                      checkpoint_every_steps=10, holdout=0.1, data_on_device=data_on_device, shuffle_buffer_mib=0.01)
    ref = train(cfg)
    resumed = interrupted_then_resumed(cfg.replace(out=str(tmp_path / "cut")), monkeypatch, at_step=25)
    other = train(cfg.replace(out=str(tmp_path / "other"), data_on_device="on" if data_on_device == "off" else "off"))
    for name, value in ref.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
        assert torch.equal(value, other.state_dict()[name]), name


def test_one_window_size_serves_every_hook_when_the_stores_defaults_differ(store, monkeypatch):
    monkeypatch.setattr(store, "default_buffer_rows", lambda hook: {"a": 128, "b": 320, "c": 192}[hook])
    src = paired_source(store, "a", ("b", "c"))
    whole = np.concatenate([store.read_rows(h, 0, N) for h in ("a", "b", "c")], axis=1)
    rows = list(src.row_order("a", 64, shuffle=True, seed=2))
    assert all(map(np.array_equal, rows, store.row_order("a", 64, shuffle=True, seed=2, buffer_rows=128)))
    batches = list(src.iter_batches("a", 64, shuffle=True, seed=2, with_index=True))
    assert len(batches) == len(rows) and all(np.array_equal(b[0], whole[r]) for b, r in zip(batches, rows))
