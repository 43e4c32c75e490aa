"""The main job: capture -> train -> evaluate -> align -> name -> report, each step resumable.

`saekit quickstart` runs it on the embedded default (the real DINOv2 ViT-S/14 on the bundled
OpenClipArt drawings); every step is the same public function the individual CLI commands call,
so the quickstart is also the worked example of the Python API.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from saekit.quickstart.config import QuickstartConfig, QuickstartPaths
from saekit.quickstart.steps import StepResult, StepRunner

log = logging.getLogger(__name__)


def run_quickstart(cfg: QuickstartConfig) -> tuple[Path, list[StepResult]]:
    """Run (or reuse) every step; returns the report's index.html and what each step did."""
    from saekit.common.device import resolve_device

    paths = QuickstartPaths.under(cfg.out)
    paths.root.mkdir(parents=True, exist_ok=True)
    device = str(resolve_device(cfg.device))
    runner = StepRunner(paths.root)

    runner.run("capture", cfg.step_config("model", "data", "hook", "tokens", "limit", "seed"),
               [paths.store], lambda: _capture(cfg, paths, device), owned=[paths.store])
    runner.run("train", cfg.step_config("arch", "expansion", "k", "train_tokens", "batch_size", "seed", "holdout"),
               [paths.sae / "config.json", paths.sae / "weights.safetensors"], lambda: _train(cfg, paths, device),
               owned=[paths.sae])
    runner.run("eval", {"suite": "all", "version": 2}, [paths.eval_json], lambda: _evaluate(cfg, paths, device),
               owned=[paths.eval_json])
    if cfg.compare_k:
        runner.run("compare", cfg.step_config("compare_k"), [paths.root / "compare" / "compare.json"],
                   lambda: _compare(cfg, paths, device), owned=[paths.root / "compare", paths.root / "sweep"])
    runner.run("align", {"text_encoder": "offline:minilm"}, [paths.align / "align.json"],
               lambda: _align(cfg, paths, device), owned=[paths.align])
    runner.run("name", {}, [paths.names / "names.json"], lambda: _name(cfg, paths, device), owned=[paths.names])
    report = paths.report / "index.html"
    runner.run("report", {"version": 1}, [report], lambda: _report(cfg, paths, runner.results), owned=[paths.report])
    return report, runner.results


def dashboard_command(cfg: QuickstartConfig) -> str:
    paths = QuickstartPaths.under(cfg.out)
    return f"saekit dashboard --sae {paths.sae} --store {paths.store} --names {paths.names}"


def _capture(cfg: QuickstartConfig, paths: QuickstartPaths, device: str) -> dict[str, Any]:
    from saekit.capture import CaptureConfig, capture

    # A finished store is only ever reused through the step marker; anything else at that path
    # is an interrupted capture, which resumes where its last commit ended.
    resume = paths.store.exists()
    result = capture(CaptureConfig(model=cfg.model, data=cfg.data, hooks=(cfg.hook,), out=str(paths.store),
                                   tokens=cfg.tokens, limit=cfg.limit, resume=resume, device=device,
                                   seed=cfg.seed, progress=cfg.progress))
    return {"n_samples": result.n_samples, "rows": result.rows, "seconds": result.seconds}


def _train(cfg: QuickstartConfig, paths: QuickstartPaths, device: str) -> dict[str, Any]:
    from saekit.train import TrainConfig, train

    from saekit.train.state import STATE_NAME

    resume = (paths.sae / STATE_NAME).exists()
    sae = train(TrainConfig(hook=cfg.hook, arch=cfg.arch, tokens=cfg.train_tokens, out=str(paths.sae),
                            store=str(paths.store), expansion=cfg.expansion, k=cfg.k, batch_size=cfg.batch_size,
                            device=device, seed=cfg.seed, resume=resume, progress=cfg.progress,
                            holdout=cfg.holdout))
    return {"d_sae": sae.cfg.d_sae}


def _evaluate(cfg: QuickstartConfig, paths: QuickstartPaths, device: str) -> dict[str, Any]:
    """The 'all' suite on the held-out samples the trainer kept out, written as the evaluation document."""
    from saekit.eval import EvalConfig, run_eval

    res = run_eval(EvalConfig(sae=str(paths.sae), store=str(paths.store), hook=cfg.hook, suite="all", device=device,
                              out=str(paths.eval_json.parent), seed=cfg.seed))
    core = res["metrics"]["core"]
    return {"split": res["split"]["name"], **{k: core[k] for k in ("l0", "fve", "dead_frac")}}


def _compare(cfg: QuickstartConfig, paths: QuickstartPaths, device: str) -> dict[str, Any]:
    """Train the extra k as one sweep (one pass over the data), then compare them all with the main SAE
    on the held-out rows."""
    from saekit.eval.compare import CompareConfig, compare
    from saekit.train import TrainConfig, train_sweep
    from saekit.train.sweep import sweep_configs

    sweep_dir = paths.root / "sweep"
    tcfg = TrainConfig(hook=cfg.hook, arch=cfg.arch, tokens=cfg.train_tokens, out=str(sweep_dir),
                       store=str(paths.store), expansion=cfg.expansion, k=cfg.k, batch_size=cfg.batch_size,
                       device=device, seed=cfg.seed, resume=sweep_dir.exists(), progress=cfg.progress,
                       holdout=cfg.holdout, sweep=(f"k={','.join(str(k) for k in cfg.compare_k)}",))
    train_sweep(tcfg)
    saes = [str(paths.sae)] + [c.out for c in sweep_configs(tcfg)]
    names = [f"k={cfg.k}"] + [f"k={k}" for k in cfg.compare_k]
    res = compare(CompareConfig(saes=tuple(saes), names=tuple(names), store=str(paths.store),
                                out=str(paths.root / "compare"), hook=cfg.hook, device=device, seed=cfg.seed))
    return {"saes": len(res.saes), "split": res.split.name}


def _align(cfg: QuickstartConfig, paths: QuickstartPaths, device: str) -> dict[str, Any]:
    from saekit.analysis.alignment import AlignConfig, fit_text_space

    _, doc = fit_text_space(str(paths.store), AlignConfig(hook=cfg.hook, seed=cfg.seed), out=str(paths.align),
                            device=device, progress=cfg.progress)
    return {k: v for k, v in doc.metrics.items() if "recall" in k}


def _name(cfg: QuickstartConfig, paths: QuickstartPaths, device: str) -> dict[str, Any]:
    from saekit.analysis.naming.config import NameConfig
    from saekit.analysis.naming.run import name

    doc = name(NameConfig(sae=str(paths.sae), store=str(paths.store), out=str(paths.names), text_space=str(paths.align),
                          device=device, progress=cfg.progress))
    return {"named": len(doc.latents)}


def _report(cfg: QuickstartConfig, paths: QuickstartPaths, results: list[StepResult]) -> dict[str, Any]:
    from saekit.quickstart.report import write_report

    write_report(paths.report, config=dataclasses.asdict(cfg), metrics_jsonl=paths.sae / "metrics.jsonl",
                 eval_json=paths.eval_json, align_dir=paths.align, names_dir=paths.names, sae_dir=paths.sae,
                 store=paths.store, steps=[dataclasses.asdict(r) for r in results],
                 compare_dir=paths.root / "compare" if cfg.compare_k else None,
                 dashboard=dashboard_command(cfg))
    return {}

