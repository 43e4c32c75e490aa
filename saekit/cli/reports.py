"""What the CLI prints after a command: one short summary of the command's result per command."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from saekit.capture.run import CaptureResult
    from saekit.results import ArtifactsDocument, AuditDocument, NamesDocument, SteeringDocument
    from saekit.store_commands import StoreCheck, StoreInfo


def store_info(result: StoreInfo, cfg: Any) -> None:
    info = result.info
    print(f"store          {info['path']}")
    print(f"status         {'complete' if info['complete'] else 'INCOMPLETE (writer did not close; resumable)'}")
    print(f"format version {info['format_version']}")
    print(f"model          {info['model_id'] or '?'}" + (f" @ {info['model_revision']}" if info["model_revision"] else ""))
    print(f"dtype          {info['dtype']}")
    print(f"created        {info['created']}")
    print(f"samples        {info['n_samples']} (committed)")
    if len(info["shards"]) > 1:
        print(f"shards         {len(info['shards'])}")
    print("hooks:")
    width = max(len(h) for h in info["hooks"])
    for h, v in info["hooks"].items():
        line = f"  {h:<{width}}  rows {v['rows']:>10}  d {v['d']:>6}  {v['dtype']}"
        if "stats" in v:
            q = v["stats"]["norm_quantiles"]
            line += f"  norm median {q['0.5']:.4g}  mean|x|^2 {v['stats']['mean_sq_norm']:.4g}"
        print(line)
    for w in result.warnings:
        print(f"WARNING {w}")


def store_verify(result: StoreCheck, cfg: Any) -> None:
    rows = ", ".join(f"{h}={n}" for h, n in result.rows.items())
    state = "complete" if result.complete else "incomplete (resumable)"
    print(f"OK {result.path}: {state}, {result.n_samples} samples, rows {rows}")


def list_hooks(model: str, device: str) -> None:
    """`saekit capture --list-hooks`: the model's hook names, one a line."""
    from saekit.models import load_model

    print("\n".join(load_model(model, device).hook_names()))


def capture(res: CaptureResult, cfg: Any) -> None:
    rows = ", ".join(f"{h}: {n} rows" for h, n in res.rows.items())
    print(f"wrote {res.shard} ({res.n_samples} samples; {rows})" + (f"; store {res.path}" if res.path != res.shard else ""))


def audit(doc: AuditDocument, cfg: Any) -> None:
    print(f"{doc.dataset.n_images} images, {len(doc.classes)} classes, {doc.latents.n_valid} valid latents")
    for name, c in doc.classes.items():
        print(f"  {name}: {len(c.target)} target, {len(c.context)} context, {len(c.bias)} bias")
    if doc.biases:
        print("strongest biases:")
        for b in doc.biases[:10]:
            print(f"  {b.cls}: {b.name} (latent {b.latent}), lift {b.lift:.3g}, AUC {b.auc:.2f}")
    if doc.accuracy_by_group:
        acc = doc.accuracy_by_group
        print("accuracy by group: " + ", ".join(
            f"{g} {acc[g].accuracy:.3f} (n={acc[g].n})" if acc[g].accuracy is not None else f"{g} - (n=0)"
            for g in ("prototype", "confounded", "shortcut", "ambiguous", "all") if g in acc))
    copies = doc.masked_copies or {}
    total = sum((doc.timings_s or {}).values())
    n_img = doc.dataset.n_images + (doc.test.n_images if doc.test else 0)
    print(f"{total:.1f} s before the report ({total / max(1, n_img):.2f} s per image; "
          f"{copies.get('forwarded', 0)} of {copies.get('defined', 0)} masked copies needed a forward)")
    print(f"wrote {Path(cfg.out) / 'audit.json'} and {Path(cfg.out) / 'index.html'}")


def artifacts(doc: ArtifactsDocument, cfg: Any) -> None:
    d = doc.to_json()
    first = d["first_outlier_layer"]
    print(f"{d['model']}: {d['dataset']['n_images']} images, {len(d['layers'])} layers; first layer with outliers: "
          f"{'none' if first is None else first}")
    for row in d["layers"]:
        print(f"  layer {row['layer']:>2}: median norm {row['norm_quantiles']['0.5']:.3g}, max "
              f"{row['norm_quantiles']['1.0']:.3g}, outliers {row['n_outliers']} ({row['outlier_frac']:.2%})")
    ttr = d.get("test_time_registers") or {}
    if ttr.get("before"):
        print(f"test-time register at layer {ttr['layer']}: outlier-position norm "
              f"{ttr['before']['outlier_positions_norm_mean']:.3g} -> {ttr['after']['outlier_positions_norm_mean']:.3g}, "
              f"register norm {ttr['after']['register_norm_mean']:.3g}")
    print(f"wrote {Path(cfg.out) / 'artifacts.json'} and {Path(cfg.out) / 'index.html'}")


def steer(doc: SteeringDocument, cfg: Any) -> None:
    print(f"{doc.model}: latent {doc.latent} ({doc.mode}) at {doc.hook}; effect = {doc.effect}")
    print(f"  baseline {doc.baseline:.4g}")
    for row in doc.rows:
        gen = f"  | {row.generation!r}" if row.generation is not None else ""
        print(f"  strength {row.strength:>6g}: effect {row.effect:.4g} (delta {row.delta:+.4g}){gen}")
    print(f"wrote {Path(cfg.out) / 'steer.json'}")


def train(result: Any, cfg: Any) -> None:
    if int(os.environ.get("RANK", "0")) != 0:
        return
    for sae, out in zip(result.saes, result.outs):
        metrics = Path(out) / "metrics.jsonl"
        last = metrics.read_text().splitlines()[-1] if metrics.exists() and metrics.stat().st_size else "{}"
        rec = json.loads(last)
        print(f"wrote {out}: {sae.cfg.arch} d_in={sae.cfg.d_in} d_sae={sae.cfg.d_sae} "
              f"L0={rec.get('l0', float('nan')):.2f} FVE={rec.get('fve', float('nan')):.4f} "
              f"dead={rec.get('dead_frac', float('nan')):.3f}")


def name(doc: NamesDocument, cfg: Any) -> None:
    for note in doc.notes:
        print(f"note: {note}")
    best = sorted(doc.latents, key=lambda l: -l.score)[:5]
    print(f"named {doc.n_named} of {doc.n_live} live latents ({doc.method}); best: "
          + ", ".join(f"#{l.latent} {l.name} ({l.score:.2f})" for l in best))
    print(f"wrote {cfg.out}/names.json and {cfg.out}/index.html")


def export(out: Path, cfg: Any) -> None:
    print(f"wrote {out} ({cfg.format})")


def align(meta: dict[str, Any], cfg: Any) -> None:
    m, k = meta["metrics"], cfg.fit.k
    line = f"recall@{k} {m[f'recall_at_{k}']:.3f} on {m['n_test']} held-out pairs (chance {m[f'chance_recall_at_{k}']:.3f}"
    if f"baseline_shuffled_recall_at_{k}" in m:
        line += f", shuffled-caption fit {m[f'baseline_shuffled_recall_at_{k}']:.3f}"
    print(line + ")")
    print(f"wrote {cfg.out}/align.json")


def quickstart(result: Any, cfg: Any) -> None:
    from saekit.quickstart import dashboard_command

    report, results = result
    for r in results:
        print(f"  {r.name:<8} {'reused' if r.reused else f'{r.seconds:.1f} s'}")
    print(f"report: {report}")
    print(f"dashboard: {dashboard_command(cfg)}")
