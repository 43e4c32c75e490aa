"""What a result was computed from: references (path + fingerprint) shared by several documents."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SaeRef:
    path: str = ""                 # the checkpoint directory ("" when the SAE was in memory)
    fingerprint: str = ""          # results.fingerprint.sae_fingerprint of config + weights
    hook: str = ""                 # the hook it reads
    d_sae: int = 0                 # number of latents
    d_in: int | None = None        # input width
    arch: str | None = None        # architecture: topk, relu, jumprelu, batchtopk, ...
    tokens: str | None = None      # the token selection it was trained on


@dataclass(frozen=True)
class StoreRef:
    path: str = ""                 # the store file or shard directory
    fingerprint: str = ""          # results.fingerprint.store_fingerprint of the hook used
    modality: str = ""             # "image" or "text" (what one sample is)
    n_samples: int = 0             # samples in the store


@dataclass(frozen=True)
class DatasetRef:
    spec: str = ""                 # the load_dataset spec
    name: str | None = None        # the dataset's name
    fingerprint: str | None = None  # results.fingerprint.dataset_fingerprint of (id, label) in order
    n_images: int | None = None    # samples analysed
