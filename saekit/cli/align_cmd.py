"""`saekit align`: give an image encoder a text space (a ridge map fitted on image-caption pairs),
or evaluate a CLIP model's own one; writes OUT/align.json, OUT/map.npz and OUT/index.html."""
from __future__ import annotations

import argparse

HELP = "fit a linear map from image features to a text-embedding space (or evaluate CLIP's own)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", required=True, help="activation store with image-caption samples (/samples text)")
    p.add_argument("--hook", required=True,
                   help="hook whose pooled features are mapped (use the SAE's hook to name by decoder direction; "
                        "image_embeds for CLIP)")
    p.add_argument("--text-encoder", default="offline:minilm",
                   help="offline:minilm (default), st:<sentence-transformers model>, or a CLIP model spec "
                        "(random:clip, hf:openai/clip-vit-base-patch32) to use its own text tower instead of a fit")
    p.add_argument("--pooling", default="mean", choices=["mean", "first"],
                   help="how a sample's rows become one feature vector: mean over tokens (default) or its first row (CLS)")
    p.add_argument("--test-frac", type=float, default=0.2, help="held-out share of pairs for recall@k (default 0.2)")
    p.add_argument("--k", type=int, default=10, help="k of recall@k (default 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (CLIP models only)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from saekit.analysis.alignment import AlignConfig, align
    from saekit.errors import SaekitError

    if not 0.0 < args.test_frac < 0.9:
        raise SaekitError(f"--test-frac must be in (0, 0.9), got {args.test_frac}")
    if args.k < 1:
        raise SaekitError(f"--k must be >= 1, got {args.k}")
    device = args.device
    if device == "auto":
        from saekit.device import resolve_device

        device = str(resolve_device("auto"))
    cfg = AlignConfig(hook=args.hook, pooling=args.pooling, text_encoder=args.text_encoder,
                      test_frac=args.test_frac, k=args.k, seed=args.seed)
    _, meta = align(args.store, cfg, out=args.out, device=device, progress=not args.no_progress)
    m = meta["metrics"]
    k = cfg.k
    line = f"recall@{k} {m[f'recall_at_{k}']:.3f} on {m['n_test']} held-out pairs (chance {m[f'chance_recall_at_{k}']:.3f}"
    if f"baseline_shuffled_recall_at_{k}" in m:
        line += f", shuffled-caption fit {m[f'baseline_shuffled_recall_at_{k}']:.3f}"
    print(line + ")")
    print(f"wrote {args.out}/align.json")
    return 0
