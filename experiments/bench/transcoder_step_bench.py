"""A transcoder's training step against an SAE's of the same width, interleaved step by step in one process.

On a machine shared with other work, two training runs one after the other see different loads (the
alternating runs of transcoder_bench.py --speed-pairs differed 2.5x between pairs). Here one trainer
member of each kind steps on fixed batches of the same store rows in turn (SAE, transcoder, SAE, ...),
so both see the same load; reported are the medians of each step's wall time and of the process CPU
time it took, and their ratios (transcoder / SAE), with the number of dead latents each had (AuxK,
part of the recipe, runs only while a member has dead latents: --aux-coeff 0 times the steps without it).
The SAE reads the transcoder's input hook. A short run marks latents dead early (the window is a tenth of
--steps' tokens) and the two kinds need not have the same number: --dead N pins the same N dead latents on
both, so the ratio compares steps of equal AuxK work (--dead 0 50: none on the SAE, 50 on the transcoder,
the counts of whole 1M-row runs). --sparse-auxk also times every step with AuxK on the
sparse kernels (the path taken beyond DENSE_AUXK_FACTOR * k_aux dead latents), interleaved the same way.
Prints ONE JSON line.

    PYTHONPATH=. python experiments/bench/transcoder_step_bench.py --store smol.h5
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", required=True)
    p.add_argument("--hook", default="blocks.6.ln2.hook_normalized")
    p.add_argument("--target-hook", default="blocks.6.hook_mlp_out")
    p.add_argument("--steps", type=int, default=20, help="timed steps of each member (after --warmup)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--expansion", type=float, default=8.0)
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--aux-coeff", type=float, default=1 / 32)
    p.add_argument("--dead", type=int, nargs="+", default=None,
                   help="pin these many dead latents (the same ones) on both, or N_SAE N_TRANSCODER on each")
    p.add_argument("--sparse-auxk", action="store_true", help="also time each step with AuxK's sparse kernels")
    args = p.parse_args()

    import torch

    from saekit.sae import topk_training
    from saekit.train import distributed as D
    from saekit.train.config import TrainConfig
    from saekit.train.data import open_source
    from saekit.train.member import Member
    from saekit.train.paired import paired_source

    device = torch.device("cpu")
    info = D.init_from_env("cpu")
    store = open_source(args.store)
    paired = paired_source(store, args.hook, (args.target_hook,))
    tmp = Path(tempfile.mkdtemp())
    common = dict(arch="topk", k=args.k, expansion=args.expansion, tokens=args.batch_size * (args.steps + args.warmup),
                  batch_size=args.batch_size, progress=False, device="cpu", aux_coeff=args.aux_coeff)
    members, batches = {}, {}
    for name, extra, source in (("sae", {}, store), ("transcoder", {"target_hook": (args.target_hook,)}, paired)):
        (tmp / name).mkdir()
        members[name] = Member(TrainConfig(hook=args.hook, out=str(tmp / name), **common, **extra), source, device, info,
                               None)
        n = source.n_rows(args.hook)
        batches[name] = [torch.from_numpy(source.read_rows(args.hook, a, a + args.batch_size))
                         for a in range(0, n - args.batch_size, n // 4)][:4]
    if args.dead is not None:  # the same latents on both, whatever fires (a bench-only override of the tracker)
        order = torch.randperm(members["sae"].sae.cfg.d_sae, generator=torch.Generator().manual_seed(0))
        for m, n in zip(members.values(), args.dead * 2 if len(args.dead) == 1 else args.dead):
            m.tracker.dead_idx = lambda window=None, idx=order[:n].sort().values: idx
    dense_factor = topk_training.DENSE_AUXK_FACTOR
    modes = {"": dense_factor, **({"sparse_auxk_": 0} if args.sparse_auxk else {})}
    runs = [f"{mode}{name}" for mode in modes for name in members]
    wall: dict[str, list[float]] = {r: [] for r in runs}
    cpu: dict[str, list[float]] = {r: [] for r in runs}
    dead: dict[str, list[int]] = {r: [] for r in runs}
    for i in range(args.warmup + args.steps):
        for mode, factor in modes.items():
            topk_training.DENSE_AUXK_FACTOR = factor
            for name, m in members.items():
                x = batches[name][i % len(batches[name])]
                t, c = time.perf_counter(), time.process_time()
                m.step(x, i)
                if i >= args.warmup:
                    run = f"{mode}{name}"
                    dead[run].append(int(m.ctx.dead_idx.numel()) if m.ctx.dead_idx is not None else 0)
                    wall[run].append(time.perf_counter() - t)
                    cpu[run].append(time.process_time() - c)
    topk_training.DENSE_AUXK_FACTOR = dense_factor
    med = {f"{kind}_{name}_s": round(statistics.median(v[name]), 4) for kind, v in (("wall", wall), ("cpu", cpu))
           for name in v}
    print(json.dumps({"bench": "transcoder_step", "store": args.store, "hook": args.hook, "target_hook": args.target_hook,
                      "d_sae": members["sae"].sae.cfg.d_sae, "k": args.k, "batch_size": args.batch_size,
                      "steps": args.steps, "torch_threads": torch.get_num_threads(), "aux_coeff": args.aux_coeff,
                      "median_dead": {k: statistics.median(v) for k, v in dead.items()}, **med,
                      "k_aux": members["sae"].ctx.k_aux, "dense_auxk_factor": dense_factor,
                      **{f"ratio_{kind}{'_' + mode.rstrip('_') if mode else ''}":
                         round(med[f"{kind}_{mode}transcoder_s"] / med[f"{kind}_{mode}sae_s"], 3)
                         for mode in modes for kind in ("wall", "cpu")}}))


if __name__ == "__main__":
    main()
