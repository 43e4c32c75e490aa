"""Beyond one process, with real torch.distributed processes on gloo: latent-sharded training equals one
process (alone and combined with data parallelism) at about half the parameter memory per rank, and
two torchrun launchers meeting at a rendezvous on 127.0.0.1 (--nnodes 2) train and capture correctly."""
from __future__ import annotations

import re
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from saekit.sae import load_sae
from stores import ActivationStore
from test_train_recipe import ROOT, _env, make_store, wait_for_checkpoint

PY = sys.executable
RUN = [PY, "-m", "torch.distributed.run"]
COMMON = ["--hook", "h", "--k", "3", "--expansion", "16", "--tokens", "5120", "--batch-size", "256", "--lr", "1e-3",
          "--no-progress", "--autocast", "off", "--dead-tokens", "512"]  # 256 latents, some dead: AuxK runs


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=400, **kw)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _close(a_dir, b_dir, atol=1e-5):
    a, b = load_sae(a_dir), load_sae(b_dir)
    for name in ("W_dec", "W_encT", "b_enc", "b_dec"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), atol=atol, rtol=0, msg=name)
    return a, b


@pytest.mark.parametrize("arch,extra", [("topk", []), ("batchtopk", ["--expansion", "4"])])
def test_two_latent_shards_equal_one_process(tmp_path, arch, extra):
    # topk with 256 latents, some dead (AuxK exercised); batchtopk with 64. (BatchTopK at 256 latents on
    # this toy store is chaotic: one process's own sparse and dense paths end 3e-4 apart there.)
    store = make_store(tmp_path / "s.h5")
    args = ["--store", str(store), "--arch", arch, *COMMON, *extra]
    _run([PY, "-m", "saekit.train", *args, "--out", str(tmp_path / "one")])
    two = _run([*RUN, "--nproc-per-node", "2", "--master-port", str(_port()), "-m", "saekit.train", *args,
                "--shard-latents", "2", "--out", str(tmp_path / "two")])
    a, _ = _close(tmp_path / "one", tmp_path / "two")
    if arch == "batchtopk":
        assert float(a.threshold) > 0 and torch.equal(a.threshold, load_sae(tmp_path / "two").threshold)
    assert two.stderr.count("saekit.train.trainer: input:") == 1  # one rank of the group read the batches
    held = {int(r): int(b) for r, b in re.findall(r"latent shard (\d) of 2: .*?(\d+) bytes of parameters", two.stderr)}
    full = sum(p.numel() * 4 for p in a.parameters())
    b_dec = a.b_dec.numel() * 4
    assert held == {0: (full - b_dec) // 2 + b_dec, 1: (full - b_dec) // 2 + b_dec}


def test_latent_shards_combine_with_data_parallelism(tmp_path):
    # the reference is plain data parallelism over 2 processes (each rank's AuxK normalises by its own
    # rows' residual variance, so data-parallel AuxK is not one process's); 2 x 2 shards must equal it
    store = make_store(tmp_path / "s.h5")
    args = ["--store", str(store), "--arch", "topk", *COMMON]
    _run([*RUN, "--nproc-per-node", "2", "--master-port", str(_port()), "-m", "saekit.train", *args,
          "--out", str(tmp_path / "one")])
    _run([*RUN, "--nproc-per-node", "4", "--master-port", str(_port()), "-m", "saekit.train", *args,
          "--shard-latents", "2", "--out", str(tmp_path / "four")])
    _close(tmp_path / "one", tmp_path / "four")


def _two_nodes(tmp_path, module_args):
    """Two torchrun launchers, one process each, meeting at a c10d rendezvous on 127.0.0.1."""
    rdzv = ["--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint",
            f"127.0.0.1:{_port()}", "--rdzv-id", "saekit-test"]
    procs = [subprocess.Popen([*RUN, *rdzv, *module_args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_env(), cwd=ROOT) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=400)
        assert p.returncode == 0, err[-3000:]


def test_two_nodes_train_like_one_process_with_two_partitions(tmp_path):
    store = make_store(tmp_path / "s.h5")
    # 64 latents, none dead: no AuxK, whose per-rank normalisation would make data parallelism differ
    args = ["--store", str(store), "--arch", "topk", *COMMON, "--expansion", "4", "--dead-tokens", "100000"]
    _run([PY, "-m", "saekit.train", *args, "--data-partitions", "2", "--out", str(tmp_path / "one")])
    _two_nodes(tmp_path, ["-m", "saekit.train", *args, "--out", str(tmp_path / "nodes")])
    _close(tmp_path / "one", tmp_path / "nodes")


def test_two_nodes_capture_every_sample_once(tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("\n".join(f"line {i} {'abc ' * (i % 5)}" for i in range(20)) + "\n")
    hook = "blocks.1.hook_resid_post"
    cap = ["-m", "saekit", "capture", "--model", "random:gpt2", "--data", str(lines), "--hook", hook,
           "--batch-size", "4", "--no-progress"]
    _two_nodes(tmp_path, [*cap, "--out", str(tmp_path / "nodes")])
    _run([PY, *cap, "--out", str(tmp_path / "one.h5")])
    with ActivationStore.open(tmp_path / "nodes") as s, ActivationStore.open(tmp_path / "one.h5") as one:
        assert s.is_sharded and len(s.shard_paths) == 2 and s.complete
        assert sorted(s.sample_ids.tolist()) == list(range(20)) and s.n_rows(hook) == one.n_rows(hook)
        for i in range(20):
            np.testing.assert_allclose(s.rows_for_sample(hook, i)[0], one.rows_for_sample(hook, i)[0], rtol=1e-5, atol=1e-6)


def test_sharded_trainer_state_resumes_in_one_process(tmp_path):
    """A latent-sharded run killed mid-way leaves a whole-dictionary trainer state (slices and Adam
    moments gathered on rank 0): one process resumes it and ends where one uninterrupted process does."""
    import os
    import signal

    store = make_store(tmp_path / "s.h5")
    args = ["--store", str(store), "--arch", "topk", *COMMON, "--tokens", "40960", "--checkpoint-every", "10",
            "--log-every", "10"]
    _run([PY, "-m", "saekit.train", *args, "--out", str(tmp_path / "ref")])
    out = tmp_path / "killed"
    proc = subprocess.Popen([*RUN, "--nproc-per-node", "2", "--master-port", str(_port()), "-m", "saekit.train", *args,
                             "--shard-latents", "2", "--out", str(out)], env=_env(), cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = out / "trainer_state.pt"
    wait_for_checkpoint(proc, state, 40, timeout=300)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = torch.load(state, weights_only=False)["step"]
    assert 0 < killed_at < 160 and not (out / "weights.safetensors").exists()
    _run([PY, "-m", "saekit.train", *args, "--out", str(out), "--resume"])
    _close(tmp_path / "ref", out)


def test_shard_latents_that_do_not_divide_the_processes_is_one_line(tmp_path, capsys):
    from saekit.cli.main import main

    store = make_store(tmp_path / "s.h5", n=512)
    assert main(["train", "--store", str(store), "--arch", "topk", *COMMON, "--shard-latents", "2",
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--shard-latents 2 must divide the number of processes (1)" in err


@pytest.mark.parametrize("on_device", ["on", "off"])
def test_latent_group_reads_once_and_names_nan_rows(tmp_path, on_device):
    """Only a group's first rank reads the batch (the others get it broadcast): NaN rows still stop the
    run with the one line that names them, whether checked on load (resident) or after the loss (stream)."""
    store = make_store(tmp_path / "bad.h5", nan_row=1234)
    proc = subprocess.run([*RUN, "--nproc-per-node", "2", "--master-port", str(_port()), "-m", "saekit.train",
                           "--store", str(store), "--arch", "topk", *COMMON, "--normalization", "none",
                           "--holdout", "0", "--data-on-device", on_device, "--shard-latents", "2",
                           "--out", str(tmp_path / "o")], capture_output=True, text=True, env=_env(), cwd=ROOT,
                          timeout=300)
    assert proc.returncode != 0
    assert re.search(r"error: .*NaN or Inf .*sample_id=154, position=2", proc.stderr), proc.stderr[-2000:]
    assert not (tmp_path / "o" / "weights.safetensors").exists()
