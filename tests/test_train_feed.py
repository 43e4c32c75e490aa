"""Training input path: the streaming feed (store rows cut out of the shuffle window, checked, handed
over in the store's dtype), device-resident mode (same batches as streaming), and sweeps from one pass."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from saekit.common.errors import SaekitError
from saekit.train import ArraySource, TrainConfig, train, train_sweep
from saekit.train.data import BatchStream
from saekit.train.feed import HostFeed, Prefetcher, stream_feed
from saekit.train.resident import ResidentFeed, choose_resident, load_rows
from saekit.train.sweep import sweep_configs
from stores import ActivationStore
from stores.dtypes import to_float32

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_store(path: Path, dtype: str = "float16", n: int = 3000, d: int = 12, nan_row: int | None = None,
               shards: int = 1) -> Path:
    """n rows (4 per sample), planted sparse structure, chunks of 128 rows (ragged last chunk)."""
    rng = np.random.default_rng(1)
    atoms = rng.standard_normal((32, d))
    idx = rng.integers(0, 32, (n, 3))
    X = (rng.uniform(0.5, 2, (n, 3))[:, :, None] * atoms[idx]).sum(1).astype(np.float32)
    if nan_row is not None:
        X[nan_row, 1] = np.inf
    per = n // shards
    path.mkdir(parents=True, exist_ok=True) if shards > 1 else None
    for k in range(shards):
        lo, hi = k * per, (n if k == shards - 1 else (k + 1) * per)
        p = path / f"shard-{k:05d}.h5" if shards > 1 else path
        w = ActivationStore.create(p, hooks={"h": d}, dtype=dtype, attrs={"model_id": "planted"}, chunk_rows={"h": 128})
        sids = np.arange(lo, hi, dtype=np.int64) // 4
        uniq = np.unique(sids)
        w.add_samples(uniq, [{"source": f"s{i}"} for i in uniq])
        w.append("h", X[lo:hi], sids, (np.arange(lo, hi) % 4).astype(np.int32))
        w.close()
    return path


def test_row_order_names_the_rows_iter_batches_yields(tmp_path):
    store = ActivationStore.open(make_store(tmp_path / "s.h5", dtype="bfloat16"))
    for rank in range(3):
        kw = dict(shuffle=True, seed=5, epoch=2, rank=rank, world_size=3, buffer_rows=700, drop_last=True)
        assert_same_rows(store, store, 96, kw)


def assert_same_rows(store: ActivationStore, view, batch_size: int, kw: dict) -> list[np.ndarray]:
    """view.row_order names exactly the rows view.iter_batches yields (by index and by value)."""
    sid_all, pos_all = store.read_index("h", 0, store.n_rows("h"))
    raw_all = store.read_raw("h", 0, store.n_rows("h"))
    got = list(view.row_order("h", batch_size, **kw))
    want = list(view.iter_batches("h", batch_size, with_index=True, raw=True, **kw))
    assert len(got) == len(want) > 3
    for rows, (acts, sid, pos) in zip(got, want):
        np.testing.assert_array_equal(sid_all[rows], sid)
        np.testing.assert_array_equal(pos_all[rows], pos)
        np.testing.assert_array_equal(raw_all[rows], acts)
    return got


@pytest.mark.parametrize("dtype,partitions", [("float16", 2), ("bfloat16", 1), ("float32", 2)])
def test_host_feed_hands_over_the_store_rows_exactly_and_keeps_the_resume_point(tmp_path, dtype, partitions):
    store = ActivationStore.open(make_store(tmp_path / "s.h5", dtype=dtype))
    stream = BatchStream(store, "h", 256, seed=3, n_partitions=partitions, rank=0, world_size=1)
    ref = BatchStream(store, "h", 256, seed=3, n_partitions=partitions, rank=0, world_size=1)
    feed = stream_feed(stream, store.dtype, torch.device("cpu"), "h")
    assert isinstance(feed, HostFeed)
    want_dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[dtype]
    ptrs = set()
    try:
        seen = []
        for _ in range(25):  # several epochs of 11 batches
            b, r = next(feed), next(ref)
            assert b.x.dtype == want_dtype and b.x.shape == (256, 12)
            np.testing.assert_array_equal(b.x.float().numpy(), to_float32(r.acts, dtype))
            seen.append((b.epoch, b.position))
            ptrs.add(b.x.data_ptr())
        assert seen[10:13] == [(0, 11), (1, 1), (1, 2)]
        assert len(ptrs) <= 4  # reused buffers, not one allocation per batch
        held = [(next(feed), next(ref)) for _ in range(6)]  # more batches alive than buffers kept
        for _ in range(12):
            next(feed)
        for b, r in held:  # a batch still held is never overwritten
            np.testing.assert_array_equal(b.x.float().numpy(), to_float32(r.acts, dtype))
    finally:
        feed.close()


def test_nonfinite_rows_are_named_on_both_paths(tmp_path):
    path = make_store(tmp_path / "bad.h5", nan_row=1001)
    base = TrainConfig(store=str(path), hook="h", arch="topk", k=2, expansion=2, tokens=6000, batch_size=200,
                       out=str(tmp_path / "o"), progress=False, normalization="none", gm_sample=64)
    for mode in ("off", "on"):
        with pytest.raises(SaekitError, match=r"NaN or Inf .*sample_id=250, position=1") as info:
            train(base.replace(data_on_device=mode, out=str(tmp_path / mode)))
        assert "\n" not in str(info.value)
        assert not (tmp_path / mode / "weights.safetensors").exists()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_host_feed_batches_carry_a_row_check_that_names_exactly_the_bad_row(tmp_path, dtype):
    store = ActivationStore.open(make_store(tmp_path / "bad.h5", dtype=dtype, nan_row=1001))
    ref = BatchStream(store, "h", 200, seed=3, n_partitions=1, rank=0, world_size=1)
    batches = [next(ref) for _ in range(store.n_rows("h") // 200)]  # one epoch
    assert all(b.sample_id is None and b.rows is None for b in batches)  # nothing but rows is carried
    first_bad = next(i for i, b in enumerate(batches) if not np.isfinite(to_float32(b.acts, dtype)).all())
    feed = stream_feed(BatchStream(store, "h", 200, seed=3, n_partitions=1, rank=0, world_size=1), store.dtype,
                       torch.device("cpu"), "h")
    assert isinstance(feed, HostFeed)
    for _ in range(first_bad):
        next(feed).verify()  # clean batches pass
    with pytest.raises(SaekitError, match=rf"store batch {first_bad} of epoch 0 \(hook h\) holds NaN or Inf "
                                          r"activations \(1 bad rows\), first: .*sample_id=250, position=1"):
        next(feed).verify()
    feed.close()
    from_arrays = HostFeed(BatchStream(ArraySource({"h": store.read_rows("h", 0, store.n_rows("h"))}), "h", 200,
                                       seed=3, n_partitions=1, rank=0, world_size=1), "float32", "h")
    with pytest.raises(SaekitError, match=r"NaN or Inf activations \(1 bad rows\)"):
        for _ in range(30):  # a source without windows hands its own arrays over: they carry the check too
            next(from_arrays).verify()


@pytest.mark.parametrize("kind", ["store", "shards", "split", "arrays"])
def test_a_batch_works_out_its_row_numbers_exactly_when_an_error_asks(tmp_path, kind):
    """Batches carry no row numbers; an index-only twin of the stream finds them: exactly the rows and order
    of the batch, in any epoch, partition layout and rank, so an error names the right samples."""
    from stores.split import SplitView, numbering_source

    store = ActivationStore.open(make_store(tmp_path / "s", dtype="bfloat16", shards=2 if kind == "shards" else 1))
    source = {"store": store, "shards": store, "split": SplitView(store, 0.3, "train"),
              "arrays": ArraySource({"h": store.read_rows("h", 0, store.n_rows("h"))})}[kind]
    everything = numbering_source(source).read_raw("h", 0, store.n_rows("h"))
    for n_partitions, rank, world in ((1, 0, 1), (4, 1, 2)):
        stream = BatchStream(source, "h", 96, seed=7, n_partitions=n_partitions, rank=rank, world_size=world,
                             buffer_rows=500)
        per_epoch = len(list(source.row_order("h", 96 // n_partitions, shuffle=True, seed=7, rank=0,
                                              world_size=n_partitions, drop_last=True, buffer_rows=500)))
        for _ in range(per_epoch + 3):  # into the second epoch
            b = next(stream)
            rows = b.locate()
            np.testing.assert_array_equal(everything[rows], b.acts)
            sid, pos = numbering_source(source).read_index("h", 0, store.n_rows("h"))
            assert b.index_of(np.array([0, 5])) == [(int(sid[rows[i]]), int(pos[rows[i]])) for i in (0, 5)]
        assert b.epoch == 1
        stream.close()


def test_a_source_without_row_order_still_gets_the_one_line_error(tmp_path):
    """A user's own source need not replay its order: the error then names the rows within the batch."""
    class OwnSource:
        def __init__(self, acts: np.ndarray) -> None:
            self.inner = ArraySource({"h": acts})

        def d(self, hook: str) -> int:
            return self.inner.d(hook)

        def n_rows(self, hook: str) -> int:
            return self.inner.n_rows(hook)

        def iter_batches(self, hook: str, batch_size: int, **kw):
            return self.inner.iter_batches(hook, batch_size, **kw)

        def read_index(self, hook: str, start: int, stop: int):
            return self.inner.read_index(hook, start, stop)

    acts = np.ones((400, 6), np.float32)
    acts[:, 0] = np.nan
    feed = HostFeed(BatchStream(OwnSource(acts), "h", 100, seed=0, n_partitions=1, rank=0, world_size=1), "float32", "h")
    with pytest.raises(SaekitError, match=r"store batch 0 of epoch 0 \(hook h\) holds NaN or Inf activations "
                                          r"\(100 bad rows\), first: 0, 1, 2, 3, 4;"):
        next(feed).verify()
    feed.close()


