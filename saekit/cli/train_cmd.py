"""`saekit train`: train an SAE on an activation store (also the argument set of `python -m saekit.train`)."""
from __future__ import annotations

import argparse

HELP = "train a sparse autoencoder on an activation store"


def _lr(value: str) -> float | None:
    if value == "auto":
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {value!r}") from exc


def _prefixes(value: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {value!r}") from exc


def _bytes(value: str) -> int:
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    text = value.strip().upper().removesuffix("B").removesuffix("I")
    unit = text[-1:] if text[-1:] in units and not text[-1:].isdigit() else ""
    try:
        return int(float(text[: len(text) - len(unit)]) * units[unit])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a size such as 4G, 512M or 1073741824, got {value!r}") from exc


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", required=True, help="activation store (.h5 file or shard directory)")
    p.add_argument("--hook", required=True, help="hook point to train on, e.g. blocks.6.hook_resid_post")
    p.add_argument("--arch", required=True, help="relu | topk | batchtopk | jumprelu | matryoshka")
    p.add_argument("--expansion", type=float, default=16.0, help="d_sae / d_in (default 16)")
    p.add_argument("--k", type=int, default=None, help="active latents per token (topk, batchtopk, matryoshka)")
    p.add_argument("--l1", type=float, default=None, help="L1 coefficient for relu (default 5 / sqrt(d_in))")
    p.add_argument("--tokens", type=int, required=True, help="training tokens (rows) to process")
    p.add_argument("--batch-size", type=int, default=4096, help="global batch size (default 4096)")
    p.add_argument("--lr", type=_lr, default=None,
                   help="Adam learning rate or 'auto' (default): 2e-4 / sqrt(d_sae / 16384), as in Gao et al. 2024")
    p.add_argument("--out", required=True, help="output directory for the checkpoint")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--normalization", default="scale", choices=["scale", "layernorm", "none"],
                   help="input normalisation stored in the checkpoint (default: scale to unit mean squared norm)")
    p.add_argument("--k-aux", type=int, default=None, help="AuxK latents (default d_in / 2)")
    p.add_argument("--aux-coeff", type=float, default=1 / 32, help="AuxK loss weight (default 1/32)")
    p.add_argument("--dead-tokens", type=int, default=None,
                   help="tokens without firing after which a latent counts as dead (default min(10M, tokens/10))")
    p.add_argument("--l1-decoder-norm", action="store_true", help="relu: weight L1 by decoder norms (free decoder norms)")
    p.add_argument("--l0-coeff", type=float, default=None, help="jumprelu L0 coefficient")
    p.add_argument("--bandwidth", type=float, default=None, help="jumprelu straight-through kernel width")
    p.add_argument("--matryoshka-prefixes", type=_prefixes, default=(), help="e.g. 512,2048,8192,16384")
    p.add_argument("--data-partitions", type=int, default=None,
                   help="store partitions that make up a global batch (default: the number of processes)")
    p.add_argument("--warmup-steps", type=int, default=None)
    p.add_argument("--checkpoint-every", type=int, default=None, help="write trainer state every N steps")
    p.add_argument("--checkpoint-every-s", type=float, default=120.0, help="... and at least every S seconds")
    p.add_argument("--log-every", type=int, default=10, help="metrics.jsonl line every N steps")
    p.add_argument("--holdout", type=float, default=0.1,
                   help="fraction of samples held out of training by a stable hash of the sample id (default 0.1, "
                        "recorded in the checkpoint; `saekit eval` uses them); 0 turns it off")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--data-on-device", default="auto", choices=["auto", "on", "off"],
                   help="hold the training rows in device memory (auto: when they fit --device-memory-budget)")
    p.add_argument("--device-memory-budget", type=_bytes, default=None,
                   help="bytes the resident rows may take, e.g. 8G (default: half the free GPU memory; "
                        "a quarter of the available RAM on CPU)")
    p.add_argument("--sweep", action="append", default=[], metavar="FIELD=V1,V2,...",
                   help="train one SAE per value (repeat for a grid, e.g. --sweep k=16,32,64 --sweep expansion=8,16) "
                        "from one pass over the data, each into --out/<name>")


def config_from_args(args: argparse.Namespace):
    from saekit.train.config import TrainConfig

    return TrainConfig(
        store=args.store, hook=args.hook, arch=args.arch, expansion=args.expansion, k=args.k, l1=args.l1,
        tokens=args.tokens, batch_size=args.batch_size, lr=args.lr, out=args.out, device=args.device, seed=args.seed,
        resume=args.resume, normalization=args.normalization, k_aux=args.k_aux, aux_coeff=args.aux_coeff,
        dead_tokens=args.dead_tokens, l1_decoder_norm=args.l1_decoder_norm, l0_coeff=args.l0_coeff,
        bandwidth=args.bandwidth, matryoshka_prefixes=args.matryoshka_prefixes, data_partitions=args.data_partitions,
        warmup_steps=args.warmup_steps, checkpoint_every_steps=args.checkpoint_every,
        checkpoint_every_s=args.checkpoint_every_s, log_every=args.log_every, progress=not args.no_progress,
        holdout=args.holdout, data_on_device=args.data_on_device, device_memory_budget=args.device_memory_budget, sweep=tuple(args.sweep),
    )


def run(args: argparse.Namespace) -> int:
    import json
    import os
    from pathlib import Path

    from saekit.train import train, train_sweep
    from saekit.train.sweep import sweep_configs

    cfg = config_from_args(args)
    if cfg.sweep:
        saes, outs = train_sweep(cfg), [c.out for c in sweep_configs(cfg)]
    else:
        saes, outs = [train(cfg)], [cfg.out]
    if int(os.environ.get("RANK", "0")) == 0:
        for sae, out in zip(saes, outs):
            metrics = Path(out) / "metrics.jsonl"
            last = metrics.read_text().splitlines()[-1] if metrics.exists() and metrics.stat().st_size else "{}"
            rec = json.loads(last)
            print(f"wrote {out}: {sae.cfg.arch} d_in={sae.cfg.d_in} d_sae={sae.cfg.d_sae} "
                  f"L0={rec.get('l0', float('nan')):.2f} FVE={rec.get('fve', float('nan')):.4f} "
                  f"dead={rec.get('dead_frac', float('nan')):.3f}")
    return 0
