"""`hf:<name or local dir>`: pick the right transformers class from the config and wrap it.

Vision (ViT, DINOv2, CLIP, CLIP vision) goes to HFVisionModel with preprocessing read from the
model's preprocessor_config.json when there is one; causal LMs go through the TransformerBridge.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from saekit.common.errors import SaekitError
from saekit.models.base import HookedModel
from saekit.models.preprocess import CLIP_MEAN, CLIP_STD, HALF, IMAGENET_MEAN, IMAGENET_STD, ImagePreprocessor

log = logging.getLogger(__name__)

_VISION_TYPES = ("vit", "dinov2", "dinov2_with_registers", "clip", "clip_vision_model")
_PIL_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _preprocessor_json(name: str) -> dict:
    path = Path(name) / "preprocessor_config.json"
    if path.is_file():
        return json.loads(path.read_text())
    if Path(name).is_dir():
        return {}
    try:
        from transformers.utils import cached_file

        found = cached_file(name, "preprocessor_config.json", _raise_exceptions_for_missing_entries=False)
    except Exception:  # noqa: BLE001 - no processor config is a normal case; defaults apply
        return {}
    return json.loads(Path(found).read_text()) if found else {}


def _edge(value: Any, default: int) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        for key in ("height", "shortest_edge", "width"):
            if key in value:
                return int(value[key])
    return default


def preprocessor_for(name: str, model_type: str, image_size: int) -> ImagePreprocessor:
    """Preprocessing from preprocessor_config.json, else the family default at the config's image size."""
    pj = _preprocessor_json(name)
    if model_type.startswith("clip"):
        mean, std = CLIP_MEAN, CLIP_STD
    elif model_type.startswith("dinov2"):
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    else:
        mean, std = HALF, HALF
    default_size = 224 if model_type.startswith("dinov2") else image_size
    crop = _edge(pj.get("crop_size"), 0) if pj.get("do_center_crop", "crop_size" in pj) else 0
    resize = _edge(pj.get("size"), default_size)
    size = crop or resize
    return ImagePreprocessor(size=size, mean=tuple(pj.get("image_mean", mean)), std=tuple(pj.get("image_std", std)),
                             resize=resize if resize != size else None,
                             resample=_PIL_RESAMPLE.get(pj.get("resample", 3), "bicubic"))


def load_hf(name: str, device: torch.device, revision: str | None = None) -> HookedModel:
    from transformers import AutoConfig

    try:
        cfg = AutoConfig.from_pretrained(name, revision=revision)
    except (OSError, ValueError) as exc:
        raise SaekitError(f"hf:{name}: cannot load a transformers config ({_one_line(exc)})") from None
    model_type = getattr(cfg, "model_type", "")
    archs = list(getattr(cfg, "architectures", None) or [])
    model_id = f"hf:{name}"
    rev = revision or getattr(cfg, "_commit_hash", None) or ""
    try:
        if model_type in _VISION_TYPES:
            return _load_vision(name, cfg, model_type, archs, device, model_id, rev)
        if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
            return _load_causal_lm(name, device, model_id, rev)
    except OSError as exc:
        raise SaekitError(f"hf:{name}: cannot load the weights ({_one_line(exc)})") from None
    raise SaekitError(f"hf:{name}: model type {model_type!r} ({', '.join(archs) or 'no architectures'}) is not supported; "
                      f"expected ViT, DINOv2, CLIP or a causal language model")


def _load_vision(name: str, cfg: Any, model_type: str, archs: list[str], device: torch.device, model_id: str,
                 rev: str) -> HookedModel:
    import transformers

    from saekit.models.hf_vision import HFVisionModel

    if model_type == "clip":
        cls_name = next((a for a in archs if a.startswith("CLIP")), "CLIPModel")
    elif model_type == "clip_vision_model":
        cls_name = "CLIPVisionModelWithProjection" if any("WithProjection" in a for a in archs) else "CLIPVisionModel"
    else:
        cls_name = next((a for a in archs if a.endswith(("Model", "ForImageClassification"))), None)
    model_cls = getattr(transformers, cls_name, None) if cls_name else None
    if model_cls is None:
        model_cls = transformers.AutoModel
    model = model_cls.from_pretrained(name, revision=rev or None).to(device).eval()
    vcfg = getattr(model.config, "vision_config", None) or model.config
    prep = preprocessor_for(name, model_type, int(getattr(vcfg, "image_size", 224)))
    tokenizer = None
    if hasattr(model, "text_model"):
        from transformers import AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(name, revision=rev or None)
        except (OSError, ValueError) as exc:
            log.warning("hf:%s: no tokenizer (%s); the text tower is not usable", name, _one_line(exc))
    return HFVisionModel(model, prep, model_id, revision=rev, tokenizer=tokenizer)


def _load_causal_lm(name: str, device: torch.device, model_id: str, rev: str) -> HookedModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from saekit.models.tl_lm import TLModel

    tokenizer = AutoTokenizer.from_pretrained(name, revision=rev or None)
    model = AutoModelForCausalLM.from_pretrained(name, revision=rev or None, attn_implementation="eager").to(device)
    return TLModel.from_hf(model, tokenizer, model_id, revision=rev)


def load_tl(name: str, device: torch.device) -> HookedModel:
    """`tl:<name>`: a local HF dir is loaded with transformers and handed to the bridge; a hub name is
    booted by the bridge itself."""
    from saekit.models.tl_lm import TLModel

    if Path(name).is_dir():
        return _load_causal_lm(name, device, f"tl:{name}", "")
    from transformer_lens import TransformerBridge

    try:
        bridge = TransformerBridge.boot_transformers(name, device=str(device))
    except (OSError, ValueError) as exc:
        raise SaekitError(f"tl:{name}: TransformerBridge cannot load it ({_one_line(exc)})") from None
    return TLModel(bridge, model_id=f"tl:{name}")
