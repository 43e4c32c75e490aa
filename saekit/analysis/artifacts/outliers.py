"""High-norm artifact tokens in vision transformers (Darcet et al. 2024, "Vision Transformers Need Registers").

Per layer (the residual stream after block i, `blocks.{i}.hook_resid_post`) over the patch tokens:
the token-norm distribution, outlier tokens, the outlier fraction, where they sit (heatmaps), how
similar they are to their 4-neighbour patches (outliers are dissimilar to their neighbours at the
layer; Darcet et al. find their *input* patches redundant, i.e. similar to their neighbours), and
the share of the CLS token's attention they take (averaged over heads; the attention of block i
reads block i's input, so the outliers counted there are those of layer i - 1).

Outliers: norm > threshold. A fixed threshold applies to every layer (Darcet et al. use 150 for
DINOv2 ViT-g at one layer); without one the threshold is found per layer from the distribution's
gap (see `auto_threshold`), which yields none on a clean model.

Register neurons and test-time registers (Jiang et al. 2025) live in `saekit.analysis.artifacts.registers`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Iterable, Sequence, TypeVar, Union

import numpy as np
import torch

from saekit.capture.artifact_tokens import artifact_token_mask, auto_threshold, vision_checks
from saekit.analysis.artifacts.config import ArtifactConfig
from saekit.common.errors import SaekitError
from saekit.results.artifacts import (ArtifactLayer, ArtifactParams, ArtifactsDocument, ClsAttentionShare, Histogram,
                                      OutlierToken, OutlierVsNormal, RegisterNeuron, TestTimeRegisters)
from saekit.results.refs import DatasetRef

if TYPE_CHECKING:
    from PIL import Image

    from saekit.data import Sample
    from saekit.models.hf_vision import HFVisionModel

log = logging.getLogger(__name__)

SampleId = Union[int, str, np.integer]  # a dataset sample's id (numpy integers from a store)
T = TypeVar("T")
QUANTILES = (0.0, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0)


# ----------------------------------------------------------------------------- per-batch statistics


def layer_hooks(n_layers: int) -> list[str]:
    return [f"blocks.{i}.hook_resid_post" for i in range(n_layers)]


def neighbour_cosine(acts_BPD: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Mean cosine of each patch with its (up to 4) grid neighbours: [B, P]."""
    B, P, D = acts_BPD.shape
    gh, gw = grid
    if gh * gw != P:
        raise SaekitError(f"{P} patch tokens do not form the model's {gh}x{gw} patch grid")
    x = torch.nn.functional.normalize(acts_BPD.float(), dim=-1).reshape(B, gh, gw, D)
    total = torch.zeros(B, gh, gw, device=x.device)
    count = torch.zeros(1, gh, gw, device=x.device)
    v = (x[:, 1:] * x[:, :-1]).sum(-1)
    total[:, 1:] += v
    total[:, :-1] += v
    count[:, 1:] += 1
    count[:, :-1] += 1
    h = (x[:, :, 1:] * x[:, :, :-1]).sum(-1)
    total[:, :, 1:] += h
    total[:, :, :-1] += h
    count[:, :, 1:] += 1
    count[:, :, :-1] += 1
    return (total / count.clamp(min=1)).reshape(B, P)


@dataclass
class TokenStats:
    """Per-token numbers gathered in one pass: arrays [N, L, P] (input_cos: [N, P])."""

    sample_ids: list[SampleId] = field(default_factory=list)
    norms: list[np.ndarray] = field(default_factory=list)
    cos: list[np.ndarray] = field(default_factory=list)
    cls_attn: list[np.ndarray] = field(default_factory=list)
    input_cos: list[np.ndarray] = field(default_factory=list)
    thumbnails: list[Image.Image | None] = field(default_factory=list)

    def stacked(self, name: str) -> np.ndarray | None:
        parts = getattr(self, name)
        return np.concatenate(parts, axis=0) if parts else None


