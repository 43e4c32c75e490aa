"""StoreMetadata: the attributes `saekit capture` writes on an activation store, typed.

They live in the store's HDF5 root attributes (not in a JSON file): capture writes them with
`to_attrs()`, every reader gets them with `StoreMetadata.from_store(store)`. Stores written by
hand or by other tools may lack any of them (all fields have defaults); attributes saekit does
not know are kept, untouched, in `other`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from saekit.results.codec import decode_dataclass, encode

if TYPE_CHECKING:
    from saekit.common.jsontypes import JSONObject
    from stores import ActivationStore

FORMAT_VERSION = 1


@dataclass(frozen=True)
class StoreMetadata:
    model_id: str = ""                       # the model spec capture loaded (load_model)
    model_revision: str = ""                 # the model's revision ("" when unpinned)
    modality: str = ""                       # the model's: "image", "image-text" or "text"
    n_layers: int | None = None              # transformer blocks
    d_model: int | None = None               # residual-stream width
    image_size: int | None = None            # vision models: input side in pixels
    patch_size: int | None = None            # vision models: patch side in pixels
    patch_grid: tuple[int, int] | None = None  # (rows, cols) of patch tokens
    n_prefix_tokens: int | None = None       # tokens before the patches (CLS, registers)
    preprocessing: dict[str, Any] | None = None  # resize / size / mean / std the model applies
    max_length: int | None = None            # language models: token limit per sample
    config_hash: str = ""                    # fingerprint of the capture configuration (resume check)
    tokens: str = ""                         # token selection: all, patches, cls, mean, ...
    data: str = ""                           # the dataset spec (load_dataset), to reload images / texts
    dataset_modality: str = ""               # the dataset's: "image" or "text"
    capture_config: dict[str, Any] | None = None  # the fields that decide the stored values
    pooled_hooks: tuple[str, ...] = ()       # hooks stored as one pooled vector per sample (position -1)
    rank: int = 0                            # this shard's rank in a multi-process capture
    world_size: int = 1                      # processes that captured the shards
    position_meaning: str = ""               # what the position column of a row means
    labels: tuple[str, ...] | None = None    # the dataset's class names, when it has labels
    massive_tokens: dict[str, Any] | None = None  # massive-activation tokens left out (saekit.capture.massive)
    other: dict[str, Any] = field(default_factory=dict)  # attributes saekit does not write, as found

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, object], where: str = "store attributes") -> "StoreMetadata":
        known = {f.name for f in dataclasses.fields(cls)} - {"other"}
        data = {k: v for k, v in attrs.items() if k in known}
        data["other"] = {k: v for k, v in attrs.items() if k not in known}
        return decode_dataclass(cls, data, where)  # type: ignore[arg-type]  # attrs are JSON values or numbers

    @classmethod
    def from_store(cls, store: ActivationStore) -> "StoreMetadata":
        """From an open store (stores.ActivationStore); SaekitError naming the attribute when one has the wrong type."""
        return cls.from_attrs(dict(getattr(store, "attrs", {}) or {}), f"{getattr(store, 'path', 'store')} attributes")

    def to_attrs(self) -> JSONObject:

        """The attributes to write (None fields left out; `other` merged back)."""
        out = {k: v for k, v in encode(self).items() if v is not None and k != "other"}
        out.update(self.other)
        return out

    @property
    def sample_modality(self) -> str:
        """What one sample is: "image" or "text" (from the dataset, else the model, else the patch grid)."""
        m = self.dataset_modality or self.modality
        if "image" in m:
            return "image"
        if m == "text":
            return "text"
        return "image" if self.patch_grid else "text"
