"""What a result was computed from: references (path + fingerprint) shared by several documents."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from saekit.sae.config import SAEConfig


@dataclass(frozen=True)
class SaeRef:
    path: str = ""                 # the checkpoint directory ("" when the SAE was in memory)
    fingerprint: str = ""          # results.fingerprint.sae_fingerprint of config + weights
    hook: str = ""                 # the hook it reads
    d_sae: int = 0                 # number of latents
    d_in: int | None = None        # input width
    arch: str | None = None        # architecture: topk, relu, jumprelu, batchtopk, ...
    tokens: str | None = None      # the token selection it was trained on

    @classmethod
    def of(cls, cfg: "SAEConfig", *, path: str, fingerprint: str, hook: str | None = None) -> "SaeRef":
        """The reference to an SAE with config ``cfg`` (its hook unless ``hook`` names the one it was read at,
        e.g. a crosscoder's joined hooks)."""
        d_in = getattr(cfg, "d_in", None)  # getattr: stand-in SAEs of tests and foreign loaders carry less
        return cls(path=path, fingerprint=fingerprint, hook=hook or cfg.hook, d_sae=int(cfg.d_sae),
                   d_in=int(d_in) if d_in is not None else None, arch=getattr(cfg, "arch", None),
                   tokens=getattr(cfg, "tokens", None))


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
