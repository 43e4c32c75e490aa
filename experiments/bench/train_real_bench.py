"""TopK SAE training on real activations, held out by sample: saekit vs SAELens vs dictionary_learning (one JSON line).

Data: one hook of an activation store (--store; the figures in docs/performance.md use the
DINOv2-S store that `saekit quickstart` writes). Samples are
split with stores.split.holdout_mask (saekit's default fraction and salt, so saekit's own
`--holdout` split is the same one): every library trains only on the training samples' rows and
is scored on the held-out samples' rows.

All three train a TopK SAE of the same shape (8x, k 32, batch 4096, fp32, CPU) for the same number
of tokens (--tokens, about 1.5M) at the same learning rate (saekit's auto value for the width):
  saekit               saekit.train.train on the store itself, as `saekit train --store ... --holdout`
                       runs it (its streaming input path, its normalisation, its recipe)
  dictionary_learning  TopKTrainer.update (its recipe: AuxK, geometric-median b_dec, grad clip,
                       linear decay over the last 20%, warm-up as saekit's 5%)
  SAELens              TopKTrainingSAE + SAETrainer.step (its defaults apart from shape, k and LR)
The peers get the training rows scaled to unit mean squared norm (as saekit's normalisation does)
in a seeded permutation per epoch, each in its own subprocess of the peers' venv.
  heldout_fve   pooled FVE on the held-out rows, 1 - SSE / sum ||x - mean||^2 (float64)
  dead_frac     fraction of latents that never fire on the held-out rows
  tokens_per_s  training tokens / wall time of the whole training call (saekit: setup, its input
                path, the final checkpoint included; peers: their loop over prepared batches)

    .venv/bin/python experiments/bench/train_real_bench.py --store QUICKSTART_OUT/store.h5
        [--tokens 1500000] [--only saekit ...] [--peers-python .venv-peers/bin/python]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from worker_process import ROOT, run_worker as run_process  # noqa: E402 - sibling module of this script
EXPANSION, K, BATCH = 8, 32, 4096
EVAL_CHUNK = 8192


def pooled_fve_and_dead(encode_decode, held: np.ndarray, d_sae: int) -> tuple[float, float]:
    """(pooled FVE, dead fraction) over ``held``; encode_decode(x) -> (x_hat, fired bool [d_sae])."""
    sse, fired = 0.0, np.zeros(d_sae, bool)
    for a in range(0, len(held), EVAL_CHUNK):
        x = held[a : a + EVAL_CHUNK]
        x_hat, f = encode_decode(x)
        sse += float(((x.astype(np.float64) - x_hat.astype(np.float64)) ** 2).sum())
        fired |= f
    sst = float(((held.astype(np.float64) - held.astype(np.float64).mean(0)) ** 2).sum())
    return 1 - sse / sst, float(1 - fired.mean())


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it starts afresh at exec, not at the parent's peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peer_batches(work: Path, meta: dict):
    """(step, float32 batch) in the shared seeded per-epoch permutation, scaled to unit mean squared norm."""
    import torch

    train = np.load(work / "train.npy", mmap_mode="r")
    per_epoch = len(train) // BATCH
    perm = None
    for step in range(meta["steps"]):
        epoch, i = divmod(step, per_epoch)
        if i == 0:
            perm = np.random.default_rng([meta["seed"], epoch]).permutation(len(train))
        rows = np.sort(perm[i * BATCH : (i + 1) * BATCH])
        yield step, torch.from_numpy(train[rows] * np.float32(meta["scale"]))


def score_peer(encode, decode, work: Path, meta: dict) -> tuple[float, float]:
    """Held-out (FVE, dead fraction) of a peer SAE trained on rows scaled by meta["scale"]."""
    import torch

    @torch.no_grad()
    def enc_dec(x):
        f = encode(torch.from_numpy(np.ascontiguousarray(x) * np.float32(meta["scale"])))
        return decode(f).numpy() / meta["scale"], (f > 0).any(0).numpy()

    return pooled_fve_and_dead(enc_dec, np.load(work / "held.npy"), meta["d_in"] * EXPANSION)


def worker_dictionary_learning(work: Path, meta: dict) -> dict:
    import torch
    from dictionary_learning.trainers.top_k import TopKTrainer

    torch.set_grad_enabled(True)
    d_in = meta["d_in"]
    t0 = time.perf_counter()
    trainer = TopKTrainer(steps=meta["steps"], activation_dim=d_in, dict_size=d_in * EXPANSION, k=K, layer=0,
                          lm_name="bench", lr=meta["lr"], warmup_steps=meta["warmup"],
                          decay_start=meta["decay_start"], seed=0, device="cpu")
    for step, x in peer_batches(work, meta):
        trainer.update(step, x)
    wall = time.perf_counter() - t0
    ae = trainer.ae.eval()
    fve, dead = score_peer(ae.encode, ae.decode, work, meta)
    import dictionary_learning

    return {"tokens_per_s": meta["steps"] * BATCH / wall, "wall_s": wall, "heldout_fve": fve, "dead_frac": dead,
            "peak_rss_mb": peak_rss_mb(), "version": getattr(dictionary_learning, "__version__", "0.1.0")}


def worker_saelens(work: Path, meta: dict) -> dict:
    import sae_lens
    import torch
    from sae_lens.config import SAETrainerConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.training.sae_trainer import SAETrainer

    d_in = meta["d_in"]
    torch.manual_seed(0)
    t0 = time.perf_counter()
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=d_in, d_sae=d_in * EXPANSION, k=K, device="cpu", dtype="float32"))
    tcfg = SAETrainerConfig(total_training_samples=meta["steps"] * BATCH, train_batch_size_samples=BATCH,
                            lr=meta["lr"], lr_end=meta["lr"], device="cpu", autocast=False)
    trainer = SAETrainer(cfg=tcfg, sae=sae, data_provider=iter(()), evaluator=None)
    for _, x in peer_batches(work, meta):
        trainer.step(x)
        trainer.n_training_steps += 1
    wall = time.perf_counter() - t0
    sae.eval()
    fve, dead = score_peer(sae.encode, sae.decode, work, meta)
    return {"tokens_per_s": meta["steps"] * BATCH / wall, "wall_s": wall, "heldout_fve": fve, "dead_frac": dead,
            "peak_rss_mb": peak_rss_mb(), "version": sae_lens.__version__}


def worker_saekit(work: Path, meta: dict) -> dict:
    import torch

    from saekit.results import MetricsLog
    from saekit.train import TrainConfig, train

    out = work / "saekit_run"
    cfg = TrainConfig(store=meta["store"], hook=meta["hook"], arch="topk", k=K, expansion=EXPANSION,
                      tokens=meta["steps"] * BATCH, batch_size=BATCH, lr=meta["lr"], out=str(out), device="cpu",
                      progress=False, seed=0, holdout=meta["holdout"], data_on_device=meta["data_on_device"],
                      ).replace(**meta["saekit_cfg"])
    t0 = time.perf_counter()
    sae = train(cfg)
    wall = time.perf_counter() - t0
    last = MetricsLog.load(out).records[-1]

    @torch.no_grad()
    def enc_dec(x):
        z = sae.encode(torch.from_numpy(np.ascontiguousarray(x)))
        return sae.decode(z).numpy(), (z > 0).any(0).numpy()

    held = np.load(work / "held.npy")
    fve, dead = pooled_fve_and_dead(enc_dec, held, sae.cfg.d_sae)
    return {"tokens_per_s": meta["steps"] * BATCH / wall, "wall_s": wall, "heldout_fve": fve, "dead_frac": dead,
            "loop_tokens_per_s": last.tokens_per_s, "peak_rss_mb": peak_rss_mb(), "threads": torch.get_num_threads()}


WORKERS = {"saekit": worker_saekit, "dictionary_learning": worker_dictionary_learning, "saelens": worker_saelens}


def prepare(store_path: str, hook: str | None, work: Path, tokens: int, holdout: float) -> dict:
    """Split the store's rows by sample, write train.npy / held.npy (float32, raw), return the run's meta."""
    from saekit.train.config import auto_lr
    from saekit.train.schedule import default_warmup
    from stores import ActivationStore
    from stores.dtypes import to_float32
    from stores.split import DEFAULT_SALT, holdout_mask

    store = ActivationStore.open(store_path)
    hook = hook or store.hooks[0]
    n = store.n_rows(hook)
    x = to_float32(store.read_raw(hook, 0, n), store.dtype)
    sid, _ = store.read_index(hook, 0, n)
    held = holdout_mask(sid, holdout, DEFAULT_SALT)
    np.save(work / "train.npy", x[~held])
    np.save(work / "held.npy", x[held])
    d_in = x.shape[1]
    steps = tokens // BATCH
    mean_sq = float((x[~held].astype(np.float64) ** 2).sum(1).mean())
    meta = {"store": store_path, "hook": hook, "d_in": d_in, "steps": steps, "seed": 0,
            "lr": auto_lr(d_in * EXPANSION), "warmup": default_warmup(steps), "decay_start": int(steps * 0.8),
            "scale": 1 / math.sqrt(mean_sq), "holdout": holdout, "train_rows": int((~held).sum()),
            "held_rows": int(held.sum()), "held_samples": int(len(np.unique(sid[held]))), "store_dtype": store.dtype}
    store.close()
    return meta


def run_worker(python: str, which: str, work: Path, meta: dict) -> dict:
    (work / "meta.json").write_text(json.dumps(meta))
    return run_process(python, __file__, which, "--work", str(work))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", help="activation store to train on (e.g. the one `saekit quickstart --out DIR` writes)")
    ap.add_argument("--hook", default=None)
    ap.add_argument("--tokens", type=int, default=1_500_000)
    ap.add_argument("--holdout", type=float, default=0.1)
    ap.add_argument("--data-on-device", default="auto")
    ap.add_argument("--saekit-cfg", default="{}", help="JSON of TrainConfig fields to override (recipe experiments)")
    ap.add_argument("--only", nargs="+", choices=list(WORKERS), default=list(WORKERS))
    ap.add_argument("--peers-python", default=str(ROOT / ".venv-peers" / "bin" / "python"))
    ap.add_argument("--worker", choices=list(WORKERS))
    ap.add_argument("--work")
    args = ap.parse_args()
    if not args.worker and not args.store:
        ap.error("--store is required")
    if args.worker:
        work = Path(args.work)
        print(json.dumps(WORKERS[args.worker](work, json.loads((work / "meta.json").read_text()))))
        return
    with tempfile.TemporaryDirectory(prefix="train_real_") as tmp:
        work = Path(tmp)
        meta = prepare(args.store, args.hook, work, args.tokens, args.holdout)
        meta["data_on_device"] = args.data_on_device
        meta["saekit_cfg"] = json.loads(args.saekit_cfg)
        res = {}
        for which in args.only:
            res[which] = run_worker(sys.executable if which == "saekit" else args.peers_python, which, work, meta)
    peers = [w for w in res if w != "saekit"]
    summary: dict = {"bench": "train_topk_real", "store": args.store, "hook": meta["hook"], "d_in": meta["d_in"],
                     "d_sae": meta["d_in"] * EXPANSION, "k": K, "batch": BATCH, "steps": meta["steps"],
                     "tokens": meta["steps"] * BATCH, "lr": meta["lr"], "saekit_cfg": meta["saekit_cfg"], "train_rows": meta["train_rows"],
                     "held_rows": meta["held_rows"], "held_samples": meta["held_samples"],
                     "results": {w: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
                                 for w, r in res.items()}}
    if "saekit" in res and peers:
        best = max(peers, key=lambda w: res[w]["heldout_fve"])
        summary["best_peer_fve"] = best
        summary["fve_margin"] = round(res["saekit"]["heldout_fve"] - res[best]["heldout_fve"], 4)
        summary["dead_no_higher"] = all(res["saekit"]["dead_frac"] <= res[w]["dead_frac"] for w in peers)
        if "saelens" in res:
            summary["tokens_per_s_vs_saelens"] = round(res["saekit"]["tokens_per_s"] / res["saelens"]["tokens_per_s"], 2)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
