"""TopK SAE training throughput: saekit vs SAELens on the same synthetic data (one JSON line on stdout).

Run: .venv/bin/python experiments/bench/train_bench.py   (needs `make bench-venv` for SAELens)

Both libraries train a TopK SAE (d_in=384, expansion 16 -> 6144 latents, k=32, batch 4096, fp32,
CPU) for the same number of steps on identical batches: each batch is drawn from a planted sparse
dictionary (24 of 4096 unit atoms per row, exponential coefficients, Gaussian noise, a shared
offset; scaled to unit mean squared norm) by torch's seeded generator inside the timed loop.
Each library runs in its own subprocess (SAELens in .venv-bench, which pins an older
transformer-lens) and is measured the same way:
  tokens_per_s  rows per second between the request of batch WARM and the end of the last step
                (data generation + the library's own training step; the first WARM steps are warm-up;
                saekit's clock stops when train() returns, final checkpoint write included, since
                its input feed requests batches ahead of the step)
  fve           pooled FVE, 1 - SSE / sum ||x - mean||^2, on 8192 held-out rows, same numpy formula
  peak_rss_mb   ru_maxrss of the subprocess
saekit: saekit.train.train (its full trainer: recipe, dead-latent tracking, metrics, final
checkpoint). SAELens: TopKTrainingSAE + SAETrainer.step (its own training step: AuxK, dead-feature
stats, grad clipping, Adam), default config apart from the shape, k and the learning rate, which is
set to saekit's auto value (2e-4 / sqrt(6144 / 16384)) for both.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

D_IN, EXPANSION, K, BATCH = 384, 16, 32, 4096
D_SAE = D_IN * EXPANSION
STEPS, WARM = int(os.environ.get("BENCH_STEPS", "48")), 3
N_ATOMS, ACTIVE, NOISE = 4096, 24, 0.05
LR = 2e-4 / math.sqrt(D_SAE / 16384)
from worker_process import ROOT, run_worker as run_process  # noqa: E402 - sibling module of this script


def _dictionary():
    import torch

    g = torch.Generator().manual_seed(1234)
    atoms = torch.randn(N_ATOMS, D_IN, generator=g)
    atoms /= atoms.norm(dim=1, keepdim=True)
    offset = 0.5 * torch.randn(D_IN, generator=g) / math.sqrt(D_IN)
    return atoms, offset


def make_batch(index: int, rows: int = BATCH):
    """Batch `index` of the synthetic stream (float32 [rows, D_IN]); identical in both venvs."""
    import torch
    import torch.nn.functional as F

    atoms, offset = _DICT
    g = torch.Generator().manual_seed(10_000 + index)
    idx = torch.randint(0, N_ATOMS, (rows, ACTIVE), generator=g)
    coef = torch.empty(rows, ACTIVE).exponential_(1.0, generator=g)
    x = F.embedding_bag(idx, atoms, per_sample_weights=coef, mode="sum")
    x += NOISE * torch.randn(rows, D_IN, generator=g) + offset
    # E||x||^2 = ACTIVE * E[c^2] + noise + offset: scale to unit mean squared norm
    return x / math.sqrt(ACTIVE * 2.0 + NOISE**2 * D_IN + float(offset.pow(2).sum()))


def pooled_fve(x, x_hat) -> float:
    import numpy as np

    x, x_hat = np.asarray(x, np.float64), np.asarray(x_hat, np.float64)
    return float(1 - ((x - x_hat) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Clock:
    def __init__(self) -> None:
        self.t: dict[int, float] = {}

    def mark(self, i: int) -> None:
        self.t[i] = time.perf_counter()

    def tokens_per_s(self) -> float:
        last = max(self.t)
        return (last - WARM) * BATCH / (self.t[last] - self.t[WARM])


def worker_saekit() -> dict:
    import numpy as np
    import torch

    from saekit.train import TrainConfig, train

    clock = Clock()

    class SyntheticSource:
        hooks = ["h"]
        attrs: dict = {}

        def d(self, hook):
            return D_IN

        def n_rows(self, hook):
            return STEPS * BATCH

        def stats(self, hook):
            return {"mean_sq_norm": float(make_batch(-1).pow(2).sum(1).mean())}

        def iter_batches(self, hook, batch_size, shuffle=False, seed=0, epoch=0, rank=0, world_size=1,
                         buffer_rows=None, drop_last=False, with_index=False, **kw):
            if batch_size != BATCH:  # the b_dec init sample
                x = make_batch(-2, batch_size).numpy()
                yield (x, np.arange(len(x)), np.full(len(x), -1, np.int32)) if with_index else x
                return
            for i in range(STEPS):
                clock.mark(i)
                x = make_batch(i).numpy()
                yield (x, np.arange(len(x)), np.full(len(x), -1, np.int32)) if with_index else x

    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(hook="h", arch="topk", k=K, expansion=EXPANSION, tokens=STEPS * BATCH, batch_size=BATCH,
                          out=out, device="cpu", progress=False, seed=0, holdout=0.0, data_on_device="off")
        sae = train(cfg, SyntheticSource())
        clock.mark(STEPS)  # the feed requests batches ahead of the step: stop the clock when training is done
    held = make_batch(999_999, 8192)
    with torch.no_grad():
        x_hat = sae(held)
    return {"tokens_per_s": clock.tokens_per_s(), "fve": pooled_fve(held, x_hat), "peak_rss_mb": peak_rss_mb(),
            "torch": torch.__version__, "threads": torch.get_num_threads()}


def worker_saelens() -> dict:
    import sae_lens
    import torch
    from sae_lens.config import SAETrainerConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.training.sae_trainer import SAETrainer

    torch.manual_seed(0)
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=D_IN, d_sae=D_SAE, k=K, device="cpu", dtype="float32"))
    tcfg = SAETrainerConfig(total_training_samples=STEPS * BATCH, train_batch_size_samples=BATCH, lr=LR,
                            lr_end=LR, device="cpu", autocast=False)
    trainer = SAETrainer(cfg=tcfg, sae=sae, data_provider=iter(()), evaluator=None)
    clock = Clock()
    for i in range(STEPS):
        clock.mark(i)
        trainer.step(make_batch(i))
        trainer.n_training_steps += 1
    held = make_batch(999_999, 8192)
    with torch.no_grad():
        sae.eval()
        x_hat = sae(held)
    return {"tokens_per_s": clock.tokens_per_s(), "fve": pooled_fve(held, x_hat), "peak_rss_mb": peak_rss_mb(),
            "version": sae_lens.__version__, "torch": torch.__version__, "threads": torch.get_num_threads()}


def _run_worker(python: Path, which: str) -> dict:
    return run_process(python, __file__, which, timeout=600)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", choices=["saekit", "saelens"])
    args = ap.parse_args()
    if args.worker:
        global _DICT
        _DICT = _dictionary()
        res = worker_saekit() if args.worker == "saekit" else worker_saelens()
        print(json.dumps(res))
        return
    bench_py = ROOT / ".venv-bench" / "bin" / "python"
    if not bench_py.exists():
        raise SystemExit("SAELens venv missing: run `make bench-venv` first")
    ours = _run_worker(Path(sys.executable), "saekit")
    theirs = _run_worker(bench_py, "saelens")
    print(json.dumps({
        "bench": "train_topk", "d_in": D_IN, "d_sae": D_SAE, "k": K, "batch": BATCH, "steps": STEPS,
        "tokens": STEPS * BATCH, "device": "cpu",
        "saekit_tokens_per_s": round(ours["tokens_per_s"], 1), "saelens_tokens_per_s": round(theirs["tokens_per_s"], 1),
        "ratio": round(ours["tokens_per_s"] / theirs["tokens_per_s"], 3),
        "saekit_fve": round(ours["fve"], 4), "saelens_fve": round(theirs["fve"], 4),
        "saekit_peak_rss_mb": round(ours["peak_rss_mb"], 1), "saelens_peak_rss_mb": round(theirs["peak_rss_mb"], 1),
        "saelens_version": theirs.get("version"), "torch": ours["torch"], "threads": ours["threads"],
    }))


_DICT = None

if __name__ == "__main__":
    main()
