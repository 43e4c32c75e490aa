"""`saekit name`: vocabulary names, top examples with heatmaps and Monosemanticity Scores for the
live latents of an SAE; writes OUT/names.json, OUT/heatmaps/*.png and OUT/index.html."""
from __future__ import annotations

import argparse

HELP = "name SAE latents with a vocabulary (top examples, heatmaps, Monosemanticity Score)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sae", required=True, help="SAE checkpoint directory")
    p.add_argument("--store", required=True, help="activation store (.h5 file or shard directory)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--hook", default=None, help="store hook (default: the SAE's hook)")
    p.add_argument("--vocab", default=None, help="vocabulary file, one word or phrase a line (default: the shipped one)")
    p.add_argument("--text-space", default=None,
                   help="`saekit align` output directory or a CLIP model spec (default: the store's own CLIP model, "
                        "or for text stores the text encoder on sample texts)")
    p.add_argument("--text-encoder", default="offline:minilm", help="text encoder for text stores (default offline:minilm)")
    p.add_argument("--method", default="auto", choices=["auto", "decoder", "top-images", "both"],
                   help="what is compared with the vocabulary (default auto: decoder direction + top samples when possible)")
    p.add_argument("--top-n", type=int, default=10, help="top samples per latent (default 10)")
    p.add_argument("--candidates", type=int, default=5, help="vocabulary candidates kept per latent (default 5)")
    p.add_argument("--max-latents", type=int, default=None, help="name only the N most frequent live latents")
    p.add_argument("--html-latents", type=int, default=200,
                   help="latents (best named first) that get heatmap PNGs and a card in index.html (default 200)")
    p.add_argument("--mono-hook", default=None,
                   help="store hook whose pooled features embed samples for the Monosemanticity Score "
                        "(default: the text-space embedding, else the SAE's hook)")
    p.add_argument("--no-mono", action="store_true", help="skip the Monosemanticity Score")
    p.add_argument("--data", default=None, help="dataset spec to reload images from (default: the one recorded in the store)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from saekit.analysis.naming import NamingOptions, run_naming
    from saekit.device import resolve_device
    from saekit.errors import SaekitError
    from saekit.sae import SAE

    if args.top_n < 1 or args.candidates < 1:
        raise SaekitError("--top-n and --candidates must be >= 1")
    device = str(resolve_device(args.device))
    sae = SAE.load(args.sae, device=device)
    dataset = None
    if args.data:
        from saekit.data import load_dataset

        dataset = load_dataset(args.data)
    cfg = NamingOptions(method=args.method, top_n=args.top_n, n_candidates=args.candidates,
                     max_latents=args.max_latents, heatmap_latents=args.html_latents,
                     mono=not args.no_mono, mono_hook=args.mono_hook, seed=args.seed)
    doc = run_naming(sae, args.store, args.out, hook=args.hook, sae_dir=args.sae, vocab=args.vocab,
                     text_space=args.text_space, text_encoder=args.text_encoder, dataset=dataset, cfg=cfg,
                     device=device, progress=not args.no_progress)
    for note in doc["notes"]:
        print(f"note: {note}")
    best = sorted(doc["latents"], key=lambda l: -l["score"])[:5]
    print(f"named {doc['n_named']} of {doc['n_live']} live latents ({doc['method']}); best: "
          + ", ".join(f"#{l['latent']} {l['name']} ({l['score']:.2f})" for l in best))
    print(f"wrote {args.out}/names.json and {args.out}/index.html")
    return 0