def test_training_stops_at_the_first_batch_with_a_bad_row_before_the_weights_move(tmp_path, monkeypatch):
    from saekit.train import member as member_module

    from saekit.train.trainer import shuffle_buffer_rows

    path = make_store(tmp_path / "bad.h5", nan_row=1001)
    cfg = TrainConfig(store=str(path), hook="h", arch="topk", k=2, expansion=2, tokens=6000, batch_size=200,
                      out=str(tmp_path / "o"), progress=False, normalization="none", gm_sample=64, data_on_device="off",
                      holdout=0.0)
    store = ActivationStore.open(path)
    order = BatchStream(store, "h", 200, seed=cfg.seed, n_partitions=1, rank=0, world_size=1,
                        buffer_rows=shuffle_buffer_rows(cfg, store))  # the batches training sees
    first_bad = next(i for i in range(15) if not np.isfinite(next(order).acts).all())
    steps: list[int] = []
    real_step = member_module.Member.step

    def counted_step(self, x, step, verify=None):
        steps.append(step)
        before = [p.detach().clone() for p in self.sae.parameters()]
        try:
            real_step(self, x, step, verify)
        except SaekitError:
            assert all(torch.equal(a, p) for a, p in zip(before, self.sae.parameters()))  # untouched
            assert not any(p.grad is not None and p.grad.abs().sum() > 0 for p in self.sae.parameters())
            raise

    monkeypatch.setattr(member_module.Member, "step", counted_step)
    with pytest.raises(SaekitError, match=rf"store batch {first_bad} of epoch 0 \(hook h\) .*sample_id=250, position=1"):
        train(cfg)
    assert steps[-1] == first_bad  # the steps before it ran; it stopped there


