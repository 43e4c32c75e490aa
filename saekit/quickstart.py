"""The main job: capture -> train -> evaluate -> align -> name -> report, each step resumable.

`saekit quickstart` runs it on the embedded default (the real DINOv2 ViT-S/14 on the bundled
OpenClipArt drawings); every step is the same public function the individual CLI commands call,
so the quickstart is also the worked example of the Python API.
"""
from __future__ import annotations

import dataclasses
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saekit.common.lazy import CallableModule
from saekit.steps import StepResult, StepRunner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuickstartConfig:
    out: str = "runs/quickstart"  # output directory (store, SAE, evaluation, names, report); finished steps are reused
    # 168 px (12x12 patches) keeps the demo inside its 15-minute CPU budget; the drawings are
    # stored at 128 px, so 224 px input would add compute but no detail.
    model: str = "offline:dinov2-small@168"  # model spec (see `saekit capture --model`)
    data: str = "bundled:clipart"  # dataset spec (see `saekit capture --data`)
    # Late layers of DINOv2 carry the most semantic (nameable) directions; the final block's
    # residual is dominated by the training objective's output head.
    hook: str = "blocks.10.hook_resid_post"  # hook to capture and train on
    tokens: str = "patches"  # tokens of each image to capture (all, cls, patches, nonspecial)
    limit: int | None = None  # capture only the first N images
    arch: str = "topk"  # SAE architecture (see `saekit train --arch`)
    expansion: float = 8.0  # SAE width as a multiple of the hook's width
    k: int = 32  # active latents per token (top-k architectures)
    train_tokens: int = 1_500_000  # training tokens (rows of the store)
    batch_size: int = 4096  # training batch size
    holdout: float = 0.1  # samples kept out of training; the evaluation reports on them
    # a small comparison: also train SAEs with these k (same everything else) and compare them all
    compare_k: tuple[int, ...] = ()  # also train SAEs with these k and compare them all
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:N
    seed: int = 0  # seed of every step
    progress: bool = True  # show progress bars

    def step_config(self, *fields: str) -> dict[str, Any]:
        return {f: getattr(self, f) for f in fields}


@dataclass(frozen=True)
class QuickstartPaths:
    """Where each step writes, under one output directory."""

    root: Path
    store: Path
    sae: Path
    eval_json: Path
    align: Path
    names: Path
    report: Path

    @classmethod
    def under(cls, root: str | Path) -> "QuickstartPaths":
        r = Path(root)
        return cls(r, r / "store.h5", r / "sae", r / "eval.json", r / "align", r / "names", r / "report")


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
    return {"saes": len(res["saes"]), "split": res["split"]["name"]}


def _align(cfg: QuickstartConfig, paths: QuickstartPaths, device: str) -> dict[str, Any]:
    from saekit.analysis.alignment import AlignConfig, align

    _, meta = align(str(paths.store), AlignConfig(hook=cfg.hook, seed=cfg.seed), out=str(paths.align),
                    device=device, progress=cfg.progress)
    return {k: v for k, v in meta["metrics"].items() if "recall" in k}


def _name(cfg: QuickstartConfig, paths: QuickstartPaths, device: str) -> dict[str, Any]:
    from saekit.analysis.naming import run_naming
    from saekit.sae import load_sae, SAE

    sae = load_sae(paths.sae, device=device)
    doc = run_naming(sae, str(paths.store), str(paths.names), sae_dir=str(paths.sae), text_space=str(paths.align),
                     device=device, progress=cfg.progress)
    return {"named": len(doc.latents)}


def _report(cfg: QuickstartConfig, paths: QuickstartPaths, results: list[StepResult]) -> dict[str, Any]:
    from saekit.quickstart_report import write_report

    write_report(paths.report, config=dataclasses.asdict(cfg), metrics_jsonl=paths.sae / "metrics.jsonl",
                 eval_json=paths.eval_json, align_dir=paths.align, names_dir=paths.names, sae_dir=paths.sae,
                 store=paths.store, steps=[dataclasses.asdict(r) for r in results],
                 compare_dir=paths.root / "compare" if cfg.compare_k else None,
                 dashboard=dashboard_command(cfg))
    return {}


# Once imported, this module is the attribute `saekit.quickstart`; calling it runs the command, as
# `saekit.train(...)` does for its package.
sys.modules[__name__].__class__ = CallableModule
__command__ = "run_quickstart"
