"""The quickstart's config and where each of its steps writes (torch-free, for the CLI's --help)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from saekit.common.jsontypes import JSONObject


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

    def step_config(self, *fields: str) -> JSONObject:
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