def _batches(samples: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for i in range(0, len(samples), size):
        yield samples[i:i + size]


def patch_positions(model: HFVisionModel, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Token indices of the patch tokens (same for every image of a ViT): [P]."""
    mask = model.token_mask(inputs, "patches")
    return torch.nonzero(mask[0], as_tuple=False).flatten()


def gather_token_stats(model: HFVisionModel, samples: Sequence[Sample], cfg: ArtifactConfig) -> TokenStats:
    """One pass over `samples`: patch norms, neighbour cosines and CLS attention at every layer."""
    from tqdm.auto import tqdm

    vision_checks(model)
    L = int(model.n_layers)
    names = set(model.hook_names())
    patterns = [f"blocks.{i}.attn.hook_pattern" for i in range(L)]
    have_pattern = all(p in names for p in patterns)
    hooks = ["blocks.0.hook_resid_pre"] + layer_hooks(L) + (patterns if have_pattern else [])
    stats = TokenStats()
    for batch in tqdm(list(_batches(samples, cfg.batch_size)), desc="artifacts: token norms", leave=False):
        inputs = model.prepare(batch)
        acts = model.capture(inputs, hooks)
        pos = patch_positions(model, inputs)
        norms, cos, attn = [], [], []
        for i in range(L):
            x = acts[f"blocks.{i}.hook_resid_post"][:, pos].float()
            norms.append(x.norm(dim=-1))
            cos.append(neighbour_cosine(x, model.patch_grid))
            if have_pattern:
                cls_idx = int(torch.nonzero(model.token_mask(inputs, "cls")[0])[0])
                attn.append(acts[patterns[i]][:, :, cls_idx, :].float().mean(1)[:, pos])
        stats.norms.append(torch.stack(norms, 1).cpu().numpy())
        stats.cos.append(torch.stack(cos, 1).cpu().numpy())
        if have_pattern:
            stats.cls_attn.append(torch.stack(attn, 1).cpu().numpy())
        stats.input_cos.append(neighbour_cosine(acts["blocks.0.hook_resid_pre"][:, pos].float(), model.patch_grid).cpu().numpy())
        stats.sample_ids.extend(getattr(s, "id", k) for k, s in enumerate(batch, start=len(stats.sample_ids)))
        for s in batch:
            if len(stats.thumbnails) < cfg.heatmap_samples:
                stats.thumbnails.append(getattr(s, "image", None))
    if not stats.norms:
        raise SaekitError("no images to analyse (expected a dataset with at least one image)")
    return stats


# ----------------------------------------------------------------------------- the report


@dataclass
class ArtifactReport:
    """The analysis's result: the typed parts of artifacts.json (layers, outliers, register neurons,
    test-time registers) and the per-token arrays the heatmaps and the register steps read."""

    model: str
    n_images: int
    layers: tuple[ArtifactLayer, ...]
    first_outlier_layer: int | None
    outliers: tuple[OutlierToken, ...]
    outliers_truncated: bool
    masks: np.ndarray                  # bool [N, L, P]
    norms: np.ndarray                  # [N, L, P]
    thresholds: list[float | None]
    sample_ids: list[SampleId]
    patch_grid: tuple[int, int]
    n_prefix_tokens: int
    params: ArtifactParams
    register_neurons: tuple[RegisterNeuron, ...] = ()
    test_time_registers: TestTimeRegisters | None = None

    def document(self, dataset: DatasetRef, heatmaps: dict[int, str]) -> ArtifactsDocument:
        """artifacts.json's document: these results, the images analysed and each layer's heatmap path."""
        layers = tuple(replace(row, heatmap=heatmaps.get(row.layer, row.heatmap)) for row in self.layers)
        return ArtifactsDocument(model=self.model, dataset=dataset, n_images=self.n_images, params=self.params,
                                 patch_grid=self.patch_grid, layers=layers, first_outlier_layer=self.first_outlier_layer,
                                 outliers=self.outliers, outliers_truncated=self.outliers_truncated,
                                 register_neurons=self.register_neurons, test_time_registers=self.test_time_registers)


def _mean_or_none(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def _outlier_vs_normal(values: np.ndarray, mask: np.ndarray) -> OutlierVsNormal:
    return OutlierVsNormal(outliers=_mean_or_none(values[mask]), normal=_mean_or_none(values[~mask]))


def _layer_row(i: int, norms: np.ndarray, cos: np.ndarray, input_cos: np.ndarray, cls_attn: np.ndarray | None,
               masks: np.ndarray, threshold: float | None, n_bins: int) -> ArtifactLayer:
    n_i, m_i = norms[:, i], masks[:, i]
    hi = float(n_i.max()) if n_i.size else 1.0
    counts, edges = np.histogram(n_i, bins=n_bins, range=(0.0, hi if hi > 0 else 1.0))
    share = None
    if cls_attn is not None and i > 0:
        prev = masks[:, i - 1]
        on_outliers = (cls_attn[:, i] * prev).sum(-1)   # per image: CLS attention on the outliers of its input
        share = ClsAttentionShare(outliers=float(on_outliers.mean()) if prev.any() else None,
                                  uniform=float(prev.mean()), patches=float(cls_attn[:, i].sum(-1).mean()))
    return ArtifactLayer(
        layer=i, hook=f"blocks.{i}.hook_resid_post",
        norm_quantiles={str(q): float(np.quantile(n_i, q)) for q in QUANTILES},
        hist=Histogram(edges=tuple(float(e) for e in edges), counts=tuple(int(c) for c in counts)),
        threshold=threshold, n_outliers=int(m_i.sum()), outlier_frac=float(m_i.mean()),
        max_over_median=float(n_i.max() / max(np.median(n_i), 1e-12)),
        cos_to_neighbours=_outlier_vs_normal(cos[:, i], m_i),
        input_cos_to_neighbours=_outlier_vs_normal(input_cos, m_i), cls_attention_share=share)


def build_report(model: HFVisionModel, stats: TokenStats, cfg: ArtifactConfig) -> ArtifactReport:
    norms = stats.stacked("norms")          # [N, L, P]
    cos = stats.stacked("cos")
    cls_attn = stats.stacked("cls_attn")
    input_cos = stats.stacked("input_cos")  # [N, P]
    N, L, P = norms.shape
    thresholds: list[float | None] = []
    masks = np.zeros_like(norms, dtype=bool)
    for i in range(L):
        t = cfg.threshold if cfg.threshold is not None else auto_threshold(norms[:, i], cfg.min_ratio, cfg.min_gap)
        thresholds.append(t)
        if t is not None:
            masks[:, i] = norms[:, i] > t
    layers = tuple(_layer_row(i, norms, cos, input_cos, cls_attn, masks, thresholds[i], cfg.n_bins) for i in range(L))
    first = next((i for i in range(L) if masks[:, i].any()), None)
    outliers: list[OutlierToken] = []
    truncated = False
    g_w = model.patch_grid[1]
    n_prefix = int(getattr(model, "n_prefix_tokens", 1))
    for n, li, p in zip(*np.nonzero(masks)):
        if len(outliers) >= cfg.max_listed_outliers:
            truncated = True
            break
        outliers.append(OutlierToken(sample_id=_plain_id(stats.sample_ids[n]), layer=int(li), position=int(p) + n_prefix,
                                     patch=int(p), row=int(p) // g_w, col=int(p) % g_w, norm=float(norms[n, li, p])))
    params: ArtifactParams = {
        "threshold": cfg.threshold, "min_ratio": cfg.min_ratio, "min_gap": cfg.min_gap, "detect_layer": cfg.detect_layer,
        "layer_cap": cfg.layer_cap, "top_k": cfg.top_k, "register_init": cfg.register_init,
        "register_write": cfg.register_write}
    return ArtifactReport(model=str(getattr(model, "model_id", "")), n_images=N, layers=layers, first_outlier_layer=first,
                          outliers=tuple(outliers), outliers_truncated=truncated, masks=masks, norms=norms,
                          thresholds=thresholds, sample_ids=list(stats.sample_ids), patch_grid=tuple(model.patch_grid),
                          n_prefix_tokens=n_prefix, params=params)


def _plain_id(v: SampleId) -> int | str:
    return int(v) if isinstance(v, np.integer) else v


def analyze_artifacts(model: HFVisionModel, samples: Sequence[Sample], cfg: ArtifactConfig = ArtifactConfig(),
                      registers: bool = True) -> tuple[ArtifactReport, TokenStats]:
    """Token norms and outliers per layer; with `registers`, also register neurons and the
    before/after effect of a test-time register (skipped, with a note, when there are no outliers)."""
    stats = gather_token_stats(model, samples, cfg)
    report = build_report(model, stats, cfg)
    if registers:
        from saekit.analysis.artifacts.registers import evaluate_test_time_registers, find_register_neurons

        if report.first_outlier_layer is None:
            report.test_time_registers = TestTimeRegisters(skipped="no outlier tokens found")
        else:
            report.register_neurons = tuple(find_register_neurons(model, samples, report, cfg))
            report.test_time_registers = evaluate_test_time_registers(model, samples, report, report.register_neurons, cfg)
    return report, stats
