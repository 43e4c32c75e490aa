"""`saekit artifacts`: high-norm artifact tokens, register neurons and test-time registers of a ViT."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "detect high-norm artifact tokens per layer, register neurons and test-time registers (writes artifacts.json + index.html)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model spec (hf:..., offline:dinov2-small, random:vit, ...)")
    p.add_argument("--data", required=True, help="image dataset (folder, hfds:DIR, bundled:clipart)")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--json", action="store_true", help="print artifacts.json to stdout")
    p.add_argument("--limit", type=int, default=64, help="number of images to analyse (default 64)")
    p.add_argument("--threshold", type=float, default=None,
                   help="fixed outlier norm threshold for every layer (default: automatic per layer from the norm gap)")
    p.add_argument("--min-ratio", type=float, default=2.5, help="automatic threshold: outliers are >= this x the median norm")
    p.add_argument("--min-gap", type=float, default=1.3, help="automatic threshold: minimum jump between consecutive sorted norms")
    p.add_argument("--detect-layer", type=int, default=-1, help="layer whose outliers score register neurons (default last)")
    p.add_argument("--layer-cap", type=int, default=None, help="register neurons only from layers <= this (default: first outlier layer)")
    p.add_argument("--top-k", type=int, default=10, help="number of register neurons (default 10)")
    p.add_argument("--register-init", choices=("zeros", "mean"), default="zeros", help="test-time register initialisation")
    p.add_argument("--register-write", default="joint", choices=["joint", "per-neuron"],
                   help="what the test-time register gets: joint = one signed max over tokens and all register "
                        "neurons of a layer (the authors' code), per-neuron = each neuron's own max")
    p.add_argument("--no-registers", action="store_true", help="skip register neurons and test-time registers")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="auto")


def run(args: argparse.Namespace) -> int:
    from saekit.analysis.artifacts import ArtifactConfig, analyze_artifacts
    from saekit.analysis.artifacts_report import render_html, write_heatmaps
    from saekit.data import load_dataset
    from saekit.errors import SaekitError
    from saekit.models import load_model

    if args.limit is not None and args.limit < 1:
        raise SaekitError(f"--limit must be >= 1, got {args.limit}")
    cfg = ArtifactConfig(threshold=args.threshold, min_ratio=args.min_ratio, min_gap=args.min_gap,
                         detect_layer=args.detect_layer, layer_cap=args.layer_cap, top_k=args.top_k,
                         register_init=args.register_init, register_write=args.register_write,
                         batch_size=args.batch_size)
    ds = load_dataset(args.data)
    if ds.modality == "text":
        raise SaekitError(f"--data {args.data!r} holds texts; artifact detection needs images")
    model = load_model(args.model, device=args.device)
    n = min(len(ds), args.limit) if args.limit else len(ds)
    samples = [ds[i] for i in range(n)]
    report, stats = analyze_artifacts(model, samples, cfg, registers=not args.no_registers)

    from saekit.atomic import write_text_atomic
    from saekit.results import ArtifactsDocument, dataset_fingerprint

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    ArtifactsDocument.path_in(out).unlink(missing_ok=True)  # the JSON marks the directory complete
    heatmaps = write_heatmaps(report, stats, out, n_samples=cfg.heatmap_samples)
    dataset = {"spec": args.data, "name": getattr(ds, "name", args.data), "n_images": n,
               "fingerprint": dataset_fingerprint([s.id for s in samples], [s.label for s in samples])}
    doc = ArtifactsDocument.of(report.to_json(dataset=dataset, heatmaps=heatmaps))
    write_text_atomic(out / "index.html", render_html(doc.to_json()))
    doc.save(out)
    doc_json = doc.to_json()

    if args.json:
        print(json.dumps(doc_json))
    else:
        doc = doc_json
        first = doc["first_outlier_layer"]
        print(f"{doc['model']}: {n} images, {len(doc['layers'])} layers; first layer with outliers: "
              f"{'none' if first is None else first}")
        for row in doc["layers"]:
            print(f"  layer {row['layer']:>2}: median norm {row['norm_quantiles']['0.5']:.3g}, max "
                  f"{row['norm_quantiles']['1.0']:.3g}, outliers {row['n_outliers']} ({row['outlier_frac']:.2%})")
        ttr = doc.get("test_time_registers") or {}
        if ttr.get("before"):
            print(f"test-time register at layer {ttr['layer']}: outlier-position norm "
                  f"{ttr['before']['outlier_positions_norm_mean']:.3g} -> {ttr['after']['outlier_positions_norm_mean']:.3g}, "
                  f"register norm {ttr['after']['register_norm_mean']:.3g}")
        print(f"wrote {out / 'artifacts.json'} and {out / 'index.html'}")
    return 0
