"""A transcoder trained data-parallel by two real torch.distributed processes (gloo, CPU) ends where one
process reading the same two data partitions does (the averaged gradients of two half batches are the whole
batch's), as an SAE does (tests/test_scale_distributed.py). No AuxK: each rank normalises it by its own rows."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from saekit.sae import load_sae
from test_scale_distributed import PY, RUN, _close, _port, _run

D_IN, D_OUT = 16, 12


def _paired_store(path: Path, n: int = 4096) -> Path:
    """Rows of an input hook "a" and a target hook "b" = a planted sparse map of "a", aligned row by row."""
    from stores import ActivationStore

    rng = np.random.default_rng(0)
    atoms = rng.standard_normal((48, D_IN))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    idx = np.argsort(rng.random((n, 48)), axis=1)[:, :3]
    coef = rng.uniform(0.5, 2, (n, 3))
    a = (coef[:, :, None] * atoms[idx]).sum(1) + 0.01 * rng.standard_normal((n, D_IN))
    out_atoms = rng.standard_normal((48, D_OUT))
    b = (coef[:, :, None] * out_atoms[idx]).sum(1) + 0.01 * rng.standard_normal((n, D_OUT))
    w = ActivationStore.create(path, hooks={"a": D_IN, "b": D_OUT}, dtype="float32", attrs={"model_id": "planted"},
                               chunk_rows={"a": 256, "b": 256})
    w.add_samples(np.arange(n // 8, dtype=np.int64), [{"source": f"row{i}"} for i in range(n // 8)])
    sample, pos = np.arange(n, dtype=np.int64) // 8, (np.arange(n) % 8).astype(np.int32)
    w.append("a", a.astype(np.float32), sample, pos)
    w.append("b", b.astype(np.float32), sample, pos)
    w.close()
    return path


@pytest.mark.parametrize("skip", [False, True])
def test_two_processes_train_a_transcoder_like_one_process_with_two_partitions(tmp_path, skip):
    store = _paired_store(tmp_path / "s.h5")
    # 64 latents, none dead: no AuxK, whose per-rank normalisation makes data-parallel AuxK differ
    args = ["--store", str(store), "--hook", "a", "--target-hook", "b", "--arch", "topk", "--k", "3",
            "--expansion", "4", "--tokens", "5120", "--batch-size", "256", "--lr", "1e-3", "--no-progress",
            "--autocast", "off", "--dead-tokens", "100000", *(["--skip"] if skip else [])]
    _run([PY, "-m", "saekit.train", *args, "--data-partitions", "2", "--out", str(tmp_path / "one")])
    proc = _run([*RUN, "--nproc-per-node", "2", "--master-port", str(_port()), "-m", "saekit.train", *args,
                 "--out", str(tmp_path / "two")])
    assert proc.stderr.count("saekit.train.trainer: input:") == 2  # each rank read its own rows
    one, two = _close(tmp_path / "one", tmp_path / "two")
    assert one.cfg.target_hooks == two.cfg.target_hooks == ("b",) and one.cfg.d_out == D_OUT
    if skip:
        assert one.W_skip is not None
        np.testing.assert_allclose(one.W_skip.detach().numpy(), two.W_skip.detach().numpy(), atol=1e-5, rtol=0)
    assert load_sae(tmp_path / "two").cfg.hook == "a"
