"""The configs of `saekit artifacts`: the analysis's parameters (ArtifactConfig, used by
saekit.analysis.artifacts.outliers) and the command's (ArtifactsConfig: model, images, output, and those
parameters). No torch here: the CLI's --help reads only this module."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

from saekit.common.errors import SaekitError


@dataclass(frozen=True)
class ArtifactConfig:
    """threshold: fixed norm threshold for every layer (None: automatic per layer).
    min_ratio / min_gap: the automatic rule's parameters (see `auto_threshold`).
    detect_layer: the layer whose outliers register neurons are scored at (-1: last).
    layer_cap: register neurons come from layers <= cap (None: the first layer with outliers).
    top_k: number of register neurons. register_init: "zeros" | "mean" (see saekit.models.extra_tokens).
    register_write: "joint" | "per-neuron" (see saekit.analysis.artifacts.registers)."""

    threshold: float | None = None  # fixed outlier norm threshold for every layer (default: automatic per layer from the norm gap)
    min_ratio: float = 2.5  # automatic threshold: outliers are >= this x the median norm
    min_gap: float = 1.3  # automatic threshold: minimum jump between consecutive sorted norms
    batch_size: int = 8  # images per model forward
    n_bins: int = 40  # bins of the per-layer norm histograms
    heatmap_samples: int = 8  # images drawn as norm heatmaps
    max_listed_outliers: int = 5000  # outlier tokens listed in artifacts.json at most
    detect_layer: int = -1  # layer whose outliers score register neurons (-1: the last)
    layer_cap: int | None = None  # register neurons only from layers <= this (default: the first outlier layer)
    top_k: int = 10  # number of register neurons
    register_init: str = "zeros"  # test-time register initialisation
    register_write: str = "joint"  # joint: one signed max over tokens and a layer's register neurons (the authors' code); per-neuron: each neuron's own max
    ttr_images: int = 32  # images the test-time register's before/after effect is measured on

    CLI: ClassVar[dict[str, dict]] = {"register_init": {"choices": ("zeros", "mean")},
                                      "register_write": {"choices": ("joint", "per-neuron")}}

    def __post_init__(self) -> None:
        if self.threshold is not None and not (math.isfinite(self.threshold) and self.threshold > 0):
            raise SaekitError(f"--threshold must be a positive number, got {self.threshold}")
        if self.min_ratio <= 1 or self.min_gap <= 1:
            raise SaekitError(f"min_ratio and min_gap must be > 1, got {self.min_ratio} and {self.min_gap}")
        if self.register_write not in ("joint", "per-neuron"):
            raise SaekitError(f"--register-write must be joint or per-neuron, got {self.register_write!r}")
        if self.batch_size < 1 or self.top_k < 1:
            raise SaekitError("batch_size and top_k must be >= 1")


@dataclass(frozen=True)
class ArtifactsConfig:
    model: str  # model spec (hf:..., offline:dinov2-small, random:vit, ...)
    data: str  # image dataset (folder, hfds:DIR, bundled:clipart)
    out: str  # output directory (artifacts.json, index.html, heatmaps)
    limit: int | None = 64  # number of images to analyse (none: all)
    registers: bool = True  # also find register neurons and measure a test-time register (--no-registers skips them)
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:N
    method: ArtifactConfig = field(default_factory=ArtifactConfig)  # the analysis's parameters (flags of their own)

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise SaekitError(f"--limit must be >= 1, got {self.limit}")
