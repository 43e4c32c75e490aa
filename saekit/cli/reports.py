"""What the CLI prints after a command: one short summary of the command's result per command."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from saekit.capture.run import CaptureResult
    from saekit.eval.command import Evaluation
    from saekit.results import ArtifactsDocument, AuditDocument, SteeringDocument
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


def _print_tree(prefix: str, value: Any) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in ("per_class", "hist", "hist_centred", "density_hist"):
                _print_tree(f"{prefix}.{k}" if prefix else str(k), v)
    elif isinstance(value, float):
        print(f"{prefix:<44} {value:.6g}")
    else:
        print(f"{prefix:<44} {value}")


def evaluation(result: Evaluation, cfg: Any) -> None:
    split = result.details["split"]
    print(f"split: {split['name']} (fraction {split['fraction']}){'; ' + split['note'] if split['note'] else ''}")
    _print_tree("", result.details["metrics"])


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


def explain(result: Any, cfg: Any) -> None:
    t = result.tokens
    dense = [s for s in result.skipped if s.reason == "dense"]
    if dense:
        print(f"{len(dense)} dense latents (firing in more than {cfg.dense_fraction:.0%} of windows) not explained: "
              + ", ".join(f"#{s.latent} ({s.window_freq:.0%})" for s in dense[:10]) + (" ..." if len(dense) > 10 else ""))
    for s in result.skipped:
        if s.reason != "dense":
            print(f"latent {s.latent} not explained: {s.reason} ({s.n_windows} of {result.n_windows} windows)")
    if result.dry_run:
        images = f", {result.images} images" if result.images else ""
        print(f"dry run: {len(result.latents)} latents of {result.n_windows} windows would cost {t.calls} calls, "
              f"about {t.prompt_tokens} prompt tokens{images} and at most {t.completion_tokens} completion tokens; "
              f"nothing was asked and nothing written to {result.out}")
        return
    scores = [r["detection"]["balanced_accuracy"] for r in result.latents.values()
              if r["detection"]["balanced_accuracy"] is not None]
    mean = f"{sum(scores) / len(scores):.3f}" if scores else "n/a"
    print(f"explained {len(result.latents)} latents ({result.n_resumed} resumed) in {result.seconds:.1f} s; "
          f"{len(scores)} with a detection score, mean balanced accuracy {mean}; {t.calls} calls, "
          f"{t.cache_hits} cached, {t.prompt_tokens} prompt + {t.completion_tokens} completion tokens")
    print(f"wrote {result.out}/names.json")


def export(out: Path, cfg: Any) -> None:
    print(f"wrote {out} ({cfg.format})")


def align(meta: dict[str, Any], cfg: Any) -> None:
    m, k = meta["metrics"], cfg.fit.k
    line = f"recall@{k} {m[f'recall_at_{k}']:.3f} on {m['n_test']} held-out pairs (chance {m[f'chance_recall_at_{k}']:.3f}"
    if f"baseline_shuffled_recall_at_{k}" in m:
        line += f", shuffled-caption fit {m[f'baseline_shuffled_recall_at_{k}']:.3f}"
    print(line + ")")
    print(f"wrote {cfg.out}/align.json")


def compare(res: dict[str, Any], cfg: Any) -> None:
    for e in res["saes"]:
        core = e["metrics"].get("core", {})
        print(f"{e['name']:<24} L0={core.get('l0', float('nan')):.2f} FVE={core.get('fve', float('nan')):.4f} "
              f"dead={core.get('dead_frac', float('nan')):.3f}")
    print(f"wrote {cfg.out}/compare.json and report.html ({res['split']['name']} split, {res['n_rows']} rows)")


def quickstart(result: Any, cfg: Any) -> None:
    from saekit.quickstart import dashboard_command

    report, results = result
    for r in results:
        print(f"  {r.name:<8} {'reused' if r.reused else f'{r.seconds:.1f} s'}")
    print(f"report: {report}")
    print(f"dashboard: {dashboard_command(cfg)}")
