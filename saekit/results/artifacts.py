"""ArtifactsDocument: artifacts.json, written by `saekit artifacts` (saekit.analysis.artifacts.run).

Per layer the patch-token norm distribution and its outliers (high-norm artifact tokens), the
outlier tokens themselves, register neurons and the before/after effect of a test-time register.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from saekit.results.document import Document
from saekit.results.refs import DatasetRef

#: the ArtifactConfig settings a report was made with (threshold, min_ratio, detect_layer, register_init, ...)
ArtifactParams = dict[str, Union[int, float, str, None]]


@dataclass(frozen=True)
class Histogram:
    edges: tuple[float, ...]          # bin edges (one more than counts)
    counts: tuple[int, ...]           # tokens per bin


@dataclass(frozen=True)
class OutlierVsNormal:
    outliers: float | None            # mean over outlier tokens (None when there are none)
    normal: float | None              # mean over the other patch tokens


@dataclass(frozen=True)
class ClsAttentionShare:
    outliers: float | None            # share of CLS attention on the previous layer's outliers
    uniform: float                    # the share they would get under uniform attention
    patches: float                    # share on all patch tokens


@dataclass(frozen=True)
class ArtifactLayer:
    layer: int                        # block index
    hook: str                         # blocks.{layer}.hook_resid_post
    norm_quantiles: dict[str, float]  # quantile ("0.5") -> patch-token norm
    hist: Histogram                   # patch-token norms
    threshold: float | None           # outlier norm threshold (None: no gap, no outliers)
    n_outliers: int                   # outlier tokens at this layer
    outlier_frac: float               # their share of patch tokens
    max_over_median: float            # largest norm / median norm
    cos_to_neighbours: OutlierVsNormal        # cosine to the 4-neighbour patches at this layer
    input_cos_to_neighbours: OutlierVsNormal  # the same for the input patches
    cls_attention_share: ClsAttentionShare | None  # None at layer 0 or without attention patterns
    heatmap: str | None = None        # PNG path relative to the artifacts directory


@dataclass(frozen=True)
class OutlierToken:
    sample_id: int | str              # dataset sample id
    layer: int                        # block index
    position: int                     # token index in the model's sequence
    patch: int                        # patch index (row-major)
    row: int                          # patch row
    col: int                          # patch column
    norm: float                       # the token's norm


@dataclass(frozen=True)
class RegisterNeuron:
    layer: int                        # block index
    neuron: int                       # MLP neuron index
    score: float                      # mean |activation| at the detection layer's outlier tokens


@dataclass(frozen=True)
class TestTimeRegisters:
    skipped: str | None = None        # why no test-time register was evaluated (then nothing else is set)
    layer: int | None = None          # the detection layer
    hook: str | None = None           # blocks.{layer}.hook_resid_post
    threshold: float | None = None    # the outlier threshold at that layer
    n_images: int | None = None       # images with outliers it was evaluated on
    init: str | None = None           # register initialisation: zeros or mean
    write: str | None = None          # what the register gets: joint (the authors' sign_max) or per-neuron
    neurons: tuple[RegisterNeuron, ...] = ()  # the register neurons whose activation moves to the register
    before: dict[str, float | None] | None = None  # norm statistics without the register
    after: dict[str, float | None] | None = None   # ... and with it (plus the register's own norm)


@dataclass(frozen=True)
class ArtifactsDocument(Document, kind="artifacts", filename="artifacts.json", version=1,
                        command="artifacts", what="artifact report"):

    model: str                        # model spec
    dataset: DatasetRef               # the images analysed
    n_images: int                     # images analysed
    params: ArtifactParams            # the ArtifactConfig used
    patch_grid: tuple[int, int]       # (rows, cols) of patch tokens
    layers: tuple[ArtifactLayer, ...]  # one per transformer block
    first_outlier_layer: int | None   # the first layer with outlier tokens (None: none found)
    outliers: tuple[OutlierToken, ...]  # the outlier tokens of every layer
    outliers_truncated: bool          # the list stops at max_listed_outliers
    register_neurons: tuple[RegisterNeuron, ...]  # neurons whose activation predicts the outliers, best first
    test_time_registers: TestTimeRegisters | None  # None when register analysis was not asked for
