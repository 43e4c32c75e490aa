"""Models behind one hook-name scheme: `load_model(spec, device)` and the adapter classes."""
from __future__ import annotations

import torch

from saekit.common.errors import SaekitError
from saekit.models.base import TOKEN_SELECTIONS, HookedModel, HookSite
from saekit.models.hf_vision import HFVisionModel
from saekit.models.preprocess import ImagePreprocessor
from saekit.models.tl_lm import TLModel

SPEC_FORMS = ("random:vit", "random:vit-s", "random:clip", "random:gpt2", "hf:<name or dir>", "tl:<name or dir>",
              "offline:<name>", "<vision spec>@<image size>")

__all__ = ["load_model", "HookedModel", "HookSite", "HFVisionModel", "TLModel", "ImagePreprocessor",
           "TOKEN_SELECTIONS", "SPEC_FORMS"]


def load_model(spec: str, device: str | torch.device = "cpu") -> HookedModel:
    """Load `spec` (random:NAME | hf:NAME_OR_DIR | tl:NAME_OR_DIR | offline:NAME) on `device` ("auto" allowed).

    A vision spec may end in `@SIZE` (e.g. `offline:dinov2-small@168`) to feed SIZE x SIZE images
    (a multiple of the patch size); the suffix is part of the spec, so every store, audit or
    steering run that records the spec reloads the model exactly as it was captured."""
    base, size = split_image_size(spec)
    model = _load_base(base, device)
    if size is None:
        return model
    if not isinstance(model, HFVisionModel):
        raise SaekitError(f"model spec {spec!r}: an @SIZE suffix only applies to vision models")
    return model.with_image_size(size)


def split_image_size(spec: str) -> tuple[str, int | None]:
    """`offline:dinov2-small@168` -> ("offline:dinov2-small", 168); specs without a suffix pass through."""
    base, at, size = spec.rpartition("@")
    if not at or "/" in size or ":" in size:
        return spec, None
    if not size.isdigit() or int(size) <= 0:
        raise SaekitError(f"model spec {spec!r}: the part after @ must be a positive image size in pixels")
    return base, int(size)


def _load_base(spec: str, device: str | torch.device) -> HookedModel:
    from saekit.common.device import resolve_device

    dev = device if isinstance(device, torch.device) else resolve_device(str(device))
    prefix, _, name = spec.partition(":")
    if not name:
        raise SaekitError(f"unknown model spec {spec!r}; expected one of {', '.join(SPEC_FORMS)}")
    if prefix == "random":
        from saekit.models.random_models import RANDOM_NAMES, load_random

        if name not in RANDOM_NAMES:
            raise SaekitError(f"unknown random model {spec!r}; expected one of "
                              f"{', '.join('random:' + n for n in RANDOM_NAMES)}")
        return load_random(name, dev)
    if prefix == "hf":
        from saekit.models.hf_loading import load_hf

        return load_hf(name, dev)
    if prefix == "tl":
        from saekit.models.hf_loading import load_tl

        return load_tl(name, dev)
    if prefix == "offline":
        try:
            from saekit.models.offline import load_offline
        except ImportError as exc:
            raise SaekitError(f"{spec}: offline models are not available in this build ({exc})") from None
        return load_offline(name, dev)
    raise SaekitError(f"unknown model spec {spec!r}; expected one of {', '.join(SPEC_FORMS)}")
