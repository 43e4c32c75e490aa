"""AlignDocument: align.json, written by `saekit align` (saekit.analysis.alignment.run).

Which text space image features were given (a fitted ridge map into a text encoder's space, or a
CLIP model's own towers), for which store hook, with which settings, and its held-out
image->caption retrieval. A ridge map's weights sit beside it in map.npz.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from saekit.common.jsontypes import JSONObject
from saekit.results.document import Document

#: held-out retrieval, keyed by k: recall_at_{k}, chance_recall_at_{k}, baseline_shuffled_recall_at_{k}
#: (ridge only), n_train, n_test, k, alpha (ridge only)
AlignMetrics = dict[str, Union[int, float]]
#: TextSpaceInfo's keys that only one kind of text space has
KIND_KEYS = ("text_encoder", "alpha", "d_feat", "model")


@dataclass(frozen=True)
class TextSpaceInfo:
    kind: str                         # "linear" (a fitted ridge map) or "clip" (a CLIP model's own towers)
    feature_hook: str | None          # the hook whose pooled features it maps
    pooling: str                      # how a sample's rows became one feature vector: mean or first
    dim: int                          # width of the text space
    text_encoder: str | None = None   # linear: the text encoder's spec
    alpha: float | None = None        # linear: the ridge penalty chosen on validation recall
    d_feat: int | None = None         # linear: width of the image features
    model: str | None = None          # clip: the model spec


@dataclass(frozen=True)
class AlignedStore:
    path: str                         # the store file or shard directory
    fingerprint: str                  # results.fingerprint.store_fingerprint of the hook used
    hook: str                         # the hook whose features were mapped


@dataclass(frozen=True)
class AlignParams:
    hook: str                         # hook whose pooled features are mapped
    pooling: str                      # mean over tokens or the first row (CLS)
    text_encoder: str                 # text-encoder spec, or a CLIP model spec
    test_frac: float                  # held-out share of pairs for recall@k
    val_frac: float                   # share of the training pairs that picks the ridge alpha
    alphas_rel: tuple[float, ...]     # ridge alphas, relative to the features' scale
    k: int                            # k of recall@k
    seed: int                         # seed of the train/test split of the pairs


@dataclass(frozen=True)
class AlignDocument(Document, kind="align", filename="align.json", version=1,
                    command="align", what="text alignment"):

    method: str                       # "ridge" (a fitted map, weights in map.npz) or "clip" (the model's own towers)
    text_space: TextSpaceInfo         # the text space's description
    store: AlignedStore               # the store the features came from
    params: AlignParams               # the AlignConfig used
    metrics: AlignMetrics             # held-out image->caption retrieval (see AlignMetrics)
    created: str                      # local time of the run, ISO 8601

    def to_json(self) -> JSONObject:
        data = super().to_json()
        # a ridge map and a CLIP model describe different things: the keys of the other kind stay out of the file
        data["text_space"] = {k: v for k, v in data["text_space"].items() if v is not None or k not in KIND_KEYS}
        return data