def test_a_split_view_never_batches_a_held_out_bad_row(tmp_path):
    from stores.split import SplitView

    store = ActivationStore.open(make_store(tmp_path / "bad.h5", nan_row=1001))
    held = SplitView(store, 0.3, "holdout").keep(np.array([250]))[0]
    clean = SplitView(store, 0.3, "train" if held else "holdout")  # the side without sample 250's bad row
    feed = stream_feed(BatchStream(clean, "h", 64, seed=1, n_partitions=1, rank=0, world_size=1), "float16",
                       torch.device("cpu"), "h")
    for _ in range(2 * clean.n_rows("h") // 64):  # two epochs: the bad chunk is read, its held-out row never batched
        b = next(feed)
        assert torch.isfinite(b.x.float()).all()
        b.verify()
    feed.close()


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_load_rows_refuses_a_used_inf_row_and_ignores_an_unused_one(tmp_path, dtype):
    store = ActivationStore.open(make_store(tmp_path / "bad.h5", dtype=dtype, nan_row=1001))
    with pytest.raises(SaekitError, match=r"NaN or Inf .*sample_id=250, position=1"):
        load_rows(store, "h", torch.device("cpu"))
    used = np.ones(store.n_rows("h"), bool)
    used[1001] = False  # e.g. a held-out row: never trained on, so never checked
    data = load_rows(store, "h", torch.device("cpu"), used)
    assert torch.isinf(data[1001].float()).any() and torch.isfinite(data[:1001].float()).all()


def test_resident_and_streaming_runs_train_bitwise_the_same_weights(tmp_path):
    path = make_store(tmp_path / "s", dtype="bfloat16", shards=2)
    base = TrainConfig(store=str(path), hook="h", arch="topk", k=3, expansion=4, tokens=9000, batch_size=256,
                       progress=False, seed=2, out="", data_partitions=2)
    a = train(base.replace(out=str(tmp_path / "stream"), data_on_device="off"))
    b = train(base.replace(out=str(tmp_path / "resident"), data_on_device="on"))
    for name, t in a.state_dict().items():
        assert torch.equal(t, b.state_dict()[name]), name


def test_data_on_device_chooses_by_budget():
    assert choose_resident("auto", 100, 100) and not choose_resident("auto", 101, 100)
    assert not choose_resident("off", 1, 100)
    with pytest.raises(SaekitError, match="--data-on-device on: the rows take"):
        choose_resident("on", 2 << 30, 1 << 30)


def test_resident_feed_gathers_the_index_streams_batches(tmp_path):
    store = ActivationStore.open(make_store(tmp_path / "s.h5"))
    data = load_rows(store, "h", torch.device("cpu"))
    assert data.dtype == torch.float16 and data.shape == (3000, 12)
    order = BatchStream(store, "h", 128, seed=0, n_partitions=1, rank=0, world_size=1, index_only=True)
    ref = BatchStream(store, "h", 128, seed=0, n_partitions=1, rank=0, world_size=1)
    feed = ResidentFeed(data, order, torch.device("cpu"), depth=2)
    try:
        for _ in range(30):
            b, r = next(feed), next(ref)
            assert b.x.dtype == torch.float16  # as stored: the step widens
            np.testing.assert_array_equal(b.x.numpy(), r.acts)
            assert (b.epoch, b.position) == (r.epoch, r.batch_position)
    finally:
        feed.close()


def test_prefetcher_hands_over_a_producer_error_and_stops():
    def items():
        yield 1
        raise ValueError("boom")

    p = Prefetcher(items(), lambda v: v * 2, depth=1, name="t")
    assert p.get() == 2
    with pytest.raises(ValueError, match="boom"):
        p.get()
    p.close()
    assert not any(t.name == "t" for t in threading.enumerate())


def test_sweep_members_match_separate_runs(tmp_path):
    X = np.random.default_rng(0).standard_normal((2048, 8)).astype(np.float32)
    base = TrainConfig(hook="h", arch="topk", k=2, d_sae=24, tokens=3072, batch_size=256, progress=False,
                       out=str(tmp_path / "sweep"), sweep=("k=2,3", "lr=1e-3,3e-3"))
    saes = train_sweep(base, ArraySource({"h": X}))
    manifest = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    names = [m["name"] for m in manifest["members"]]
    assert names == ["k2-lr1e-3", "k2-lr3e-3", "k3-lr1e-3", "k3-lr3e-3"] and len(saes) == 4
    for name in names:
        assert (tmp_path / "sweep" / name / "weights.safetensors").exists()
        assert (tmp_path / "sweep" / name / "metrics.jsonl").read_text().count("\n") == 2  # steps 10 and 12
    alone = train(base.replace(sweep=(), k=3, lr=3e-3, out=str(tmp_path / "alone")), ArraySource({"h": X}))
    swept = saes[names.index("k3-lr3e-3")].state_dict()
    for name, t in alone.state_dict().items():
        assert torch.equal(t, swept[name]), name


def test_sweep_specs_are_checked():
    base = TrainConfig(hook="h", arch="topk", k=2, tokens=10, out="o")
    assert [c.out for c in sweep_configs(base.replace(sweep=("expansion=8,16",)))] == ["o/expansion8", "o/expansion16"]
    for bad, msg in ((("seed=1,2",), "cannot vary"), (("k=1,x",), "not a valid k"), (("k",), "FIELD=V1"),
                     (("k=1", "k=2"), "names a field twice"), (("k=1,1",), "repeated")):
        with pytest.raises(SaekitError, match=msg):
            sweep_configs(base.replace(sweep=bad))
    with pytest.raises(SaekitError, match="train_sweep"):
        train(base.replace(sweep=("k=1,2",)))


def test_cli_sweep_and_bad_on_device_flag(tmp_path):
    path = make_store(tmp_path / "s.h5")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "saekit", "train", "--store", str(path), "--hook", "h", "--arch", "topk", "--k", "2",
           "--tokens", "1024", "--batch-size", "256", "--no-progress", "--out", str(tmp_path / "sw")]
    ok = subprocess.run(cmd + ["--sweep", "expansion=2,4"], capture_output=True, text=True, env=env, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count("wrote ") == 2 and "d_sae=48" in ok.stdout
    bad = subprocess.run(cmd[:-1] + [str(tmp_path / "x"), "--data-on-device", "on", "--device-memory-budget", "1K"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "budget is 0.00 GiB" in bad.stderr


def test_held_out_split_gives_the_same_rows_by_number_and_by_value(tmp_path):
    from stores.split import SplitView

    store = ActivationStore.open(make_store(tmp_path / "s.h5"))
    view = SplitView(store, 0.25, "train")
    got = assert_same_rows(store, view, 100, dict(shuffle=True, seed=1, epoch=0, rank=1, world_size=2, drop_last=True))
    sid_all, _ = store.read_index("h", 0, store.n_rows("h"))
    held = {int(s) for s in sid_all[~view.kept_rows("h")]}
    assert held and not held & {int(s) for rows in got for s in sid_all[rows]}
